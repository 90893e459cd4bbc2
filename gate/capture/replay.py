"""Replaying a capture: the simulator serves it in this process, and the HTTP answers are served again.

Nothing leaves the machine: the Kubernetes and Kargo APIs are the simulator on 127.0.0.1 (controllers
off, so the world stays as captured; times were written relative, so ages are the run's), every Level
2-4 request is answered from the capture, and a check whose answer is its own observation (tls, tcp,
command) gets the recorded one instead of dialing out or running anything. What was not recorded is
SKIPPED with the reason, never PASS.

The world cannot change in a replay, so a failing observation is final at once (the run waited for it
to change and it did not): the row's reason then says what was seen, without the wait.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gate.capture import tap
from gate.capture.record import http_key, loose_key, observed
from gate.errors import ConfigError, EvaluationError

SKIP_MARK = "\x00not replayable: "
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


class NotRecorded(EvaluationError):
    """The capture holds no answer for this request."""


MAX_BYTES = 512 * 1024 * 1024
_JSON_OBJECTS = "\nobjects:\n- {"
MAX_DEPTH = 100


def load(path: str) -> dict:
    """The capture, resolved as the simulator resolves any scenario (exit 2 naming the file when not one).

    Read with the C parser (a capture of 20,000 pods is ~10 MB, minutes for the pure-Python reader user
    files go through) and bounded all the same: its size, its depth, and no anchor or alias at all (the
    gate never writes one; an alias bomb is refused before anything is built from it)."""
    from gate.sim.scenario import ScenarioError, normalize, resolve

    if not Path(path).is_file():
        raise ConfigError(f"capture file {path} does not exist", key="--replay")
    try:
        raw = _bounded_yaml(path)
        if not isinstance(raw, dict):
            raise ScenarioError("a capture holds one mapping")
        data = resolve({"name": "capture", **normalize(raw), "extends": None, "files": None})
    except ScenarioError as exc:
        raise ConfigError(f"not a capture: {exc}", file=path, key="--replay") from None
    if not isinstance(data.get("capture"), dict):
        raise ConfigError("not a capture: it has no `capture:` header (a scenario? serve it with "
                          "`gate sim serve --scenario`)", file=path, key="--replay")
    return data


class Replayer:
    """The tap while a capture is replayed: records nothing, serves HTTP answers and observations."""

    def __init__(self, data: dict, path: str) -> None:
        self.path = path
        self.header = data["capture"]
        self.http: dict[str, dict] = dict(self.header.get("http") or {})
        self.observations: dict[str, dict] = dict(self.header.get("observations") or {})
        self.not_recorded: dict[str, str] = dict(self.header.get("not_recorded") or {})
        self._missing = threading.local()
        by_loose: dict[str, list[dict]] = {}
        for key, answer in self.http.items():
            by_loose.setdefault(loose_key(key), []).append(answer)
        self._loose = {k: v[0] for k, v in by_loose.items() if len(v) == 1}  # only when unambiguous

    # the recording hooks of the clients: nothing to record in a replay
    def kube_answer(self, *args: Any, **kwargs: Any) -> None:
        pass

    def kube_failure(self, *args: Any) -> None:
        pass

    def kargo_answer(self, *args: Any) -> None:
        pass

    def http_send(self, live: Any) -> Any:
        def send(method: str, url: str | None, service: Any, path: str, *args: Any) -> Any:
            from gate import httpclient

            key = http_key(method, url, service, path, args)
            answer = self.http.get(key) or self._loose.get(loose_key(key))
            if answer is None:
                self._missing.reason = f"the capture holds no answer for {key}"
                raise NotRecorded(self._missing.reason)
            if answer.get("truncated"):
                self._missing.reason = f"the answer to {key} was larger than the capture keeps"
                raise NotRecorded(self._missing.reason)
            if "error" in answer:
                cls = getattr(httpclient, str(answer["error"]), None)
                if not (isinstance(cls, type) and issubclass(cls, EvaluationError)):
                    from gate import errors

                    cls = getattr(errors, str(answer["error"]), EvaluationError)
                    cls = cls if isinstance(cls, type) and issubclass(cls, Exception) else EvaluationError
                raise cls(str(answer.get("message") or answer["error"]))
            return httpclient.HttpResponse(int(answer["status"]), dict(answer.get("headers") or {}),
                                           str(answer.get("body") or ""), str(answer.get("url") or url or ""),
                                           0.0, str(answer.get("via") or "direct"),
                                           [tuple(h) for h in answer.get("history") or []])

        return send

    def observer(self, planned: Any) -> Any:
        check = planned.check

        def observe(clients: Any) -> Any:
            from gate.model import Observation

            if observed(check):
                seen = self.observations.get(planned.id)
                if seen is None:
                    why = self.not_recorded.get(planned.id) or f"the capture holds no {check.kind} observation"
                    return skipped(why)
                return Observation(**{**seen, "final": True})
            self._missing.reason = None
            try:
                obs = check.observe(clients)
            except NotRecorded as exc:
                return skipped(str(exc))
            if self._missing.reason:
                return skipped(self._missing.reason)
            if not obs.ok:
                obs.final = True
            return obs

        return observe

    def before_reports(self, result: Any) -> None:
        """Rows that could not be replayed become SKIPPED (never PASS); the header says it is a replay."""
        mark_skipped(result)
        result.context["Replay"] = describe(self.header, self.path)

    def finished(self) -> None:
        pass


def _bounded_yaml(path: str) -> Any:
    from gate.sim.scenario import ScenarioError

    size = Path(path).stat().st_size
    if size > MAX_BYTES:
        raise ScenarioError(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
    text = Path(path).read_text(encoding="utf-8", errors="strict")
    cut = text.find(_JSON_OBJECTS)
    if cut >= 0:  # many objects, one JSON line each (gate/capture/world.py dump): parsed by json, in C
        lines = text[cut + len("\nobjects:\n"):].splitlines()
        if all(ln.startswith("- {") for ln in lines if ln):
            head = _yaml_mapping(text[:cut + 1])
            try:
                head["objects"] = [json.loads(ln[2:]) for ln in lines if ln]
            except ValueError as exc:
                raise ScenarioError(f"an object line is not JSON: {exc}") from None
            return head
    return _yaml_mapping(text)


def _yaml_mapping(text: str) -> Any:
    import yaml

    from gate.sim.scenario import ScenarioError

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        seen: set[int] = set()
        stack = [(node, 0)]
        while stack:
            current, depth = stack.pop()
            if id(current) in seen:
                raise ScenarioError("it holds a YAML alias (a capture never does)")
            seen.add(id(current))
            if depth > MAX_DEPTH:
                raise ScenarioError(f"nested more than {MAX_DEPTH} levels deep")
            if isinstance(current, yaml.MappingNode):
                stack += [(n, depth + 1) for pair in current.value for n in pair]
            elif isinstance(current, yaml.SequenceNode):
                stack += [(n, depth + 1) for n in current.value]
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not YAML: {str(exc).splitlines()[0]}") from None
    finally:
        loader.dispose()


def skipped(reason: str) -> Any:
    """A placeholder observation the runner lets through; before_reports() turns its row SKIPPED."""
    from gate.model import Observation

    return Observation(ok=True, observed=SKIP_MARK + reason, expected="", final=True)


def mark_skipped(result: Any) -> None:
    from gate.model import Status

    for level in result.levels:
        changed = False
        for row in level.checks:
            if row.observed.startswith(SKIP_MARK):
                row.status, row.reason = Status.SKIPPED, "not replayable: " + row.observed[len(SKIP_MARK):]
                row.observed, row.time_to_pass, row.hint = "", None, ""
                changed = True
        if changed:
            statuses = [r.status for r in level.checks if r.status != Status.SKIPPED]
            level.status = (Status.FAIL if Status.FAIL in statuses else Status.ERROR if Status.ERROR in statuses
                            else Status.PASS if statuses else Status.SKIPPED)


def describe(header: dict, path: str) -> str:
    return (f"{path}, captured {header.get('captured_at', '?')} by gate {header.get('gate_version', '?')} "
            "(offline: nothing was read from a cluster)")


@dataclass
class ReplayWorld:
    sim: Any
    kubeconfig: str
    spec: str | None
    config: str | None
    kargo_address: str | None
    kargo_token: str | None
    ca_file: str
    header: dict


_KARGO_ENV = ("KARGO_API_ADDRESS", "KARGO_API_TOKEN", "KUBECONFIG")


@contextlib.contextmanager
def replaying(path: str) -> Iterator[ReplayWorld]:
    """The capture served in-process for the length of one command."""
    from gate.sim.server import SimHandle

    data = load(path)
    header = data["capture"]
    workdir = Path(tempfile.mkdtemp(prefix="gate-replay-", dir=os.environ.get("TMPDIR")))
    saved = {k: os.environ.get(k) for k in _KARGO_ENV}
    placeholders: list[str] = []
    sim = None
    try:
        data = {**data, "controllers": False, "timeline": []}
        sim = SimHandle(data, workdir=str(workdir / "sim"))
        address = token = None
        if header.get("kargo_api"):
            from gate.sim.kargo_api import mount

            info = mount(sim)
            address, token = info.address, info.token
        spec = _write(workdir / "gate.yaml", header.get("spec"))
        config = _write(workdir / ".gitops-config.yaml", header.get("config"))
        for name in sorted(set(_ENV_REF.findall(str(header.get("spec") or "")))):
            if name not in os.environ:  # the value was never captured; the answers it fetched were
                os.environ[name] = "replay-placeholder"
                placeholders.append(name)
        for key in _KARGO_ENV:
            os.environ.pop(key, None)
        tap.activate(Replayer(data, path))
        yield ReplayWorld(sim, sim.kubeconfig, spec, config, address, token, sim.ca_file, header)
    finally:
        tap.deactivate()
        for name in placeholders:
            os.environ.pop(name, None)
        for key, value in saved.items():
            if value is not None:
                os.environ[key] = value
        if sim is not None:
            sim.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _write(path: Path, text: Any) -> str | None:
    if not isinstance(text, str):
        return None
    path.write_text(text)
    return str(path)
