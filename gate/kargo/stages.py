"""Reading a Stage the way Kargo v1.11 writes it, and Kargo ≤ v1.4 (`status.phase`) too.

v1.11: conditions (Ready/Healthy/Verified/Promoting/Reconciling), freightHistory[0] with
verificationHistory (newest first). v1.4: the same freightHistory plus `status.phase`
(NotApplicable|Steady|Promoting|Verifying|Failed) and `status.message`. `phase == "Verified"` never
existed (notes/kargo.md §0).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gate.kargo import timefmt

VERIFICATION_TERMINAL = frozenset({"Successful", "Failed", "Error", "Aborted", "Inconclusive"})
STUCK_READY_REASONS = frozenset(
    {"ReconcileError", "LastPromotionErrored", "LastPromotionFailed", "LastPromotionAborted"}
)


def status(stage: dict) -> dict:
    return stage.get("status") or {}


def condition(stage: dict, kind: str) -> dict | None:
    return next((c for c in status(stage).get("conditions") or [] if c.get("type") == kind), None)


def is_legacy(stage: dict) -> bool:
    """A Stage written by Kargo ≤ v1.4 (it still has status.phase)."""
    return "phase" in status(stage)


def current_collection(stage: dict) -> dict | None:
    history = status(stage).get("freightHistory") or []
    return history[0] if history else None


def freight_names(collection: dict | None) -> list[str]:
    items = (collection or {}).get("items") or {}
    return [ref.get("name", "") for ref in items.values()]


def holds(stage: dict, freight: str) -> bool:
    """freightHistory[0] holds this Freight."""
    return freight in freight_names(current_collection(stage))


def in_history(stage: dict, freight: str) -> bool:
    return any(freight in freight_names(c) for c in status(stage).get("freightHistory") or [])


def latest_verification(stage: dict) -> dict | None:
    history = (current_collection(stage) or {}).get("verificationHistory") or []
    return history[0] if history else None


def verified_now(stage: dict, freight: str) -> tuple[bool, str]:
    """Strict: freightHistory[0] holds it and verificationHistory[0].phase is Successful."""
    name = stage["metadata"]["name"]
    if not holds(stage, freight):
        current = ", ".join(freight_names(current_collection(stage))) or "nothing"
        return False, f"{name} holds {short(current)}, not {short(freight)}"
    latest = latest_verification(stage)
    if latest is None:
        return False, f"{name}: no verification yet for {short(freight)}"
    phase = latest.get("phase") or "Pending"
    if phase != "Successful":
        return False, f"{name}: latest verification {phase}" + (
            f" ({latest['message']})" if latest.get("message") else ""
        )
    return True, f"{name}: holds {short(freight)}, latest verification Successful"


def argocd_apps(stage: dict, default_namespace: str = "argocd") -> list[tuple[str, str]]:
    """(namespace, name) of the Argo CD Applications its literal argocd-update steps name. Steps that
    reference a PromotionTask, or name apps by expression, are not seen here: gate.kargo.steps expands
    them the way Kargo does (the precheck uses that)."""
    steps = (
        (((stage.get("spec") or {}).get("promotionTemplate") or {}).get("spec") or {}).get("steps")
    ) or []
    apps: list[tuple[str, str]] = []
    for step in steps:
        if step.get("uses") != "argocd-update":
            continue
        for app in (step.get("config") or {}).get("apps") or []:
            if app.get("name") and "${{" not in app["name"]:
                apps.append((app.get("namespace") or default_namespace, app["name"]))
    return apps


def upstreams(stage: dict) -> list[str]:
    names: list[str] = []
    for req in (stage.get("spec") or {}).get("requestedFreight") or []:
        names += [s for s in (req.get("sources") or {}).get("stages") or [] if s not in names]
    return names


def stuck_reason(stage: dict) -> str | None:
    """Why the Stage cannot take a promotion cleanly, or None. Says which condition, reason and message."""
    st = status(stage)
    if is_legacy(stage) and st.get("phase") == "Failed":
        return f"phase Failed: {st.get('message') or 'no message'}"
    ready = condition(stage, "Ready")
    if ready and ready.get("status") == "False" and ready.get("reason") in STUCK_READY_REASONS:
        return f"Ready=False {ready['reason']}: {ready.get('message') or ''}".rstrip(": ")
    reconciling = condition(stage, "Reconciling")
    if reconciling and reconciling.get("reason") == "RetryAfterError":
        return f"Reconciling/RetryAfterError: {reconciling.get('message') or ''}".rstrip(": ")
    healthy = condition(stage, "Healthy")
    if (
        healthy
        and (healthy.get("reason") or "").startswith("LastPromotion")
        and healthy.get("reason") != "LastPromotionSucceeded"
    ):
        return f"Healthy={healthy.get('status')} {healthy['reason']}: {healthy.get('message') or ''}".rstrip(
            ": "
        )
    return None


def summary(stage: dict) -> str:
    """One line: Ready/Healthy/Verified, or the legacy phase."""
    if is_legacy(stage) and not status(stage).get("conditions"):
        return f"phase {status(stage).get('phase')}"
    parts = []
    for kind in ("Ready", "Healthy", "Verified"):
        cond = condition(stage, kind)
        if cond:
            parts.append(
                f"{kind}={cond.get('status')}" + (f"/{cond['reason']}" if cond.get("reason") else "")
            )
    if is_legacy(stage):
        parts.append(f"phase {status(stage).get('phase')}")
    return ", ".join(parts) or "no status yet"


def short(name: str | None) -> str:
    """Freight names are 40-hex hashes: show the first 7 characters, like Kargo does."""
    if name and len(name) == 40 and all(c in "0123456789abcdef" for c in name):
        return name[:7]
    return name or ""


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 or protojson {seconds, nanos} (older Connect servers): gate.kargo.timefmt reads both."""
    return timefmt.parse_time(value)
