"""`gate sim serve` as a user runs it: eval the printed exports, run `gate precheck`, no tracebacks."""

from __future__ import annotations

import contextlib
import os
import queue
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Served:
    proc: subprocess.Popen[str]
    stdout: list[str]
    stderr: queue.Queue[str] = field(default_factory=queue.Queue)

    def exports(self) -> dict[str, str]:
        """The `export K=V` lines, as a shell's `eval` would set them."""
        pairs = (shlex.split(line.removeprefix("export "))[0] for line in self.stdout if line.startswith("export "))
        return dict(pair.split("=", 1) for pair in pairs)

    def stderr_lines(self, settle: float = 0.5) -> list[str]:
        lines, deadline = [], time.monotonic() + settle
        while (left := deadline - time.monotonic()) > 0:
            try:
                lines.append(self.stderr.get(timeout=left))
            except queue.Empty:
                break
        return lines


def _pump(stream, sink) -> None:
    for line in stream:
        sink(line.rstrip("\n"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key in ("KUBECONFIG", "KARGO_API_ADDRESS", "KARGO_API_TOKEN", "GATE_KARGO_CA"):
        env.pop(key, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "gate", "sim", "serve", "--scenario", "promote-ok",
         "--kubeconfig-out", str(tmp_path / "kc")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )
    s = Served(proc, [])
    threading.Thread(target=_pump, args=(proc.stdout, s.stdout.append), daemon=True).start()
    threading.Thread(target=_pump, args=(proc.stderr, s.stderr.put), daemon=True).start()
    try:
        # "press Ctrl-C to stop" goes to stderr after every stdout line was written and flushed
        assert s.stderr.get(timeout=30) == "press Ctrl-C to stop"
        time.sleep(0.2)  # let the stdout reader catch up
        yield s
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_printed_exports_are_enough_for_precheck(served: Served, tmp_path: Path) -> None:
    exports = served.exports()
    assert set(exports) >= {"KUBECONFIG", "KARGO_API_ADDRESS", "KARGO_API_TOKEN", "GATE_KARGO_CA"}
    ca = Path(exports["GATE_KARGO_CA"])
    assert ca.parent == tmp_path and ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    env = {k: v for k, v in os.environ.items() if k not in ("KARGO_API_ADDRESS", "KARGO_API_TOKEN")}
    env.pop("GATE_KARGO_CA", None)
    env.update(exports, PYTHONPATH=str(ROOT), GATE_TIMEOUT="10s")
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "precheck", "--stage", "monitoring", "--freight-alias", "calm-crane",
         "--project", "platform"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Pre-promotion: PASS" in proc.stdout
    # the same lines are written beside the kubeconfig, for `. kc.env` in another shell
    env_file = tmp_path / "kc.env"
    assert env_file.read_text().splitlines() == [line for line in served.stdout if line.startswith("export ")]
    assert env_file.stat().st_mode & 0o077 == 0, "the env file holds a token: owner-only"


def test_plain_http_to_the_tls_port_logs_one_line(served: Served) -> None:
    port = int(served.exports()["KARGO_API_ADDRESS"].rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.settimeout(5)
        with contextlib.suppress(ConnectionError):  # the server closes without an HTTP answer
            assert sock.recv(100) == b""
    lines = served.stderr_lines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    assert lines[0].startswith("gate sim: rejected a connection from 127.0.0.1:")
    assert "TLS" in lines[0] and "plain HTTP" in lines[0]
