"""`gate promote` / `gate precheck` end to end against the simulator's Kargo API (real HTTPS requests)."""

from __future__ import annotations

import time

import pytest
from test_kargo_support import CONNECT_PROMOTE, F1, F2, PROMOTE_PATH, Kit, kargo_sim


@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path) -> Kit:
    with kargo_sim(request.param, tmp_path) as k:
        yield k
        for text in k.outputs:
            assert k.token not in text, "the Kargo token leaked into an output"
        assert not k.kube_promotion_writes(), "the gate wrote Kargo objects through the Kubernetes API"


def _scenario(name: str):
    return pytest.mark.parametrize("kit", [name], indirect=True)


@_scenario("promote-ok")
def test_promote_ok_passes_every_section(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight-alias", "calm-crane", capsys=capsys)
    assert code == 0, out
    for block in (
        "Pre-promotion: PASS",
        "Promotion: PASS",
        "Kargo verification: PASS",
        "Level 1 (Infrastructure): PASS",
        "Post-promotion: PASS",
        "Overall: PASS",
    ):
        assert block in out
    assert "Downstream auto-promotion started: services: services." in out
    posts = kit.posts()
    assert len(posts) == 1 and posts[0]["status"] == 201
    promo = kit.sim.store.list("kargo.akuity.io", "promotions", "platform")
    mine = [p for p in promo if p["spec"]["stage"] == "monitoring"]
    assert len(mine) == 1 and mine[0]["status"]["phase"] == "Succeeded"
    assert mine[0]["metadata"]["name"].startswith("monitoring.") and mine[0]["metadata"]["name"].endswith(
        ".7539ab2"
    )
    assert kit.result_json()["context"]["Promotion"] == mine[0]["metadata"]["name"]
    # followed over SSE (the sim logs a stream when it closes, after its next keepalive)
    deadline = time.time() + 3
    while time.time() < deadline and not any(r["query"].get("watch") == "true" for r in kit.sim.requests):
        time.sleep(0.1)
    assert any(r["query"].get("watch") == "true" and "/promotions/" in r["path"] for r in kit.sim.requests)
    kargo = [r["path"] for r in kit.sim.requests if r["path"].startswith("/v1beta1/")]
    assert kargo[0] == "/v1beta1/system/server-version"


@_scenario("promote-ok")
def test_already_current_and_verified_creates_no_promotion(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F1, capsys=capsys)
    assert code == 0, out
    assert "already current and verified in monitoring: no Promotion created" in out
    assert kit.posts() == []


@_scenario("promote-ok")
def test_latest_verified_picks_the_newest_available(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", "latest-verified", capsys=capsys)
    assert code == 0, out
    assert "latest verified: 7539ab2 (calm-crane)" in out and "Pre-promotion: PASS" in out
    assert kit.posts() == []


@_scenario("promote-errored")
def test_errored_promotion_exits_1_with_the_failing_step(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    assert "Promotion: FAIL" in out and "Errored at step argocd-update" in out
    assert "repository not accessible" in out and "--retry-failed" in out
    assert len(kit.posts()) == 1
    # again: the failed Promotion for this Freight now blocks, unless --retry-failed
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1 and "[ ] No failed Promotion for this Freight" in out and "LastPromotionErrored" in out
    code, out = kit.gate(
        "precheck", "--stage", "monitoring", "--freight", F2, "--retry-failed", capsys=capsys
    )
    assert code == 0, out
    assert "--retry-failed: promoting again deliberately" in out
    assert len(kit.posts()) == 1


@_scenario("verification-failed")
def test_failed_verification_quotes_the_metric(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight-alias", "calm-crane", capsys=capsys)
    assert code == 1, out
    assert "Promotion: PASS" in out and "Kargo verification: FAIL" in out
    assert "metric error-rate: Failed: error rate 7.2% is above the 5% threshold" in out
    assert "Level 1" not in out.split("Kargo verification: FAIL")[1].split("Overall")[0] or "SKIPPED" in out
    assert len(kit.posts()) == 1
    assert any(r["path"].startswith("/v1beta1/projects/platform/analysis-runs/") for r in kit.sim.requests)


@_scenario("upstream-unverified")
def test_upstream_unverified_blocks_before_any_post(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    assert "[ ] Upstream verified for this Freight: operators: latest verification Failed" in out
    assert "Promotion: SKIPPED" in out
    assert kit.posts() == []


@_scenario("promotion-running")
def test_running_promotion_for_same_freight_is_attached(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    assert "attaching to it instead of creating another" in out
    assert "Promotion monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2 (attached)" in out
    assert kit.posts() == []


@_scenario("promotion-running")
def test_precheck_alone_says_wait_for_the_running_promotion(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    assert "[ ] No Promotion in progress on the target" in out and "Running" in out


@_scenario("stuck-stage")
def test_stuck_stage_names_the_reason(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    assert "[ ] Target Stage is not stuck: monitoring: Ready=False ReconcileError" in out
    assert kit.posts() == []


@_scenario("promote-ok")
def test_syncing_argocd_app_blocks(kit: Kit, capsys) -> None:
    kit.sim.store.merge_patch(
        "argoproj.io", "applications", "argocd", "loki", {"operation": {"sync": {"revision": "HEAD"}}}
    )
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    assert "[ ] Target's Argo CD apps not syncing: loki: operation requested" in out
    assert kit.posts() == []


@_scenario("promote-ok")
def test_auth_errors_exit_3_without_printing_the_token(kit: Kit, capsys) -> None:
    bad = "eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJub2JvZHkifQ.c2lnbmF0dXJlLW5vdC1yZWFs"
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys, token=bad)
    assert code == 3 and "token rejected (401)" in out
    assert bad not in out
    assert kit.posts() == []


@pytest.mark.parametrize(
    ("deny", "needed"),
    [
        ("promote", "promote stages.kargo.akuity.io 'monitoring' in namespace platform"),
        ("create-promotions", "create promotions.kargo.akuity.io in namespace platform"),
    ],
)
def test_forbidden_names_the_missing_permission(tmp_path, capsys, deny: str, needed: str) -> None:
    with kargo_sim("promote-ok", tmp_path) as kit:
        limited = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJsaW1pdGVkIn0.bGltaXRlZC10b2tlbi1zaWc"
        kit.sim.kargo.tokens[limited] = {"user": "ci-limited", "deny": [deny]}
        code, out = kit.gate(
            "promote", "--stage", "monitoring", "--freight", F2, capsys=capsys, token=limited
        )
        assert code == 3, out
        assert needed in out
        assert limited not in out
        assert kit.posts()[0]["status"] == 403
        assert not kit.sim.store.list("kargo.akuity.io", "promotions", "platform")


@_scenario("promote-ok")
def test_unknown_freight_and_stage_exit_2(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", "no-such-freight", capsys=capsys)
    assert code == 2 and 'Freight "no-such-freight" in project "platform" does not exist' in out
    code, out = kit.gate("precheck", "--stage", "nope", "--freight", F2, capsys=capsys)
    assert code == 2 and 'Stage "nope" in project "platform" does not exist' in out
    assert kit.posts("/v1beta1/projects/platform/stages/nope/promotions") == [] and kit.posts() == []


@_scenario("promote-ok")
def test_kargo_5xx_is_retried_then_exit_3(kit: Kit, capsys) -> None:
    kit.sim.add_fault({"path": "^/v1beta1/projects/platform/stages/monitoring$", "status": 503, "count": 2})
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    kit.sim.add_fault({"path": "^/v1beta1/system/server-version$", "status": 500})
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 3, out
    assert "HTTP 500" in out
    hits = [
        r for r in kit.sim.requests if r["path"] == "/v1beta1/system/server-version" and r["status"] == 500
    ]
    assert len(hits) >= 3


@_scenario("promote-ok")
def test_promotion_timeout_aborts_when_asked(kit: Kit, capsys) -> None:
    kit.sim.kargo.controller.promo_cfg["running"] = 600.0
    code, out = kit.gate(
        "promote",
        "--stage",
        "monitoring",
        "--freight",
        F2,
        "--promotion-timeout",
        "1s",
        "--abort-on-timeout",
        capsys=capsys,
    )
    assert code == 1, out
    assert "aborted" in out and "Promotion: FAIL" in out
    name = kit.posts() and kit.result_json()["context"]["Promotion"]
    assert kit.posts(f"/v1beta1/projects/platform/promotions/{name}/abort")
    deadline = time.time() + 5
    while time.time() < deadline:
        promo = kit.sim.store.get("kargo.akuity.io", "promotions", "platform", name)
        if promo["status"].get("phase") == "Aborted":
            break
        time.sleep(0.1)
    assert promo["status"]["phase"] == "Aborted"


@_scenario("legacy-stage")
def test_legacy_kargo_uses_connect_and_reads_status_phase(kit: Kit, capsys) -> None:
    code, out = kit.gate(
        "promote", "--stage", "monitoring", "--freight-alias", "calm-crane", "--no-verify", capsys=capsys
    )
    assert code == 0, out
    assert "Kargo API: v1.4.4" in out and "Promotion: PASS" in out
    assert len(kit.posts(CONNECT_PROMOTE)) == 1
    assert kit.posts(PROMOTE_PATH) == []
    stage = kit.sim.store.get("kargo.akuity.io", "stages", "platform", "monitoring")
    assert "phase" in stage["status"]
