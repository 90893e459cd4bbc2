"""P1: the "do not promote if" rules, each a row of the Pre-promotion section.

Rules (guide P1, checked against Kargo v1.11 as notes/kargo.md describes it):
- no non-terminal Promotion on the target (one running for the same Freight: `promote` attaches);
- the newest terminal Promotion for this Freight on the target is not Failed/Errored/Aborted, unless
  --retry-failed (Kargo's auto-promotion will not retry it, §3.5);
- upstream verified for this Freight: strictly (upstream freightHistory[0] holds it and
  verificationHistory[0] is Successful) and by Kargo's availability rule (verifiedIn/approvedFor, soak);
- the target's Argo CD Applications (argocd-update steps) are not syncing;
- the target Stage is not stuck (Ready=False ReconcileError / LastPromotion*, RetryAfterError).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gate.durations import format as fmt_duration
from gate.errors import GateError
from gate.kargo import stages as st
from gate.kargo.client import TERMINAL_PHASES
from gate.kargo.freight import Selection, is_available, soak_left
from gate.kargo.rows import row, section
from gate.model import CheckResult, Section, Status
from gate.resources import APPLICATIONS

FAILED_PHASES = ("Failed", "Errored", "Aborted")


@dataclass
class PrecheckOutcome:
    section: Section
    attach_to: dict | None = None  # a non-terminal Promotion for this Freight: follow it, create none
    already_current: bool = False  # current and verified in the target: nothing to promote
    target: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.section.status == Status.PASS


def promotion_freight(promo: dict) -> str:
    return (promo.get("spec") or {}).get("freight") or ((promo.get("status") or {}).get("freight") or {}).get(
        "name", ""
    )


def phase_of(promo: dict) -> str:
    return (promo.get("status") or {}).get("phase") or "Pending"


def run_precheck(
    reader: Any,
    project: str,
    stage: str,
    sel: Selection,
    *,
    kube: Any = None,
    argocd_namespace: str = "argocd",
    retry_failed: bool = False,
    for_promote: bool = False,
    now: datetime | None = None,
) -> PrecheckOutcome:
    now = now or datetime.now(UTC)
    target = reader.get_stage(project, stage)
    freight = sel.name
    promos = reader.list_promotions(project, stage)
    rows: list[CheckResult] = []
    out = PrecheckOutcome(section=Section("Pre-promotion", Status.PASS), target=target)

    rows.append(row("pre.freight", "Freight selected", Status.PASS, sel.how, "a Freight"))

    # 1. no non-terminal Promotion on the target
    active = [p for p in promos if phase_of(p) not in TERMINAL_PHASES]
    same = [p for p in active if promotion_freight(p) == freight]
    if not active:
        rows.append(
            row(
                "pre.no-active-promotion",
                "No Promotion in progress on the target",
                Status.PASS,
                f"no Pending/Running Promotion for {stage}",
                "none in progress",
            )
        )
    elif same and for_promote:
        out.attach_to = same[0]
        rows.append(
            row(
                "pre.no-active-promotion",
                "No Promotion in progress on the target",
                Status.PASS,
                f"{same[0]['metadata']['name']} is {phase_of(same[0])} for this Freight: attaching to it "
                "instead of creating another",
                "none in progress, or one for this Freight",
            )
        )
    else:
        names = ", ".join(
            f"{p['metadata']['name']} ({phase_of(p)}, Freight {st.short(promotion_freight(p))})"
            for p in active
        )
        hint = (
            "Wait for it to finish; `gate promote` attaches to it instead of creating another"
            if same
            else "Wait for the Promotion in progress to finish, then promote"
        )
        rows.append(
            row(
                "pre.no-active-promotion",
                "No Promotion in progress on the target",
                Status.FAIL,
                f"in progress: {names}",
                "none in progress",
                hint=hint,
            )
        )

    # 2. no failed Promotion for this Freight (newest terminal one)
    terminal = [p for p in promos if phase_of(p) in TERMINAL_PHASES and promotion_freight(p) == freight]
    newest = max(terminal, key=lambda p: p["metadata"]["name"]) if terminal else None
    if newest is None or phase_of(newest) == "Succeeded":
        rows.append(
            row(
                "pre.no-failed-promotion",
                "No failed Promotion for this Freight",
                Status.PASS,
                f"newest for {sel.label}: "
                + (f"{newest['metadata']['name']} Succeeded" if newest else "none"),
                "not Failed/Errored/Aborted",
            )
        )
    else:
        msg = (newest.get("status") or {}).get("message") or "no message"
        text = f"{newest['metadata']['name']} {phase_of(newest)}: {msg}"
        if retry_failed:
            rows.append(
                row(
                    "pre.no-failed-promotion",
                    "No failed Promotion for this Freight",
                    Status.PASS,
                    f"{text} (--retry-failed: promoting again deliberately)",
                    "not Failed/Errored/Aborted",
                )
            )
        else:
            rows.append(
                row(
                    "pre.no-failed-promotion",
                    "No failed Promotion for this Freight",
                    Status.FAIL,
                    text,
                    "not Failed/Errored/Aborted",
                    hint=f"Fix the cause of {newest['metadata']['name']} ({msg}), then promote again with "
                    "--retry-failed (Kargo will not retry it on its own)",
                )
            )

    # 3. upstream verified (strict) and available (Kargo's rule)
    current, how_current = st.verified_now(target, freight)
    if current:  # the upstream may have moved on since; what matters is that the target verified it
        rows.append(
            row(
                "pre.upstream-verified",
                "Upstream verified for this Freight",
                Status.PASS,
                f"already current and verified in the target ({how_current})",
                "verified upstream",
            )
        )
    else:
        rows.append(_upstream_row(reader, project, target, sel, now))

    # 4. Argo CD apps not syncing
    rows.append(_argocd_row(kube, target, argocd_namespace))

    # 5. not stuck
    reason = st.stuck_reason(target)
    if reason is None:
        rows.append(
            row(
                "pre.stage-not-stuck",
                "Target Stage is not stuck",
                Status.PASS,
                st.summary(target),
                "not ReconcileError / LastPromotion{Failed,Errored,Aborted}",
            )
        )
    elif retry_failed and "LastPromotion" in reason:
        rows.append(
            row(
                "pre.stage-not-stuck",
                "Target Stage is not stuck",
                Status.PASS,
                f"{reason} (--retry-failed: a new Promotion may fix it)",
                "not stuck",
            )
        )
    else:
        rows.append(
            row(
                "pre.stage-not-stuck",
                "Target Stage is not stuck",
                Status.FAIL,
                f"{stage}: {reason}",
                "not ReconcileError / LastPromotion{Failed,Errored,Aborted}",
                hint=f"Fix Stage {stage} first ({reason}); for a failed last Promotion, re-run with "
                "--retry-failed once the cause is fixed",
            )
        )

    verified, how = st.verified_now(target, freight)
    if verified:
        out.already_current = True
        rows.append(
            row(
                "pre.already-current",
                "Freight already current in the target",
                Status.PASS,
                f"{how}: promote creates no Promotion",
                "informational",
            )
        )
    out.section = section("Pre-promotion", rows)
    return out


def _upstream_row(reader: Any, project: str, target: dict, sel: Selection, now: datetime) -> CheckResult:
    name = "Upstream verified for this Freight"
    expected = "upstream freightHistory[0] holds it, verificationHistory[0] Successful; available per Kargo"
    available, why = is_available(target, sel.freight, now)
    request = next(
        (
            r
            for r in (target.get("spec") or {}).get("requestedFreight") or []
            if (r.get("origin") or {}).get("name") == (sel.freight.get("origin") or {}).get("name")
        ),
        {},
    )
    sources = request.get("sources") or {}
    ups = sources.get("stages") or []
    if not available:
        stage_name = target["metadata"]["name"]
        left = soak_left(target, sel.freight, now)
        if left is not None:
            hint = (
                f"Do not promote yet: {sel.label} must soak {fmt_duration(left)} more "
                f"({sources.get('requiredSoakTime')} required in {', '.join(ups)}); promote after that, or "
                f"approve it for {stage_name} (`kargo approve --project {project} --freight {sel.name} "
                f"--stage {stage_name}`), "
                "which bypasses the soak time"
            )
        else:
            hint = (
                f"Verify {sel.label} upstream ({', '.join(ups) or 'its source'}) or "
                "approve it for this Stage before promoting"
            )
        return row(
            "pre.upstream-verified",
            name,
            Status.FAIL,
            f"not available to {stage_name}: {why}",
            expected,
            hint=hint,
        )
    if not ups or sources.get("direct") or "approved" in why:
        return row("pre.upstream-verified", name, Status.PASS, why, expected)
    strict: list[tuple[bool, str]] = []
    for up in ups:
        try:
            strict.append(st.verified_now(reader.get_stage(project, up), sel.name))
        except GateError as exc:
            return row(
                "pre.upstream-verified", name, Status.ERROR, f"cannot read upstream {up}: {exc}", expected
            )
    need_all = (sources.get("availabilityStrategy") or "OneOf") == "All"
    ok = all(v for v, _ in strict) if need_all else any(v for v, _ in strict)
    text = "; ".join(t for _, t in strict)
    if ok:
        return row("pre.upstream-verified", name, Status.PASS, f"{text}; Kargo: {why}", expected)
    return row(
        "pre.upstream-verified",
        name,
        Status.FAIL,
        text,
        expected,
        hint=f"Wait for (or re-run) verification of {sel.label} in {', '.join(ups)}; a failed latest "
        "verification upstream blocks promotion even though Kargo's verifiedIn is sticky",
    )


def _argocd_row(kube: Any, target: dict, argocd_namespace: str) -> CheckResult:
    name = "Target's Argo CD apps not syncing"
    apps = st.argocd_apps(target, argocd_namespace)
    if not apps:
        return row(
            "pre.argocd-not-syncing", name, Status.PASS, "no argocd-update steps", "no sync in progress"
        )
    if kube is None:
        return row(
            "pre.argocd-not-syncing",
            name,
            Status.ERROR,
            "no cluster access to read Argo CD Applications",
            "no sync in progress",
            hint="Pass --kubeconfig so the gate can read the Applications",
        )
    busy, seen = [], []
    for ns, app_name in apps:
        try:
            app = kube.get(APPLICATIONS, app_name, ns)
        except GateError as exc:
            return row(
                "pre.argocd-not-syncing",
                name,
                Status.ERROR,
                f"cannot read Application {ns}/{app_name}: {exc}",
                "no sync in progress",
            )
        if app is None:
            busy.append(f"{app_name}: Application not found in {ns}")
            continue
        op_phase = ((app.get("status") or {}).get("operationState") or {}).get("phase")
        if app.get("operation"):
            busy.append(f"{app_name}: operation requested (sync pending)")
        elif op_phase in ("Running", "Terminating"):
            busy.append(f"{app_name}: sync {op_phase}")
        else:
            sync = ((app.get("status") or {}).get("sync") or {}).get("status", "?")
            seen.append(f"{app_name} {sync}")
    if busy:
        return row(
            "pre.argocd-not-syncing",
            name,
            Status.FAIL,
            "; ".join(busy),
            "no sync in progress",
            hint="Wait for the Argo CD sync to finish (or fix the missing Application) before promoting",
        )
    return row("pre.argocd-not-syncing", name, Status.PASS, ", ".join(seen), "no sync in progress")
