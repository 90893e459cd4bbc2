"""`gate status`: the pipeline table against the simulator; read-only; --watch redraws and stops on SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gate.cli import cli
from gate.entry import run
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def status(world: str, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list]:
    with start(world) as sim:
        code = run(cli, ["status", "--config", CONFIG, "--kubeconfig", sim.kubeconfig, *args])
        requests = list(sim.requests)
    return code, capsys.readouterr().out, requests


def test_table_shows_every_stage_in_pipeline_order(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, requests = status("diagnose-promote-errored", capsys=capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split("  ")[0] == "STAGE" and "BLOCKS NEXT PROMOTION" in lines[0]
    assert [ln.split()[0] for ln in lines[1:]] == ["operators", "monitoring", "services"]
    monitoring = lines[2]
    assert "brave-badger" in monitoring and "Successful" in monitoring
    assert "monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2 Errored" in monitoring
    assert "kube-prometheus-stack Synced/Healthy, loki Synced/Healthy" in monitoring
    assert "promotion-errored-other: Promotion" in monitoring
    assert lines[1].rstrip().endswith("nothing") and lines[3].rstrip().endswith("nothing")
    assert not [r for r in requests if r["method"] in WRITES], "status must not write"


def test_json_and_running_states(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, requests = status("diagnose-promotion-running", "--output", "json", capsys=capsys)
    assert code == 0
    doc = json.loads(out)
    row = next(s for s in doc["stages"] if s["stage"] == "monitoring")
    assert row["last_promotion"] == "monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2 Running"
    assert row["blocks_next_promotion"].startswith("(wait) promotion-running")
    assert not [r for r in requests if r["method"] in WRITES]


def test_watch_redraws_a_bounded_number_of_times(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, requests = status("diagnose-healthy", "--watch", "--interval", "1", "--count", "2", capsys=capsys)
    assert code == 0
    assert out.count("STAGE  ") == 2 and out.count("gate status  project platform") == 2
    assert not [r for r in requests if r["method"] in WRITES]


def test_watch_exits_130_on_sigint() -> None:
    with start("diagnose-healthy") as sim:
        proc = subprocess.Popen([sys.executable, "-m", "gate", "status", "--watch", "--interval", "1",
                                 "--config", CONFIG, "--kubeconfig", sim.kubeconfig],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.stdout.readline().startswith("STAGE"):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        writes = [r for r in sim.requests if r["method"] in WRITES]
    assert not writes
