"""Permissions a check reads only to diagnose its failure are optional (checks/base.py
`optional_permissions`): the `pods` and `workloads` checks read the failing pods' logs (`get pods/log`)
and Warning events (`list events`), and `workloads` the namespace's pods, only for the DIAGNOSIS block.
An identity that may read what the checks observe but not those runs the checks: the preflight notes
what the diagnosis will lack, a failing pod's diagnosis says what it could not read, and the rendered
RBAC still grants them (marked). Against the simulator, with the real kubernetes client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from test_diagnose_gates import CONFIG, POD, verify

from gate.cli import cli
from gate.entry import run
from gate.sim.server import start

GATE_USER = "system:serviceaccount:platform:gate"
# healthy.yaml's rules for the gate, less pods/log and events
NO_LOGS_NO_EVENTS = [
    {"apiGroups": [""], "resources": ["pods", "services", "endpoints", "persistentvolumeclaims", "namespaces",
                                      "configmaps", "secrets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["argoproj.io"], "resources": ["applications", "appprojects", "analysisruns"],
     "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["kargo.akuity.io"], "resources": ["projects", "stages", "freights", "promotions", "warehouses",
                                                     "projectconfigs"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews"], "verbs": ["create"]},
]
SPEC = """
defaults: {timeout: 3s, interval: 0.3s, max_interval: 0.6s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: monitoring, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}
        - workloads: {namespace: monitoring}
"""
LOGS_NOTE = "diagnosis will not include logs: cannot get pods/log in namespace monitoring"
EVENTS_NOTE = "diagnosis will not include events: cannot list events in namespace monitoring"


def world(extends: str) -> dict:
    return {"name": f"{extends}-no-logs-no-events", "extends": extends, "rbac": {GATE_USER: NO_LOGS_NO_EVENTS}}


def test_healthy_pods_pass_without_pods_log_and_events(tmp_path: Path, capsys) -> None:
    """Old code: the preflight demanded both (the checks declared them as needed): exit 3, nothing checked."""
    code, out, doc, _, requests = verify(world("healthy"), tmp_path, capsys, "--timeout", "5s", spec=SPEC)
    assert code == 0, out
    assert "Overall: PASS" in out and "RBAC preflight" not in out
    assert LOGS_NOTE in out and EVENTS_NOTE in out  # the run says what a failure's diagnosis would lack
    assert LOGS_NOTE in doc["notes"] and EVENTS_NOTE in doc["notes"]
    assert [r["status"] for r in requests if r["path"].endswith("/pods")], "the pods were never listed"


def test_a_crashing_pod_fails_with_a_diagnosis_that_names_what_it_could_not_read(tmp_path: Path, capsys) -> None:
    """Old code: exit 3 at the preflight, no verdict and no diagnosis."""
    code, out, doc, _, _ = verify(world("crashloop"), tmp_path, capsys, "--timeout", "5s", spec=SPEC)
    assert code == 1 and "Overall: FAIL at Level 1" in out, out
    text = out.split("DIAGNOSIS\n=========")[1]
    assert f"Root Cause: pod monitoring/{POD} crash-loops: CrashLoopBackOff" in text
    assert f"log of monitoring/{POD}/grafana: could not be read" in text
    assert "Warning events in namespace monitoring: could not be read" in text
    assert doc["diagnosis"]["diagnoses"][0]["rule"] == "pod-crashloop"


def test_workloads_need_not_list_pods(tmp_path: Path, capsys) -> None:
    """rbac-forbidden: the gate may not list pods in monitoring. A workloads check reads pods only for its
    diagnosis: it runs and passes (old code: exit 3 at the preflight)."""
    spec = SPEC.replace('        - pods: {namespace: monitoring, selector: "app.kubernetes.io/part-of=kube-prometheus'
                        '-stack"}\n', "")
    code, out, _, _, _ = verify("rbac-forbidden", tmp_path, capsys, "--timeout", "5s", spec=spec)
    assert code == 0, out
    assert "diagnosis will not include pods: cannot list pods in namespace monitoring" in out


def test_rbac_check_allows_the_run_and_marks_the_diagnosis_permissions(tmp_path: Path, capsys) -> None:
    (tmp_path / "gate.yaml").write_text(SPEC)
    with start(world("healthy")) as sim:
        code = run(cli, ["rbac", "check", "--stage", "monitoring", "--spec", str(tmp_path / "gate.yaml"),
                         "--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 0, out  # old code: 3
    rows = {line.split("  ")[0].strip(): line for line in out.splitlines()}
    assert "DENIED (diagnosis only)" in rows["get pods/log in namespace monitoring"]
    assert "DENIED (diagnosis only)" in rows["list events in namespace monitoring"]
    assert rows["list pods in namespace monitoring"].endswith("allowed")
    assert "the failure's diagnosis will lack them" in out and "pods/log" in out.split("To grant:")[1]
    doc = json.loads((tmp_path / "r.json").read_text())
    marks = {(p["verb"], p["resource"]): p.get("optional") for p in doc["permissions"]}
    assert marks[("get", "pods/log")] == "diagnosis" and marks[("list", "pods")] is None


def test_rendered_rbac_grants_the_diagnosis_permissions_marked(tmp_path: Path, capsys) -> None:
    (tmp_path / "gate.yaml").write_text(SPEC)
    code = run(cli, ["render", "analysis-template", "--stage", "monitoring", "--image", "gate:test", "--offline",
                     "--namespace", "platform", "--config", CONFIG, "--spec", str(tmp_path / "gate.yaml")])
    out = capsys.readouterr().out
    assert code == 0, out
    role = next(d for d in yaml.safe_load_all(out)
                if d and d.get("kind") == "Role" and d["metadata"].get("namespace") == "monitoring")
    rules = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {("pods", "list"), ("pods/log", "get"), ("events", "list")} <= rules
    # each diagnosis-only rule carries a comment saying so, right above it
    lines = out.splitlines()
    for resource in ("pods/log", "events"):
        at = lines.index(f"  - {resource}")
        start = max(i for i in range(at) if lines[i].startswith("- apiGroups:"))
        assert lines[start - 1].startswith("# diagnosis only"), lines[start - 2:at + 1]
    at = lines.index("  - deployments")
    start = max(i for i in range(at) if lines[i].startswith("- apiGroups:"))
    assert not lines[start - 1].startswith("#")


@pytest.mark.parametrize("extends", ["healthy"])
def test_full_rights_note_nothing(tmp_path: Path, capsys, extends: str) -> None:
    code, out, doc, _, _ = verify(extends, tmp_path, capsys, "--timeout", "5s", spec=SPEC)
    assert code == 0, out
    assert "diagnosis will not include" not in out and not doc["notes"]
