"""Branch D4.2/D4.3 "the last Promotion errored" and "a Promotion is running": the step that failed, the
Promotion that is stuck, the anti-loop that holds auto-promotion."""

from __future__ import annotations

import re

from gate.diagnose.rules.argocd import AUTH as ARGOCD_AUTH
from gate.diagnose.rules.argocd import repo_url
from gate.diagnose.rules.base import ERRORED, GUIDE, LOW, MEDIUM, RS, STUCK_AFTER, Rule
from gate.diagnose.rules.common import (
    active_age,
    active_evidence,
    active_promotion,
    app_lines,
    app_lines_for,
    argocd_step,
    controller_evidence,
    errored_names,
    failed_resources,
    failing_app,
    failing_step,
    last_promo,
    log_has,
    ns,
    promo_evidence,
    promo_freight,
    ready_cmd,
    resync_cmd,
    retry_fix,
    step_alias,
    step_message,
    step_timeout,
)
from gate.diagnose.rules.suggest import promote_line
from gate.diagnose.view import (
    View,
    effective_reason,
    generated_name,
)
from gate.kargo.stages import short

_STEP_APP = re.compile(r'Application "(?:(?P<ns>[^"/]+)/)?(?P<name>[^"]+)"')


def step_cause_fix(v: View) -> list[str]:
    """The fix the failing step's own message supports: an Argo CD app that cannot read its repository gets
    that repository's credentials in Argo CD; anything else, the message to act on."""
    msg = step_message(last_promo(v))
    m = _STEP_APP.search(msg)
    app = next((a for a in v.apps if m and a["metadata"]["name"] == m.group("name")), None)
    if app is not None and ARGOCD_AUTH.search(msg):
        return [f"Argo CD cannot read {repo_url(app)} for {app['metadata']['name']}: argocd repo list",
                f"argocd repo add {repo_url(app)} --username <user> --password <token with read access> --upsert",
                f"argocd app get {app['metadata']['name']} --hard-refresh   # the ComparisonError clears"]
    return ["fix the cause the step message names (credentials, repository, manifests)"]


def stuck_app(v: View) -> dict | None:
    """An Application of the Stage whose own operation is in progress (requested, Running or Terminating)."""
    return next((a for a in v.apps if a.get("operation") or ((a.get("status") or {}).get("operationState") or {})
                 .get("phase") in ("Running", "Terminating")), None)


def app_ref(app: dict | None) -> str:
    meta = (app or {}).get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else meta.get("name", "<app>")


def op_text(app: dict | None) -> str:
    op = ((app or {}).get("status") or {}).get("operationState") or {}
    return (f"operation {op.get('phase') or 'requested'} since {op.get('startedAt') or '?'}"
            + (f": {op['message']}" if op.get("message") else ""))


RULES: list[Rule] = [
    Rule(
        id="promotion-errored-manual", branch="D4.2 LastPromotionErrored, non-generated name",
        when=lambda v: effective_reason(v) in ERRORED and not generated_name(v.last_promotion.get("name", ""), v.name),
        cause=lambda v: f"poisoned Stage state: lastPromotion {v.last_promotion.get('name')!r} was created by hand "
                        f"(not <stage>.<ULID>.<freight[:7]>); it sorts after generated names, so Kargo never "
                        f"records a newer Promotion",
        evidence=lambda v: promo_evidence(v, last_promo(v)) + [
            f"name {v.last_promotion.get('name')!r} does not match {v.name}.<ULID>.<freight[:7]> "
            "(pkg/api/promotion.go:91); syncPromotions stops at names <= lastPromotion.name ("
            f"{RS}:715)"],
        fix=lambda v: [f"kubectl get stage {v.name} -n {ns(v)} -o yaml > stage-{v.name}.backup.yaml",
                       f"kubectl delete stage {v.name} -n {ns(v)}   # its Promotions go with it (ownerReference)",
                       resync_cmd(v),
                       promote_line(v, promo_freight(last_promo(v)))],
        verify=ready_cmd, risk=MEDIUM,
        ref=f"{GUIDE} D4.2 + Gotcha 1; kargo {RS}:715, pkg/api/promotion.go:91, issues #6214 #6741",
    ),
    Rule(
        id="promotion-errored-refused", branch="D4.2 LastPromotionErrored, \"connection refused :8081\"",
        when=lambda v: effective_reason(v) in ERRORED and bool(re.search(r"connection refused", step_message(
            last_promo(v)), re.I)) and ":8081" in step_message(last_promo(v)),
        cause=lambda v: "the argocd-update step hit the Argo CD repo-server while it was down or restarting "
                        "(connection refused :8081), and the step has no retry",
        evidence=lambda v: promo_evidence(v, last_promo(v)) + controller_evidence(v, "argocd-repo-server") + [
            f"Stage {v.name} spec.promotionTemplate.spec.steps[{(argocd_step(v) or (0, {}))[0]}].retry = "
            f"{(argocd_step(v) or (0, {}))[1].get('retry') or 'unset (errorThreshold 1: no retry)'}"],
        fix=lambda v: [retry_fix(v),
                       resync_cmd(v).split("   #")[0] + "   # or wait for auto-sync",
                       promote_line(v, promo_freight(last_promo(v)), note="auto-promotion will not retry it")],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} D4.2, references/kargo-state-machine.md (retry); kargo "
                      "pkg/promotion/local_orchestrator.go:302-310, api/v1alpha1/promotion_types.go:239",
    ),
    Rule(
        id="promotion-errored-sync-failed", branch="D4.2 LastPromotionErrored, \"sync tasks failed\"",
        when=lambda v: effective_reason(v) in ERRORED and bool(re.search(
            r"sync(hronization)? tasks? (failed|completed unsuccessfully)|one or more (sync|synchronization) tasks",
            step_message(last_promo(v)), re.I)),
        cause=lambda v: "Argo CD could not apply the stage's manifests (a sync task or hook failed); the "
                        "Application's operationState says which resource",
        evidence=lambda v: promo_evidence(v, last_promo(v)) + app_lines(v) + [
            f"failed resource {r}" for a in v.apps for r in failed_resources(a)],
        fix=lambda v: [f"argocd app get {failing_app(v)} --show-operation",
                       f"kubectl get app {failing_app(v)} -n {v.argocd_ns} -o jsonpath="
                       "'{.status.operationState.syncResult.resources}'",
                       "fix the failing resource in git, then: "
                       + promote_line(v, promo_freight(last_promo(v)))],
        verify=lambda v: f"argocd app wait {failing_app(v)} --sync --health --timeout 300",
        risk=MEDIUM, ref=f"{GUIDE} D4.2, references/argocd-troubleshooting.md; kargo "
                         "pkg/promotion/runner/builtin/argocd_updater.go:343",
    ),
    Rule(
        id="promotion-errored-step-timeout", branch="D4.2 LastPromotionErrored, step timed out (Gotcha 7)",
        when=lambda v: effective_reason(v) in ERRORED and bool(re.search(
            r"timed out|timeout|deadline exceeded", step_message(last_promo(v)), re.I)),
        cause=lambda v: "the argocd-update step ran out of time: a heavy chart needs longer than the "
                        f"{int(step_timeout((argocd_step(v) or (0, {}))[1]) // 60)}m step timeout",
        evidence=lambda v: promo_evidence(v, last_promo(v)) + [
            f"Stage {v.name} argocd-update retry.timeout = "
            f"{((argocd_step(v) or (0, {}))[1].get('retry') or {}).get('timeout') or 'unset (default 5m)'}"]
            + controller_evidence(v, "argocd-repo-server"),
        fix=lambda v: [retry_fix(v),
                       promote_line(v, promo_freight(last_promo(v)))],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} Gotcha 7; kargo pkg/promotion/local_orchestrator.go:323, "
                      "pkg/promotion/runner/builtin/argocd_updater.go:45 (DefaultTimeout 5m)",
    ),
    Rule(
        id="promotion-errored-other", branch="D4.2 LastPromotionErrored, other step error",
        when=lambda v: effective_reason(v) in (*ERRORED, "LastPromotionAborted"),
        cause=lambda v: f"Promotion {v.last_promotion.get('name')} ended {v.last_promotion_phase} at step "
                        f"{failing_step(last_promo(v))[1].get('alias', '?')!r}: "
                        f"{failing_step(last_promo(v))[1].get('message') or step_message(last_promo(v)) or '-'}",
        evidence=lambda v: promo_evidence(v, last_promo(v)) + app_lines(v),
        fix=lambda v: [f"kargo get promotion {v.last_promotion.get('name')} --project {v.project} -o yaml"]
        + step_cause_fix(v)
        + [promote_line(v, promo_freight(last_promo(v)),
                        note="or push a new commit so the Warehouse makes new Freight")],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} D4.2 (Other); kargo {RS}:928, :2341-2346 (Ready/Healthy LastPromotion<Phase>)",
        scenario="promote-errored",
    ),
    Rule(
        id="promotion-stuck-app-operation", branch="D4.2 ActivePromotion > 15 min, waiting on a stuck Argo CD sync",
        when=lambda v: effective_reason(v) == "ActivePromotion" and active_age(v) > STUCK_AFTER
        and step_alias(active_promotion(v)) == "argocd-update" and stuck_app(v) is not None,
        cause=lambda v: f"Promotion {active_promotion(v).get('metadata', {}).get('name')} has waited "
                        f"{int(active_age(v) // 60)} min at argocd-update for Application {app_ref(stuck_app(v))}, "
                        f"whose own sync is stuck: {op_text(stuck_app(v))}",
        evidence=lambda v: active_evidence(v) + app_lines_for(v, [stuck_app(v)]),
        fix=lambda v: [f"argocd app get {app_ref(stuck_app(v))} --show-operation   # which hook/resource it waits on",
                       f"fix that (a hook Job that never ends, a resource that never gets healthy), or stop the "
                       f"sync: argocd app terminate-op {app_ref(stuck_app(v))}",
                       f"(guide D6, if terminate-op does not clear it) kubectl patch app "
                       f"{stuck_app(v)['metadata']['name']} -n {stuck_app(v)['metadata'].get('namespace', v.argocd_ns)}"
                       " --type merge -p '{\"operation\": null}'   # RISK: drops the requested sync; what it "
                       "already applied stays, half-synced, until the next sync",
                       "the argocd-update step then requests a new sync, or: "
                       + promote_line(v, promo_freight(active_promotion(v)),
                                      after=f"after aborting it and clearing {app_ref(stuck_app(v))}'s operation: "
                                            "a deliberate retry of the same Freight")],
        verify=lambda v: f"argocd app wait {app_ref(stuck_app(v))} --operation --timeout 300",
        risk=MEDIUM, ref=f"{GUIDE} D4.2 ActivePromotion (> 15 min), D6 (stuck operation); kargo "
                         "pkg/promotion/runner/builtin/argocd_updater.go (waits for the app's operation); "
                         "argo-cd `argocd app terminate-op`",
    ),
    Rule(
        id="promotion-stuck", branch="D4.2 ActivePromotion, running > 15 min",
        when=lambda v: effective_reason(v) == "ActivePromotion" and active_age(v) > STUCK_AFTER,
        cause=lambda v: f"Promotion {active_promotion(v).get('metadata', {}).get('name')} has been running "
                        f"{int(active_age(v) // 60)} min (step {step_alias(active_promotion(v))!r}): likely stuck",
        evidence=active_evidence,
        fix=lambda v: [f"kubectl logs -n {v.kargo_controller_ns} deploy/kargo-controller --tail=200 | grep {v.name}",
                       f"kargo promote --project {v.project} --abort --name "
                       f"{active_promotion(v).get('metadata', {}).get('name')}   # only once the log explains it",
                       promote_line(v, promo_freight(active_promotion(v)),
                                    after="after aborting it: a deliberate retry of the same Freight")],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=MEDIUM, ref=f"{GUIDE} D4.2 ActivePromotion (> 15 min); kargo {RS}:854",
    ),
    Rule(
        id="promotion-running", branch="D4.2 ActivePromotion, running < 15 min",
        when=lambda v: effective_reason(v) == "ActivePromotion",
        cause=lambda v: f"Promotion {active_promotion(v).get('metadata', {}).get('name')} is running "
                        f"(step {failing_step(active_promotion(v))[1].get('alias', '?')!r}, "
                        f"{int(active_age(v))} s): wait for it",
        evidence=active_evidence,
        fix=lambda v: [f"kargo get promotion {active_promotion(v).get('metadata', {}).get('name')} "
                       f"--project {v.project} -o yaml   # wait; look again after 15 min"],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} D4.2 ActivePromotion (< 15 min); kargo {RS}:854", problem=False,
    ),
    # -- D4.3: the Kargo controller's log about this Stage --------------------------------------------
    Rule(
        id="log-promotion-exists", branch="D4.3 \"Promotion already exists for Freight\"",
        when=lambda v: bool(log_has(v, r"already exists for|avoid an infinite loop")),
        cause=lambda v: "auto-promotion is blocked for this Freight: an earlier Promotion of it is still "
                        "unprocessed, or the newest one for it did not succeed (anti-loop)",
        evidence=lambda v: [f"kargo-controller log: {ln}" for ln in log_has(v, r"already exists for|infinite loop")]
        + [f"Promotion {p['metadata']['name']} freight {short(promo_freight(p))}: "
           f"{(p.get('status') or {}).get('phase')}" for p in v.promotions[:3]],
        fix=lambda v: [promote_line(v, promo_freight(v.promotions[0]) if v.promotions else None,
                                    note="an explicit promotion is not subject to the anti-loop"),
                       f"(or) kubectl delete promotion {errored_names(v)} -n {ns(v)}"],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} D4.3; kargo {RS}:1972, :1994 (no kargo.akuity.io/freight label exists in v1.11)",
    ),
]
