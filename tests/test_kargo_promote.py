"""`gate promote` / `gate precheck` end to end against the simulator's Kargo API (real HTTPS requests)."""

from __future__ import annotations

import re
import time

import pytest
import requests
from test_kargo_support import CONNECT_PROMOTE, F1, F2, PROMOTE_PATH, Kit, kargo_sim

from gate.engine.progress import PREFIX
from gate.errors import GateClosed
from gate.kargo.client import KargoClient, KargoConfig


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
    # Kargo (the simulated controller, at 10x) auto-promotes calm-crane to services: the gate sees that
    # Promotion, or, when the machine is slow and it has already finished, services holding the Freight
    assert re.search(r"\[x\] Downstream auto-promotion started: services: "
                     r"(services\.\w+\.7539ab2 (Pending|Running|Succeeded)|already holds it)$", out, re.M), out
    assert [p["spec"]["freight"] for p in kit.promotions("services")] == [F2]
    assert "WARNING" not in out  # 3 s at 10x is far below the default 10 minutes
    posts = kit.posts()
    assert len(posts) == 1 and posts[0]["status"] == 201
    promo = kit.sim.store.list("kargo.akuity.io", "promotions", "platform")
    mine = [p for p in promo if p["spec"]["stage"] == "monitoring"]
    assert len(mine) == 1 and mine[0]["status"]["phase"] == "Succeeded"
    assert mine[0]["metadata"]["name"].startswith("monitoring.") and mine[0]["metadata"]["name"].endswith(
        ".7539ab2"
    )
    assert kit.result_json()["context"]["Promotion"] == mine[0]["metadata"]["name"]
    # followed over SSE (the sim logs a stream when it closes, after its next keepalive: on a loaded
    # machine that can be seconds after the run, so wait for it, up to a bound that only a hang reaches)
    def followed() -> bool:
        return any(r["query"].get("watch") == "true" and "/promotions/" in r["path"] for r in kit.sim.requests)

    deadline = time.time() + 30
    while time.time() < deadline and not followed():
        time.sleep(0.1)
    assert followed()
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


# -- the guide's "if promotion takes > 10 minutes" advice ------------------------------------------------


@_scenario("promote-ok")
def test_slow_promotion_warns_once_on_stderr_and_still_succeeds(kit: Kit, capsys) -> None:
    kit.sim.kargo.controller.promo_cfg["running"] = 15.0  # scenario seconds: about 1.5 s at 10x
    code, out = kit.gate(
        "promote", "--stage", "monitoring", "--freight", F2, "--warn-after", "0.5s", capsys=capsys
    )
    assert code == 0, out
    name = kit.result_json()["context"]["Promotion"]
    warnings = [line for line in kit.last_err.splitlines() if "WARNING" in line]
    assert warnings == [
        f"{PREFIX} WARNING: Promotion {name} has taken more than 0.5s: check the Argo CD Application sync status "
        "and the repo-server logs (OOM, connection errors)"
    ]
    report = out.replace(kit.last_err, "")
    assert "WARNING" not in report  # on stderr, as a progress line; not in the report
    assert f"[x] Promotion {name}: Succeeded in" in report
    assert "Kargo verification: PASS" in report and "Overall: PASS" in report
    assert len(kit.posts()) == 1 and [p["status"]["phase"] for p in kit.promotions()] == ["Succeeded"]


# -- soak time (requestedFreight sources.requiredSoakTime) -----------------------------------------------

SOAK_FAIL = re.compile(
    r"\[ \] Upstream verified for this Freight: not available to monitoring: verified in operators but "
    r"soak time not met: soaked 20m\d*s? of the 1h required, (39m\d\ds|40m) left"
)


@_scenario("soak-not-met")
def test_soak_not_met_says_do_not_promote_with_the_time_left(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight-alias", "calm-crane", capsys=capsys)
    assert code == 1, out
    assert SOAK_FAIL.search(out), out
    assert re.search(
        r"Action Required: Do not promote yet: 7539ab2 \(calm-crane\) must soak (39m\d\ds|40m) more "
        rf"\(1h required in operators\); promote after that, or approve it for monitoring "
        rf"\(`kargo approve --project platform --freight {F2} --stage monitoring`\)",
        out,
    ), out
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight-alias", "calm-crane", capsys=capsys)
    assert code == 1, out
    assert SOAK_FAIL.search(out) and "Promotion: SKIPPED" in out
    assert kit.posts() == [] and kit.promotions() == []
    # not offered as a candidate either: the only Freight available to monitoring is the old one
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", "latest-verified", capsys=capsys)
    assert "latest verified: 0b60e85 (brave-badger), newest of 1 verified upstream and available to monitoring" in out


@_scenario("soak-not-met")
def test_kargo_api_refuses_freight_that_has_not_soaked(kit: Kit, capsys) -> None:
    resp = requests.post(
        kit.sim.url + PROMOTE_PATH,
        json={"freight": F2},
        headers={"Authorization": f"Bearer {kit.token}"},
        verify=kit.sim.ca_file,
        timeout=10,
    )
    assert resp.status_code == 400
    assert resp.json() == {"error": f'Freight "{F2}" is not available to Stage "monitoring"'}
    client = KargoClient(KargoConfig(kit.sim.url, kit.token, ca_file=kit.sim.ca_file))
    with pytest.raises(GateClosed, match=f'Freight "{F2}" is not available to Stage "monitoring"'):
        client.promote("platform", "monitoring", freight=F2)
    assert [(p["status"], p["body"]) for p in kit.posts()] == [(400, {"freight": F2})] * 2
    assert kit.promotions() == []


@_scenario("soak-not-met")
def test_freight_that_soaked_long_enough_earlier_passes(kit: Kit, capsys) -> None:
    # it left operators once after 1h05m there (verifiedIn.longestSoak), so the current 20 minutes do not matter
    kit.sim.store.merge_patch(
        "kargo.akuity.io",
        "freights",
        "platform",
        F2,
        {"status": {"verifiedIn": {"operators": {"longestSoak": "1h5m0s"}}}},
        subresource="status",
    )
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    assert "Kargo: verified in operators and soaked 1h" in out
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-verify", capsys=capsys)
    assert code == 0, out
    assert "Promotion: PASS" in out
    assert [p["status"] for p in kit.posts()] == [201]
    assert [p["spec"]["freight"] for p in kit.promotions()] == [F2]


@_scenario("soak-not-met")
def test_manual_approval_bypasses_the_soak_time(kit: Kit, capsys) -> None:
    kit.sim.store.merge_patch(
        "kargo.akuity.io",
        "freights",
        "platform",
        F2,
        {"status": {"approvedFor": {"monitoring": {"approvedAt": "2026-01-01T00:00:00Z"}}}},
        subresource="status",
    )
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    assert "[x] Upstream verified for this Freight: approved for monitoring" in out
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-wait", capsys=capsys)
    assert code == 0, out
    assert [(p["status"], p["body"]) for p in kit.posts()] == [(201, {"freight": F2})]
    assert [p["spec"]["freight"] for p in kit.promotions()] == [F2]


# -- --origin Warehouse/W: Kargo resolves the auto-promotion candidate ------------------------------------


@_scenario("promote-ok")
def test_origin_promotes_the_newest_available_freight_once(kit: Kit, capsys) -> None:
    # a newer Freight from the same Warehouse that is verified nowhere: newest, but not available
    kit.sim.store.create(
        {
            "apiVersion": "kargo.akuity.io/v1alpha1",
            "kind": "Freight",
            "metadata": {
                "name": "e3f1c2a9e0b7d4c5e6f708192a3b4c5d6e7f8091",
                "namespace": "platform",
                "labels": {"kargo.akuity.io/alias": "eager-eel"},
            },
            "alias": "eager-eel",
            "origin": {"kind": "Warehouse", "name": "platform-apps"},
            "images": [{"repoURL": "ghcr.io/acme/platform-bundle", "tag": "1.6.0", "digest": "sha256:" + "c3" * 32}],
        }
    )
    code, out = kit.gate(
        "promote", "--stage", "monitoring", "--origin", "Warehouse/platform-apps", capsys=capsys
    )
    assert code == 0, out
    assert "[x] Freight selected: --origin Warehouse/platform-apps: candidate 7539ab2 (calm-crane)" in out
    assert "Promotion: PASS" in out and "Overall: PASS" in out
    assert "Kargo resolved" not in out  # Kargo's candidate is the one the gate prechecked
    assert [(p["status"], p["body"]) for p in kit.posts()] == [(201, {"origin": "Warehouse/platform-apps"})]
    mine = kit.promotions()
    assert len(mine) == 1 and mine[0]["spec"]["freight"] == F2 and mine[0]["status"]["phase"] == "Succeeded"
    result = kit.result_json()
    assert result["freight"] == F2 and result["context"]["Promotion"] == mine[0]["metadata"]["name"]
