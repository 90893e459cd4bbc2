"""Every command that reads the cluster holds --timeout on a slow API and says what it could not read in time
(exit 3), as verify does (issue 19, item 2). The simulator's API answers after 40 s (the issue's scenario:
diagnose-promote-errored with `faults: [{path: "^/api", latency: 40s}]`); each command runs with
--timeout 4s. Old code: diagnose ended after 30-91 s, status after ~65 s; discover, init and lint had no
--timeout at all."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate" / "demo" / "config.yaml")
SPEC = str(ROOT / "gate" / "demo" / "l1.yaml")
TIMEOUT = 4.0
SLACK = 2.5  # interpreter start and the message, past --timeout

COMMANDS: dict[str, list[str]] = {
    "diagnose": ["diagnose", "--stage", "monitoring", "--config", CONFIG],
    "diagnose-all": ["diagnose", "--config", CONFIG],
    "status": ["status", "--config", CONFIG],
    "status-watch": ["status", "--watch", "--interval", "1", "--config", CONFIG],
    "discover": ["discover"],
    "init": ["init", "--project", "platform", "--spec", "out/gate.yaml", "--config", "out/cfg.yaml"],
    "lint-cluster": ["lint", "--cluster", "--project", "platform"],
    "rbac-check": ["rbac", "check", "--stage", "monitoring", "--config", CONFIG, "--spec", SPEC],
}


@pytest.fixture(scope="module")
def slow_sim() -> Iterator[Any]:
    from gate.sim.server import start

    with start({"name": "slow-api", "extends": "diagnose-promote-errored",
                "faults": [{"path": "^/api", "latency": "40s"}]}) as sim:
        yield sim


def _gate(sim: Any, args: list[str], cwd: Path, timeout: float = TIMEOUT) -> tuple[int, str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "gate", *args, "--kubeconfig", sim.kubeconfig,
                           "--timeout", f"{timeout:g}s"], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=env)
    return proc.returncode, proc.stdout + proc.stderr, time.monotonic() - started


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_that_reads_the_cluster_holds_its_timeout(slow_sim: Any, name: str, tmp_path: Path) -> None:
    code, text, took = _gate(slow_sim, COMMANDS[name], tmp_path)
    assert took < TIMEOUT + SLACK, f"{name}: {took:.1f}s under --timeout {TIMEOUT:g}s\n{text}"
    assert code == 3, f"{name}: exit {code}\n{text}"
    # what it could not read: a request, or the preflight's review (access or rules review)
    assert "deadline" in text and ("GET /" in text or "access review" in text or "rules review" in text), text
    assert "Traceback" not in text and "internal error" not in text
    if name == "init":
        assert not (tmp_path / "out").exists()  # nothing written from a cluster it could not read


def test_render_reads_no_cluster_and_ends_at_once(slow_sim: Any, tmp_path: Path) -> None:
    """render asks the cluster nothing (Session.open(need_cluster=False)): a slow API cannot hold it."""
    before = len(slow_sim.requests)
    code, text, took = _gate(slow_sim, ["render", "analysis-template", "--stage", "monitoring", "--image", "x:1",
                                        "--spec", SPEC, "--config", CONFIG], tmp_path)
    assert code == 0, text
    assert "kind: AnalysisTemplate" in text and took < TIMEOUT
    assert len(slow_sim.requests) == before


def test_status_watch_on_a_responsive_api_ends_0_at_its_timeout(tmp_path: Path) -> None:
    """--timeout bounds the whole --watch: it stops before a redraw that could not finish by the wall, so
    the last table stands (exit 0), never a redraw cut short by it (exit 3)."""
    from gate.sim.server import start

    with start("diagnose-healthy") as sim:
        code, text, took = _gate(sim, ["status", "--watch", "--interval", "1", "--config", CONFIG], tmp_path,
                                 timeout=8.0)
    assert code == 0, text
    assert text.count("gate status  project") >= 2 and took < 8.0 + SLACK, (took, text)
