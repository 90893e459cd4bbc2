"""`gate rbac check --job` by hand: it checks job mode's own permission in the Job's namespace."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import pytest

from gate.cli import cli
from gate.entry import run

SPEC = str(importlib.resources.files("gate.demo").joinpath("l1.yaml"))
CONFIG = str(importlib.resources.files("gate.demo").joinpath("config.yaml"))
JOB_RULE = {"verb": "list", "resource": "analysisruns", "group": "argoproj.io", "namespace": "platform",
            "name": None}


@pytest.fixture(autouse=True)
def _by_hand(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KUBECONFIG", "GATE_ANALYSISRUN_UID", "GATE_NAMESPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATE_PODINFO_LABELS", str(tmp_path / "no-labels"))


@pytest.fixture(scope="module")
def sim():
    from gate.sim.server import start

    with start("healthy") as handle:
        yield handle


def check(capsys: pytest.CaptureFixture[str], sim, *args: str, config: str = CONFIG) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(cli, ["rbac", "check", "--stage", "monitoring", "--spec", SPEC, "--config", config,
                     "--kubeconfig", sim.kubeconfig, *args])
    out, err = capsys.readouterr()
    return code, out, err


def _rules(out: str) -> list[dict]:
    return [{k: v for k, v in p.items() if k not in ("allowed", "optional")} for p in json.loads(out)["permissions"]]


def test_job_adds_listing_analysisruns_in_the_project_namespace(capsys, sim) -> None:
    code, out, err = check(capsys, sim, "--job", "--output", "json")
    assert code == 0, out + err
    assert JOB_RULE in _rules(out)
    code, out, _ = check(capsys, sim, "--output", "json")  # by hand, without --job: not job mode
    assert JOB_RULE not in _rules(out)


def test_job_prefers_the_pods_namespace(capsys, sim, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATE_NAMESPACE", "verification")
    code, out, err = check(capsys, sim, "--job", "--output", "json")
    assert {**JOB_RULE, "namespace": "verification"} in _rules(out), out + err


def test_job_without_any_namespace_is_a_usage_error(capsys, sim, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("monitoring_namespace: monitoring\nargocd_namespace: argocd\n")
    # a spec without kargo_stage: nothing needs (so nothing discovers) the Kargo project namespace
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  monitoring:\n    levels:\n      1:\n"
                    "        - crds: [prometheuses.monitoring.coreos.com]\n")
    code, _, err = check(capsys, sim, "--job", "--spec", str(spec), config=str(config))
    assert code == 2
    assert "GATE_NAMESPACE" in err and "--project" in err


def test_rbac_check_offers_no_junit(capsys, sim) -> None:
    code, _, err = check(capsys, sim, "--junit", "x.xml")
    assert code == 2 and "No such option" in err
