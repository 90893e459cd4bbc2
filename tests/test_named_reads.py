"""A check that names its objects reads exactly those (issue 25, item 1): in namespaces holding thousands of
Applications, Secrets, Deployments and Freight, a named argocd_apps, secret, workloads (names:) and
kargo_stage check make no unnamed list of those namespaces, polled or watched; and the precheck, diagnose
and status readings of named Applications neither. Asserted on the simulator's request log, against the
real kubernetes client over HTTPS."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from gate.checks.argocd_apps import ArgocdAppsCheck
from gate.checks.base import Check, Clients
from gate.checks.kargo_stage import KargoStageCheck
from gate.checks.secret import SecretCheck
from gate.checks.workloads import WorkloadsCheck

from gate.cli import cli
from gate.cluster.kube import ClusterView, connect
from gate.engine.plan import Plan, PlannedCheck
from gate.engine.runner import Runner
from gate.entry import run
from gate.model import Status
from gate.sim.scenario import resolve
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
SETTINGS = SimpleNamespace(argocd_namespace="argocd", kargo_namespace="platform", kargo_project="platform")
MANY = 3000
APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
EXTRA = {  # what the CRDs' schemas require of the thousands
    "Application": {"spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc",
                                                                  "namespace": "other"},
                             "source": {"repoURL": "https://example.com/other.git", "path": "other"}}},
    "Freight": {"origin": {"kind": "Warehouse", "name": "platform-apps"},
                "images": [{"repoURL": "ghcr.io/acme/other", "tag": "0.{i}.0"}]},
    "Deployment": {"spec": {"selector": {"matchLabels": {"app": "other"}}, "template": {"metadata": {
        "labels": {"app": "other"}}, "spec": {"containers": [{"name": "c", "image": "example/c:1"}]}}}},
}
CROWDED = {  # collection path -> (kind, apiVersion, namespace) of the thousands added there
    APPS: ("Application", "argoproj.io/v1alpha1", "argocd"),
    "/api/v1/namespaces/monitoring/secrets": ("Secret", "v1", "monitoring"),
    "/apis/apps/v1/namespaces/monitoring/deployments": ("Deployment", "apps/v1", "monitoring"),
    "/apis/apps/v1/namespaces/monitoring/statefulsets": ("StatefulSet", "apps/v1", "monitoring"),
    "/apis/kargo.akuity.io/v1alpha1/namespaces/platform/freights": ("Freight", "kargo.akuity.io/v1alpha1",
                                                                  "platform"),
}


def crowded(base: str) -> dict:
    """`base` with MANY more objects of each crowded kind beside the ones the checks name."""
    blocks = [{"kind": kind, "apiVersion": api, "count": MANY,
               "template": {"metadata": {"name": f"other-{kind.lower()}-{{i:05d}}", "namespace": ns},
                            **EXTRA.get(kind, {})}}
              for kind, api, ns in CROWDED.values()]
    return {"name": f"{base}-crowded", "extends": base, "generate": blocks}


def named_checks() -> list[Check]:
    checks: list[Check] = [
        ArgocdAppsCheck(ArgocdAppsCheck.normalize(["kube-prometheus-stack", "loki"])),
        SecretCheck({"namespace": "monitoring", "name": "grafana-admin", "keys": ["admin-user", "admin-password"]}),
        WorkloadsCheck({"namespace": "monitoring", "names": ["grafana"], "kinds": ["Deployment", "StatefulSet"]}),
        KargoStageCheck({"stage": "monitoring"}),
    ]
    for check in checks:
        if hasattr(check, "apply_settings"):
            check.apply_settings(SETTINGS)
    return checks


def unnamed_reads(requests: list[dict]) -> list[dict]:
    """Lists and watches of a crowded collection that do not select one object by name."""
    return [r for r in requests if r["path"] in CROWDED
            and not str(r["query"].get("fieldSelector") or "").startswith("metadata.name=")]


@pytest.fixture(scope="module")
def sim() -> Any:
    with start(crowded("healthy")) as handle:
        yield handle


def test_named_checks_read_only_their_objects_polled(sim: Any) -> None:
    kube = connect(sim.kubeconfig)
    clients = Clients(kube=kube, view=ClusterView(kube), settings=SETTINGS, freight="brave-badger")
    start_at = len(sim.requests)
    observed = {check.kind: check.observe(clients) for check in named_checks()}
    asked = sim.requests[start_at:]
    assert {kind: obs.ok for kind, obs in observed.items()} == dict.fromkeys(observed, True), observed
    assert not unnamed_reads(asked), unnamed_reads(asked)
    paths = sorted(r["path"] for r in asked)
    assert paths == sorted([
        f"{APPS}/kube-prometheus-stack", f"{APPS}/loki",
        "/api/v1/namespaces/monitoring/secrets/grafana-admin",
        "/apis/apps/v1/namespaces/monitoring/deployments/grafana",
        "/apis/apps/v1/namespaces/monitoring/statefulsets/grafana",  # not a StatefulSet: a 404, no list
        "/apis/kargo.akuity.io/v1alpha1/namespaces/platform/stages/monitoring",
        "/apis/kargo.akuity.io/v1alpha1/namespaces/platform/freights/0b60e85e2b8477acd27f894785b4a956cace538f",
    ])


def test_named_checks_read_only_their_objects_watched(sim: Any) -> None:
    kube = connect(sim.kubeconfig)
    plan = Plan("monitoring", {1: [PlannedCheck(c, 1, f"L1.{c.kind}.{c.ident()}", timeout=3, interval=0.3)
                                   for c in named_checks()]})
    start_at = len(sim.requests)
    levels = Runner(Clients(kube=kube, settings=SETTINGS, freight="brave-badger"), kube).run(plan)
    assert levels[0].status == Status.PASS, [(c.id, c.reason) for c in levels[0].checks]
    assert not unnamed_reads(sim.requests[start_at:])


def test_a_missing_named_object_fails_and_a_refused_one_errors(sim: Any) -> None:
    kube = connect(sim.kubeconfig)
    clients = Clients(kube=kube, view=ClusterView(kube), settings=SETTINGS)
    start_at = len(sim.requests)
    obs = ArgocdAppsCheck({"names": ["loki", "no-such-app"], "namespace": "argocd"}).observe(clients)
    assert not obs.ok and obs.observed == "1/2 apps ready"
    assert obs.evidence == ["argocd/no-such-app: not found"]
    obs = WorkloadsCheck({"namespace": "monitoring", "names": ["no-such"]}).observe(clients)
    assert not obs.ok and "monitoring/no-such: not found (Deployment/StatefulSet/DaemonSet)" in obs.evidence
    assert not unnamed_reads(sim.requests[start_at:])


def test_a_refused_named_read_is_an_error_not_a_fail(tmp_path: Path) -> None:
    from gate.errors import PermissionDenied

    rules = [{"apiGroups": ["argoproj.io"], "resources": ["applications"], "verbs": ["list"]}]
    world = {**resolve("healthy"), "rbac": {"system:serviceaccount:platform:gate": rules}}
    with start(world) as handle:
        kube = connect(handle.kubeconfig)
        with pytest.raises(PermissionDenied) as err:
            ArgocdAppsCheck({"names": ["loki"], "namespace": "argocd"}).observe(
                Clients(kube=kube, view=ClusterView(kube)))
    assert err.value.permission.verb == "get" and err.value.permission.name == "loki"


@pytest.mark.parametrize("command", [["diagnose", "--stage", "monitoring"], ["status"]])
def test_diagnose_and_status_read_named_apps_by_name(command: list[str], capsys: pytest.CaptureFixture) -> None:
    with start(crowded("diagnose-healthy")) as handle:
        code = run(cli, [*command[:1], "--config", CONFIG, "--kubeconfig", handle.kubeconfig, *command[1:]])
        asked = list(handle.requests)
    out = capsys.readouterr()
    assert code == 0, out.out + out.err
    assert not [r for r in asked if r["path"] == APPS], [r for r in asked if r["path"] == APPS]
    assert [r for r in asked if r["path"].startswith(APPS + "/")]  # the Stages' apps, by name
