"""Hard deadlines (issue 8, "Deadlines are advice"): `--timeout` is a wall for the whole run and a
check's `timeout` a wall for that check, whatever a command, an HTTP target or the API server does;
SIGTERM/SIGINT end the run within 2 s with finished reports; `--timeout 0` is refused."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GATE_", "GITHUB_")) and k != "KUBECONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def _spec(tmp_path: Path, level_yaml: str, defaults: str = "{timeout: 5m, interval: 0.5s}") -> str:
    spec = tmp_path / "gate.yaml"
    spec.write_text(f"defaults: {defaults}\nstages:\n  monitoring:\n    levels:\n{level_yaml}")
    return str(spec)


def _verify(spec: str, kubeconfig: str, tmp_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec", spec,
            "--config", CONFIG, "--kubeconfig", kubeconfig, "--no-preflight",
            "--junit", str(tmp_path / "gate.xml"), "--json", str(tmp_path / "gate.json"), *extra]


def _run(argv: list[str], limit: float) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run the gate; a run still going after `limit` seconds fails the test (and is killed)."""
    began = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=limit)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the run was still going after {limit:.0f}s")
    return proc, time.monotonic() - began


@pytest.fixture(scope="module")
def sim() -> Iterator:
    with start("healthy") as handle:
        yield handle


# -- commands ------------------------------------------------------------------------------------
def test_a_command_past_the_run_timeout_is_killed_and_never_passes(sim, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "      1:\n        - command: {run: [sleep, \"60\"]}\n")
    proc, took = _run(_verify(spec, sim.kubeconfig, tmp_path, "--timeout", "3s"), limit=15)
    assert took < 3 + 4, f"took {took:.1f}s under --timeout 3s"
    assert proc.returncode in (1, 3), proc.stdout + proc.stderr
    result = json.loads((tmp_path / "gate.json").read_text())
    row = result["levels"][0]["checks"][0]
    assert row["status"] in ("FAIL", "ERROR") and "deadline" in (row["observed"] + row["reason"])


def test_a_command_past_its_own_check_timeout_is_killed(sim, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "      1:\n        - command: {run: [sleep, \"60\"], timeout: 2s}\n")
    proc, took = _run(_verify(spec, sim.kubeconfig, tmp_path, "--timeout", "1m"), limit=15)
    assert took < 2 + 4, f"took {took:.1f}s with a 2s check timeout"
    assert proc.returncode == 1, proc.stdout + proc.stderr


def test_sigterm_during_a_command_exits_143_within_2s_with_finished_reports(sim, tmp_path: Path) -> None:
    marker = tmp_path / "child.pid"
    code = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    spec = _spec(tmp_path, f"      1:\n        - command: {{run: [{sys.executable}, -c, {json.dumps(code)}]}}\n")
    proc = subprocess.Popen(_verify(spec, sim.kubeconfig, tmp_path, "--timeout", "1m"), env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        waited = time.monotonic() + 20
        while not (marker.exists() and marker.read_text()):
            assert proc.poll() is None and time.monotonic() < waited, "the command never started"
            time.sleep(0.05)
        child = int(marker.read_text())
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, out + err
    assert took < 2.0, f"exit took {took:.2f}s after SIGTERM"
    assert "Traceback" not in err
    root = ET.parse(tmp_path / "gate.xml").getroot()
    assert root.find(".//testcase[@name='run interrupted']") is not None
    result = json.loads((tmp_path / "gate.json").read_text())
    assert result["exit_code"] == 143 and result["interrupted"] is True
    time.sleep(0.3)
    assert not _alive(child), "the command's process was left running"


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


# -- HTTP targets --------------------------------------------------------------------------------
class SlowServer:
    """127.0.0.1 server that reads the request, then never answers (`hang`) or sends a 200 whose body
    trickles in one byte a second (`trickle`)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.asked = threading.Event()  # a request arrived
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                self.asked.set()
                if self.mode == "trickle":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 600\r\n\r\n")
                    for _ in range(600):
                        if self.stop.wait(1.0):
                            return
                        conn.sendall(b"x")
                else:
                    self.stop.wait(120)
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_a_slow_http_target_with_a_long_request_timeout_stays_inside_the_run_timeout(
        sim, tmp_path: Path, mode: str) -> None:
    server = SlowServer(mode)
    try:
        check = (f"      2:\n        - http: {{url: 'http://127.0.0.1:{server.port}/', request_timeout: 60s, "
                 f"expect: {{status: 200}}}}\n")
        spec = _spec(tmp_path, check)
        proc, took = _run(_verify(spec, sim.kubeconfig, tmp_path, "--timeout", "3s"), limit=20)
    finally:
        server.close()
    assert took < 3 + 2.5, f"{mode}: took {took:.1f}s under --timeout 3s"
    assert proc.returncode in (1, 3), proc.stdout + proc.stderr
    assert "Overall: PASS" not in proc.stdout


def test_sigterm_during_a_request_that_never_answers_exits_143_within_2s(sim, tmp_path: Path) -> None:
    server = SlowServer("hang")
    try:
        check = f"      1:\n        - http: {{url: 'http://127.0.0.1:{server.port}/', request_timeout: 60s}}\n"
        proc = subprocess.Popen(_verify(_spec(tmp_path, check), sim.kubeconfig, tmp_path, "--timeout", "1m"),
                                env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert server.asked.wait(20), "the request was never made"
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=15)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
    finally:
        server.close()
    assert proc.returncode == 143 and took < 2.0, (proc.returncode, f"{took:.2f}s", err)
    assert json.loads((tmp_path / "gate.json").read_text())["exit_code"] == 143


# -- the Kubernetes API --------------------------------------------------------------------------
def test_slow_api_answers_across_levels_stay_inside_the_run_timeout(tmp_path: Path) -> None:
    levels = ("      1:\n        - pods: {namespace: monitoring, selector: 'app.kubernetes.io/name=grafana'}\n"
              "      2:\n        - pvcs: {namespace: monitoring}\n"
              "      3:\n        - workloads: {namespace: monitoring}\n")
    spec = _spec(tmp_path, levels, defaults="{timeout: 1m, interval: 0.5s}")
    with start("healthy") as slow:
        slow.add_fault({"path": "^/api", "latency": 1.5})  # every API call answers, slowly
        argv = _verify(spec, slow.kubeconfig, tmp_path, "--timeout", "4s")
        argv.remove("--no-preflight")  # the access reviews are slow as well
        proc, took = _run(argv, limit=40)
    assert took < 4 + 2.5, f"took {took:.1f}s under --timeout 4s"
    assert proc.returncode in (1, 3), proc.stdout + proc.stderr


def test_an_api_call_that_never_answers_ends_at_the_run_timeout(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "      1:\n        - pods: {namespace: monitoring}\n")
    with start("healthy") as slow:
        slow.add_fault({"path": "/pods$", "latency": 30})
        proc, took = _run(_verify(spec, slow.kubeconfig, tmp_path, "--timeout", "3s"), limit=40)
    assert took < 3 + 2.5, f"took {took:.1f}s under --timeout 3s"
    assert proc.returncode == 3, proc.stdout + proc.stderr
    result = json.loads((tmp_path / "gate.json").read_text())
    assert result["levels"][0]["checks"][0]["status"] == "ERROR"


# -- signals at start-up and --timeout values ----------------------------------------------------
def _catches_sigterm(pid: int) -> bool:
    """True once the process has a SIGTERM handler: the gate's first line of code has run (Python
    itself does not catch SIGTERM)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    caught = int(next(line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")), 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def _gate_start(tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "gate", "verify", "--stage", "x", "--spec",
                             str(tmp_path / "none.yaml"), "--kubeconfig", "/nonexistent"], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigint_as_soon_as_the_gate_runs_prints_no_traceback_and_exits_130(tmp_path: Path) -> None:
    proc = _gate_start(tmp_path)
    while not _catches_sigterm(proc.pid) and proc.poll() is None:
        time.sleep(0.001)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert proc.returncode == 130, (proc.returncode, out, err)


@pytest.mark.parametrize("delay", [0.03, 0.04, 0.05, 0.06, 0.08, 0.1, 0.15])
def test_sigint_in_the_first_tenth_of_a_second_never_shows_a_traceback_from_the_gate(
        tmp_path: Path, delay: float) -> None:
    """Before the gate's first line runs, the interpreter itself is starting (site, .pth files): a
    Ctrl-C there is Python's own. From the gate's first line on: exit 130, no traceback."""
    proc = _gate_start(tmp_path)
    time.sleep(delay)
    ours = _catches_sigterm(proc.pid)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    if ours or "Traceback" in err:
        assert "/gate/" not in err and "click" not in err, err
    if ours:
        assert "Traceback" not in err and proc.returncode == 130, (proc.returncode, err)


@pytest.mark.parametrize("value", ["0", "0s", "-5s", "soon", "5x", ""])
def test_timeout_zero_negative_or_garbage_is_a_usage_error(tmp_path: Path, value: str) -> None:
    spec = _spec(tmp_path, "      1:\n        - command: {run: [\"true\"]}\n")
    proc, _ = _run([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec", spec,
                    "--config", CONFIG, "--kubeconfig", "/nonexistent", "--timeout", value], limit=30)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "--timeout" in proc.stderr and "Traceback" not in proc.stderr


def test_gate_timeout_zero_in_the_environment_is_refused_too(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "      1:\n        - command: {run: [\"true\"]}\n")
    env = _env(GATE_TIMEOUT="0")
    proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec", spec,
                           "--config", CONFIG, "--kubeconfig", "/nonexistent"], capture_output=True,
                          text=True, env=env, timeout=30)
    assert proc.returncode == 2 and "timeout" in proc.stderr.lower(), proc.stderr


# -- the command's environment -------------------------------------------------------------------
def _env_of(params: dict) -> dict[str, str]:
    from gate.checks.base import Clients
    from gate.checks.command import Command

    code = "import json, os; print(json.dumps(sorted(os.environ)))"
    obs = Command({"run": [sys.executable, "-c", code], **params}).observe(Clients())
    assert obs.ok, obs.output
    names = json.loads(obs.output.split("---\n", 1)[1].split("\n", 1)[0])
    return {n: "" for n in names}


def test_a_command_gets_a_clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_canary0123456789")
    monkeypatch.setenv("KARGO_API_TOKEN", "kargo-canary-0123456789")
    monkeypatch.setenv("GATE_TEST_PLAIN", "not for the smoke test")
    monkeypatch.setenv("LC_TIME", "C")
    monkeypatch.setenv("TZ", "UTC")
    names = _env_of({"env": {"SMOKE_TARGET": "grafana"}})
    assert "SMOKE_TARGET" in names
    assert {"PATH", "LC_TIME", "TZ"} <= set(names)
    assert not {"GITHUB_TOKEN", "KARGO_API_TOKEN", "GATE_TEST_PLAIN"} & set(names)


def test_inherit_env_passes_named_variables_and_masks_secret_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    from gate.checks.base import Clients
    from gate.checks.command import Command

    monkeypatch.setenv("GITHUB_TOKEN", "ghp_canary0123456789")
    monkeypatch.setenv("GATE_TEST_PLAIN", "plain-value")
    names = _env_of({"inherit_env": ["GITHUB_TOKEN", "GATE_TEST_PLAIN"]})
    assert {"GITHUB_TOKEN", "GATE_TEST_PLAIN"} <= set(names)
    obs = Command({"run": ["env"], "inherit_env": ["GITHUB_TOKEN", "GATE_TEST_PLAIN"]}).observe(Clients())
    assert "GATE_TEST_PLAIN=plain-value" in obs.output
    assert "GITHUB_TOKEN=" in obs.output and "ghp_canary0123456789" not in obs.output


def test_inherit_env_is_in_the_spec_schema() -> None:
    from gate.spec.schema import build_schema

    text = json.dumps(build_schema())
    assert "inherit_env" in text
    shipped = (ROOT / "gate/spec/gate.schema.json").read_text()
    assert "inherit_env" in shipped


# -- the Kargo API -------------------------------------------------------------------------------
def test_a_kargo_api_that_never_answers_ends_precheck_at_the_run_timeout(tmp_path: Path, capsys) -> None:
    from test_kargo_support import kargo_sim

    with kargo_sim("promote-ok", tmp_path) as kit:
        kit.sim.add_fault({"path": "^/v1beta1/projects/", "latency": 30})
        began = time.monotonic()
        code, out = kit.gate("precheck", "--stage", "monitoring", "--freight-alias", "calm-crane",
                             "--timeout", "3s", capsys=capsys)
        took = time.monotonic() - began
    assert took < 3 + 2.5, f"took {took:.1f}s under --timeout 3s"
    assert code == 3, out
    assert "Overall: PASS" not in out


# -- the runner ----------------------------------------------------------------------------------
def test_an_attempt_that_ignores_its_deadline_is_abandoned_as_error() -> None:
    from gate.checks.base import Check, Clients

    from gate.engine import deadlines
    from gate.engine.plan import Plan, PlannedCheck
    from gate.engine.runner import OVERRUN, Runner
    from gate.model import Observation, Status

    seen: list[float | None] = []

    class Stubborn(Check):
        kind = "stubborn"

        def observe(self, clients: Clients) -> Observation:
            seen.append(deadlines.remaining())
            time.sleep(30)  # waits without asking any client: only the runner can hold the line
            return Observation(True, "late", "fine")

    plan = Plan("s", {1: [PlannedCheck(Stubborn({}, "stubborn"), 1, "L1.stubborn", 1.0, 0.1, 0.2)]})
    began = time.monotonic()
    level = Runner(Clients(), None, timeout=30).run(plan)[0]
    took = time.monotonic() - began
    assert took < 1.0 + OVERRUN + 0.5, f"the runner waited {took:.1f}s"
    row = level.checks[0]
    assert row.status == Status.ERROR and "after its deadline" in row.reason
    assert seen and seen[0] is not None and 0.5 < seen[0] <= 1.0, "the attempt saw its check's deadline"


def test_a_pass_that_arrives_well_after_the_deadline_is_not_a_pass() -> None:
    from gate.checks.base import Check, Clients

    from gate.engine.plan import Plan, PlannedCheck
    from gate.engine.runner import Runner
    from gate.model import Observation, Status

    class Late(Check):
        kind = "late"

        def observe(self, clients: Clients) -> Observation:
            time.sleep(1.0)  # past the 0.5 s deadline, inside the runner's patience
            return Observation(True, "fine, eventually", "fine")

    plan = Plan("s", {1: [PlannedCheck(Late({}, "late"), 1, "L1.late", 0.5, 0.1, 0.2)]})
    row = Runner(Clients(), None).run(plan)[0].checks[0]
    assert row.status == Status.ERROR and "after its deadline" in row.reason


def test_no_retry_waits_past_the_deadline_for_a_retry_after(sim) -> None:
    from gate.cluster.kube import connect
    from gate.engine import deadlines
    from gate.errors import TransientError

    kube = connect(sim.kubeconfig)
    sim.add_fault({"path": "/namespaces/kargo/configmaps$", "status": 429, "retry_after": "10", "count": 5})
    began = time.monotonic()
    with deadlines.scope(began + 2.0), pytest.raises(TransientError, match="429"):
        kube.request("GET", "/api/v1/namespaces/kargo/configmaps")
    assert time.monotonic() - began < 1.0, "a Retry-After past the deadline was waited for"


def test_following_a_slow_promotion_stops_at_the_run_timeout(tmp_path: Path, capsys) -> None:
    from test_kargo_support import kargo_sim

    with kargo_sim("promote-ok", tmp_path, speed=0.05) as kit:  # the Promotion takes ~100 s here
        began = time.monotonic()
        code, out = kit.gate("promote", "--stage", "monitoring", "--freight-alias", "calm-crane",
                             "--timeout", "3s", capsys=capsys)
        took = time.monotonic() - began
        assert len(kit.posts()) == 1, "one Promotion, created before the deadline"
    assert took < 3 + 2.5, f"took {took:.1f}s under --timeout 3s"
    assert code == 3, out
    assert "Overall: PASS" not in out
