"""Post-promotion "Downstream auto-promotion started": expected only where Kargo would auto-promote the
Freight (pkg/controller/stages/regular_stages.go L1893-2029 at v1.11.2; gate/kargo/downstream.py)."""

from __future__ import annotations

import pytest
from test_kargo_support import F2, Kit, kargo_sim

ROW = "Downstream auto-promotion started"


@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path) -> Kit:
    with kargo_sim(request.param, tmp_path) as k:
        yield k


def _scenario(name: str):
    return pytest.mark.parametrize("kit", [name], indirect=True)


def _kargo_would_not_auto_promote(kit: Kit) -> None:
    """The simulated controller auto-promotes whenever status.autoPromotionEnabled is true (no holds, no
    anti-loop rule); real Kargo would not here, so its auto-promotion is switched off for these tests."""
    kit.sim.kargo.controller._auto_promote = lambda *args, **kwargs: None


def _services_promotions(kit: Kit) -> list[str]:
    return [p["spec"]["freight"] for p in kit.promotions("services")]


def _line(out: str) -> str:
    return next(line for line in out.splitlines() if ROW in line)


@_scenario("promote-ok")
def test_no_verify_does_not_demand_a_downstream_promotion(kit: Kit, capsys) -> None:
    # Kargo auto-promotes to services only once calm-crane is verified in monitoring (availability,
    # api/v1alpha1/stage_types.go); with --no-verify the gate does not wait for that verification
    kit.sim.kargo.controller.verify_cfg["running"] = 600.0
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-verify", capsys=capsys)
    assert code == 0, out
    line = _line(out)
    assert "7539ab2 is not verified in monitoring yet (--no-verify did not wait for it)" in line, line
    assert "Post-promotion: FAIL" not in out and "Overall: PASS" in out


@_scenario("promote-ok")
def test_candidate_with_no_promotion_still_fails(kit: Kit, capsys) -> None:
    # the other direction: Kargo's candidate, no hold, no failed Promotion of it -> a Promotion must come
    _kargo_would_not_auto_promote(kit)
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    assert f"[ ] {ROW}: no Promotion yet for services" in out
    assert "Post-promotion: FAIL" in out


@_scenario("downstream-hold")
def test_auto_promotion_hold_is_reported_not_failed(kit: Kit, capsys) -> None:
    _kargo_would_not_auto_promote(kit)
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    line = _line(out)
    assert "services: auto-promotion of Warehouse/platform-apps is on hold" in line, line
    assert "services.01j9y19z8y7x6w5v4t3s2r1q0p.0b60e85 by email:alice@acme.example" in line
    assert _services_promotions(kit) == []


@_scenario("downstream-hold")
def test_released_hold_expects_the_auto_promotion(kit: Kit, capsys) -> None:
    kit.sim.store.merge_patch(
        "kargo.akuity.io",
        "stages",
        "platform",
        "services",
        {"status": {"autoPromotionHolds": None, "effectiveAutoPromotionHolds": None}},
        subresource="status",
    )
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    assert f"[x] {ROW}: services: services." in out
    assert _services_promotions(kit) == [F2]


@_scenario("downstream-anti-loop")
def test_failed_downstream_promotion_of_this_freight_is_not_retried_by_kargo(kit: Kit, capsys) -> None:
    _kargo_would_not_auto_promote(kit)
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    line = _line(out)
    assert "services.01j9y0a1b2c3d4e5f6g7h8j9k0.7539ab2) ended Failed" in line, line
    assert "Kargo does not retry it on its own" in line
    assert _services_promotions(kit) == [F2]  # only the old failed one


@_scenario("downstream-anti-loop")
def test_newest_terminal_succeeded_expects_the_auto_promotion(kit: Kit, capsys) -> None:
    # the same Promotion, Succeeded: not a failure, so Kargo auto-promotes the candidate again
    kit.sim.store.merge_patch(
        "kargo.akuity.io",
        "promotions",
        "platform",
        "services.01j9y0a1b2c3d4e5f6g7h8j9k0.7539ab2",
        {"status": {"phase": "Succeeded", "message": "All steps completed"}},
        subresource="status",
    )
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    assert f"[x] {ROW}: services: services." in out
    assert len(_services_promotions(kit)) == 2


@_scenario("downstream-anti-loop-v1.7")
def test_kargo_before_v1_8_has_no_anti_loop_rule(kit: Kit, capsys) -> None:
    # a v1.7 controller retries the candidate after a failed Promotion, so one is expected; here none
    # comes (the simulated auto-promotion is off), and the row fails instead of excusing it
    _kargo_would_not_auto_promote(kit)
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    assert "Kargo API: v1.7.6" in out
    assert f"[ ] {ROW}: no Promotion yet for services" in out and "anti-loop" not in out
