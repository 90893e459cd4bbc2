"""A failing `workloads` check is diagnosed from the pods of the workload that is not Healthy (its
`spec.selector`), not from whichever pod of the namespace fails worst: before, a crash-looping pod of
another app in the same namespace was blamed for a Deployment whose own pod could not pull its image."""

from __future__ import annotations

from pathlib import Path

import pytest
from gate.checks.workloads import pod_selector
from test_diagnose_gates import reads_only, verify

API_POD = "api-gw-5d4c3b2a1-q8w7e"
WORLD = {
    "name": "workloads-diagnosis",
    "extends": "crashloop",  # grafana's pod crash-loops in monitoring: not the workload checked here
    "objects": [
        {"apiVersion": "apps/v1", "kind": "Deployment",
         "metadata": {"name": "api-gw", "namespace": "monitoring", "generation": 1,
                      "labels": {"app.kubernetes.io/name": "api-gw"}},
         "spec": {"replicas": 1,
                  "selector": {"matchLabels": {"app.kubernetes.io/name": "api-gw"},
                               "matchExpressions": [{"key": "tier", "operator": "In", "values": ["edge"]}]},
                  "template": {"metadata": {"labels": {"app.kubernetes.io/name": "api-gw", "tier": "edge"}},
                               "spec": {"containers": [{"name": "gw", "image": "ghcr.io/acme/api-gw:9.9.9"}]}}},
         "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 0,
                    "unavailableReplicas": 1}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": API_POD, "namespace": "monitoring",
                      "labels": {"app.kubernetes.io/name": "api-gw", "tier": "edge"}},
         "spec": {"containers": [{"name": "gw", "image": "ghcr.io/acme/api-gw:9.9.9"}]},
         "status": {"phase": "Pending",
                    "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
                    "containerStatuses": [{"name": "gw", "image": "ghcr.io/acme/api-gw:9.9.9", "ready": False,
                                           "restartCount": 0, "state": {"waiting": {
                                               "reason": "ImagePullBackOff",
                                               "message": 'Back-off pulling image "ghcr.io/acme/api-gw:9.9.9"'}}}]}},
    ],
}
SPEC = """
defaults: {timeout: 2s, interval: 0.3s, max_interval: 0.6s}
stages:
  monitoring:
    levels:
      1:
        - workloads: {namespace: monitoring, names: [api-gw]}
"""


def test_the_failing_workloads_own_pod_is_diagnosed_not_another_apps(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, doc, _, requests = verify(WORLD, tmp_path, capsys, spec=SPEC)
    assert code == 1, out
    text = out.split("DIAGNOSIS\n=========")[1]
    assert API_POD in text and "ImagePullBackOff" in text, text
    assert "grafana-7c9d8f6b5-x2k4p" not in text and "CrashLoopBackOff" not in text, text
    assert doc["diagnosis"]["root_cause"]["rule"] == "pod-image-pull"
    pods_read = [r["query"].get("labelSelector") for r in requests
                 if r["method"] == "GET" and r["path"] == "/api/v1/namespaces/monitoring/pods"]
    assert "app.kubernetes.io/name=api-gw,tier in (edge)" in pods_read, pods_read
    reads_only(requests)


@pytest.mark.parametrize(("selector", "expected"), [
    ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
    ({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["x", "y"]},
                           {"key": "e", "operator": "Exists"}, {"key": "d", "operator": "DoesNotExist"}]},
     "t notin (x,y),e,!d"),
    ({}, None),
    ({"matchExpressions": [{"key": "t", "operator": "Unknown"}]}, None),  # never a wider selector than meant
])
def test_pod_selector_is_the_workloads_label_selector(selector: dict, expected: str | None) -> None:
    assert pod_selector({"spec": {"selector": selector}}) == expected
