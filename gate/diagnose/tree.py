"""D4/D5: the guide's decision tree, read against Kargo v1.11 (and the ≤ v1.4 `status.phase`).

The rules are data, one declarative entry each, filed by the guide's branch in gate/diagnose/rules/:
promotion.py (the last Promotion errored, a Promotion running or stuck), verification.py, nofreight.py,
health.py (controllers, reconcile, app health, the nuclear option), argocd.py (D3/D6: the Stage's Argo CD
apps' own state) and gotchas.py (D5). Each Rule says when
it applies (a predicate over a View), the root cause, the evidence (objects and fields read), the fix as
exact commands (Kargo's and Argo CD's CLIs, kubectl for reads, annotations and deletions; never "create a
Promotion with kubectl", Gotcha 1), how to confirm the fix, and its risk. `ref` names the guide's branch and
the upstream code it rests on (akuity/kargo v1.11.2 unless said otherwise). `scenario` is the simulator
world that shows the rule (gate/sim/scenarios/diagnose-<scenario>.yaml).

This module fixes the order: `CAUSES` are walked in the guide's order (ORDER) and the first that applies is
the root cause; every `GOTCHAS` entry that applies is added as a note.
"""

from __future__ import annotations

from gate.diagnose.rules import argocd, gotchas, health, nofreight, promotion, verification
from gate.diagnose.rules.base import HIGH, LOW, MEDIUM, Diagnosis, Rule
from gate.diagnose.rules.common import run_name
from gate.diagnose.view import View, health_text, phase_text

# The guide's order (D1 controller health, then D4.2 by reason, D4.3 the controller log, D4.1, D4.4).
ORDER = (
    "kargo-controller-oomkilled", "kargo-controller-unavailable",
    "promotion-errored-manual", "promotion-errored-refused",
    "argocd-repo-server-unavailable", "argocd-comparison-error", "argocd-crd-order", "argocd-crd-sync-error",
    "argocd-outofsync-after-sync", "argocd-health-unknown",
    "promotion-errored-sync-failed",
    "promotion-errored-step-timeout", "promotion-errored-other",
    "no-freight-stale-history", "no-freight-warehouse-auth", "no-freight-warehouse-empty", "no-freight-not-promoted",
    "no-freight-none-available", "control-flow-not-routing",
    "verification-run-deleted", "verification-no-analysisrun", "verification-rbac-forbidden",
    "verification-http-failed",
    "verification-selector-typo", "verification-pod-failed", "verification-failed-other",
    "reconcile-error",
    "promotion-stuck-app-operation", "promotion-stuck", "promotion-running",
    "log-promotion-exists", "log-needs-verification", "health-checks-not-passed", "controller-rbac-forbidden",
    "log-reconcile-error",
    "verification-job-failed", "verification-job-retrying", "verification-in-progress",
    "nuclear",
)
_BY_ID: dict[str, Rule] = {r.id: r for m in (promotion, nofreight, verification, health, argocd) for r in m.RULES}
if set(_BY_ID) != set(ORDER):  # a rule filed in a branch module but left out of the order (or the reverse)
    raise RuntimeError(f"diagnose ORDER and the branch modules disagree: {set(_BY_ID) ^ set(ORDER)}")
CAUSES: list[Rule] = [_BY_ID[i] for i in ORDER]
GOTCHAS: list[Rule] = gotchas.GOTCHAS
RULES: list[Rule] = CAUSES + GOTCHAS

__all__ = ["CAUSES", "GOTCHAS", "HIGH", "LOW", "MEDIUM", "RULES", "Diagnosis", "Rule", "diagnose"]


EVENTS_SHOWN = 3


def related_events(v: View) -> list[str]:
    """Recent Warning events about the Stage, its last/current Promotion or its latest AnalysisRun."""
    objs = {v.name, v.last_promotion.get("name"), (v.st.get("currentPromotion") or {}).get("name"), run_name(v),
            *v.current_freight}
    out = []
    for ev in v.events:
        obj = ev.get("involvedObject") or {}
        if obj.get("name") in objs:
            when = ev.get("lastTimestamp") or ev.get("eventTime") or ""
            out.append(f"Event {ev.get('reason')} on {obj.get('kind')} {obj.get('name')} ({when}): "
                       f"{ev.get('message', '')}")
    return out[:EVENTS_SHOWN]


def _diagnosis(rule: Rule, v: View, kind: str) -> Diagnosis:
    evidence = rule.evidence(v) + (related_events(v) if kind == "root-cause" else [])
    return Diagnosis(stage=v.name, rule=rule.id, kind=kind, phase=phase_text(v), health=health_text(v),
                     root_cause=rule.cause(v), evidence=evidence, fix=rule.fix(v), verify=rule.verify(v),
                     risk=rule.risk, ref=rule.ref, problem=rule.problem, unread=dict(v.unread), scope=rule.scope)


def diagnose(view: View) -> list[Diagnosis]:
    """The first D4 cause that applies (if any), then every D5 gotcha that applies."""
    out: list[Diagnosis] = []
    cause = next((r for r in CAUSES if r.when(view)), None)
    if cause is not None:
        out.append(_diagnosis(cause, view, "root-cause"))
    out += [_diagnosis(r, view, "gotcha") for r in GOTCHAS if r.when(view)]
    return out
