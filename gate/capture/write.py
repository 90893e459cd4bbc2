"""Writing a capture: the header, the scrubbed world, the file, and the one line that names it."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate.capture import world
from gate.capture.record import Recorder
from gate.capture.scrub import Scrubber
from gate.errors import ConfigError


@dataclass
class Output:
    """Where and when a run's capture is written."""

    path: str
    only_on_failure: bool = False
    command: str = "gate"
    spec_path: str | None = None
    config_path: str | None = None
    scrub: Scrubber = field(default_factory=Scrubber)


def _read(path: str | None) -> str | None:
    if not path:
        return None
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def default_file(given: str | None, env: str, default: str) -> str | None:
    """The spec/config file a command reads when not told (as gate/spec does): flag, GATE_*, default."""
    path = given or os.environ.get(env) or default
    return path if os.path.isfile(path) else None


def write(rec: Recorder, out: Output) -> tuple[int, str]:
    """Write the capture; (objects, sha256 of the file)."""
    from gate import __version__

    rec.materialize()  # the answers kept so far, read now: the versions seen are among them
    spec_text, config_text = _read(out.spec_path), _read(out.config_path)
    header = {
        "gate_version": __version__,
        "kargo_version": rec.kargo_version or ("(read through Kubernetes)" if not rec.kargo_api else "?"),
        "kubernetes_version": rec.kubernetes_version or "?",
        "captured_at": world.now_rfc3339(),
        "command": out.scrub.text(out.command),
        "spec_file": out.spec_path,
        "spec_sha256": world.sha256(spec_text) if spec_text is not None else None,
    }
    scenario = world.build(rec, out.scrub, {k: v for k, v in header.items() if v is not None},
                          spec_text=spec_text, config_text=config_text)
    text = world.dump(scenario)
    from gate.reports.common import write_atomic

    write_atomic(out.path, text)
    return scenario["capture"]["objects"], world.sha256(text)


def in_job() -> bool:
    """Running as a pod (a Kargo verification Job's container)."""
    from gate.cluster.kube import in_cluster

    return in_cluster()


class RunRecorder(Recorder):
    """A Recorder that writes its capture when the run's verdict is known (gate/commands/verify.py finish)."""

    def __init__(self, out: Output) -> None:
        super().__init__()
        self.out = out
        self.kube_client: Any = None
        self.written: str | None = None

    def kube_answer(self, method: str, path: str, query: dict | None, status: int, data: Any,
                    proxied: bool = False, client: Any = None) -> None:
        if client is not None:
            self.kube_client = client
        super().kube_answer(method, path, query, status, data, proxied)

    def before_reports(self, result: Any) -> None:
        if self.written is not None or (self.out.only_on_failure and result.exit_code == 0):
            return
        self._version()
        try:
            count, digest = write(self, self.out)
        except (OSError, ConfigError) as exc:
            from gate.redact import redact

            result.report_failures.append(redact(f"capture {self.out.path}: {exc}"))
            self.written = ""
            return
        self.written = f"{self.out.path} ({count} objects, sha256 {digest})"
        result.context["Capture"] = self.written
        # In a Kargo verification Job the line goes to stdout, the pod's log (the file stays in the pod
        # unless a volume is mounted there); elsewhere to stderr, next to the names of the other reports.
        print(f"capture: {count} objects, sha256 {digest}, {self.out.path}",
              file=sys.stdout if in_job() else sys.stderr, flush=True)

    def _version(self) -> None:
        """The Kubernetes version, when the run never asked (one GET /version; best effort)."""
        if self.kubernetes_version or self.kube_client is None or any(k[1] == "/version" for k in self._raw):
            return
        try:
            self.kube_client.request("GET", "/version", retry=False, timeout=3)
        except Exception:  # noqa: BLE001 - a header field, never the run's problem
            return
