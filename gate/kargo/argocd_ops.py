"""Post-promotion evidence from Argo CD: did the operations this Promotion started succeed?

Kargo's `argocd-update` step starts a sync whose `operation.info` names the Promotion
(`kargo.akuity.io/promotion`, pkg/promotion/runner/builtin/argocd_updater.go L605-619 at v1.11.2) and
records the apps it touched as the Promotion's health check (`status.healthChecks[]`, `uses:
argocd-update`, `config.apps`, L240-248). A failed operation errors the step (L215-218), yet the
Promotion can still succeed when that step has `continueOnError: true`; this row is what catches it.
A later operation (Argo CD's own auto-sync, the next Promotion) replaces `operationState`, so an app
whose last operation belongs to someone else is reported, not failed.
"""

from __future__ import annotations

from typing import Any

from gate.cluster.resources import APPLICATIONS
from gate.errors import GateError
from gate.kargo.rows import row
from gate.model import CheckResult, Status

PROMOTION_INFO = "kargo.akuity.io/promotion"
NAME = "Argo CD operations of this Promotion"
EXPECTED = "every operation this Promotion started Succeeded"


def promoted_apps(promo: dict, default_namespace: str) -> list[tuple[str, str]]:
    """(namespace, name) of the apps in the Promotion's argocd-update health checks, else its steps'
    literal `config.apps` (names with ${{ }} expressions cannot be known here and are left out)."""
    status = promo.get("status") or {}
    configs = [h.get("config") or {} for h in status.get("healthChecks") or [] if h.get("uses") == "argocd-update"]
    if not configs:
        steps = (promo.get("spec") or {}).get("steps") or []
        configs = [s.get("config") or {} for s in steps if s.get("uses") == "argocd-update"]
    apps: list[tuple[str, str]] = []
    for config in configs:
        for app in config.get("apps") or []:
            name = str(app.get("name") or "")
            if name and "${{" not in name:
                key = (str(app.get("namespace") or default_namespace), name)
                if key not in apps:
                    apps.append(key)
    return apps


def _operation(app: dict, promo_name: str) -> tuple[bool | None, str]:
    """(ok, line): ok None when the last operation is not this Promotion's (nothing to judge)."""
    state = (app.get("status") or {}).get("operationState") or {}
    info = {i.get("name"): i.get("value") for i in (state.get("operation") or {}).get("info") or []}
    phase = state.get("phase") or "none"
    name = (app.get("metadata") or {}).get("name", "?")
    if info.get(PROMOTION_INFO) != promo_name:
        by = info.get(PROMOTION_INFO) or "no Promotion"
        return None, f"{name}: not synced by this Promotion (last operation: {by}, {phase})"
    message = f": {state['message']}" if state.get("message") and phase != "Succeeded" else ""
    return phase == "Succeeded", f"{name}: {phase}{message}"


def argocd_row(ctx: Any, promo: dict) -> CheckResult:
    promo_name = (promo.get("metadata") or {}).get("name", "")
    apps = promoted_apps(promo, ctx.argocd_namespace)
    if not apps:
        return row("post.argocd", NAME, Status.SKIPPED, "the Promotion has no argocd-update step", EXPECTED)
    if ctx.kube is None:
        return row("post.argocd", NAME, Status.SKIPPED, "no cluster access to read Applications", EXPECTED)
    lines, failed, judged = [], [], 0
    for namespace, name in apps:
        try:
            app = ctx.kube.get(APPLICATIONS, name, namespace)
        except GateError as exc:
            why = f"cannot read Application {namespace}/{name}: {exc}"
            return row("post.argocd", NAME, Status.ERROR, why, EXPECTED)
        if app is None:
            failed.append(f"{namespace}/{name}: not found")
            continue
        ok, line = _operation(app, promo_name)
        lines.append(line)
        judged += ok is not None
        if ok is False:
            failed.append(line)
    if failed:
        return row(
            "post.argocd",
            NAME,
            Status.FAIL,
            "; ".join(failed),
            EXPECTED,
            evidence=lines,
            hint=f"Argo CD did not finish the sync Promotion {promo_name} started: {failed[0]}",
        )
    if not judged:  # every app's last operation is someone else's: nothing of this Promotion to judge
        return row("post.argocd", NAME, Status.SKIPPED, "; ".join(lines), EXPECTED, reason="; ".join(lines))
    return row("post.argocd", NAME, Status.PASS, "; ".join(lines), EXPECTED)
