"""`gate render analysis-template` and `gate rbac check`, end to end against the simulator.

The rendered AnalysisTemplate validates against the real Argo Rollouts CRD (vendored byte-for-byte in
gate/sim/crds); its RBAC, created through the simulated cluster's API (which authorizes from RBAC objects
as the apiserver does), lets `gate verify` pass; and removing any one rule makes `gate rbac check` name
exactly that rule and exit 3.
"""

from __future__ import annotations

import copy
import importlib.resources
import re
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from gate.cli import cli
from gate.entry import run
from gate.sim.schema import validate

CRD = Path(__file__).resolve().parent.parent / "gate" / "sim" / "crds" / "analysis-template-crd.yaml"
SPEC = str(importlib.resources.files("gate.demo").joinpath("l1.yaml"))
CONFIG = str(importlib.resources.files("gate.demo").joinpath("config.yaml"))
NS, SA = "platform", "gate"  # the simulator's gate token is system:serviceaccount:platform:gate
USER = f"system:serviceaccount:{NS}:{SA}"
RBAC_PLURALS = {"Role": "roles", "ClusterRole": "clusterroles", "RoleBinding": "rolebindings",
                "ClusterRoleBinding": "clusterrolebindings"}
IMAGE = "ghcr.io/promotion-gate/promotion-gate:0.1.0"


def gate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run the real CLI entry point (exit-code mapping included)."""
    capsys.readouterr()
    code = run(cli, list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("KUBECONFIG", "GATE_ANALYSISRUN_UID", "GATE_NAMESPACE", "GITHUB_ACTIONS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GATE_PODINFO_LABELS", str(tmp_path / "no-labels"))


@pytest.fixture(scope="module")
def rendered() -> tuple[str, list[dict]]:
    from click.testing import CliRunner

    args = ["render", "analysis-template", "--stage", "monitoring", "--image", IMAGE, "--namespace", NS,
            "--service-account", SA, "--spec", SPEC, "--config", CONFIG]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    return result.stdout, docs


def _kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


# -- the AnalysisTemplate ------------------------------------------------------------------------
def test_template_validates_against_the_real_crd(rendered: tuple[str, list[dict]]) -> None:
    (template,) = _kind(rendered[1], "AnalysisTemplate")
    crd = yaml.safe_load(CRD.read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    pruned, errors = validate(template, version["schema"]["openAPIV3Schema"])
    assert errors == []
    assert pruned == template, "fields the CRD does not know would be dropped by the apiserver"


def test_template_is_one_measurement_without_retries(rendered: tuple[str, list[dict]]) -> None:
    (template,) = _kind(rendered[1], "AnalysisTemplate")
    (metric,) = template["spec"]["metrics"]
    assert "interval" not in metric and "count" not in metric
    assert metric["failureLimit"] == 0
    job = metric["provider"]["job"]["spec"]
    assert job["backoffLimit"] == 0
    assert job["ttlSecondsAfterFinished"] > 0
    # l1.yaml: one level of 10s checks -> the gate gets 60s (the floor), the Job 2 minutes more.
    assert job["activeDeadlineSeconds"] == 180
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == SA
    (container,) = pod["containers"]
    assert container["image"] == IMAGE
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    env = {e["name"]: e for e in container["env"]}
    assert env["GATE_ANALYSISRUN_UID"]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['analysisrun.argoproj.io/uid']"
    assert env["GATE_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_every_args_reference_is_declared(rendered: tuple[str, list[dict]]) -> None:
    (template,) = _kind(rendered[1], "AnalysisTemplate")
    declared = {a["name"] for a in template["spec"]["args"]}
    used = set(re.findall(r"\{\{\s*args\.([\w-]+)\s*\}\}", yaml.safe_dump(template)))
    assert used and used <= declared
    (container,) = template["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][:3] == ["verify", "--stage", "{{args.stage}}"]
    assert {"name": "stage", "value": "monitoring"} in template["spec"]["args"]


def test_stage_verification_snippet_is_a_comment(rendered: tuple[str, list[dict]]) -> None:
    text = rendered[0]
    snippet = "#     verification:\n#       analysisTemplates:\n#       - name: promotion-gate-monitoring"
    assert snippet in text


def test_spec_ships_in_a_configmap(rendered: tuple[str, list[dict]]) -> None:
    (cm,) = _kind(rendered[1], "ConfigMap")
    assert cm["data"]["gate.yaml"] == Path(SPEC).read_text()
    assert cm["data"]["gitops-config.yaml"] == Path(CONFIG).read_text()


# -- the RBAC, applied to the simulator ----------------------------------------------------------
def _rules_of(docs: list[dict]) -> list[tuple[int, int]]:
    """(doc index, rule index) of every rule of every Role/ClusterRole."""
    return [(i, j) for i, d in enumerate(docs) if d["kind"] in ("Role", "ClusterRole")
            for j in range(len(d["rules"]))]


def _apply(sim: Any, docs: list[dict]) -> None:
    """Apply the rendered Roles, ClusterRoles and their bindings as the cluster admin (create, or replace
    what an earlier call created), as `kubectl apply` would; the simulator authorizes from them."""
    with requests.Session() as http:
        http.headers["Authorization"] = f"Bearer {sim.admin_token}"
        for doc in docs:
            plural = RBAC_PLURALS.get(doc["kind"])
            if plural is None:
                continue
            meta = doc["metadata"]
            scope = f"/namespaces/{meta['namespace']}" if meta.get("namespace") else ""
            base = f"{sim.url}/apis/rbac.authorization.k8s.io/v1{scope}/{plural}"
            r = http.put(f"{base}/{meta['name']}", json=doc, verify=sim.ca_file)
            if r.status_code == 404:
                r = http.post(base, json=doc, verify=sim.ca_file)
            assert r.status_code in (200, 201), r.text


@pytest.fixture
def sim(rendered: tuple[str, list[dict]]):
    from gate.sim.server import start

    # healthy, but the gate's ServiceAccount has no grants of its own: only the applied RBAC counts
    with start({"name": "rendered-rbac", "extends": "healthy", "rbac": {USER: []}}) as handle:
        assert handle.identity_of(handle.token) == USER, "the gate token is not the ServiceAccount's"
        yield handle


def test_rendered_rbac_lets_verify_pass(sim: Any, rendered: tuple[str, list[dict]], capsys) -> None:
    _apply(sim, rendered[1])
    code, out, err = gate(capsys, "verify", "--stage", "monitoring", "--spec", SPEC, "--config", CONFIG,
                          "--kubeconfig", sim.kubeconfig)
    assert "Overall: PASS" in out, out + err
    assert code == 0
    code, out, err = gate(capsys, "rbac", "check", "--stage", "monitoring", "--spec", SPEC,
                          "--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--job")
    assert code == 0, out + err
    assert "DENIED" not in out and "permissions allowed." in out


def test_removing_any_rule_makes_rbac_check_name_exactly_it(sim: Any, rendered: tuple[str, list[dict]],
                                                           capsys, monkeypatch) -> None:
    # Inside the Job: the AnalysisRun uid arrives, so job mode's own rule (list analysisruns) is checked too.
    monkeypatch.setenv("GATE_ANALYSISRUN_UID", "3f1c9a52-7e0b-4c1e-9d8a-5b6f2a1e0c11")
    monkeypatch.setenv("GATE_NAMESPACE", NS)
    docs = rendered[1]
    positions = _rules_of(docs)
    assert len(positions) >= 5
    for i, j in positions:
        broken = copy.deepcopy(docs)
        removed = broken[i]["rules"].pop(j)
        _apply(sim, broken)
        code, out, err = gate(capsys, "rbac", "check", "--stage", "monitoring", "--spec", SPEC, "--config",
                              CONFIG, "--kubeconfig", sim.kubeconfig)
        if removed["resources"][0] in ("pods/log", "events"):  # diagnosis only: the checks run without it
            assert code == 0 and "diagnosis-only DENIED" in out, f"rule {removed} removed: exit {code}\n{out}{err}"
            missing_text = out.split("To grant:", 1)[1]
        else:
            assert code == 3, f"rule {removed} removed: exit {code}\n{out}{err}"
            missing_text = out.split("Missing rules:", 1)[1]
        (missing,) = [d for d in yaml.safe_load_all(missing_text) if d]
        assert missing["kind"] == docs[i]["kind"]
        assert missing["metadata"].get("namespace") == docs[i]["metadata"].get("namespace")
        assert missing["rules"] == [removed], f"expected exactly {removed}, got {missing['rules']}"
        denied = [line for line in out.splitlines() if line.endswith(("DENIED", "DENIED (diagnosis only)"))]
        assert len(denied) == len(removed["verbs"])


def test_verify_reports_a_missing_permission_as_such(sim: Any, rendered: tuple[str, list[dict]],
                                                     capsys) -> None:
    docs = copy.deepcopy(rendered[1])
    (role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == "monitoring"]
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["pods"]]
    _apply(sim, docs)
    code, out, err = gate(capsys, "verify", "--stage", "monitoring", "--spec", SPEC, "--config", CONFIG,
                          "--kubeconfig", sim.kubeconfig)
    assert "list pods in namespace monitoring" in out
    assert "Overall: PASS" not in out
    assert code == 3
