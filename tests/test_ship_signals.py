"""The image's init: tini as PID-1 stand-in forwards SIGTERM to gate, which finishes its reports, exit 143."""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(importlib.resources.files("gate.demo").joinpath("l1.yaml"))
CONFIG = str(importlib.resources.files("gate.demo").joinpath("config.yaml"))


def test_sigterm_through_tini_ends_the_run_with_143_and_complete_reports(tmp_path: Path) -> None:
    from gate.sim.server import start

    tini = shutil.which("tini")
    assert tini, "tini (Debian package `tini`, the image's init) must be installed"
    junit, result = tmp_path / "gate.xml", tmp_path / "gate.json"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GATE_", "GITHUB_")) and k != "KUBECONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    gate = [sys.executable, "-c", "import sys; from gate.cli import main; sys.argv[0] = 'gate'; main()"]
    with start("crashloop") as sim:  # Level 1 keeps polling a crash-looping pod until its deadline
        proc = subprocess.Popen([tini, "--", *gate, "verify", "--stage", "monitoring", "--spec", SPEC,
                                 "--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--junit", str(junit),
                                 "--json", str(result)],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        while not any("/pods" in r["path"] for r in sim.requests):  # polling has begun
            assert time.monotonic() < deadline and proc.poll() is None, "verify never started polling"
            time.sleep(0.05)
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)  # to tini, as the kubelet does to PID 1
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    assert proc.returncode == 143, out + err
    assert took < 2.0, f"{took:.2f}s from SIGTERM to exit"
    assert json.loads(result.read_text())["exit_code"] == 143  # the report says what the process exits
    assert "interrupted" in (out + err).lower()
    assert "Overall: PASS" not in out
    root = ET.parse(junit).getroot()  # the report was finished, not cut off
    assert root.tag in ("testsuites", "testsuite")
