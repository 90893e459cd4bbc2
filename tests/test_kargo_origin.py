"""Which Freight: `--origin` as Kargo resolves it, which Kargo versions take it, and latest-verified vs
latest-available. Rules from akuity/kargo v1.11.2 (and v1.10.10 for the REST body), cited per test."""

from __future__ import annotations

import pytest
from test_kargo_support import F1, F2, Kit, kargo_sim

F3 = "e3f1c2a9e0b7d4c5e6f708192a3b4c5d6e7f8091"
ORIGIN = ("--origin", "Warehouse/platform-apps")


@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path) -> Kit:
    with kargo_sim(request.param, tmp_path) as k:
        yield k
        assert not k.kube_promotion_writes()


def _scenario(name: str):
    return pytest.mark.parametrize("kit", [name], indirect=True)


# -- item 5: MatchUpstream (pkg/api/auto_promotion.go L115-129; pkg/api/stage.go L175-180) -----------


@_scenario("origin-match-upstream-two")
def test_match_upstream_with_two_freight_upstream_has_no_candidate(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", *ORIGIN, capsys=capsys)
    assert code == 1, out
    assert "Kargo would refuse --origin Warehouse/platform-apps: MatchUpstream: 2 Freight" in out
    assert "are in operators at once (0b60e85, 7539ab2)" in out
    assert kit.posts() == [] and kit.promotions() == []


@_scenario("origin-match-upstream-one")
def test_match_upstream_picks_what_the_upstream_holds_not_the_newest(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", *ORIGIN, capsys=capsys)
    assert code == 0, out
    assert "[x] Freight selected: --origin Warehouse/platform-apps: candidate 7539ab2 (calm-crane)" in out
    assert kit.result_json()["freight"] == F2  # not eager-eel (F3), newer but no longer in operators
    # Kargo's Freight list for monitoring hides eager-eel too (stage.go L175-180), so latest-available
    # is calm-crane (promoting eager-eel by name is another matter: Stage.IsFreightAvailable has no
    # MatchUpstream rule, api/v1alpha1/stage_types.go L176-207)
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", "latest-available", capsys=capsys)
    assert code == 0 and kit.result_json()["freight"] == F2, out


@_scenario("origin-match-upstream-one")
def test_match_upstream_promotion_is_the_freight_the_gate_prechecked(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", *ORIGIN, "--no-verify", capsys=capsys)
    assert code == 0, out
    assert "Kargo resolved" not in out
    assert [p["spec"]["freight"] for p in kit.promotions()] == [F2]


@_scenario("promote-ok")
def test_origin_candidate_is_newest_by_discovered_at_then_name(kit: Kit, capsys) -> None:
    # discoveredAt wins over creationTimestamp (api/v1alpha1/freight_types.go L59-67): F1 was discovered
    # after F2 although its object is older, so F1 is Kargo's candidate
    kit.sim.store.merge_patch(
        "kargo.akuity.io", "freights", "platform", F1, {"discoveredAt": "2099-01-01T00:00:00Z"}
    )
    code, out = kit.gate("precheck", "--stage", "monitoring", *ORIGIN, capsys=capsys)
    assert "candidate 0b60e85 (brave-badger)" in out, out


# -- item 14: origin needs v1.11+ (pkg/server/promote_to_stage_v1alpha1.go L159-163 / L188-195 at v1.10.10)


@_scenario("origin-rest-v1.10")
def test_origin_on_kargo_v1_10_exits_2_before_any_request(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", *ORIGIN, capsys=capsys)
    assert code == 2, out
    assert "--origin needs Kargo v1.11.0 or newer" in out and "v1.10.10" in out
    assert kit.posts() == [] and kit.promotions() == []
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-verify", capsys=capsys)
    assert code == 0, out  # --freight works on v1.10
    assert [p["body"] for p in kit.posts()] == [{"freight": F2}]


@_scenario("origin-rest-v1.11.0")
def test_origin_on_kargo_v1_11_0_is_sent(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", *ORIGIN, "--no-verify", capsys=capsys)
    assert code == 0, out
    assert [(p["status"], p["body"]) for p in kit.posts()] == [(201, {"origin": "Warehouse/platform-apps"})]


# -- latest-verified means verified upstream; latest-available takes approved/direct Freight too ----------


@_scenario("latest-approved-only")
def test_latest_verified_skips_freight_that_was_only_approved(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", "latest-verified", capsys=capsys)
    assert code == 0, out
    assert "latest verified: 7539ab2 (calm-crane), newest of 2 verified upstream and available" in out
    assert kit.result_json()["freight"] == F2


@_scenario("latest-approved-only")
def test_latest_available_takes_the_approved_freight(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", "latest-available", capsys=capsys)
    assert code == 0, out
    assert "latest available: e3f1c2a (eager-eel), newest of 3 available to monitoring" in out
    assert kit.result_json()["freight"] == F3


# -- promoting a non-candidate puts auto-promotion on hold (webhook.go L397-472, v1.11+) -------------------


def _auto_promoting_monitoring(kit: Kit) -> None:
    kit.sim.store.merge_patch(
        "kargo.akuity.io", "stages", "platform", "monitoring", {"status": {"autoPromotionEnabled": True}},
        subresource="status",
    )


@_scenario("latest-approved-only")
def test_promoting_a_non_candidate_warns_of_the_hold(kit: Kit, capsys) -> None:
    _auto_promoting_monitoring(kit)
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-wait", capsys=capsys)
    assert code == 0, out
    assert (
        "7539ab2 (calm-crane) is not Kargo's auto-promotion candidate for Warehouse/platform-apps in "
        "monitoring (its candidate is e3f1c2a): Kargo will hold auto-promotion" in " ".join(out.split())
    ), out


@_scenario("latest-approved-only")
def test_promoting_the_candidate_says_nothing_of_a_hold(kit: Kit, capsys) -> None:
    _auto_promoting_monitoring(kit)
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F3, "--no-wait", capsys=capsys)
    assert code == 0, out
    assert "hold auto-promotion" not in out
