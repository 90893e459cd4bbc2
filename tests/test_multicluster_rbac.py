"""Least privilege across clusters: `gate render analysis-template` for a stage with a destination
cluster, applied to the simulated control plane and destination (which authorize from RBAC objects as
the apiserver does), lets `gate verify` pass; `gate rbac check` reviews each cluster in that cluster."""

from __future__ import annotations

import copy
import importlib.resources
import json
from typing import Any

import pytest
import yaml
from test_ship_render import _apply, _env, gate  # noqa: F401 - _env: the same clean environment

from gate.cli import cli
from gate.sim.server import start

SPEC = str(importlib.resources.files("gate.demo").joinpath("multicluster.yaml"))
CONFIG = str(importlib.resources.files("gate.demo").joinpath("config.yaml"))
NS, SA = "platform", "gate"
USER = f"system:serviceaccount:{NS}:{SA}"
MANAGER = "system:serviceaccount:kube-system:argocd-manager"
MODELS = {"Role": "V1Role", "ClusterRole": "V1ClusterRole", "RoleBinding": "V1RoleBinding",
          "ClusterRoleBinding": "V1ClusterRoleBinding", "ServiceAccount": "V1ServiceAccount",
          "ConfigMap": "V1ConfigMap"}
CLUSTER_LABEL = "promotion-gate.dev/cluster"


@pytest.fixture(scope="module")
def rendered() -> tuple[str, list[dict]]:
    from click.testing import CliRunner

    args = ["render", "analysis-template", "--stage", "prod", "--image", "ghcr.io/acme/gate:1", "--namespace", NS,
            "--service-account", SA, "--spec", SPEC, "--config", CONFIG]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout, [d for d in yaml.safe_load_all(result.stdout) if d]


def control_docs(docs: list[dict]) -> list[dict]:
    return [d for d in docs if CLUSTER_LABEL not in (d["metadata"].get("labels") or {})]


def destination_docs(docs: list[dict]) -> list[dict]:
    return [d for d in docs if (d["metadata"].get("labels") or {}).get(CLUSTER_LABEL)]


def test_control_plane_may_get_exactly_the_named_cluster_secret(rendered: tuple[str, list[dict]]) -> None:
    docs = control_docs(rendered[1])
    secret_rules = [r for d in docs if d["kind"] in ("Role", "ClusterRole") for r in d["rules"]
                    if "secrets" in r["resources"]]
    assert secret_rules == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["cluster-prod-eu"],
                             "verbs": ["get"]}]
    (role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == "argocd"]
    assert secret_rules[0] in role["rules"]
    assert not [d for d in docs if d["kind"] in ("Role", "ClusterRole")
                and any("pods" in r["resources"] for r in d["rules"])]  # the pods are read in prod-eu


def test_destination_rbac_is_a_separate_document_saying_where_it_goes(rendered: tuple[str, list[dict]]) -> None:
    text, docs = rendered
    dest = destination_docs(docs)
    assert {d["kind"] for d in dest} == {"Role", "RoleBinding"}
    (role,) = [d for d in dest if d["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "shop"
    assert all(set(r["verbs"]) <= {"get", "list", "watch"} for r in role["rules"])  # read-only
    (binding,) = [d for d in dest if d["kind"] == "RoleBinding"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "argocd-manager", "namespace": "kube-system"}]
    head, _, tail = text.partition("APPLY IN THE DESTINATION CLUSTER OF APPLICATION SHOP, NOT IN THE CONTROL PLANE")
    assert tail and "namespace: shop" not in head.split("kind: AnalysisTemplate")[-1].split("---")[0]
    assert "argocd/cluster-prod-eu" in tail.splitlines()[1]


def test_every_rendered_document_is_valid_kubernetes(rendered: tuple[str, list[dict]]) -> None:
    """Each document deserialises into the kubernetes client's model of its kind, which rejects missing
    required fields (a rule without verbs, a binding without roleRef) as the apiserver's schema does."""
    import json

    from kubernetes.client import ApiClient

    api = ApiClient()
    checked = 0
    for doc in rendered[1]:
        model = MODELS.get(doc["kind"])
        if model is None:
            continue
        obj = api.deserialize(json.dumps(doc), model, "application/json")
        assert api.sanitize_for_serialization(obj)["metadata"]["name"] == doc["metadata"]["name"]
        checked += 1
    assert checked >= 6
    broken = copy.deepcopy(destination_docs(rendered[1])[1])
    del broken["roleRef"]
    with pytest.raises(ValueError):
        api.deserialize(json.dumps(broken), "V1RoleBinding", "application/json")


@pytest.fixture
def sim() -> Any:
    """multicluster-healthy, but neither the gate (control plane) nor argocd-manager (prod-eu) has any
    grant of its own: only the applied RBAC counts."""
    scenario = {"name": "rendered-rbac", "extends": "multicluster-healthy", "rbac": {USER: []},
                "clusters": {"prod-eu": {"secret": "cluster-prod-eu", "user": MANAGER, "rbac": []}}}
    with start(scenario) as handle:
        yield handle


def test_rendered_rbac_lets_verify_pass_in_both_clusters(sim: Any, rendered: tuple[str, list[dict]], capsys) -> None:
    _apply(sim, control_docs(rendered[1]))
    _apply(sim.destinations["prod-eu"], destination_docs(rendered[1]))
    code, out, err = gate(capsys, "verify", "--stage", "prod", "--spec", SPEC, "--config", CONFIG,
                          "--kubeconfig", sim.kubeconfig, "--timeout", "20s")
    assert code == 0, out + err
    assert "[prod-eu] Pods ready in shop: 1/1" in out
    code, out, err = gate(capsys, "rbac", "check", "--stage", "prod", "--spec", SPEC, "--config", CONFIG,
                          "--kubeconfig", sim.kubeconfig)
    assert code == 0, out + err
    assert "[prod-eu] list pods in namespace shop" in out
    assert "[control-plane] get secrets 'cluster-prod-eu' in namespace argocd" in out
    assert "[control-plane] get stages.kargo.akuity.io 'prod' in namespace platform" in out
    # each cluster's reviews went to that cluster
    dest_reviews = [r for r in sim.destinations["prod-eu"].requests  # access or rules reviews
                    if r["path"].startswith("/apis/authorization.k8s.io/v1/selfsubject")]
    assert dest_reviews and {r["identity"] for r in dest_reviews} == {MANAGER}


def test_without_the_secret_rule_the_destination_is_an_error_never_the_control_plane(
        sim: Any, rendered: tuple[str, list[dict]], capsys) -> None:
    docs = copy.deepcopy(control_docs(rendered[1]))
    (role,) = [d for d in docs if d["kind"] == "Role" and d["metadata"]["namespace"] == "argocd"]
    role["rules"] = [r for r in role["rules"] if "secrets" not in r["resources"]]
    _apply(sim, docs)
    _apply(sim.destinations["prod-eu"], destination_docs(rendered[1]))
    code, out, err = gate(capsys, "verify", "--stage", "prod", "--spec", SPEC, "--config", CONFIG,
                          "--kubeconfig", sim.kubeconfig, "--timeout", "20s")
    assert code == 3, out + err
    assert "get secrets 'cluster-prod-eu' in namespace argocd" in out
    assert not [r for r in sim.requests if "/namespaces/shop/" in r["path"]]
    code, out, err = gate(capsys, "rbac", "check", "--stage", "prod", "--spec", SPEC, "--config", CONFIG,
                          "--kubeconfig", sim.kubeconfig)
    assert code == 3, out + err
    assert "cluster prod-eu" in out + err and "cluster-prod-eu" in out + err


def test_rbac_check_names_a_rule_missing_in_the_destination(sim: Any, rendered: tuple[str, list[dict]],
                                                            capsys) -> None:
    dest = copy.deepcopy(destination_docs(rendered[1]))
    (role,) = [d for d in dest if d["kind"] == "Role"]
    role["rules"] = [r for r in role["rules"] if r["resources"] != ["pods"]]
    _apply(sim, control_docs(rendered[1]))
    _apply(sim.destinations["prod-eu"], dest)
    code, out, err = gate(capsys, "rbac", "check", "--stage", "prod", "--spec", SPEC, "--config", CONFIG,
                          "--kubeconfig", sim.kubeconfig)
    assert code == 3, out + err
    denied = [line for line in out.splitlines() if line.rstrip().endswith("DENIED")]
    assert [line.split()[:2] for line in denied] == [["[prod-eu]", "list"], ["[prod-eu]", "watch"]], out
    assert all(" pods in namespace shop " in line for line in denied), out
    missing = out.split("Missing rules:", 1)[1]
    assert missing.lstrip().startswith("# in cluster prod-eu:"), missing
    (role,) = [d for d in yaml.safe_load_all(missing) if d]
    assert role["metadata"]["namespace"] == "shop" and role["rules"][0]["resources"] == ["pods"]
    code, out, err = gate(capsys, "rbac", "check", "--stage", "prod", "--spec", SPEC, "--config", CONFIG,
                          "--kubeconfig", sim.kubeconfig, "--output", "json")
    denied_json = [p for p in json.loads(out)["permissions"] if not p["allowed"]]
    assert {(p["cluster"], p["verb"], p["resource"]) for p in denied_json} == {("prod-eu", "list", "pods"),
                                                                               ("prod-eu", "watch", "pods")}


def test_scaffold_stage_prints_the_destination_rbac_too() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["scaffold", "stage", "prod", "--app", "shop", "--image", "ghcr.io/acme/gate:1",
                                      "--project", NS, "--spec", SPEC, "--config", CONFIG], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    dest = destination_docs(docs)
    assert {(d["kind"], d["metadata"]["namespace"]) for d in dest} == {("Role", "shop"), ("RoleBinding", "shop")}
    assert not [d for d in control_docs(docs) if d["kind"] == "Role" and d["metadata"]["namespace"] == "shop"]
    assert "APPLY IN THE DESTINATION CLUSTER OF APPLICATION SHOP" in result.stdout
