"""Branches D1/D4.2/D4.3/D4.4 "health": the controllers, the Stage's reconcile, its Argo CD apps' health, and
the nuclear option when nothing else explains it."""

from __future__ import annotations

import re

from gate.diagnose.rules.base import GUIDE, HIGH, LOW, MEDIUM, RS, Rule
from gate.diagnose.rules.common import (
    app_lines,
    app_names,
    can_i,
    controller_evidence,
    controller_forbidden,
    log_has,
    names,
    ns,
    pods,
    rbac_rule,
    readable,
    ready_cmd,
    reconcile_message,
    refresh_cmds,
    resync_cmd,
    unhealthy_apps,
)
from gate.diagnose.rules.suggest import promote_line
from gate.diagnose.view import (
    View,
    effective_reason,
    is_fine,
    pod_oomkilled,
    pod_ready,
)

_QUANTITY = re.compile(r"^(\d+)(Mi|Gi)$")


def controller_down(v: View) -> bool:
    return bool(pods(v, "kargo-controller")) and not any(pod_ready(p) for p in pods(v, "kargo-controller"))


def memory_limit(v: View) -> str:
    for pod in pods(v, "kargo-controller"):
        for c in (pod.get("spec") or {}).get("containers") or []:
            limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
            if limit:
                return str(limit)
    return ""


def doubled(limit: str) -> str:
    """Twice the current limit (512Mi -> 1Gi), else a size to start from."""
    m = _QUANTITY.match(limit or "")
    if not m:
        return "1Gi"
    mib = int(m.group(1)) * (1024 if m.group(2) == "Gi" else 1) * 2
    return f"{mib // 1024}Gi" if mib % 1024 == 0 else f"{mib}Mi"


RULES: list[Rule] = [
    Rule(
        id="kargo-controller-oomkilled", branch="D1 controller health: OOMKilled",
        when=lambda v: controller_down(v) and any(pod_oomkilled(p) for p in pods(v, "kargo-controller")),
        cause=lambda v: "the Kargo controller is killed for memory (OOMKilled at its limit "
                        f"{memory_limit(v) or 'unset'}): no Stage or Promotion is reconciled until it has more; "
                        "a restart only repeats the kill",
        evidence=lambda v: controller_evidence(v, "kargo-controller")
        + [f"kargo-controller container resources.limits.memory = {memory_limit(v) or 'unset'}"],
        fix=lambda v: [f"helm upgrade kargo oci://ghcr.io/akuity/kargo-charts/kargo -n {v.kargo_controller_ns} "
                       f"--reuse-values --set controller.resources.limits.memory={doubled(memory_limit(v))}   "
                       "# or the same value in your Helm values / Argo CD app for Kargo",
                       f"kubectl logs -n {v.kargo_controller_ns} deploy/kargo-controller --previous --tail=50   "
                       "# what it was doing when it grew"],
        verify=lambda v: f"kubectl rollout status deployment/kargo-controller -n {v.kargo_controller_ns} --timeout=2m",
        risk=MEDIUM, scope="cluster",
        ref=f"{GUIDE} D1 group 3 (controller health); kargo charts/kargo/values.yaml:787-788 (controller.resources)",
    ),
    Rule(
        id="kargo-controller-unavailable", branch="D1 controller health",
        when=controller_down,
        cause=lambda v: "the Kargo controller is not running (no Ready pod): no Stage or Promotion is reconciled, "
                        "every status is stale",
        evidence=lambda v: controller_evidence(v, "kargo-controller"),
        fix=lambda v: [f"kubectl logs -n {v.kargo_controller_ns} deploy/kargo-controller --previous --tail=100",
                       f"kubectl describe pods -n {v.kargo_controller_ns} -l app.kubernetes.io/component=controller",
                       f"kubectl rollout restart deployment/kargo-controller -n {v.kargo_controller_ns}"],
        verify=lambda v: f"kubectl rollout status deployment/kargo-controller -n {v.kargo_controller_ns} --timeout=2m",
        risk=MEDIUM, scope="cluster", ref=f"{GUIDE} D1 group 3 (controller health)",
    ),
    Rule(
        id="reconcile-error", branch="D4.2 ReconcileError",
        when=lambda v: effective_reason(v) == "ReconcileError",
        cause=lambda v: f"the Stage's reconcile fails: {reconcile_message(v)}",
        evidence=lambda v: [f"Stage {v.name} condition {c}={v.cond(c).get('status')} {v.cond(c).get('reason')}: "
                            f"{v.cond(c).get('message', '')}" for c in ("Ready", "Reconciling") if v.cond(c)]
        + ([f"Stage {v.name} status.phase = {v.st.get('phase')}: {v.st.get('message', '')}"] if v.legacy else [])
        + [f"kargo-controller log: {readable(ln)}" for ln in v.controller_log[-3:]],
        fix=refresh_cmds, verify=ready_cmd,
        risk=LOW, ref=f"{GUIDE} D4.2 ReconcileError; kargo {RS}:2300-2320, api/v1alpha1/annotations.go:27",
    ),
    Rule(
        id="health-checks-not-passed", branch="D4.3 \"Stage has not passed health checks\"",
        when=lambda v: bool(log_has(v, r"has not passed health checks")) or (
            effective_reason(v) in ("Unhealthy", "Progressing", "Unknown") and v.last_promotion_phase == "Succeeded"),
        cause=lambda v: "the health gate blocks verification: the Stage's Argo CD apps are not Healthy "
                        "(" + (names(unhealthy_apps(v)) or "see health.issues") + ")",
        evidence=lambda v: [f"Stage {v.name} status.health.status = {(v.st.get('health') or {}).get('status')}"]
        + [f"Stage {v.name} status.health.issues: {i}" for i in (v.st.get("health") or {}).get("issues") or []]
        + app_lines(v) + [f"kargo-controller log: {ln}" for ln in log_has(v, r"health checks")],
        fix=lambda v: [f"argocd app get {a}" for a in app_names(v)] + [
            "fix what makes the app unhealthy (pods, rollout, resources); Kargo verifies once it is Healthy"],
        verify=lambda v: f"argocd app wait {' '.join(app_names(v))} --health --timeout 300",
        risk=LOW, ref=f"{GUIDE} D4.3; kargo {RS}:1233-1237",
    ),
    Rule(
        id="controller-rbac-forbidden", branch="D4.3 \"error reconciling Stage\": the controller is forbidden",
        when=lambda v: bool(controller_forbidden(v.controller_log, ns(v))),
        cause=lambda v: "the Kargo controller's ServiceAccount lacks RBAC: " + "; ".join(
            f"{r['user']} may not {r['verb']} {r['resource']}" + (f" ({r['group']})" if r["group"] else "")
            + (f" in {r['ns']}" if r["ns"] else "") for r in controller_forbidden(v.controller_log, ns(v))),
        evidence=lambda v: [f"kargo-controller log: {readable(ln)}" for ln in v.controller_log
                            if "forbidden" in ln][-3:],
        fix=lambda v: [f"missing rule: {rbac_rule(r)}" for r in controller_forbidden(v.controller_log, ns(v))]
        + [f"the Kargo chart's controller ClusterRole grants it: restore it (helm upgrade kargo ... --reuse-values, "
           f"or kubectl get clusterrole -l app.kubernetes.io/component=controller -o yaml | grep -n "
           f"{controller_forbidden(v.controller_log, ns(v))[0]['resource'].split('/')[0]}); is namespace {ns(v)} a "
           "Kargo project (label kargo.akuity.io/project=true)?"]
        + refresh_cmds(v)[:1],
        verify=lambda v: " && ".join(can_i(r) for r in controller_forbidden(v.controller_log, ns(v))),
        risk=LOW, scope="stage",
        ref=f"{GUIDE} D4.3 \"error reconciling Stage\"; kargo "
            "charts/kargo/templates/controller/cluster-roles.yaml:86-95 (freights/status patch)",
    ),
    Rule(
        id="log-reconcile-error", branch="D4.3 \"error reconciling Stage\"",
        when=lambda v: bool(log_has(v, r"error reconciling|level=error|\"level\":\s*\"error\"")),
        cause=lambda v: "the Kargo controller logs an error for this Stage: " + log_has(
            v, r"error reconciling|level=error|\"level\":\s*\"error\"")[-1][:300],
        evidence=lambda v: [f"kargo-controller log: {ln}" for ln in log_has(v, r"error")[-5:]],
        fix=lambda v: [f"kubectl logs -n {v.kargo_controller_ns} deploy/kargo-controller --tail=200 | grep {v.name}",
                       "fix what the full error names, then:"] + refresh_cmds(v),
        verify=ready_cmd, risk=LOW, ref=f"{GUIDE} D4.3 \"error reconciling Stage\"",
    ),
    Rule(
        id="nuclear", branch="D4.4 nuclear option (last resort)",
        when=lambda v: not is_fine(v),
        cause=lambda v: f"no branch of the tree explains why {v.name} is not Ready "
                        f"({effective_reason(v) or 'no reason'}): overlapping issues, unclear root cause",
        evidence=lambda v: [f"Stage {v.name} conditions: " + "; ".join(
            f"{c.get('type')}={c.get('status')}/{c.get('reason')}" for c in v.st.get("conditions") or [])]
        + app_lines(v),
        fix=lambda v: [f"kubectl get stage {v.name} -n {ns(v)} -o yaml > stage-{v.name}.backup.yaml",
                       f"kubectl delete stage {v.name} -n {ns(v)}",
                       f"kubectl delete promotions -n {ns(v)} -l kargo.akuity.io/stage={v.name}",
                       resync_cmd(v),
                       promote_line(v, (v.current_freight or [None])[0])],
        verify=ready_cmd, risk=HIGH, ref=f"{GUIDE} D4.4, D6 \"All else fails\"",
    ),
]
