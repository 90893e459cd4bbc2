"""`gate capture --all-stages` of every diagnose scenario, then `gate diagnose --replay` and `gate status
--replay` offline: the same diagnosis (root cause, evidence, fix) and the same status table as against
the live simulated world."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from capture_support import CONFIG, gate, gate_streams, normal

from gate.commands.demo import _diagnose_worlds
from gate.sim.server import start


def _same(text: str) -> object:
    return json.loads(normal(text))


@pytest.mark.parametrize("name", _diagnose_worlds())
def test_diagnose_replays_offline_to_the_same_diagnosis(tmp_path: Path, capsys, name: str) -> None:
    world = tmp_path / "world.yaml"
    with start(f"diagnose-{name}", workdir=str(tmp_path / "sim")) as sim:
        base = ["--config", CONFIG, "--output", "json"]
        code, live, _ = gate_streams("diagnose", *base, "--kubeconfig", sim.kubeconfig, capsys=capsys)
        status_code, live_status, _ = gate_streams("status", *base, "--kubeconfig", sim.kubeconfig, capsys=capsys)
        cap_code, out = gate("capture", "--all-stages", "--config", CONFIG, "--kubeconfig", sim.kubeconfig,
                             "-o", str(world), capsys=capsys)
    assert cap_code == 0, out
    assert gate("capture", "--check", str(world), capsys=capsys)[0] == 0
    code2, replayed, err = gate_streams("diagnose", *base, "--replay", str(world), capsys=capsys)
    status_code2, replayed_status, _ = gate_streams("status", *base, "--replay", str(world), capsys=capsys)
    assert code2 == code, replayed + err
    assert "Replay: " in err
    assert _same(replayed) == _same(live)
    assert status_code2 == status_code
    assert _same(replayed_status) == _same(live_status)


def test_a_diagnosis_that_could_not_read_replays_as_exit_3(tmp_path: Path, capsys) -> None:
    world = tmp_path / "world.yaml"
    with start("diagnose-promotion-running", workdir=str(tmp_path / "sim")) as sim:
        sim.add_fault({"path": "^/apis/kargo.akuity.io/v1alpha1/namespaces/platform/promotions$", "status": 503})
        base = ["--config", CONFIG, "--timeout", "20s"]
        code, live, err = gate_streams("diagnose", *base, "--kubeconfig", sim.kubeconfig, capsys=capsys)
        cap, out = gate("capture", "--all-stages", *base, "--kubeconfig", sim.kubeconfig, "-o", str(world),
                        capsys=capsys)
    assert code == 3, live + err
    assert cap == 0, out
    code2, replayed, err2 = gate_streams("diagnose", *base, "--replay", str(world), capsys=capsys)
    assert code2 == 3, replayed + err2
    assert "503" in replayed + err2, replayed + err2
