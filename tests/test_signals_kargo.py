"""A SIGTERM or SIGINT at any moment of `gate precheck` / `gate promote` once it runs (connecting, reading
Kargo, creating and following the Promotion, the levels) ends the run within 2 s with the signal's exit code (143/130),
complete JUnit and JSON reports that say the same code, and no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gate.sim.kargo_api import mount
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
F2 = "7539ab25fa8b285f5321128519e52887bdf8c7a1"
CODES = {signal.SIGTERM: 143, signal.SIGINT: 130}


@pytest.mark.parametrize(("command", "sig", "delay"), [
    ("promote", signal.SIGTERM, 0.0), ("promote", signal.SIGTERM, 0.3), ("promote", signal.SIGTERM, 1.5),
    ("promote", signal.SIGINT, 0.1), ("promote", signal.SIGINT, 1.0),
    ("precheck", signal.SIGTERM, 0.0), ("precheck", signal.SIGINT, 0.1),
])
def test_a_signal_at_any_moment_leaves_complete_reports(command: str, sig: signal.Signals, delay: float,
                                                         tmp_path: Path) -> None:
    # a slow world (speed 1, the upstream verification still running, Kargo API answers 0.3 s late) so the
    # run is still going whatever the machine's speed
    world = {"name": "promotion-running-slow", "extends": "promotion-running",
             "faults": [{"path": "^/v1beta1/projects/", "latency": 0.3}]}
    with start(world, speed=1.0, workdir=str(tmp_path / "sim")) as sim:
        info = mount(sim)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "GITHUB_", "KARGO_"))}
        env.update(PYTHONPATH=str(ROOT), KARGO_API_ADDRESS=sim.url, KARGO_API_TOKEN=info.token)
        junit, js, spec = tmp_path / "gate.xml", tmp_path / "gate.json", tmp_path / "gate.yaml"
        spec.write_text("stages:\n  monitoring:\n    levels:\n      1:\n        - command: {run: ['true']}\n")
        argv = [sys.executable, "-m", "gate", command, "--stage", "monitoring", "--freight", F2,
                "--spec", str(spec), "--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--kargo-ca", sim.ca_file,
                "--junit", str(junit), "--json", str(js), "--timeout", "1m"]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while not sim.requests and proc.poll() is None:
                time.sleep(0.002)  # the gate's first request: it parsed its command line and runs
            time.sleep(delay)
            running = proc.poll() is None
            sent = time.monotonic()
            proc.send_signal(sig)
            out, err = proc.communicate(timeout=15)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
    assert running, f"the run ended before the signal: {out}{err}"
    assert proc.returncode == CODES[sig], out + err
    assert took < 2.0, f"exit took {took:.2f}s after the signal"
    assert "Traceback" not in out + err
    result = json.loads(js.read_text())
    assert result["exit_code"] == CODES[sig] and result["interrupted"] is True, result
    root = ET.parse(junit).getroot()
    assert root.find(".//testcase[@name='run interrupted']") is not None, junit.read_text()
