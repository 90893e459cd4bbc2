"""The seven Level-1 kinds against the simulated cluster, through the real kubernetes client.

Three simulated clusters: the built-in `healthy` world (with one extra token whose RBAC is exactly what
the checks' permissions() declare), and a broken variant of it (crashloop, stale Argo CD status, a
paused Deployment, a Pending PVC, a missing Secret key, a Stage whose last Promotion errored).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from gate.checks.argocd_apps import ArgocdAppsCheck
from gate.checks.base import Check, Clients
from gate.checks.crds import CrdsCheck
from gate.checks.kargo_stage import KargoStageCheck
from gate.checks.pods import PodsCheck
from gate.checks.pvcs import PvcsCheck
from gate.checks.secret import SecretCheck
from gate.checks.workloads import WorkloadsCheck

from gate import redact
from gate.cluster.kube import ClusterView, KubeClient, Permission, connect
from gate.engine.plan import Plan, PlannedCheck
from gate.engine.runner import Runner
from gate.errors import PermissionDenied
from gate.model import Status
from gate.sim import server as sim_server  # noqa: E402

SETTINGS = SimpleNamespace(argocd_namespace="argocd", kargo_namespace="platform", kargo_project="platform")
SELECTOR = "app.kubernetes.io/part-of=kube-prometheus-stack"
GRAFANA_POD = "grafana-7c9d8f6b5-x2k4p"
PASSWORD = "s1m-grafana-password"  # what grafana-admin's admin-password holds in the healthy scenario
LEAST = "system:serviceaccount:platform:least"


def level1() -> list[Check]:
    """The demo's Level 1 for the monitoring stage, as the spec layer would build it."""
    checks: list[Check] = [
        ArgocdAppsCheck(ArgocdAppsCheck.normalize(["kube-prometheus-stack", "loki"])),
        PodsCheck({"namespace": "monitoring", "selector": SELECTOR}),
        WorkloadsCheck({"namespace": "monitoring"}),
        CrdsCheck(CrdsCheck.normalize(["prometheuses.monitoring.coreos.com"])),
        SecretCheck({"namespace": "monitoring", "name": "grafana-admin",
                     "keys": ["admin-user", "admin-password"]}),
        PvcsCheck({"namespace": "monitoring"}),
        KargoStageCheck({"stage": "monitoring"}),
    ]
    for check in checks:
        if hasattr(check, "apply_settings"):
            check.apply_settings(SETTINGS)
    return checks


def rule(perm: Permission) -> dict:
    out = {"apiGroups": [perm.group], "resources": [perm.resource], "verbs": [perm.verb]}
    if perm.namespace:
        out["namespaces"] = [perm.namespace]
    if perm.name:
        out["resourceNames"] = [perm.name]
    return out


def kubeconfig_for(handle, token: str, path: Path) -> str:
    """A copy of the simulator's kubeconfig that authenticates with another token."""
    config = yaml.safe_load(Path(handle.kubeconfig).read_text())
    for user in config["users"]:
        user["user"] = {"token": token}
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture(scope="module")
def healthy() -> Iterator:
    perms = {p for check in level1() for p in check.permissions()}
    scenario = {"extends": "healthy", "name": "healthy-least-privilege",
                "tokens": {"least-token": {"user": LEAST, "groups": ["system:authenticated"]}},
                "rbac": {LEAST: [rule(p) for p in sorted(perms, key=str)]}}
    handle = sim_server.start(scenario)
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def kube(healthy) -> KubeClient:
    return connect(kubeconfig=healthy.kubeconfig)


def pod_patch(name: str, status: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "monitoring"},
            "status": status}


BROKEN = {
    "extends": "healthy", "name": "l1-broken",
    "patches": [
        pod_patch(GRAFANA_POD, {
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [{"name": "grafana", "image": "grafana/grafana:11.2.0", "ready": False,
                                   "restartCount": 12,
                                   "state": {"waiting": {"reason": "CrashLoopBackOff",
                                                         "message": "back-off 5m0s restarting"}},
                                   "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]}),
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "grafana", "namespace": "monitoring"}, "spec": {"paused": True}},
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
         "metadata": {"name": "loki", "namespace": "argocd"}, "status": {"reconciledAt": "${now-3d}"}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": "storage-loki-0", "namespace": "monitoring"}, "status": {"phase": "Pending"}},
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "grafana-admin", "namespace": "monitoring"}, "data": {"admin-user": None}},
        {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
         "metadata": {"name": "monitoring", "namespace": "platform"},
         "status": {"conditions": [
             {"type": "Ready", "status": "False", "reason": "LastPromotionErrored",
              "message": "step argocd-update failed: timed out", "lastTransitionTime": "${now-1m}"},
             {"type": "Healthy", "status": "Unknown", "reason": "LastPromotionErrored",
              "message": "last Promotion errored", "lastTransitionTime": "${now-1m}"}]}},
    ],
}


@pytest.fixture(scope="module")
def broken() -> Iterator:
    handle = sim_server.start(BROKEN)
    yield handle
    handle.stop()


def observe_all(kube: KubeClient, freight: str | None = "brave-badger"):
    clients = Clients(kube=kube, view=ClusterView(kube), settings=SETTINGS, freight=freight)
    return {check.kind: check.observe(clients) for check in level1()}


def test_healthy_world_passes_every_kind(healthy, kube):
    start = len(healthy.requests)
    results = observe_all(kube)
    assert {kind: obs.ok for kind, obs in results.items()} == dict.fromkeys(results, True), results
    assert results["pods"].observed == "4/4 pods Ready"
    assert results["argocd_apps"].observed == "2/2 apps ready"
    assert f"current Freight: {'0b60e85e2b8477acd27f894785b4a956cace538f'} (brave-badger)" \
        in results["kargo_stage"].evidence
    paths = [r["path"] for r in healthy.requests[start:]]
    # one request per list/get, nothing repeated: 2 apps and the current Freight by name, 8 other reads
    assert len(paths) == len(set(paths)) == 11
    assert all(r["method"] == "GET" for r in healthy.requests[start:])  # read-only


def test_secret_value_never_leaves_the_check(healthy, kube):
    redact.clear()
    obs = observe_all(kube)["secret"]
    assert obs.ok
    assert PASSWORD not in json.dumps(dataclasses.asdict(obs))
    assert redact.redact(f"password={PASSWORD}") == "password=***"
    redact.clear()


def test_two_pods_checks_with_the_same_selector_share_one_list(healthy, kube):
    view = ClusterView(kube)
    clients = Clients(kube=kube, view=view, settings=SETTINGS)
    checks = [PodsCheck({"namespace": "monitoring", "selector": SELECTOR, "min_ready": n}) for n in (1, 3, 4)]
    start = len(healthy.requests)
    with ThreadPoolExecutor(max_workers=3) as pool:
        observations = list(pool.map(lambda c: c.observe(clients), checks))
    assert [o.ok for o in observations] == [True, True, True]
    lists = [r for r in healthy.requests[start:] if r["path"] == "/api/v1/namespaces/monitoring/pods"]
    assert len(lists) == 1 and lists[0]["query"]["labelSelector"] == SELECTOR
    # a different selector is a different list
    PodsCheck({"namespace": "monitoring", "selector": "app.kubernetes.io/name=grafana"}).observe(clients)
    assert len([r for r in healthy.requests[start:] if r["path"].endswith("/monitoring/pods")]) == 2


def test_declared_permissions_are_enough_and_each_is_needed(healthy, tmp_path):
    least = connect(kubeconfig=kubeconfig_for(healthy, "least-token", tmp_path / "least"))
    start = len(healthy.requests)
    results = observe_all(least)
    assert all(obs.ok for obs in results.values()), results
    assert {r["identity"] for r in healthy.requests[start:]} == {LEAST}
    assert all(r["status"] == 200 for r in healthy.requests[start:])
    # with a single-namespace rule, another namespace is refused, and the error names the rule
    with pytest.raises(PermissionDenied) as err:
        SecretCheck({"namespace": "monitoring", "name": "grafana-tls"}).observe(
            Clients(view=ClusterView(least)))
    assert err.value.permission == Permission("get", "secrets", "", "monitoring", "grafana-tls")


def test_runner_passes_level1_on_the_healthy_world(healthy, kube):
    plan = Plan("monitoring", {1: [PlannedCheck(c, 1, f"L1.{c.kind}.{c.ident()}", timeout=5, interval=0.2)
                                   for c in level1()]})
    start, began = len(healthy.requests), time.monotonic()
    levels = Runner(Clients(kube=kube, settings=SETTINGS, freight="brave-badger"), kube).run(plan)
    elapsed = time.monotonic() - began
    assert levels[0].status == Status.PASS, [(c.id, c.status, c.reason, c.evidence) for c in levels[0].checks]
    assert [c.attempts for c in levels[0].checks] == [1] * 7
    assert len(healthy.requests) - start == 11
    assert elapsed < 5


def test_broken_world_names_every_problem(broken):
    kube = connect(kubeconfig=broken.kubeconfig)
    results = observe_all(kube)
    assert not any(obs.ok for obs in results.values() if obs is not results["crds"])
    assert results["crds"].ok
    assert results["pods"].evidence == [
        f"monitoring/{GRAFANA_POD}: CrashLoopBackOff (restarts: 12, last exit: Error, code 1)"]
    assert results["pods"].hint == f"Read the crash: kubectl logs -n monitoring {GRAFANA_POD} --previous"
    assert "Deployment monitoring/grafana: Suspended: Deployment is paused" in results["workloads"].evidence
    assert results["argocd_apps"].observed == "1/2 apps ready"
    assert results["argocd_apps"].evidence == [
        "argocd/loki: status not refreshed since the sync finished (reconciledAt < finishedAt)"]
    assert "monitoring/storage-loki-0: Pending" in results["pvcs"].evidence[0]
    assert results["secret"].evidence == ["monitoring/grafana-admin: key admin-user: missing"]
    assert results["kargo_stage"].observed == "not Ready: LastPromotionErrored"
    assert "Ready=False (LastPromotionErrored): step argocd-update failed: timed out" \
        in results["kargo_stage"].evidence


def test_runner_fails_level1_on_the_broken_world_within_the_timeout(broken):
    kube = connect(kubeconfig=broken.kubeconfig)
    plan = Plan("monitoring", {1: [PlannedCheck(c, 1, f"L1.{c.kind}.{c.ident()}", timeout=0.6, interval=0.2,
                                                max_interval=0.3) for c in level1()]})
    levels = Runner(Clients(kube=kube, settings=SETTINGS), kube).run(plan)
    by_kind = {c.kind: c for c in levels[0].checks}
    assert levels[0].status == Status.FAIL
    assert by_kind["crds"].status == Status.PASS
    assert by_kind["pods"].status == Status.FAIL and by_kind["pods"].attempts >= 2
    assert by_kind["pods"].reason.startswith("still 3/4 pods Ready after")
