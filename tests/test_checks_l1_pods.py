"""pods check against an in-memory view: verdicts, the reasons named for bad pods, hints, RBAC."""

from __future__ import annotations

import pytest
from gate.checks.base import Clients
from gate.checks.pods import PodsCheck

from gate.cluster.kube import Permission
from gate.cluster.resources import PODS
from gate.errors import EvaluationError, PermissionDenied
from tests.fakeview import FakeView, pod

SELECTOR = "app.kubernetes.io/part-of=kube-prometheus-stack"


def observe(pods: list[dict], **params):
    view = FakeView().add(PODS, *pods)
    check = PodsCheck({"namespace": "monitoring", "selector": SELECTOR, **params})
    return check, check.observe(Clients(view=view)), view


def crashing(name: str, restarts: int = 12, reason: str = "Error", code: int = 1) -> dict:
    return pod(name, ready=False, containers=[{
        "name": "grafana", "image": "grafana/grafana:11.1.0", "ready": False, "restartCount": restarts,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting"}},
        "lastState": {"terminated": {"reason": reason, "exitCode": code}}}])


def test_all_ready_passes_and_names_the_check():
    check, obs, view = observe([pod("grafana-1"), pod("prometheus-0"), pod("loki-0")])
    assert obs.ok
    assert obs.observed == "3/3 pods Ready"
    assert obs.expected == "all Ready (3)"
    assert obs.evidence == [] and obs.hint == ""
    assert check.name == f"Pods ready in monitoring ({SELECTOR})"
    assert view.calls == [("list", "pods", "monitoring", SELECTOR, None)]


def test_crashloop_is_named_with_restarts_and_last_exit_and_logs_hint():
    _, obs, _ = observe([pod("prometheus-0"), crashing("grafana-7c9f8d-x2x4q")])
    assert not obs.ok and not obs.final
    assert obs.observed == "1/2 pods Ready"
    assert obs.evidence == ["monitoring/grafana-7c9f8d-x2x4q: "
                            "CrashLoopBackOff (restarts: 12, last exit: Error, code 1)"]
    assert obs.hint == "Read the crash: kubectl logs -n monitoring grafana-7c9f8d-x2x4q --previous"


def test_oomkilled_crashloop_names_oomkilled():
    _, obs, _ = observe([crashing("loki-0", restarts=3, reason="OOMKilled", code=137)])
    assert obs.evidence == ["monitoring/loki-0: "
                            "CrashLoopBackOff (restarts: 3, last exit: OOMKilled, code 137)"]


def test_oomkilled_terminated_container():
    p = pod("loki-0", ready=False, containers=[{
        "name": "loki", "image": "grafana/loki:3", "ready": False, "restartCount": 1,
        "state": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}])
    _, obs, _ = observe([p])
    assert obs.evidence == ["monitoring/loki-0: OOMKilled (restarts: 1, code 137)"]


@pytest.mark.parametrize("reason", ["ImagePullBackOff", "ErrImagePull"])
def test_image_pull_names_the_image(reason: str):
    p = pod("grafana-1", ready=False, containers=[{
        "name": "grafana", "image": "grafana/grafana:does-not-exist", "ready": False, "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": "Back-off pulling image"}}}])
    _, obs, _ = observe([p])
    assert obs.evidence == [f"monitoring/grafana-1: {reason} (image: grafana/grafana:does-not-exist)"]
    assert obs.hint == "See why: kubectl describe pod -n monitoring grafana-1"


def test_create_container_config_error_carries_the_message():
    p = pod("grafana-1", ready=False, containers=[{
        "name": "grafana", "image": "g:1", "ready": False, "restartCount": 0,
        "state": {"waiting": {"reason": "CreateContainerConfigError",
                              "message": 'secret "grafana-admin" not found'}}}])
    _, obs, _ = observe([p])
    assert obs.evidence == ["monitoring/grafana-1: "
                            'CreateContainerConfigError: secret "grafana-admin" not found']


def test_unschedulable_pending_pod():
    p = pod("prometheus-0", ready=False, phase="Pending", containers=[], conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient memory."}])
    _, obs, _ = observe([p])
    assert obs.evidence == ["monitoring/prometheus-0: Pending: Unschedulable: 0/3 nodes are available: "
                            "3 Insufficient memory."]


def test_running_but_not_ready_names_unready_containers():
    _, obs, _ = observe([pod("grafana-1", ready=False)])
    assert obs.evidence == ["monitoring/grafana-1: not Ready (containers with unready status: [main])"]


def test_multi_container_pod_names_the_container_in_evidence_and_hint():
    p = crashing("grafana-1")
    p["status"]["containerStatuses"].append({"name": "sidecar", "ready": True, "restartCount": 0,
                                             "state": {"running": {}}})
    _, obs, _ = observe([p])
    assert obs.evidence == ["monitoring/grafana-1: container grafana: CrashLoopBackOff (restarts: 12, "
                            "last exit: Error, code 1)"]
    assert obs.hint.endswith("kubectl logs -n monitoring grafana-1 -c grafana --previous")


def test_succeeded_job_pods_are_ignored():
    done = pod("migrate-abc", ready=False, phase="Succeeded")
    _, obs, _ = observe([pod("grafana-1"), done])
    assert obs.ok and obs.observed == "1/1 pods Ready"


def test_terminating_pod_is_not_ready():
    p = pod("grafana-old")
    p["metadata"]["deletionTimestamp"] = "2026-08-20T10:00:00Z"
    _, obs, _ = observe([pod("grafana-1"), p])
    assert not obs.ok and obs.evidence == ["monitoring/grafana-old: Terminating"]


def test_no_pods_matched_fails():
    _, obs, _ = observe([pod("other", labels={"app": "x"})])
    assert not obs.ok
    assert obs.observed == "0/0 pods Ready" and obs.expected == "all Ready (at least 1 pod)"
    assert obs.evidence == [f"no pods in namespace monitoring with selector {SELECTOR}"]
    assert "--show-labels" in obs.hint


def test_min_ready_allows_some_unready_but_still_lists_them():
    _, obs, _ = observe([pod("a"), pod("b"), crashing("c")], min_ready=2)
    assert obs.ok and obs.expected == ">= 2 Ready" and obs.observed == "2/3 pods Ready"
    assert obs.evidence == ["monitoring/c: CrashLoopBackOff (restarts: 12, last exit: Error, code 1)"]
    _, obs, _ = observe([pod("a"), crashing("c")], min_ready=2)
    assert not obs.ok


def test_field_selector_is_passed_to_the_list():
    pods = [pod("a"), pod("b", phase="Pending", ready=False)]
    _, obs, view = observe(pods, field_selector="status.phase=Running")
    assert obs.ok and obs.observed == "1/1 pods Ready"
    assert view.calls[0][4] == "status.phase=Running"


def test_other_namespaces_do_not_count():
    _, obs, _ = observe([pod("a"), pod("z", namespace="other", ready=False)])
    assert obs.ok and obs.observed == "1/1 pods Ready"


def test_evidence_is_capped():
    _, obs, _ = observe([crashing(f"p{i}") for i in range(30)])
    assert len(obs.evidence) == 21 and obs.evidence[-1] == "... and 10 more"


def test_permissions_and_ident():
    check = PodsCheck({"namespace": "monitoring", "selector": SELECTOR})
    # the failing pods' logs and Warning events are what the failure's diagnosis reads (gate/diagnose/attach.py):
    # optional, the check runs without them
    assert check.permissions() == [Permission("list", "pods", "", "monitoring")]
    assert check.optional_permissions() == [Permission("get", "pods/log", "", "monitoring"),
                                            Permission("list", "events", "", "monitoring")]
    assert check.ident() == "monitoring.kube-prometheus-stack"
    assert PodsCheck({"namespace": "apps"}).ident() == "apps"
    assert PodsCheck({"namespace": "apps"}).name == "Pods ready in apps"


def test_forbidden_list_raises_permission_denied():
    view = FakeView(forbidden={PODS})
    with pytest.raises(PermissionDenied, match="list pods in namespace monitoring"):
        PodsCheck({"namespace": "monitoring"}).observe(Clients(view=view))


def test_no_cluster_is_an_evaluation_error():
    with pytest.raises(EvaluationError):
        PodsCheck({"namespace": "monitoring"}).observe(Clients())


@pytest.mark.parametrize(("policy", "ok"), [("Never", False), ("OnFailure", False), ("Always", True),
                                            (None, True)])
def test_running_ready_pod_with_a_finite_restart_policy_is_progressing(policy: str | None, ok: bool):
    # gitops-engine pkg/health/health_pod.go:96-128 (argo-cd v3.5.1 gitops-engine/pkg/health): Running and
    # Always+Ready -> Healthy; Running and Never/OnFailure -> Progressing. No restartPolicy: the API server
    # default, Always.
    p = pod("migrate-x7k2p")
    if policy is None:
        p["spec"].pop("restartPolicy")
    else:
        p["spec"]["restartPolicy"] = policy
    _, obs, _ = observe([pod("grafana-1"), p])
    assert obs.ok is ok
    if not ok:
        assert obs.observed == "1/2 pods Ready"
        assert obs.evidence == [f"monitoring/migrate-x7k2p: Progressing: Running with restartPolicy {policy}, "
                                "not finished yet"]
    assert observe([pod("grafana-1"), p], min_ready=1)[1].ok
