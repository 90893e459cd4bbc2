"""The readings a diagnosis works from: plain dicts as `kubectl get -o json` prints them, for one Stage.

A View is built by gate/diagnose/gather.py, or by any caller that already holds the objects (a failing
verify/precheck/promote can fill in what it read and leave the rest empty). `unread` names every source
that could not be read, with why, so a rule never mistakes "could not read" for "nothing there".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gate.kargo.stages import condition, current_collection, freight_names, is_legacy, parse_time, status

# pkg/api/promotion.go:91 GeneratePromotionName (v1.11.2): <stage>.<ULID>.<freight[:7]>, lower-cased.
_ULID = r"[0-9a-hjkmnp-tv-z]{26}"


@dataclass
class View:
    stage: dict
    namespace: str
    project: str
    stages: list[dict] = field(default_factory=list)
    promotions: list[dict] = field(default_factory=list)  # this Stage's, newest first
    freight: list[dict] = field(default_factory=list)
    warehouses: list[dict] = field(default_factory=list)
    apps: list[dict] = field(default_factory=list)  # the Stage's Argo CD Applications
    app_refs: list[tuple[str, str]] = field(default_factory=list)  # (namespace, name) the steps name
    analysis_runs: list[dict] = field(default_factory=list)  # this Stage's, newest first
    templates: list[dict] = field(default_factory=list)  # AnalysisTemplates in the namespace
    jobs: list[dict] = field(default_factory=list)  # Jobs of the latest AnalysisRun
    job_pods: list[dict] = field(default_factory=list)
    job_logs: dict[str, str] = field(default_factory=dict)  # pod name -> last lines
    check_pods: dict[str, list[dict]] = field(default_factory=dict)  # namespace -> pods, where a verification
    # Job's pod check matched nothing (to name a near-miss selector)
    events: list[dict] = field(default_factory=list)  # Warning events in the project namespace
    controllers: dict[str, list[dict]] = field(default_factory=dict)  # component -> pods
    controller_log: list[str] = field(default_factory=list)  # Kargo controller lines naming the Stage
    unread: dict[str, str] = field(default_factory=dict)  # source -> why it could not be read
    # A failing gate's own evidence (gate/diagnose/attach.py), empty in `gate diagnose`:
    failed_check: str = ""  # the failing row, as the report names it
    pods: list[dict] = field(default_factory=list)  # the failing check's pods that are not Ready
    pod_logs: dict[str, str] = field(default_factory=dict)  # "ns/pod/container" -> last lines, masked, bounded
    pod_logs_previous: set[str] = field(default_factory=set)  # the keys read with --previous
    pod_events: list[dict] = field(default_factory=list)  # Warning events of those pods, newest first
    pods_in: Any = None  # the Destination (gate/cluster/destinations.py) they were read in; None: default
    kargo_controller_ns: str = "kargo"
    argocd_ns: str = "argocd"
    now: datetime = field(default_factory=lambda: datetime.now(UTC))

    # -- the Stage -------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.stage["metadata"]["name"]

    @property
    def st(self) -> dict:
        return status(self.stage)

    def cond(self, kind: str) -> dict:
        return condition(self.stage, kind) or {}

    @property
    def legacy(self) -> bool:
        return is_legacy(self.stage)

    @property
    def last_promotion(self) -> dict:
        return self.st.get("lastPromotion") or {}

    @property
    def last_promotion_phase(self) -> str:
        return (self.last_promotion.get("status") or {}).get("phase") or ""

    @property
    def current_freight(self) -> list[str]:
        return freight_names(current_collection(self.stage))

    @property
    def latest_verification(self) -> dict:
        history = (current_collection(self.stage) or {}).get("verificationHistory") or []
        return history[0] if history else {}

    def promotion(self, name: str | None) -> dict:
        return next((p for p in self.promotions if p["metadata"]["name"] == name), {}) if name else {}

    def freight_obj(self, name: str | None) -> dict:
        return next((f for f in self.freight if f["metadata"]["name"] == name), {}) if name else {}

    def alias(self, name: str | None) -> str:
        obj = self.freight_obj(name)
        return obj.get("alias") or ((obj.get("metadata") or {}).get("labels") or {}).get(
            "kargo.akuity.io/alias", "")

    def age(self, stamp: str | None) -> float | None:
        """Seconds since an RFC 3339 time, or None."""
        when = parse_time(stamp)
        return (self.now - when).total_seconds() if when else None

    def warehouses_requested(self) -> list[str]:
        reqs = (self.stage.get("spec") or {}).get("requestedFreight") or []
        return [(r.get("origin") or {}).get("name", "") for r in reqs if (r.get("origin") or {}).get("name")]


def generated_name(name: str, stage: str) -> bool:
    """Is this a name Kargo's webhook would give: `<stage>.<ULID>.<7 chars>` (pkg/api/promotion.go:91)?"""
    prefix = re.escape(stage.lower()[:218])
    return re.fullmatch(rf"{prefix}\.{_ULID}\.[0-9a-z]{{1,7}}", name or "") is not None


def effective_reason(view: View) -> str:
    """The guide's "stage.status.conditions[0].reason", read from Kargo v1.11 conditions, or translated
    from the legacy `status.phase` (≤ v1.4; NotApplicable|Steady|Promoting|Verifying|Failed).

    v1.11.2 pkg/controller/stages/regular_stages.go: Ready=False/ReconcileError (L2309), Promoting
    ActivePromotion (L854), Healthy LastPromotion<Phase> (L928), NoFreight (L907, L1089),
    Verified Verification<Phase> (L1149).
    """
    ready, reconciling = view.cond("Ready"), view.cond("Reconciling")
    if ready.get("reason") == "ReconcileError" or reconciling.get("reason") == "RetryAfterError":
        return "ReconcileError"
    phase = view.st.get("phase") if view.legacy else None
    if view.st.get("currentPromotion") or view.cond("Promoting").get("status") == "True" or phase == "Promoting":
        return "ActivePromotion"
    if view.last_promotion_phase and view.last_promotion_phase != "Succeeded":
        return f"LastPromotion{view.last_promotion_phase}"
    if not view.st.get("freightHistory"):
        return "NoFreight"
    verified = view.cond("Verified")
    if verified.get("status") == "False":
        return verified.get("reason") or "VerificationFailed"
    latest = view.latest_verification.get("phase")
    if latest in ("Failed", "Error"):  # whatever Verified says: it stays True after a failed re-verification
        return f"Verification{latest}"  # (regular_stages.go:1103-1121; Ready copies it, ~2389-2395)
    if phase == "Failed":
        return "VerificationFailed" if latest in ("Failed", "Error") else "ReconcileError"
    healthy = view.cond("Healthy")
    if healthy and healthy.get("status") != "True":
        return healthy.get("reason") or "Unhealthy"
    return ready.get("reason") or ("Steady" if phase else "")


def phase_text(view: View) -> str:
    """What D7's "Phase" line says: v1.11 has no phase; show the Ready condition (and the legacy phase)."""
    if view.legacy:
        return f"{view.st.get('phase')} (status.phase, Kargo <= v1.4)"
    ready = view.cond("Ready")
    if not ready:
        return "no Ready condition yet (Kargo v1.5+ has no status.phase)"
    text = f"Ready={ready.get('status')} ({ready.get('reason') or 'no reason'})"
    text += f": {ready['message']}" if ready.get("message") else ""
    return text + "  [Ready condition; Kargo v1.5+ has no status.phase]"


def health_text(view: View) -> str:
    health = (view.st.get("health") or {}).get("status")
    healthy = view.cond("Healthy")
    parts = [health or "no health recorded"]
    if healthy:
        parts.append(f"Healthy={healthy.get('status')}/{healthy.get('reason')}")
    return ", ".join(parts)


def is_fine(view: View) -> bool:
    """Step 1 of D4: the Stage is Ready (or, legacy, Steady with its last verification Successful)."""
    if view.legacy:
        return view.st.get("phase") == "Steady" and view.latest_verification.get("phase") == "Successful"
    return view.cond("Ready").get("status") == "True" and not stale_verified(view)


def stale_verified(view: View) -> bool:
    """Ready/Verified True while the current Freight's latest verification Failed or Errored: Kargo keeps
    Verified (and Ready) True after a failed re-verification (regular_stages.go:1103-1121, ~2389-2395)."""
    return view.latest_verification.get("phase") in ("Failed", "Error")


def pod_ready(pod: dict) -> bool:
    conds = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)


def pod_restarts(pod: dict) -> int:
    return sum(int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or [])


def pod_oomkilled(pod: dict) -> bool:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        for state in (cs.get("state") or {}, cs.get("lastState") or {}):
            if (state.get("terminated") or {}).get("reason") == "OOMKilled":
                return True
    return False


def pod_summary(pod: dict) -> str:
    name = pod["metadata"]["name"]
    text = f"pod {name}: {'Ready' if pod_ready(pod) else 'not Ready'}, restarts {pod_restarts(pod)}"
    return text + (", last terminated OOMKilled" if pod_oomkilled(pod) else "")
