"""Post-promotion evidence from what real Kargo and Argo CD write (gate/kargo/promote.py post_promotion,
gate/kargo/argocd_ops.py), against the simulator."""

from __future__ import annotations

import threading

import pytest
from test_kargo_support import F2, Kit, kargo_sim

K = "kargo.akuity.io"


@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path) -> Kit:
    with kargo_sim(request.param, tmp_path) as k:
        yield k


def _scenario(name: str):
    return pytest.mark.parametrize("kit", [name], indirect=True)


def _argocd_syncs_for_the_promotion(kit: Kit, app: str, phase: str, message: str = "") -> None:
    """When the Promotion to monitoring is created, write what Kargo's argocd-update step leaves on the
    Application: an operation whose info names the Promotion (argocd_updater.go L605-619), ending `phase`."""

    def on_change(event: str, obj: dict) -> None:
        if event == "ADDED" and obj.get("kind") == "Promotion" and obj["spec"].get("stage") == "monitoring":
            name = obj["metadata"]["name"]
            state = {
                "operation": {
                    "initiatedBy": {"username": "kargo-controller", "automated": True},
                    "info": [
                        {"name": "Reason", "value": "Promotion triggered a sync of this Application resource."},
                        {"name": K + "/promotion", "value": name},
                    ],
                    "sync": {"revisions": []},
                },
                "phase": phase,
                "message": message,
            }
            threading.Timer(
                0.05,
                kit.sim.store.merge_patch,
                ("argoproj.io", "applications", "argocd", app, {"status": {"operationState": state}}),
            ).start()

    kit.sim.store.on_change(on_change)


@_scenario("promote-ok")
def test_argocd_operation_of_this_promotion_succeeded(kit: Kit, capsys) -> None:
    _argocd_syncs_for_the_promotion(kit, "loki", "Succeeded", "successfully synced (all tasks run)")
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    line = next(x for x in out.splitlines() if "Argo CD operations of this Promotion" in x)
    assert line.strip().startswith("[x]") and "loki: Succeeded" in line, line
    assert "kube-prometheus-stack: not synced by this Promotion (last operation: monitoring.01j9x0k2" in line


@_scenario("promote-ok")
def test_argocd_operation_of_this_promotion_failed(kit: Kit, capsys) -> None:
    # --no-verify: no levels (whose argocd_apps check would stop the run first); the row still sees it
    _argocd_syncs_for_the_promotion(kit, "loki", "Failed", "one or more objects failed to apply")
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-verify", capsys=capsys)
    assert code == 1, out
    assert "[ ] Argo CD operations of this Promotion: loki: Failed: one or more objects failed to apply" in out
    assert "Post-promotion: FAIL" in out


def _event(name: str, kind: str, api_version: str, reason: str, message: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "platform"},
        "involvedObject": {"apiVersion": api_version, "kind": kind, "name": name.split(".")[0],
                           "namespace": "platform"},
        "type": "Warning",
        "reason": reason,
        "message": message,
        "lastTimestamp": "2099-01-01T00:00:00Z",
    }


@_scenario("promote-ok")
def test_warning_about_a_kargo_object_is_not_kargos_and_does_not_fail(kit: Kit, capsys) -> None:
    # real Kargo records every event as Normal (pkg/event/kubernetes/sender.go L99): a Warning about a
    # Stage does not come from Kargo and says nothing about this promotion
    kit.sim.store.create(_event("monitoring.1", "Stage", K + "/v1alpha1", "PromotionFailed", "old news"))
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    assert "[x] No Warning events from Kubernetes in the project namespace: 0 Warning events" in out


@_scenario("promote-ok")
def test_warning_kubernetes_emitted_for_a_pod_fails(kit: Kit, capsys) -> None:
    kit.sim.store.create(_event("verify-job-x7k2p.1", "Pod", "v1", "BackOff", "Back-off restarting failed container"))
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    assert "[ ] No Warning events from Kubernetes in the project namespace: 1 Warning event(s): BackOff " in out


@_scenario("promote-ok")
def test_argocd_row_is_skipped_when_no_operation_is_this_promotions(kit: Kit, capsys) -> None:
    # the simulated argocd-update step does not sync the apps: their last operations are older
    # Promotions', so there is nothing of this Promotion to judge (never a pass on nothing)
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    line = next(x for x in out.splitlines() if "Argo CD operations of this Promotion" in x)
    assert line.strip().startswith("[-] Argo CD operations of this Promotion (skipped"), line
    assert "not synced by this Promotion" in line
