"""`command`: exit codes, output tails, shell only when asked, secrets masked, process group killed."""

from __future__ import annotations

import os
import sys
import time

from conftest_servers import CANARY_TOKEN
from gate.checks.base import Clients
from gate.checks.command import Command


def test_exit_zero_passes_with_output_tail():
    code = "print('smoke ok'); import sys; print('warn', file=sys.stderr)"
    obs = Command({"run": [sys.executable, "-c", code]}).observe(Clients())
    assert obs.ok
    assert obs.observed.startswith("exit 0 after ")
    assert "--- stdout (last 50 lines) ---\nsmoke ok" in obs.output
    assert "--- stderr (last 50 lines) ---\nwarn" in obs.output


def test_nonzero_exit_fails_for_good_with_the_last_lines():
    code = ("import sys\nfor i in range(100): print('line', i)\n"
            "print('AssertionError: dashboards empty', file=sys.stderr)\nsys.exit(3)")
    obs = Command({"run": [sys.executable, "-c", code]}).observe(Clients())
    assert not obs.ok and obs.final
    assert obs.observed.startswith("exit 3 after ")
    assert obs.expected == "exit 0 within 10m"
    assert "| AssertionError: dashboards empty" in obs.evidence
    assert "line 99" in obs.output and "line 49" not in obs.output  # only the tail
    again = Command({"run": [sys.executable, "-c", "raise SystemExit(1)"], "retry": True}).observe(Clients())
    assert not again.ok and not again.final


def test_no_shell_unless_asked(tmp_path):
    marker = tmp_path / "m"
    argv = Command({"run": f"echo hi > {marker}"})
    assert argv.observe(Clients()).ok
    assert not marker.exists()  # '>' was an argument to echo, not a redirection
    assert Command({"run": f"echo hi > {marker}", "shell": True}).observe(Clients()).ok
    assert marker.read_text() == "hi\n"


def test_env_cwd_and_secret_masking(tmp_path, canary_env):
    obs = Command({"run": [sys.executable, "-c", "import os; print(os.getcwd(), os.environ['API_TOKEN'])"],
                   "env": {"API_TOKEN": "${env:GATE_TEST_TOKEN}"}, "cwd": str(tmp_path)}).observe(Clients())
    assert obs.ok
    assert f"{tmp_path} ***" in obs.output
    assert CANARY_TOKEN not in obs.output + str(obs.evidence)


def test_cannot_start_is_final():
    obs = Command({"run": ["/nonexistent/smoke"]}).observe(Clients())
    assert not obs.ok and obs.final
    assert obs.observed == "cannot start /nonexistent/smoke: No such file or directory"


def test_timeout_kills_the_whole_process_group(tmp_path):
    pidfile = tmp_path / "child.pid"
    script = f"sleep 60 & echo $! > {pidfile}; wait"
    start = time.monotonic()
    obs = Command({"run": script, "shell": True, "run_timeout": "1s"}).observe(Clients())
    assert time.monotonic() - start < 6
    assert not obs.ok and obs.final
    assert obs.observed == "still running after 1s; process group killed"
    child = int(pidfile.read_text())
    time.sleep(0.2)
    try:
        os.kill(child, 0)
        with open(f"/proc/{child}/stat") as stat:
            alive = stat.read().split()[2] != "Z"  # a zombie is dead, only not reaped yet
    except (ProcessLookupError, FileNotFoundError):
        alive = False
    assert not alive, "the background child survived the timeout"
