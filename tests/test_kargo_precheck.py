"""`gate precheck` rules against scenario worlds served by the simulator (real HTTPS requests).

Each rule is tested in both directions (the world where it must pass and its twin where it must not),
with the upstream source (Kargo v1.11.2) the verdict follows cited at the test."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest
from test_kargo_support import CONFIG, F2, Kit, kargo_sim

from gate.cli import cli
from gate.entry import run
from gate.sim.scenario import resolve

APPS_READS = "^/apis/argoproj.io/v1alpha1/namespaces/argocd/applications(/|$)"  # by name, or listed


@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path) -> Kit:
    with kargo_sim(request.param, tmp_path) as k:
        yield k
        for text in k.outputs:
            assert k.token not in text, "the Kargo token leaked into an output"
        assert not k.kube_promotion_writes(), "the gate wrote Kargo objects through the Kubernetes API"


def _scenario(name: str):
    return pytest.mark.parametrize("kit", [name], indirect=True)


def _rows(kit: Kit) -> dict[str, dict]:
    section = next(s for s in kit.result_json()["sections"] if s["title"] == "Pre-promotion")
    return {r["id"]: r for r in section["rows"]}


# -- a rule that could not read its inputs is an ERROR row, and promote creates nothing -----------------


@_scenario("promote-ok")
def test_unreadable_applications_is_an_error_row_and_no_promotion(kit: Kit, capsys) -> None:
    kit.sim.add_fault({"path": APPS_READS, "status": 403, "message": "applications is forbidden"})
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 3, out
    row = _rows(kit)["pre.argocd-not-syncing"]
    assert row["status"] == "ERROR" and row["observed"].startswith("could not read Argo CD Applications")
    assert _rows(kit)["pre.upstream-verified"]["status"] == "PASS"  # the other rules still judged
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 3, out
    assert "Promotion: SKIPPED" in out
    assert kit.posts() == [] and kit.promotions() == []
    assert any("/namespaces/argocd/applications/" in r["path"] and r["status"] == 403  # read by name
               for r in kit.sim.requests)
    assert not any(r["path"].endswith("/namespaces/argocd/applications") for r in kit.sim.requests)


@pytest.mark.parametrize(
    ("kit", "path", "errored"),
    [
        ("promote-ok", "^/v1beta1/projects/platform/promotions$",
         {"pre.no-active-promotion", "pre.no-failed-promotion"}),
        ("promote-ok", "^/v1beta1/projects/platform/stages/operators$", {"pre.upstream-verified"}),
    ],
    indirect=["kit"],
)
def test_unreadable_kargo_inputs_are_error_rows(kit: Kit, path: str, errored: set, capsys) -> None:
    kit.sim.add_fault({"path": path, "status": 403, "message": "forbidden"})
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-wait", capsys=capsys)
    assert code == 3, out
    statuses = {k: v["status"] for k, v in _rows(kit).items()}
    assert {k for k, v in statuses.items() if v == "ERROR"} == errored, statuses
    assert set(statuses.values()) <= {"PASS", "ERROR"}
    assert "Promotion: SKIPPED" in out and kit.posts() == []


@_scenario("promote-ok")
def test_readable_applications_twin_promotes(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-wait", capsys=capsys)
    assert code == 0, out
    assert _rows(kit)["pre.argocd-not-syncing"]["observed"] == "kube-prometheus-stack Synced, loki Synced"
    assert [p["status"] for p in kit.posts()] == [201]


# -- issue 13 #3: apps synced by PromotionTask steps (pkg/api/promotion.go:264-369 inflates
#    `task:` steps into the task's own steps at Promotion creation, webhook.go:250-271) -------------


@_scenario("precheck-task-apps-synced")
def test_apps_named_inside_promotion_tasks_are_checked(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    row = _rows(kit)["pre.argocd-not-syncing"]
    assert row["status"] == "PASS"
    assert row["observed"] == "loki Synced, kube-prometheus-stack Synced", row
    task_reads = [r["path"] for r in kit.sim.requests if "promotiontasks" in r["path"]]
    assert task_reads == [
        "/apis/kargo.akuity.io/v1alpha1/namespaces/platform/promotiontasks/argocd-sync",
        "/apis/kargo.akuity.io/v1alpha1/clusterpromotiontasks/sync-kube-prometheus",
    ]


@_scenario("precheck-task-apps-syncing")
def test_app_syncing_inside_a_promotion_task_blocks(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    row = _rows(kit)["pre.argocd-not-syncing"]
    assert row["status"] == "FAIL"
    assert row["observed"].startswith("loki: operation requested (sync pending)"), row
    assert "task argocd-sync" in row["observed"]
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-wait", capsys=capsys)
    assert code == 1 and "Promotion: SKIPPED" in out
    assert kit.posts() == []


@_scenario("precheck-task-apps-expression")
def test_app_named_by_a_runtime_expression_is_could_not_determine(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 3, out
    row = _rows(kit)["pre.argocd-not-syncing"]
    assert row["status"] == "ERROR"
    assert "could not determine" in row["observed"] and "${{ outputs.render.app }}" in row["observed"]
    assert "no argocd-update steps" not in out


@_scenario("precheck-task-apps-synced")
def test_missing_promotion_task_is_could_not_determine(kit: Kit, capsys) -> None:
    kit.sim.store.delete("kargo.akuity.io", "promotiontasks", "platform", "argocd-sync")
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 3, out
    row = _rows(kit)["pre.argocd-not-syncing"]
    assert row["status"] == "ERROR" and 'PromotionTask "argocd-sync" not found' in row["observed"], row


# -- issue 13 #6: a control-flow upstream holds nothing; Kargo writes verifiedIn itself
#    (pkg/controller/stages/control_flow_stages.go:373 clears freightHistory, :391-418 AddVerifiedStage)


@_scenario("precheck-upstream-control-flow")
def test_control_flow_upstream_is_judged_by_verified_in(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    row = _rows(kit)["pre.upstream-verified"]
    assert row["status"] == "PASS"
    assert "gateway is a control-flow Stage" in row["observed"] and "verifiedIn[gateway]" in row["observed"]


@_scenario("precheck-upstream-control-flow-unverified")
def test_control_flow_upstream_without_verified_in_blocks(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    row = _rows(kit)["pre.upstream-verified"]
    assert row["status"] == "FAIL" and "not verified in gateway" in row["observed"], row


# -- issue 13 #7: the upstream moved on; verifiedIn is sticky and soak still counts
#    (api/v1alpha1/stage_types.go:174-207, freight_types.go:147-196) ----------------------------------


@_scenario("precheck-upstream-moved-on")
def test_upstream_that_moved_on_is_judged_by_verified_in(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    observed = _rows(kit)["pre.upstream-verified"]["observed"]
    assert "operators has moved on to e3f1c2a" in observed, observed
    assert "verifiedIn[operators]" in observed


@_scenario("precheck-upstream-moved-on-soak-not-met")
def test_upstream_that_moved_on_still_needs_the_soak_time(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    observed = _rows(kit)["pre.upstream-verified"]["observed"]
    assert re.search(r"soak time not met: soaked (1h|60m) of the 2h required", observed), observed


@_scenario("upstream-unverified")
def test_upstream_still_holding_it_needs_its_latest_verification_successful(kit: Kit, capsys) -> None:
    # the sticky-Verified trap (regular_stages.go:1106-1121): verifiedIn is set, the latest re-verification Failed
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    row = _rows(kit)["pre.upstream-verified"]
    assert row["status"] == "FAIL" and "operators: latest verification Failed" in row["observed"]


# -- issue 13 #10: a failed last Promotion blocks only a same-Freight retry; Kargo holds the queue only
#    while the current Freight's verification is pending (regular_stages.go:820-845) ----------------

F3 = "e3f1c2a9e0b7d4c5e6f708192a3b4c5d6e7f8091"  # eager-eel
F4 = "f4a2d3b0c1e8f5a6b7c8d9e0f1a2b3c4d5e6f708"  # fresh-fox


@_scenario("precheck-last-promotion-failed")
def test_failed_last_promotion_lets_a_different_freight_through(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    observed = _rows(kit)["pre.stage-not-stuck"]["observed"]
    assert "Ready=False LastPromotionFailed" in observed and "e3f1c2a" in observed, observed
    assert "Kargo starts it as soon as it is first in the queue" in observed, observed
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-wait", capsys=capsys)
    assert code == 0, out
    assert [(p["status"], p["body"]) for p in kit.posts()] == [(201, {"freight": F2})]


@_scenario("precheck-last-promotion-failed")
def test_failed_last_promotion_blocks_a_same_freight_retry(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F3, capsys=capsys)
    assert code == 1, out
    rows = _rows(kit)
    assert rows["pre.stage-not-stuck"]["status"] == "FAIL"
    assert "the last Promotion was of this Freight" in rows["pre.stage-not-stuck"]["observed"]
    assert "--retry-failed" in rows["pre.stage-not-stuck"]["hint"]
    assert rows["pre.no-failed-promotion"]["status"] == "FAIL"
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F3, "--retry-failed", capsys=capsys)
    assert code == 0, out
    assert kit.posts() == []


# -- issue 13 #12: a Promotion for another Freight queued on the target is reported with the position
#    the new one would take (pkg/api/promotion.go:192-222); only the same Freight blocks (attach) ------


@_scenario("precheck-promotion-queued")
def test_promotions_of_other_freight_queue_the_new_one(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    row = _rows(kit)["pre.no-active-promotion"]
    assert row["status"] == "PASS"
    assert row["observed"].startswith(
        "queued: monitoring.01k0c0a1b2c3d4e5f6g7h8j9k0.e3f1c2a (Running, Freight e3f1c2a), "
        "monitoring.01k0c1m2n3p4q5r6s7t8v9w0x1.f4a2d3b (Pending, Freight f4a2d3b); "
        "a Promotion of 7539ab2 (calm-crane) would be number 3 in the queue"
    ), row
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-wait", capsys=capsys)
    assert code == 0, out
    assert [(p["status"], p["body"]) for p in kit.posts()] == [(201, {"freight": F2})]


@_scenario("precheck-promotion-queued")
def test_queued_promotion_of_the_same_freight_blocks_and_promote_attaches(kit: Kit, capsys) -> None:
    for freight, phase in ((F3, "Running"), (F4, "Pending")):
        code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", freight, capsys=capsys)
        assert code == 1, out
        row = _rows(kit)["pre.no-active-promotion"]
        assert row["status"] == "FAIL" and f"({phase}, Freight {freight[:7]})" in row["observed"], row
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F4, "--no-wait", capsys=capsys)
    assert code == 0, out
    assert "monitoring.01k0c1m2n3p4q5r6s7t8v9w0x1.f4a2d3b is Pending for this Freight: attaching" in out
    assert kit.posts() == []


# -- the newest terminal Promotion is the newest by creationTimestamp, then name
#    (pkg/controller/stages/regular_stages.go:2126-2131) ----------------------------------------------


@_scenario("precheck-newest-terminal-by-creation")
def test_newest_terminal_promotion_is_by_creation_time_not_name(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    row = _rows(kit)["pre.no-failed-promotion"]
    assert row["observed"] == (
        "newest for 7539ab2 (calm-crane): monitoring.01k0d0a1b2c3d4e5f6g7h8j9k0.7539ab2 Succeeded"
    ), row


@_scenario("precheck-newest-terminal-by-creation-failed")
def test_newest_terminal_promotion_by_creation_time_failed_blocks(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    row = _rows(kit)["pre.no-failed-promotion"]
    assert row["status"] == "FAIL"
    assert row["observed"].startswith("monitoring.01k0d0a1b2c3d4e5f6g7h8j9k0.7539ab2 Failed"), row


# -- the same worlds through a second reading ------------------------------------------------------------
# Every scenario above, read two ways: (1) the gate through the Kargo REST API and, with no Kargo API
# configured, through the Kubernetes API (KubeKargoReader): the verdicts must agree; (2) the objects the
# verdicts rest on, read with the real kubernetes client, are served exactly as the scenario wrote them
# (no simulated controller rewrote them while the gate read them).

CASES = [
    ("precheck-task-apps-synced", F2, 0, {"pre.argocd-not-syncing": "PASS"}),
    ("precheck-task-apps-syncing", F2, 1, {"pre.argocd-not-syncing": "FAIL"}),
    ("precheck-task-apps-expression", F2, 3, {"pre.argocd-not-syncing": "ERROR"}),
    ("precheck-upstream-control-flow", F2, 0, {"pre.upstream-verified": "PASS"}),
    ("precheck-upstream-control-flow-unverified", F2, 1, {"pre.upstream-verified": "FAIL"}),
    ("precheck-upstream-moved-on", F2, 0, {"pre.upstream-verified": "PASS"}),
    ("precheck-upstream-moved-on-soak-not-met", F2, 1, {"pre.upstream-verified": "FAIL"}),
    ("upstream-unverified", F2, 1, {"pre.upstream-verified": "FAIL"}),
    ("precheck-last-promotion-failed", F2, 0, {"pre.stage-not-stuck": "PASS"}),
    ("precheck-last-promotion-failed", F3, 1, {"pre.stage-not-stuck": "FAIL", "pre.no-failed-promotion": "FAIL"}),
    ("precheck-promotion-queued", F2, 0, {"pre.no-active-promotion": "PASS"}),
    ("precheck-promotion-queued", F4, 1, {"pre.no-active-promotion": "FAIL"}),
    ("precheck-newest-terminal-by-creation", F2, 0, {"pre.no-failed-promotion": "PASS"}),
    ("precheck-newest-terminal-by-creation-failed", F2, 1, {"pre.no-failed-promotion": "FAIL"}),
]


def _gate_via_kubernetes(kit: Kit, *args: str, capsys) -> tuple[int, dict]:
    """`gate ARGS` with no Kargo API configured: the gate reads Kargo objects through Kubernetes."""
    js = kit.tmp / "kube-result.json"
    saved = {k: os.environ.pop(k, None) for k in ("KARGO_API_ADDRESS", "KARGO_API_TOKEN")}
    try:
        code = run(cli, [*args, "--config", CONFIG, "--kubeconfig", kit.sim.kubeconfig, "--json", str(js)])
    finally:
        os.environ.update({k: v for k, v in saved.items() if v is not None})
    kit.outputs.append(capsys.readouterr().out)
    return code, json.loads(js.read_text())


def _statuses(result: dict) -> dict[str, str]:
    section = next(s for s in result["sections"] if s["title"] == "Pre-promotion")
    return {r["id"]: r["status"] for r in section["rows"]}


@pytest.mark.parametrize(("kit", "freight", "code", "expected"), CASES, indirect=["kit"])
def test_same_verdicts_through_the_kargo_api_and_kubernetes(
    kit: Kit, freight: str, code: int, expected: dict, capsys
) -> None:
    got, out = kit.gate("precheck", "--stage", "monitoring", "--freight", freight, capsys=capsys)
    assert got == code, out
    via_api = _statuses(kit.result_json())
    assert {k: via_api[k] for k in expected} == expected
    got, result = _gate_via_kubernetes(kit, "precheck", "--stage", "monitoring", "--freight", freight,
                                       capsys=capsys)
    assert got == code and result["context"]["Kargo API"] == "kubernetes"
    assert _statuses(result) == via_api
    assert not [r for r in kit.sim.requests if r["path"].startswith("/v1beta1/") and r["method"] == "POST"]


_TIME = re.compile(r"^\d{4}-\d\d-\d\dT|\$\{now")


def _untimed(value):
    """Timestamps (rendered at load) out of the way: what is compared is everything else."""
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return "<time>" if isinstance(value, str) and _TIME.search(value) else value


@pytest.mark.parametrize("kit", sorted({c[0] for c in CASES}), indirect=True)
def test_worlds_are_served_as_written(kit: Kit) -> None:
    from kubernetes import client, config

    cfg = client.Configuration()
    config.load_kube_config(config_file=kit.sim.admin_kubeconfig, client_configuration=cfg, persist_config=False)
    api = client.CustomObjectsApi(client.ApiClient(cfg))
    time.sleep(1.0)  # 10 scenario seconds at 10x: a controller would have moved a Pending/Running on
    plurals = {"Stage": "stages", "Freight": "freights", "Promotion": "promotions"}
    wanted = [o for o in resolve(kit.sim.name)["objects"] if o.get("kind") in plurals]
    assert wanted
    for obj in wanted:
        meta = obj["metadata"]
        served = api.get_namespaced_custom_object(
            "kargo.akuity.io", "v1alpha1", meta["namespace"], plurals[obj["kind"]], meta["name"]
        )
        assert _untimed(served.get("status")) == _untimed(obj.get("status")), f"{obj['kind']}/{meta['name']}"


def test_docs_list_every_rule_with_its_upstream_source() -> None:
    from gate.kargo.rules import KARGO_VERSION, RULES

    text = (Path(__file__).resolve().parents[1] / "docs" / "semantics.md").read_text()
    section = text.split("## Precheck rules", 1)[1].split("\n## ", 1)[0]
    assert f"Kargo {KARGO_VERSION}" in section
    for rule in RULES:
        line = next((ln for ln in section.splitlines() if ln.startswith(f"| `{rule.id}` |")), None)
        assert line is not None, rule.id
        assert f"`{rule.upstream}`" in line, rule.id


@_scenario("precheck-task-apps-synced")
def test_apps_chosen_by_label_selector_from_stage_vars(kit: Kit, capsys) -> None:
    # argocd-update apps may be a label selector (pkg/promotion/runner/builtin/argocd_common.go:14-54),
    # here filled from the Stage's spec.vars, which the webhook puts first in the Promotion's vars
    # (pkg/webhook/kubernetes/promotion/webhook.go:250-258)
    store = kit.sim.store
    store.merge_patch(
        "kargo.akuity.io", "clusterpromotiontasks", None, "sync-kube-prometheus",
        {"spec": {"steps": [{"uses": "argocd-update", "config": {"apps": [
            {"selector": {"matchLabels": {"acme.example/part-of": "${{ vars.partOf }}"}}}]}}]}},
    )
    store.merge_patch("kargo.akuity.io", "stages", "platform", "monitoring",
                      {"spec": {"vars": [{"name": "partOf", "value": "observability"}]}})
    for app, part_of in (("kube-prometheus-stack", "observability"), ("cert-manager", "operators")):
        store.merge_patch("argoproj.io", "applications", "argocd", app,
                          {"metadata": {"labels": {"acme.example/part-of": part_of}}})
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 0, out
    assert _rows(kit)["pre.argocd-not-syncing"]["observed"] == "loki Synced, kube-prometheus-stack Synced"
    store.merge_patch("argoproj.io", "applications", "argocd", "kube-prometheus-stack",
                      {"operation": {"sync": {"revision": "HEAD"}}})
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    assert _rows(kit)["pre.argocd-not-syncing"]["observed"].startswith(
        "kube-prometheus-stack: operation requested (sync pending) (step task-2::step-1, task sync-kube-prometheus)"
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("loki", "loki"),  # no delimiter: as is (pkg/expressions/json_templates.go:116-130)
        ("${{ vars.app }}", "loki"),
        ("${{ vars.app }}-${{ ctx.stage }}", "loki-monitoring"),
        ("${{ 'literal' }}", "literal"),
        ("${{ ctx.targetFreight.origin.name }}", "platform-apps"),
        ("${{ outputs.render.app }}", None),  # outputs exist only while the Promotion runs
        ("${{ vars.app + '-x' }}", None),  # operators are not evaluated, never guessed
        ("${{ vars.missing }}", None),
        ("${{ vars.app", None),
        ("${% if true %}loki${% end %}", None),
    ],
)
def test_expressions_known_before_promoting(text: str, value: str | None) -> None:
    from gate.kargo.steps import Undetermined, evaluate

    ctx = {"stage": "monitoring", "targetFreight": {"origin": {"name": "platform-apps"}}}
    env = {"vars": {"app": "loki"}, "ctx": ctx}
    if value is None:
        with pytest.raises(Undetermined):
            evaluate(text, env)
    else:
        assert evaluate(text, env) == value
