"""`gate init` as a new user runs it: an empty directory, the simulator's healthy world, real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def gate(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "KUBECONFIG": str(cwd / "no-such-kubeconfig"), **env}
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=environ)


@pytest.fixture(scope="module")
def healthy():
    from gate.sim.server import start

    with start("healthy") as sim:
        yield sim


def test_init_in_an_empty_directory_then_verify_passes_on_the_healthy_world(tmp_path: Path, healthy) -> None:
    before = len(healthy.requests)
    proc = gate("init", "--kubeconfig", healthy.kubeconfig, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gitops-config.yaml", "gate.yaml"]
    assert "wrote gate.yaml (stages: operators, monitoring, services)" in proc.stderr  # upstream first
    # init only reads the cluster
    assert {r["method"] for r in healthy.requests[before:]} == {"GET"}

    spec = yaml.safe_load((tmp_path / "gate.yaml").read_text())
    level1 = spec["stages"]["monitoring"]["levels"][1]
    assert {"argocd_apps": {"names": ["kube-prometheus-stack", "loki"]}} in level1
    assert {"workloads": {"namespace": "${MONITORING_NS}"}} in level1
    assert {"pods": {"namespace": "${MONITORING_NS}"}} in level1
    assert {"kargo_stage": {}} in level1
    assert set(spec["stages"]["monitoring"]["levels"]) == {1}  # Levels 2-4 only as comments
    assert "#   - http:" in (tmp_path / "gate.yaml").read_text()
    settings = yaml.safe_load((tmp_path / ".gitops-config.yaml").read_text())
    assert settings["kargo_project"] == "platform" and settings["monitoring_namespace"] == "monitoring"
    assert "app_namespace" not in settings  # not discoverable: left as a commented line

    verify = gate("verify", "--stage", "monitoring", "--kubeconfig", healthy.kubeconfig, "--timeout", "20s",
                  cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Overall: PASS" in verify.stdout
    assert "Kargo Stage monitoring" in verify.stdout and "Pods ready in monitoring" in verify.stdout


def test_init_keeps_existing_files_unless_forced(tmp_path: Path, healthy) -> None:
    (tmp_path / "gate.yaml").write_text("# mine\n")
    proc = gate("init", "--kubeconfig", healthy.kubeconfig, cwd=tmp_path)
    assert proc.returncode == 2
    assert "gate.yaml already exists" in proc.stderr and "--force" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert (tmp_path / "gate.yaml").read_text() == "# mine\n"
    assert not (tmp_path / ".gitops-config.yaml").exists()  # nothing written when one file is in the way

    forced = gate("init", "--force", "--kubeconfig", healthy.kubeconfig, cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert "kargo_stage" in (tmp_path / "gate.yaml").read_text()


def test_init_offline_writes_from_flags_without_a_cluster(tmp_path: Path) -> None:
    from gate.spec.load import load_spec
    from gate.spec.settings import load_settings

    proc = gate("init", "--offline", "--project", "platform", "--argocd-namespace", "gitops",
                "--app-namespace", "monitoring", "--stage", "monitoring=kube-prometheus-stack,loki",
                "--stage", "prod", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    settings = load_settings(str(tmp_path / ".gitops-config.yaml"), {})
    assert settings.kargo_project == "platform" and settings.argocd_namespace == "gitops"
    spec = load_spec(str(tmp_path / "gate.yaml"), settings)  # valid against the spec's schema
    plan = spec.plan("monitoring")
    kinds = [pc.check.kind for pc in plan.levels[1]]
    assert kinds == ["argocd_apps", "workloads", "pods", "kargo_stage"]
    assert plan.levels[1][0].check.params["names"] == ["kube-prometheus-stack", "loki"]
    assert plan.levels[1][1].check.params["namespace"] == "monitoring"
    assert [pc.check.kind for pc in spec.plan("prod").levels[1]] == ["kargo_stage"]


@pytest.mark.parametrize("args, message", [
    (["--offline"], "--offline needs at least one --stage"),
    (["--offline", "--stage", "Bad_Name"], "is not NAME or NAME=APP,APP"),
    (["--stage", "a=b"], "--stage NAME=APP,… is for --offline"),
])
def test_init_usage_mistakes_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    proc = gate("init", *args, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_init_names_an_unknown_stage(tmp_path: Path, healthy) -> None:
    proc = gate("init", "--stage", "prodd", "--kubeconfig", healthy.kubeconfig, cwd=tmp_path)
    assert proc.returncode == 2
    assert "no Kargo Stage prodd in namespace platform (its Stages: monitoring, operators, services)" in proc.stderr
