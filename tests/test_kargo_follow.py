"""Following Kargo's verification after a Promotion (gate/kargo/follow.py) against the simulator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from test_kargo_support import F2, Kit, kargo_sim

from gate.kargo.timefmt import parse_time, rfc3339


@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path) -> Kit:
    with kargo_sim(request.param, tmp_path) as k:
        yield k


def _start_verification_before_finish(kit: Kit, seconds: float) -> None:
    """Stamp the no-AnalysisRun verification's startTime `seconds` before the Promotion's finishedAt, as
    Kargo does when the reconcile pass that records it began before the Promotion ended: startTime is the
    pass's start (regular_stages.go L367 `r.reconcile(ctx, stage, time.Now())`, L1245), metav1.Time
    is written in whole seconds."""
    controller = kit.sim.kargo.controller
    original = controller._patch_status

    def patch(plural, ns, name, status, group="kargo.akuity.io"):  # type: ignore[no-untyped-def]
        history = status.get("freightHistory") if plural == "stages" else None
        stage = kit.sim.store.get("kargo.akuity.io", "stages", ns, name) if history else None
        finished = parse_time((((stage or {}).get("status") or {}).get("lastPromotion") or {}).get("finishedAt"))
        entries = (history or [{}])[0].get("verificationHistory") or []
        if finished and entries and not entries[0].get("analysisRun"):
            entries[0]["startTime"] = rfc3339((finished - timedelta(seconds=seconds)).replace(microsecond=0))
        original(plural, ns, name, status, group)

    controller._patch_status = patch


@pytest.mark.parametrize("kit", ["no-verification"], indirect=True)
def test_verification_stamped_a_second_before_finished_at_is_this_promotions(kit: Kit, capsys) -> None:
    _start_verification_before_finish(kit, 1)
    code, out = kit.gate(
        "promote", "--stage", "monitoring", "--freight", F2, "--verification-timeout", "3s", capsys=capsys
    )
    assert code == 0, out
    assert "[x] Kargo verification: Successful (no AnalysisRun (no spec.verification))" in out


@pytest.mark.parametrize("kit", ["no-verification"], indirect=True)
def test_verification_started_long_before_finished_at_is_not_this_promotions(kit: Kit, capsys) -> None:
    _start_verification_before_finish(kit, 120)
    code, out = kit.gate(
        "promote", "--stage", "monitoring", "--freight", F2, "--verification-timeout", "3s", capsys=capsys
    )
    assert code == 1, out
    assert "Kargo verification: FAIL" in out and "not finished after 3s" in out
