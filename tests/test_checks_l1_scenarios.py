"""Level-1 kinds against the simulator's built-in scenarios: crashloop, stale-argocd, rbac-forbidden."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from gate.checks.argocd_apps import ArgocdAppsCheck
from gate.checks.base import Clients
from gate.checks.pods import PodsCheck
from gate.checks.workloads import WorkloadsCheck

from gate.cluster.kube import ClusterView, KubeClient, Permission, connect
from gate.engine.plan import Plan, PlannedCheck
from gate.engine.runner import Runner
from gate.errors import PermissionDenied
from gate.model import Status
from gate.sim import server as sim_server  # noqa: E402

SETTINGS = SimpleNamespace(argocd_namespace="argocd", kargo_namespace="platform", kargo_project="platform")
SELECTOR = "app.kubernetes.io/part-of=kube-prometheus-stack"
GRAFANA_POD = "grafana-7c9d8f6b5-x2k4p"
STALE = "argocd/loki: status not refreshed since the sync finished (reconciledAt < finishedAt)"


def running(name: str, **kwargs) -> Iterator[KubeClient]:
    handle = sim_server.start(name, **kwargs)
    try:
        yield connect(kubeconfig=handle.kubeconfig)
    finally:
        handle.stop()


def clients(kube: KubeClient) -> Clients:
    return Clients(kube=kube, view=ClusterView(kube), settings=SETTINGS)


def test_crashloop_names_the_pod_and_the_deployment():
    for kube in running("crashloop"):
        c = clients(kube)
        pods = PodsCheck({"namespace": "monitoring", "selector": SELECTOR}).observe(c)
        workloads = WorkloadsCheck({"namespace": "monitoring"}).observe(c)
    assert not pods.ok and pods.observed == "3/4 pods Ready"
    assert pods.evidence == [f"monitoring/{GRAFANA_POD}: "
                             "CrashLoopBackOff (restarts: 7, last exit: Error, code 1)"]
    assert pods.hint == f"Read the crash: kubectl logs -n monitoring {GRAFANA_POD} --previous"
    assert not workloads.ok and workloads.observed == "4/5 workloads ready"
    assert workloads.evidence == ["Deployment monitoring/grafana: Progressing: "
                                  "Waiting for rollout to finish: 0/1 updated replicas available"]


def test_stale_argocd_status_is_not_trusted_until_the_controller_refreshes():
    # the scenario refreshes loki at 4 scenario-seconds; speed 2 makes that 2 s: long enough that the first
    # look and the runner's first attempt come before it even on a loaded machine
    for kube in running("stale-argocd", speed=2):
        check = ArgocdAppsCheck(ArgocdAppsCheck.normalize(["kube-prometheus-stack", "loki"]))
        first = check.observe(clients(kube))
        plan = Plan("monitoring", {1: [PlannedCheck(check, 1, "L1.argocd_apps", timeout=10, interval=0.1,
                                                    max_interval=0.2)]})
        level = Runner(Clients(kube=kube, settings=SETTINGS), kube).run(plan)[0]
    assert not first.ok and first.observed == "1/2 apps ready" and first.evidence == [STALE]
    assert "argocd.argoproj.io/refresh=normal" in first.hint
    result = level.checks[0]
    assert result.status == Status.PASS and result.attempts >= 2
    assert result.time_to_pass is not None and result.time_to_pass > 0


def test_rbac_forbidden_is_an_error_naming_the_missing_rule():
    for kube in running("rbac-forbidden"):
        check = PodsCheck({"namespace": "monitoring", "selector": SELECTOR})
        with pytest.raises(PermissionDenied) as err:
            check.observe(clients(kube))
        plan = Plan("monitoring", {1: [PlannedCheck(check, 1, "L1.pods", timeout=5, interval=0.1)]})
        level = Runner(Clients(kube=kube, settings=SETTINGS), kube).run(plan)[0]
    assert err.value.permission == Permission("list", "pods", "", "monitoring")
    assert level.status == Status.ERROR and level.checks[0].attempts == 1  # permanent: not retried
    assert "list pods in namespace monitoring" in level.checks[0].reason
