"""workloads check: Argo CD's health rules for Deployments, StatefulSets and DaemonSets."""

from __future__ import annotations

import copy

import pytest
from gate.checks.base import Clients
from gate.checks.workloads import WorkloadsCheck

from gate.cluster.kube import Permission
from gate.cluster.resources import DAEMONSETS, DEPLOYMENTS, STATEFULSETS
from tests.fakeview import FakeView, meta


def deploy(name: str = "grafana", replicas: int = 2, **status) -> dict:
    st = {"observedGeneration": 3, "replicas": replicas, "updatedReplicas": replicas,
          "readyReplicas": replicas, "availableReplicas": replicas,
          "conditions": [{"type": "Available", "status": "True"},
                         {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}
    st.update(status)
    return {"kind": "Deployment", "metadata": meta(name, "monitoring", {"app": name}, generation=3),
            "spec": {"replicas": replicas}, "status": st}


def sts(name: str = "loki", replicas: int = 1, strategy: dict | None = None, **status) -> dict:
    st = {"observedGeneration": 2, "replicas": replicas, "readyReplicas": replicas,
          "updatedReplicas": replicas, "currentRevision": f"{name}-abc", "updateRevision": f"{name}-abc"}
    st.update(status)
    spec = {"replicas": replicas,
            "updateStrategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}}
    return {"kind": "StatefulSet", "metadata": meta(name, "monitoring", {"app": name}, generation=2),
            "spec": spec, "status": st}


def ds(name: str = "node-exporter", desired: int = 3, **status) -> dict:
    st = {"observedGeneration": 1, "desiredNumberScheduled": desired, "updatedNumberScheduled": desired,
          "numberAvailable": desired, "numberReady": desired}
    st.update(status)
    return {"kind": "DaemonSet", "metadata": meta(name, "monitoring", {"app": name}, generation=1),
            "spec": {"updateStrategy": {"type": "RollingUpdate"}}, "status": st}


def run(deployments=(), statefulsets=(), daemonsets=(), **params):  # noqa: B006
    view = FakeView().add(DEPLOYMENTS, *deployments).add(STATEFULSETS, *statefulsets)
    view.add(DAEMONSETS, *daemonsets)
    check = WorkloadsCheck({"namespace": "monitoring", **params})
    return check.observe(Clients(view=view)), view


def test_all_healthy_passes():
    obs, view = run([deploy()], [sts()], [ds()])
    assert obs.ok and obs.observed == "3/3 workloads ready" and obs.expected == "all ready (3)"
    assert [c[1] for c in view.calls] == ["deployments", "statefulsets", "daemonsets"]


@pytest.mark.parametrize(("change", "expected"), [
    ({"spec": {"paused": True, "replicas": 2}},
     "Deployment monitoring/grafana: Suspended: Deployment is paused"),
    ({"status": {"observedGeneration": 2}}, "Deployment monitoring/grafana: Progressing: Waiting for rollout "
     "to finish: observed deployment generation less than desired"),
    ({"status": {"conditions": [{"type": "Progressing", "status": "False",
                                 "reason": "ProgressDeadlineExceeded",
                                 "message": 'ReplicaSet "grafana-7c9" has timed out progressing.'}]}},
     'Deployment monitoring/grafana: Degraded: exceeded its progress deadline '
     '(ReplicaSet "grafana-7c9" has timed out progressing.)'),
    ({"status": {"updatedReplicas": 1}}, "Deployment monitoring/grafana: Progressing: Waiting for rollout "
     "to finish: 1 out of 2 new replicas updated"),
    ({"status": {"replicas": 3}}, "Deployment monitoring/grafana: Progressing: Waiting for rollout to "
     "finish: 1 old replicas are pending termination"),
    ({"status": {"availableReplicas": 1}}, "Deployment monitoring/grafana: Progressing: Waiting for rollout "
     "to finish: 1/2 updated replicas available"),
    ({"metadata": {"deletionTimestamp": "2026-08-20T10:00:00Z"}},
     "Deployment monitoring/grafana: Progressing: Pending deletion"),
])
def test_deployment_not_ready_reasons(change: dict, expected: str):
    obj = deploy()
    for section, values in change.items():
        obj[section] = {**obj[section], **values}
    obs, _ = run([obj, deploy("operator")])
    assert not obs.ok and obs.observed == "1/2 workloads ready"
    assert obs.evidence == [expected]
    assert obs.hint == "See the rollout: kubectl rollout status -n monitoring deployment/grafana"


def test_deployment_with_zero_replicas_is_healthy():
    obs, _ = run([deploy(replicas=0)])
    assert obs.ok


@pytest.mark.parametrize(("obj", "expected"), [
    (sts(observedGeneration=0), "Progressing: Waiting for statefulset spec update to be observed"),
    (sts(replicas=3, readyReplicas=2), "Progressing: Waiting for 1 pods to be ready (2/3 ready)"),
    (sts(replicas=3, updatedReplicas=1,
         strategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 1}}),
     "Progressing: Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated"),
    (sts(strategy={"type": "RollingUpdate"}, updateRevision="loki-def", updatedReplicas=0),
     "Progressing: waiting for rolling update to complete: 0 pods at revision loki-def"),
])
def test_statefulset_not_ready_reasons(obj: dict, expected: str):
    obs, _ = run(statefulsets=[obj])
    assert not obs.ok and obs.evidence == [f"StatefulSet monitoring/loki: {expected}"]


def test_statefulset_rolling_update_with_partition_block_is_healthy_even_if_revisions_differ():
    obs, _ = run(statefulsets=[sts(updateRevision="loki-new")])
    assert obs.ok  # gitops-engine: RollingUpdate with rollingUpdate set skips the revision check
    obs, _ = run(statefulsets=[sts(strategy={"type": "OnDelete"}, updateRevision="loki-new")])
    assert obs.ok


@pytest.mark.parametrize(("status", "expected"), [
    ({"observedGeneration": 0},
     "Waiting for rollout to finish: observed daemon set generation less than desired"),
    ({"updatedNumberScheduled": 2}, "Waiting for rollout to finish: 2 out of 3 new pods updated"),
    ({"numberAvailable": 1}, "Waiting for rollout to finish: 1 of 3 updated pods available"),
])
def test_daemonset_not_ready_reasons(status: dict, expected: str):
    obs, _ = run(daemonsets=[ds(**status)])
    assert not obs.ok and obs.evidence == [f"DaemonSet monitoring/node-exporter: Progressing: {expected}"]


def test_daemonset_on_delete_is_healthy():
    obj = ds(updatedNumberScheduled=0)
    obj["spec"]["updateStrategy"] = {"type": "OnDelete"}
    obs, _ = run(daemonsets=[obj])
    assert obs.ok


def test_nothing_matched_fails_unless_allow_empty():
    obs, _ = run()
    assert not obs.ok and obs.evidence == ["no Deployment/StatefulSet/DaemonSet in namespace monitoring"]
    obs, _ = run(allow_empty=True)
    assert obs.ok and obs.expected == "none required"


def test_names_filter_and_missing_names_are_reported():
    obs, _ = run([deploy(), deploy("other")], names=["grafana", "missing"])
    assert not obs.ok and obs.observed == "1/2 workloads ready"
    assert obs.evidence == ["monitoring/missing: not found (Deployment/StatefulSet/DaemonSet)"]


def test_kinds_subset_lists_and_needs_only_those():
    check = WorkloadsCheck({"namespace": "monitoring", "kinds": ["StatefulSet"], "selector": "app=loki"})
    view = FakeView().add(STATEFULSETS, sts(), sts("other")).add(DEPLOYMENTS, copy.deepcopy(deploy()))
    obs = check.observe(Clients(view=view))
    assert obs.ok and obs.observed == "1/1 workloads ready"
    assert view.calls == [("list", "statefulsets", "monitoring", "app=loki", None)]
    # and, optional, what a failure's diagnosis reads: the namespace's pods, their logs and Warning events
    assert check.permissions() == [Permission("list", "statefulsets", "apps", "monitoring")]
    assert check.optional_permissions() == [Permission("list", "pods", "", "monitoring"),
                                            Permission("get", "pods/log", "", "monitoring"),
                                            Permission("list", "events", "", "monitoring")]
    assert check.name == "StatefulSets ready in monitoring (app=loki)"
    assert WorkloadsCheck({"namespace": "monitoring"}).name == "Workloads ready in monitoring"
