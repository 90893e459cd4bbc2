"""kargo_stage check: conditions, expected Freight (name or alias), strict verification, legacy phase."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from gate.checks.base import Clients
from gate.checks.kargo_stage import KargoStageCheck

from gate.cluster.kube import Permission
from gate.cluster.resources import FREIGHTS, STAGES
from gate.errors import EvaluationError
from tests.fakeview import FakeView, meta

F1, F2 = "3f1c2a9e0b7d4c5e6f708192a3b4c5d6e7f80912", "9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c"
SETTINGS = SimpleNamespace(kargo_namespace="platform", kargo_project="platform")


def cond(kind: str, status: str = "True", reason: str | None = None, message: str = "") -> dict:
    return {"type": kind, "status": status, "reason": reason or kind, "message": message,
            "observedGeneration": 3}


def stage(name: str = "monitoring", freight: str = F1, verifications: list[str] | None = None,
          conditions: list[dict] | None = None) -> dict:
    """A v1.11-shaped Stage (notes/kargo.md §1.5)."""
    history = [{"id": f"{i}", "phase": phase, "startTime": "2026-08-20T10:00:05Z",
                "analysisRun": {"namespace": "platform", "name": f"{name}.01k3zq8m.{i}", "phase": phase}}
               for i, phase in enumerate(verifications if verifications is not None else ["Successful"])]
    if conditions is None:
        conditions = [cond("Ready", reason="Verified", message="Freight has been verified"),
                      cond("Healthy", message="Stage is healthy"), cond("Verified")]
    return {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
            "metadata": meta(name, "platform", generation=3),
            "status": {"conditions": conditions, "freightSummary": freight,
                       "freightHistory": [{"id": "abc", "items": {"Warehouse/platform-apps": {
                           "name": freight, "origin": {"kind": "Warehouse", "name": "platform-apps"}}},
                           "verificationHistory": history}],
                       "lastPromotion": {"name": f"{name}.01k3zq5r.3f1c2a9", "freight": {"name": freight},
                                         "status": {"phase": "Succeeded"}}}}


def freight(name: str, alias: str, label_only: bool = False) -> dict:
    obj = {"kind": "Freight", "metadata": meta(name, "platform", {"kargo.akuity.io/alias": alias}),
           "origin": {"kind": "Warehouse", "name": "platform-apps"}}
    if not label_only:
        obj["alias"] = alias
    return obj


def observe(st: dict | None, *, freight_flag: str | None = None, freights=(), settings=SETTINGS, **params):
    view = FakeView().add(STAGES, *([st] if st else [])).add(FREIGHTS, *freights)
    check = KargoStageCheck({"stage": "monitoring", **params})
    return check.observe(Clients(view=view, settings=settings, freight=freight_flag)), view


def test_ready_stage_passes_without_freight_and_reads_only_the_stage():
    obs, view = observe(stage())
    assert obs.ok and obs.observed == "Ready (Verified)" and obs.expected == "Healthy=True and Ready=True"
    assert view.calls == [("get", "stages", "platform", "monitoring")]
    assert "Ready=True (Verified): Freight has been verified" in obs.evidence
    assert f"current Freight: {F1}" in obs.evidence


@pytest.mark.parametrize("wanted", [F1, "brave-badger"])
def test_expected_freight_by_name_or_alias(wanted: str):
    freights = [freight(F1, "brave-badger"), freight(F2, "calm-crane")]
    obs, _ = observe(stage(), freight_flag=wanted, freights=freights)
    assert obs.ok, obs
    assert obs.observed == f"Ready (Verified); Freight {wanted} current and verified"
    assert f"current Freight: {F1} (brave-badger)" in obs.evidence
    assert obs.expected.endswith(f"Freight {wanted} current and verified")


def test_alias_from_label_only_and_param_overrides_flag():
    freights = [freight(F1, "brave-badger", label_only=True)]
    obs, _ = observe(stage(), freight_flag="calm-crane", freights=freights, freight="brave-badger")
    assert obs.ok


def test_other_freight_current_fails():
    freights = [freight(F1, "brave-badger"), freight(F2, "calm-crane")]
    obs, _ = observe(stage(), freight_flag="calm-crane", freights=freights)
    assert not obs.ok and obs.observed == "Freight calm-crane is not current"


@pytest.mark.parametrize(("phases", "shown"), [
    (["Running"], "Running"), (["Failed", "Successful"], "Failed"), ([], "none yet")])
def test_latest_verification_must_be_successful(phases: list[str], shown: str):
    obs, _ = observe(stage(verifications=phases), freight_flag=F1)
    assert not obs.ok
    assert obs.observed == f"Freight {F1} not verified (latest verification: {shown})"


@pytest.mark.parametrize(("conditions", "observed", "line"), [
    ([cond("Ready", "False", "LastPromotionErrored", "step 2 (argocd-update) failed: timeout"),
      cond("Healthy", "Unknown", "LastPromotionErrored")],
     "not Ready: LastPromotionErrored",
     "Ready=False (LastPromotionErrored): step 2 (argocd-update) failed: timeout"),
    ([cond("Ready", "False", "ReconcileError", "error listing Promotions"), cond("Healthy")],
     "not Ready: ReconcileError", "Ready=False (ReconcileError): error listing Promotions"),
    ([cond("Ready", "False", "ActivePromotion", 'Promotion "m.01k" is currently Running'),
      cond("Healthy", "Unknown", "ActivePromotion")],
     "not Ready: ActivePromotion", 'Ready=False (ActivePromotion): Promotion "m.01k" is currently Running'),
    ([cond("Ready"), cond("Healthy", "False", "Unhealthy", "app loki is Degraded")],
     "not Healthy: Unhealthy", "Healthy=False (Unhealthy): app loki is Degraded"),
    ([cond("Ready")], "not Healthy: no Healthy condition", "Healthy condition missing"),
    ([], "not Ready: no Ready condition yet", "Ready condition missing"),
])
def test_condition_reasons_are_named(conditions: list[dict], observed: str, line: str):
    obs, _ = observe(stage(conditions=conditions))
    assert not obs.ok and obs.observed == observed
    assert line in obs.evidence
    assert "kubectl get stage -n platform monitoring" in obs.hint


def test_control_flow_stage_needs_no_healthy_condition():
    st = stage(conditions=[cond("Ready", reason="Ready")])
    st["spec"] = {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "platform-apps"},
                                        "sources": {"direct": True}}]}
    obs, _ = observe(st)
    assert obs.ok and obs.observed == "Ready (Ready, control-flow Stage)"
    st["spec"]["promotionTemplate"] = {"spec": {"steps": [{"uses": "argocd-update"}]}}
    assert not observe(st)[0].ok


def test_bad_conditions_and_wrong_freight_both_show():
    st = stage(conditions=[cond("Ready", "False", "ActivePromotion"), cond("Healthy", "Unknown")])
    obs, _ = observe(st, freight_flag=F2)
    assert obs.observed == f"not Ready: ActivePromotion; Freight {F2} is not current"


def legacy(phase: str, health: str | None = "Healthy", message: str = "") -> dict:
    st = stage(conditions=[])
    st["status"].pop("conditions")
    st["status"].update(phase=phase, message=message)
    if health:
        st["status"]["health"] = {"status": health}
    return st


def test_legacy_steady_stage_passes_and_says_so():
    obs, _ = observe(legacy("Steady"), freight_flag=F1)
    assert obs.ok and obs.observed == f"Steady (legacy status.phase); Freight {F1} current and verified"
    assert "legacy Stage status (Kargo <= v1.4): status.phase=Steady" in obs.evidence


@pytest.mark.parametrize(("phase", "health", "observed"), [
    ("Promoting", "Healthy", "not ready: phase Promoting (legacy status.phase)"),
    ("Verifying", "Healthy", "not ready: phase Verifying (legacy status.phase)"),
    ("Failed", None, "not ready: phase Failed (legacy status.phase)"),
    ("Steady", "Unhealthy", "not ready: health Unhealthy (legacy status.phase)"),
])
def test_legacy_unsettled_phases(phase: str, health: str | None, observed: str):
    obs, _ = observe(legacy(phase, health, message="promotion step failed"))
    assert not obs.ok and obs.observed == observed
    assert "status.message: promotion step failed" in obs.evidence


def test_pre_freight_history_current_freight_shape():
    st = legacy("Steady")
    st["status"].pop("freightHistory")
    st["status"]["currentFreight"] = {"id": F1, "verificationInfo": {"phase": "Successful"}}
    assert observe(st, freight_flag=F1)[0].ok
    assert not observe(st, freight_flag=F2)[0].ok


def test_stage_not_found():
    obs, _ = observe(None)
    assert not obs.ok and obs.observed == "Stage not found"
    assert obs.evidence == ["platform/monitoring: not found"]


def test_namespace_resolution_and_permissions():
    obs, view = observe(stage(), settings=None, project="platform")
    assert obs.ok and view.calls[0][2] == "platform"
    with pytest.raises(EvaluationError, match="project namespace"):
        observe(stage(), settings=SimpleNamespace(kargo_namespace=None, kargo_project=None))
    check = KargoStageCheck({"stage": "monitoring"})
    check.apply_settings(SETTINGS)
    assert check.permissions() == [Permission("get", "stages", "kargo.akuity.io", "platform", "monitoring"),
                                   Permission("get", "freights", "kargo.akuity.io", "platform")]
    assert check.name == "Kargo Stage monitoring healthy and ready"


# -- Kargo v1.11.2 semantics beyond the conditions (scenario twins: tests/test_checks_l1_upstream.py) ------
@pytest.mark.parametrize(("phases", "ok"), [
    (["Failed", "Successful"], False), (["Error", "Successful"], False), (["Aborted", "Successful"], False),
    (["Inconclusive", "Successful"], False), (["Successful", "Failed"], True)])
def test_without_freight_the_latest_verification_still_decides(phases: list[str], ok: bool):
    # regular_stages.go:1109-1121: Verified (so Ready) stays True if any entry is Successful
    obs, _ = observe(stage(verifications=phases))
    assert obs.ok is ok
    if not ok:
        assert obs.observed == f"current Freight not verified (latest verification: {phases[0]})"
        assert any(line.startswith("Ready=True is not enough") for line in obs.evidence)
        assert f"latest verification: {phases[0]} (AnalysisRun platform/monitoring.01k3zq8m.0, " \
               f"phase {phases[0]})" in obs.evidence


def test_no_verification_recorded_for_the_current_freight_is_not_verified():
    obs, _ = observe(stage(verifications=[]))
    assert not obs.ok and obs.observed == "current Freight not verified (latest verification: none yet)"


@pytest.mark.parametrize(("ready_gen", "status_gen", "observed"), [
    (2, None, "status stale: Ready.observedGeneration 2 < metadata.generation 3"),
    (3, 2, "status stale: status.observedGeneration 2 < metadata.generation 3"),
    (3, 3, None), (None, 3, None)])
def test_generation_ahead_of_what_the_status_observed(ready_gen, status_gen, observed):
    st = stage()
    st["status"]["conditions"][0]["observedGeneration"] = ready_gen
    if status_gen is not None:
        st["status"]["observedGeneration"] = status_gen
    obs, _ = observe(st)
    assert obs.ok is (observed is None)
    if observed:
        assert obs.observed == observed and observed in obs.evidence and not obs.final


def test_control_flow_stage_staleness_and_no_verification_needed():
    # control_flow_stages.go:336-341: Ready without observedGeneration; :354 bumps status.observedGeneration;
    # no freightHistory (:373), so there is no verification to require
    st = stage(conditions=[{"type": "Ready", "status": "True", "reason": "Ready"}])
    st["spec"] = {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "platform-apps"},
                                        "sources": {"stages": ["operators"]}}]}
    st["status"].pop("freightHistory")
    st["status"]["observedGeneration"] = 3
    assert observe(st)[0].ok
    st["status"]["observedGeneration"] = 2
    obs, _ = observe(st)
    assert not obs.ok and obs.observed == "status stale: status.observedGeneration 2 < metadata.generation 3"
