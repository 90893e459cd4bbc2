"""`gate capture` on its own (a snapshot now, no verdict made), what a replay cannot reproduce (SKIPPED
with the reason, never PASS), and the capture line of a Kargo verification Job."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from capture_support import CONFIG, gate, gate_streams, load, rows, verdict, verify_world

from gate.capture import write
from gate.sim.server import start

L1_SPEC = """defaults: {timeout: 3s, interval: 1s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: monitoring, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}
        - workloads: {namespace: monitoring}
        - argocd_apps: {names: [kube-prometheus-stack, loki]}
        - kargo_stage: {}
"""


def test_capture_snapshot_replays_to_the_verdict_of_a_live_verify(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text(L1_SPEC)
    world = tmp_path / "world.yaml"
    base = ["--stage", "monitoring", "--config", CONFIG, "--spec", str(spec)]
    with start("crashloop", workdir=str(tmp_path / "sim")) as sim:
        code, out = gate("verify", *base, "--kubeconfig", sim.kubeconfig, "--json", str(tmp_path / "run.json"),
                         capsys=capsys)
        cap, cap_out, cap_err = gate_streams("capture", *base, "--kubeconfig", sim.kubeconfig, "-o", str(world),
                                             capsys=capsys)
    assert code == 1, out
    assert cap == 0, cap_err
    assert cap_out.startswith("capture: ") and "sha256 " in cap_out
    header = yaml.safe_load(world.read_text())["capture"]
    assert header["command"].startswith("gate capture --stage monitoring")
    assert header["kubernetes_version"].startswith("v1.")
    assert len(header["spec_sha256"]) == 64 and header["spec"] == spec.read_text()
    assert "${now-" in world.read_text()  # times relative to the capture
    code2, out2 = gate("verify", *base, "--replay", str(world), "--json", str(tmp_path / "replay.json"),
                       capsys=capsys)
    assert code2 == code, out2
    run, replay = load(tmp_path / "run.json"), load(tmp_path / "replay.json")
    assert verdict(replay) == verdict(run)
    assert rows(replay) == rows(run)


def test_what_was_not_recorded_is_skipped_in_a_replay_never_passed(tmp_path: Path, capsys) -> None:
    """Without --with-commands, `gate capture` neither runs the smoke-test command nor sends the test alert:
    the replay shows both rows SKIPPED with the reason."""
    world = tmp_path / "world.yaml"
    with verify_world("healthy", tmp_path) as (sim, spec):
        base = ["--stage", "monitoring", "--config", CONFIG, "--spec", spec]
        cap, out = gate("capture", *base, "--kubeconfig", sim.kubeconfig, "-o", str(world), capsys=capsys)
    assert cap == 0, out
    assert "not recorded: L4.command" in out
    code, out = gate("verify", *base, "--replay", str(world), "--json", str(tmp_path / "replay.json"),
                     capsys=capsys)
    replay = load(tmp_path / "replay.json")
    level4 = next(lv for lv in replay["levels"] if lv["level"] == 4)
    by_kind = {c["kind"]: c for c in level4["checks"]}
    for kind, why in (("command", "does not run command checks"), ("alertmanager", "does not send test alerts")):
        assert by_kind[kind]["status"] == "SKIPPED", by_kind[kind]
        assert why in by_kind[kind]["reason"] and by_kind[kind]["reason"].startswith("not replayable: ")
    assert by_kind["prometheus_query"]["status"] == "PASS"
    assert "[x] smoke test" not in out


def test_an_http_answer_missing_from_the_capture_is_skipped(tmp_path: Path, capsys) -> None:
    world = tmp_path / "world.yaml"
    with verify_world("healthy", tmp_path) as (sim, spec):
        base = ["--stage", "monitoring", "--config", CONFIG, "--spec", spec, "--levels", "1-2"]
        gate("verify", *base, "--kubeconfig", sim.kubeconfig, "--capture", str(world), capsys=capsys)
    data = yaml.safe_load(world.read_text())
    data["capture"]["http"] = {k: v for k, v in data["capture"]["http"].items() if "/api/v1/targets" not in k}
    world.write_text(yaml.safe_dump(data))
    code, out = gate("verify", *base, "--replay", str(world), "--json", str(tmp_path / "r.json"), capsys=capsys)
    row = next(c for lv in load(tmp_path / "r.json")["levels"] for c in lv["checks"]
               if c["kind"] == "prometheus_targets")
    assert row["status"] == "SKIPPED" and "the capture holds no answer for GET" in row["reason"], out


@pytest.mark.parametrize("in_job", [True, False])
def test_a_verification_job_prints_the_capture_line_on_stdout(tmp_path: Path, capsys, monkeypatch,
                                                               in_job: bool) -> None:
    monkeypatch.setattr(write, "in_job", lambda: in_job)
    spec = tmp_path / "gate.yaml"
    spec.write_text(L1_SPEC)
    world = tmp_path / "world.yaml"
    with start("crashloop", workdir=str(tmp_path / "sim")) as sim:
        code, out, err = gate_streams("verify", "--stage", "monitoring", "--config", CONFIG, "--spec", str(spec),
                                      "--kubeconfig", sim.kubeconfig, "--capture-on-failure", str(world),
                                      capsys=capsys)
    assert code == 1 and world.exists()
    line = next(ln for ln in (out if in_job else err).splitlines() if ln.startswith("capture: "))
    count = len(yaml.safe_load(world.read_text())["objects"])
    assert line.startswith(f"capture: {count} objects, sha256 ") and line.endswith(str(world))
    assert f"Capture: {world} ({count} objects, sha256 " in out  # the report's header names it


def test_replay_refuses_what_is_not_a_capture_and_cannot_also_write_one(tmp_path: Path, capsys) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("extends: healthy\n")
    code, out = gate("verify", "--stage", "monitoring", "--config", CONFIG, "--replay", str(scenario),
                     capsys=capsys)
    assert code == 2 and "has no `capture:` header" in out
    code, out = gate("diagnose", "--config", CONFIG, "--replay", str(tmp_path / "missing.yaml"), capsys=capsys)
    assert code == 2 and "does not exist" in out
    code, out = gate("verify", "--stage", "monitoring", "--replay", str(scenario), "--capture-on-failure",
                     str(tmp_path / "w.yaml"), capsys=capsys)
    assert code == 2 and "cannot also write one" in out


def test_capture_all_stages_reads_every_stage_of_the_project(tmp_path: Path, capsys) -> None:
    world = tmp_path / "world.yaml"
    with start("healthy", workdir=str(tmp_path / "sim")) as sim:
        code, out = gate("capture", "--all-stages", "--config", CONFIG, "--kubeconfig", sim.kubeconfig,
                         "-o", str(world), capsys=capsys)
    assert code == 0, out
    stages = {o["metadata"]["name"] for o in yaml.safe_load(world.read_text())["objects"] if o["kind"] == "Stage"}
    assert stages == {"operators", "monitoring", "services"}
    code, out = gate("status", "--config", CONFIG, "--replay", str(world), capsys=capsys)
    assert code == 0 and "Replay: " in out
    assert all(name in out for name in stages)


def test_capture_exits_3_when_nothing_could_be_read(tmp_path: Path, capsys) -> None:
    from gate.sim.tls import write_kubeconfig  # a kubeconfig whose server does not answer

    with start("healthy", workdir=str(tmp_path / "sim")) as sim:
        ca = Path(sim.ca_file)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:9", ca, "gate-token")
    code, out = gate("capture", "--stage", "monitoring", "--config", CONFIG, "--kubeconfig", str(kubeconfig),
                     "--timeout", "5s", "-o", str(tmp_path / "w.yaml"), capsys=capsys)
    assert code == 3, out
    assert not (tmp_path / "w.yaml").exists()


def test_a_big_world_is_written_one_json_line_per_object_and_replays(tmp_path: Path, capsys) -> None:
    from gate.capture.world import BLOCK_OBJECTS
    from gate.sim.scenario import resolve

    count = BLOCK_OBJECTS + 200
    scenario = resolve("healthy")
    scenario["objects"] += [
        {"apiVersion": "v1", "kind": "Pod", "metadata": {
            "name": f"extra-{i:04d}", "namespace": "monitoring", "creationTimestamp": "${now-1h}",
            "labels": {"app.kubernetes.io/part-of": "kube-prometheus-stack"}},
         "spec": {"containers": [{"name": "c", "image": "busybox"}]},
         "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                    "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0}]}}
        for i in range(count)]
    spec = tmp_path / "gate.yaml"
    spec.write_text(L1_SPEC)
    world = tmp_path / "world.yaml"
    base = ["verify", "--stage", "monitoring", "--config", CONFIG, "--spec", str(spec)]
    with start(scenario, workdir=str(tmp_path / "sim")) as sim:
        code, out = gate(*base, "--kubeconfig", sim.kubeconfig, "--capture", str(world),
                         "--json", str(tmp_path / "run.json"), capsys=capsys)
    text = world.read_text()
    assert "\nobjects:\n- {" in text and text.count('\n- {"apiVersion"') > count
    code2, out2 = gate(*base, "--replay", str(world), "--json", str(tmp_path / "replay.json"), capsys=capsys)
    assert code2 == code, out2
    run, replay = load(tmp_path / "run.json"), load(tmp_path / "replay.json")
    assert verdict(replay) == verdict(run) and rows(replay) == rows(run)


def test_a_capture_with_a_yaml_alias_is_refused(tmp_path: Path, capsys) -> None:
    bomb = tmp_path / "world.yaml"
    bomb.write_text("capture: {format: 1}\na: &a [x, x, x]\nb: [*a, *a, *a]\nobjects: []\n")
    code, out = gate("diagnose", "--config", CONFIG, "--replay", str(bomb), capsys=capsys)
    assert code == 2 and "alias" in out
