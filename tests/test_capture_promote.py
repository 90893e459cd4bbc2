"""Capture and replay for precheck and promote, against the simulator with its Kargo API mounted: every
built-in promote scenario's precheck replays offline to the same verdict and rows; `promote --replay` runs
that precheck and creates nothing; `--capture-on-failure` writes nothing on a PASS and a replayable
capture, named in the JUnit report, on a FAIL/ERROR."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from capture_support import gate, rows, verdict
from test_kargo_support import kargo_sim

from gate.commands.demo import SCENARIOS
from gate.kargo.demo import DEMO_FREIGHT_ALIAS

PROMOTE = [s.sim for s in SCENARIOS.values() if s.promote]
# and worlds whose precheck turns on ages and queues (soak time, a queued or failed Promotion)
PRECHECK = ["soak-not-met", "precheck-promotion-queued", "precheck-last-promotion-failed",
            "precheck-upstream-moved-on-soak-not-met"]


@pytest.mark.parametrize("scenario", PROMOTE + PRECHECK)
def test_precheck_of_every_promote_scenario_replays_offline(tmp_path: Path, capsys, scenario: str) -> None:
    world = tmp_path / "world.yaml"
    with kargo_sim(scenario, tmp_path) as kit:
        args = ["precheck", "--stage", "monitoring", "--freight-alias", DEMO_FREIGHT_ALIAS]
        code, out = kit.gate(*args, "--capture", str(world), capsys=capsys)
        run = kit.result_json()
        assert world.exists(), out
        assert kit.token not in world.read_text()
        assert gate("capture", "--check", str(world), capsys=capsys)[0] == 0
        before = len(kit.sim.requests)
        code2, out2 = kit.gate(*args, "--replay", str(world), capsys=capsys)
        replay = kit.result_json()
        assert len(kit.sim.requests) == before, "the replay reached the live cluster"
    assert code2 == code, out2
    assert verdict(replay) == verdict(run)
    assert rows(replay) == rows(run)
    assert replay["context"]["Replay"].startswith(str(world))
    header = yaml.safe_load(world.read_text())["capture"]
    assert header["kargo_api"] is True and header["kargo_version"] == "v1.11.2"
    assert header["kubernetes_version"].startswith("v1.")


def test_promote_replay_runs_the_precheck_and_creates_nothing(tmp_path: Path, capsys) -> None:
    world = tmp_path / "world.yaml"
    with kargo_sim("promote-ok", tmp_path) as kit:
        pre = ["--stage", "monitoring", "--freight-alias", DEMO_FREIGHT_ALIAS]
        code, _ = kit.gate("precheck", *pre, "--capture", str(world), capsys=capsys)
        precheck = kit.result_json()
        before = len(kit.sim.requests)
        code2, out = kit.gate("promote", *pre, "--replay", str(world), capsys=capsys)
        replayed = kit.result_json()
        assert len(kit.sim.requests) == before and kit.posts() == [] and kit.promotions() == []
    assert code == code2 == 0, out
    assert "nothing is created" in out
    assert replayed["command"] == "precheck"
    assert rows(replayed) == rows(precheck)
    assert [s["title"] for s in replayed["sections"]] == ["Pre-promotion"]


def test_capture_on_failure_writes_nothing_on_pass(tmp_path: Path, capsys) -> None:
    world = tmp_path / "world.yaml"
    with kargo_sim("promote-ok", tmp_path) as kit:
        code, out = kit.gate("promote", "--stage", "monitoring", "--freight-alias", DEMO_FREIGHT_ALIAS,
                             "--capture-on-failure", str(world), capsys=capsys)
        junit = (tmp_path / "junit0.xml").read_text()
    assert code == 0, out
    assert not world.exists()
    assert "Capture" not in junit and "capture:" not in out


@pytest.mark.parametrize(("scenario", "expected"), [("promote-errored", 1), ("upstream-unverified", 1)])
def test_capture_on_failure_writes_a_replayable_capture_named_in_junit(tmp_path: Path, capsys, scenario: str,
                                                                       expected: int) -> None:
    world = tmp_path / "world.yaml"
    with kargo_sim(scenario, tmp_path) as kit:
        code, out = kit.gate("promote", "--stage", "monitoring", "--freight-alias", DEMO_FREIGHT_ALIAS,
                             "--capture-on-failure", str(world), capsys=capsys)
        junit = (tmp_path / "junit0.xml").read_text()
        result = kit.result_json()
        assert world.exists() and kit.token not in world.read_text()
        code2, out2 = kit.gate("precheck", "--stage", "monitoring", "--freight-alias", DEMO_FREIGHT_ALIAS,
                               "--replay", str(world), capsys=capsys)
    assert code == expected, out
    assert "context.Capture" in junit and str(world) in junit
    assert result["context"]["Capture"].startswith(f"{world} (")
    assert "capture: " in out and "sha256" in out
    assert code2 in (0, 1) and "Replay: " in out2 and "Pre-promotion" in out2


@pytest.mark.parametrize(("path", "status"), [
    ("^/v1beta1/projects/platform/promotions$", 403),  # the Kargo API refuses: PermissionDenied rows
    ("^/apis/argoproj.io/v1alpha1/namespaces/argocd/applications(/[^/]+)?$", 503),  # Kubernetes fails (list or get)
])
def test_a_precheck_that_says_error_replays_as_error(tmp_path: Path, capsys, path: str, status: int) -> None:
    world = tmp_path / "world.yaml"
    with kargo_sim("promote-ok", tmp_path) as kit:
        kit.sim.add_fault({"path": path, "status": status, "message": "recorded fault"})
        args = ["precheck", "--stage", "monitoring", "--freight-alias", DEMO_FREIGHT_ALIAS, "--timeout", "20s"]
        code, out = kit.gate(*args, "--capture-on-failure", str(world), capsys=capsys)
        run = kit.result_json()
        code2, out2 = kit.gate(*args, "--replay", str(world), capsys=capsys)
        replay = kit.result_json()
    assert code == code2 == 3, out + out2
    assert any(r["status"] == "ERROR" for r in rows(run))
    assert verdict(replay) == verdict(run)
    assert [(r["id"], r["status"]) for r in rows(replay)] == [(r["id"], r["status"]) for r in rows(run)]
    assert any(f["status"] == status for f in yaml.safe_load(world.read_text())["faults"])


def test_a_precheck_read_through_kubernetes_replays_through_kubernetes(tmp_path: Path, capsys,
                                                                       monkeypatch) -> None:
    from capture_support import CONFIG, load

    from gate.sim.server import start

    monkeypatch.delenv("KARGO_API_ADDRESS", raising=False)
    monkeypatch.delenv("KARGO_API_TOKEN", raising=False)
    world = tmp_path / "world.yaml"
    args = ["precheck", "--stage", "monitoring", "--freight-alias", DEMO_FREIGHT_ALIAS, "--config", CONFIG]
    with start("precheck-last-promotion-failed", workdir=str(tmp_path / "sim")) as sim:
        code, out = gate(*args, "--kubeconfig", sim.kubeconfig, "--capture", str(world),
                         "--json", str(tmp_path / "run.json"), capsys=capsys)
    assert yaml.safe_load(world.read_text())["capture"]["kargo_api"] is False
    code2, out2 = gate(*args, "--replay", str(world), "--json", str(tmp_path / "replay.json"), capsys=capsys)
    run, replay = load(tmp_path / "run.json"), load(tmp_path / "replay.json")
    assert code2 == code, out + out2
    assert replay["context"]["Kargo API"] == run["context"]["Kargo API"] == "kubernetes"
    assert verdict(replay) == verdict(run) and rows(replay) == rows(run)
