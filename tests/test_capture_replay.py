"""Capture a simulated world while the gate makes its verdict, replay the same command offline against the
capture, and get the same verdict, exit code and rows (times aside): for every built-in `gate demo`
scenario (verify and promote ones), every diagnose scenario, and worlds with faults that make the gate
say ERROR. The replay reaches nothing but the in-process simulator serving the capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from capture_support import CONFIG, gate, load, normal, rows, verdict, verify_world

from gate.commands.demo import SCENARIOS

VERIFY = [n for n, s in SCENARIOS.items() if not s.promote]


def _verify_and_replay(tmp: Path, capsys, name: str, *extra: str) -> tuple[dict, dict, str]:
    world = tmp / "world.yaml"
    with verify_world(name, tmp) as (sim, spec):
        base = ["verify", "--stage", "monitoring", "--config", CONFIG, "--spec", spec]
        code, out = gate(*base, "--kubeconfig", sim.kubeconfig, "--capture", str(world),
                         "--json", str(tmp / "run.json"), *extra, capsys=capsys)
        served = len(sim.requests)
    assert world.exists(), out
    assert gate("capture", "--check", str(world), capsys=capsys)[0] == 0  # what the gate writes passes its scan
    code2, out2 = gate(*base, "--replay", str(world), "--json", str(tmp / "replay.json"), capsys=capsys)
    run, replay = load(tmp / "run.json"), load(tmp / "replay.json")
    assert (code, code2) == (run["exit_code"], replay["exit_code"])
    assert served > 0
    return run, replay, out2


@pytest.mark.parametrize("name", VERIFY)
def test_verify_scenarios_replay_to_the_same_verdict(tmp_path: Path, capsys, name: str) -> None:
    run, replay, out = _verify_and_replay(tmp_path, capsys, name)
    assert verdict(replay) == verdict(run)
    assert rows(replay) == rows(run)
    assert normal(json.dumps(replay["diagnosis"])) == normal(json.dumps(run["diagnosis"]))
    assert replay["context"]["Replay"].startswith(str(tmp_path / "world.yaml"))
    assert "Replay: " in out and "offline" in out


def test_a_fault_that_makes_the_gate_say_error_replays_as_error(tmp_path: Path, capsys) -> None:
    """The Argo CD Applications list answers 503 every time: the run says ERROR (exit 3), and so does
    the replay of its capture, whose scenario holds the recorded fault."""
    world = tmp_path / "world.yaml"
    with verify_world("healthy", tmp_path) as (sim, spec):
        sim.add_fault({"path": "^/apis/argoproj.io/v1alpha1/namespaces/argocd/applications", "status": 503})
        base = ["verify", "--stage", "monitoring", "--config", CONFIG, "--spec", spec, "--levels", "1",
                "--timeout", "15s"]
        code, out = gate(*base, "--kubeconfig", sim.kubeconfig, "--capture-on-failure", str(world),
                         "--json", str(tmp_path / "run.json"), capsys=capsys)
    assert code == 3, out
    faults = yaml.safe_load(world.read_text())["faults"]
    assert any("applications" in f["path"] and f["status"] == 503 for f in faults)
    code2, out2 = gate(*base, "--replay", str(world), "--json", str(tmp_path / "replay.json"), capsys=capsys)
    run, replay = load(tmp_path / "run.json"), load(tmp_path / "replay.json")
    assert code2 == 3, out2
    assert verdict(replay) == verdict(run)
    assert [(r["id"], r["status"]) for r in rows(replay)] == [(r["id"], r["status"]) for r in rows(run)]
