"""The guide's P1 "do not promote if" rules as entries: each names what it reads, its verdict function
and the upstream source it follows. `evaluate` runs them in order over one set of Readings.

A rule whose inputs could not be read is an ERROR row (never a PASS); see readings.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gate.engine.durations import format as fmt_duration
from gate.kargo import stages as st
from gate.kargo.availability import availability, requested
from gate.kargo.client import TERMINAL_PHASES
from gate.kargo.readings import APPS, FREIGHT, PROMOTIONS, TARGET, TASKS, UPSTREAMS, Readings
from gate.kargo.rows import row
from gate.model import CheckResult, Status


@dataclass
class Flags:
    retry_failed: bool = False
    for_promote: bool = False


@dataclass
class Verdict:
    status: Status
    observed: str
    hint: str = ""
    evidence: list[str] = field(default_factory=list)
    attach_to: dict | None = None  # a non-terminal Promotion for this Freight: promote follows it
    already_current: bool = False
    about: str = ""  # the Stage a failure is about when it is not the target (a failing upstream)


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    expected: str
    reads: tuple[str, ...]
    verdict: Callable[[Readings, Flags], Verdict | None]  # None: no row (informational rules)
    upstream: str  # where Kargo decides the same thing (v1.11.2)


def promotion_freight(promo: dict) -> str:
    return (promo.get("spec") or {}).get("freight") or ((promo.get("status") or {}).get("freight") or {}).get(
        "name", ""
    )


def phase_of(promo: dict) -> str:
    return (promo.get("status") or {}).get("phase") or "Pending"


# -- verdicts --------------------------------------------------------------------------------------


def freight_selected(r: Readings, flags: Flags) -> Verdict:
    return Verdict(Status.PASS, r.selection.how)


def queue_order(promos: list[dict]) -> list[dict]:
    """Non-terminal Promotions in the order Kargo runs them: Running first, then by name (the ULID in a
    generated name, so oldest first) (pkg/api/promotion.go:192-249)."""
    active = [p for p in promos if phase_of(p) not in TERMINAL_PHASES]
    return sorted(active, key=lambda p: (phase_of(p) != "Running", p["metadata"]["name"]))


def no_active_promotion(r: Readings, flags: Flags) -> Verdict:
    """Kargo runs one Promotion per Stage at a time (promotions.go:369-377) and queues the rest; only a
    second Promotion of the same Freight is wrong (DESIGN.md: never a second one for a Freight)."""
    active = queue_order(r.promotions)
    same = [p for p in active if promotion_freight(p) == r.freight_name]
    if not active:
        return Verdict(Status.PASS, f"no Pending/Running Promotion for {r.stage}")
    if same and flags.for_promote:
        return Verdict(
            Status.PASS,
            f"{same[0]['metadata']['name']} is {phase_of(same[0])} for this Freight: attaching to it "
            "instead of creating another",
            attach_to=same[0],
        )
    names = ", ".join(
        f"{p['metadata']['name']} ({phase_of(p)}, Freight {st.short(promotion_freight(p))})" for p in active
    )
    if same:
        return Verdict(
            Status.FAIL,
            f"in progress: {names}",
            hint="Wait for it to finish; `gate promote` attaches to it instead of creating another",
        )
    return Verdict(
        Status.PASS,
        f"queued: {names}; a Promotion of {r.selection.label} would be number {len(active) + 1} in the "
        f"queue: Kargo runs one at a time, the Running one first, then the others oldest first; "
        f"{kargo_start_note(r.target)}",
    )


def kargo_start_note(target: dict) -> str:
    """When Kargo lets the next queued Promotion start (regular_stages.go:820-845): not while the current
    Freight's verification is running, nor while health is nil/Healthy and the current Freight has no
    terminal verification; otherwise (unhealthy, or verification ended, even Failed) at once."""
    current = st.current_collection(target)
    if current is None:
        return "Kargo starts it as soon as it is first in the queue"
    names = ", ".join(map(st.short, st.freight_names(current)))
    latest = st.latest_verification(target)
    phase = (latest or {}).get("phase")
    if latest is not None and phase not in st.VERIFICATION_TERMINAL:
        return f"Kargo holds it until the {phase or 'Pending'} verification of {names} ends"
    health = ((target.get("status") or {}).get("health") or {}).get("status")
    if latest is None and health in (None, "Healthy"):
        return f"Kargo holds it until {names} has been verified"
    return "Kargo starts it as soon as it is first in the queue"


def _creation_then_name(promo: dict) -> tuple[datetime, str]:
    """Kargo's newest terminal Promotion: by creationTimestamp, then name (regular_stages.go:2126-2131)."""
    created = st.parse_time((promo.get("metadata") or {}).get("creationTimestamp"))
    return created or datetime.min.replace(tzinfo=UTC), promo["metadata"]["name"]


def newest_terminal(promos: list[dict], freight: str) -> dict | None:
    """The newest terminal Promotion of this Freight (`gate diagnose` marks a retry by the same answer)."""
    terminal = [p for p in promos if phase_of(p) in TERMINAL_PHASES and promotion_freight(p) == freight]
    return max(terminal, key=_creation_then_name) if terminal else None


def no_failed_promotion(r: Readings, flags: Flags) -> Verdict:
    newest = newest_terminal(r.promotions, r.freight_name)
    label = r.selection.label
    if newest is None or phase_of(newest) == "Succeeded":
        return Verdict(
            Status.PASS,
            f"newest for {label}: " + (f"{newest['metadata']['name']} Succeeded" if newest else "none"),
        )
    msg = (newest.get("status") or {}).get("message") or "no message"
    text = f"{newest['metadata']['name']} {phase_of(newest)}: {msg}"
    if flags.retry_failed:
        return Verdict(Status.PASS, f"{text} (--retry-failed: promoting again deliberately)")
    return Verdict(
        Status.FAIL,
        text,
        hint=f"Fix the cause of {newest['metadata']['name']} ({msg}), then promote again with "
        "--retry-failed (Kargo will not retry it on its own)",
    )


def upstream_verified(r: Readings, flags: Flags) -> Verdict:
    """gate.kargo.availability decides (the same answer `gate diagnose` suggests Freight by); this adds the
    hints."""
    got = availability(r.target, r.freight, r.upstreams, r.now)
    if got.ok or got.current:
        return Verdict(Status.PASS, got.text)
    sel, stage_name = r.selection, r.stage
    sources = requested(r.target, r.freight).get("sources") or {}
    ups = list(got.upstreams)
    if got.blocking:
        return Verdict(
            Status.FAIL,
            got.text,
            hint=f"Wait for (or re-run) verification of {sel.label} in {', '.join(ups)}; a failed latest "
            "verification upstream blocks promotion even though Kargo's verifiedIn is sticky",
            about=got.blocking,  # its diagnosis explains it
        )
    if got.soak_left is not None:
        hint = (
            f"Do not promote yet: {sel.label} must soak {fmt_duration(got.soak_left)} more "
            f"({sources.get('requiredSoakTime')} required in {', '.join(ups)}); promote after that, or "
            f"approve it for {stage_name} (`kargo approve --project {r.project} --freight {sel.name} "
            f"--stage {stage_name}`), which bypasses the soak time"
        )
    else:
        hint = (
            f"Verify {sel.label} upstream ({', '.join(ups) or 'its source'}) or "
            "approve it for this Stage before promoting"
        )
    return Verdict(Status.FAIL, got.text, hint=hint)


def _app_state(app: dict) -> tuple[bool, str]:
    """(busy, text): an operation requested or a sync Running/Terminating is a sync in progress."""
    name = app["metadata"]["name"]
    op_phase = ((app.get("status") or {}).get("operationState") or {}).get("phase")
    if app.get("operation"):
        return True, f"{name}: operation requested (sync pending)"
    if op_phase in ("Running", "Terminating"):
        return True, f"{name}: sync {op_phase}"
    return False, f"{name} {((app.get('status') or {}).get('sync') or {}).get('status', '?')}"


def argocd_not_syncing(r: Readings, flags: Flags) -> Verdict:
    refs, tasks = r.app_refs.refs, r.app_refs.tasks
    expanded = f" (expanded {', '.join(tasks)})" if tasks else ""
    if r.app_refs.unresolved:
        return Verdict(
            Status.ERROR,
            "could not determine which Applications the Promotion would sync: "
            + "; ".join(r.app_refs.unresolved),
            hint="Name the Applications literally (or by vars the Stage sets) in the argocd-update steps, "
            "or check them yourself before promoting",
        )
    if not refs:
        return Verdict(Status.PASS, f"no argocd-update steps{expanded}")
    busy, seen = [], []
    for ref in refs:
        apps = [a for a in r.applications.get(ref.namespace) or [] if ref.matches(a)]
        if not apps:
            busy.append(f"{ref.describe()}: Application not found in {ref.namespace} ({ref.where})")
        for app in apps:
            is_busy, text = _app_state(app)
            text += f" ({ref.where})" if is_busy else ""
            (busy if is_busy else seen).append(text)
    if busy:
        return Verdict(
            Status.FAIL,
            "; ".join(busy),
            hint="Wait for the Argo CD sync to finish (or fix the missing Application) before promoting",
        )
    return Verdict(Status.PASS, ", ".join(dict.fromkeys(seen)))


def stage_not_stuck(r: Readings, flags: Flags) -> Verdict:
    """A failed last Promotion does not hold Kargo's queue (regular_stages.go:820-845): promoting another
    Freight is the remedy. Only a retry of the same Freight waits for --retry-failed; a reconcile error
    blocks everything."""
    reason = st.stuck_reason(r.target)
    if reason is None:
        return Verdict(Status.PASS, st.summary(r.target))
    last = (r.target.get("status") or {}).get("lastPromotion") or {}
    last_freight = ((last.get("freight") or {}).get("name")) or ""
    failed_last = "LastPromotion" in reason or reason.startswith("phase Failed")
    if failed_last and last_freight and last_freight != r.freight_name:
        return Verdict(
            Status.PASS,
            f"{reason} (last Promotion {last.get('name', '?')}, of {st.short(last_freight)}); promoting "
            f"{r.selection.label}, another Freight, is how the Stage recovers: {kargo_start_note(r.target)}",
        )
    if failed_last and last_freight and flags.retry_failed:
        return Verdict(
            Status.PASS,
            f"{reason} (--retry-failed: promoting the same Freight again deliberately; "
            f"{kargo_start_note(r.target)})",
        )
    if failed_last and last_freight:
        return Verdict(
            Status.FAIL,
            f"{r.stage}: {reason}; the last Promotion was of this Freight ({last.get('name', '?')})",
            hint=f"Fix the cause first, then promote {r.selection.label} again with --retry-failed (Kargo "
            "will not retry it on its own), or promote a fixed Freight",
        )
    if flags.retry_failed and failed_last:
        return Verdict(Status.PASS, f"{reason} (--retry-failed: a new Promotion may fix it)")
    return Verdict(
        Status.FAIL,
        f"{r.stage}: {reason}",
        hint=f"Fix Stage {r.stage} first ({reason}); for a failed last Promotion, re-run with "
        "--retry-failed once the cause is fixed",
    )


def already_current(r: Readings, flags: Flags) -> Verdict | None:
    verified, how = st.verified_now(r.target, r.freight_name)
    if not verified:
        return None
    return Verdict(Status.PASS, f"{how}: promote creates no Promotion", already_current=True)


KARGO_VERSION = "v1.11.2"  # the upstream tag every `Rule.upstream` reference was read at

# -- the rule set, in the guide's order (SKILL.md P1 "DO NOT PROMOTE IF") ---------------------------

RULES: tuple[Rule, ...] = (
    Rule(
        "pre.freight",
        "Freight selected",
        "a Freight",
        (FREIGHT,),
        freight_selected,
        "pkg/server/promote_to_stage_v1alpha1.go:79-140",
    ),
    Rule(
        "pre.no-active-promotion",
        "No Promotion in progress on the target",
        "none in progress for this Freight (others queue)",
        (PROMOTIONS,),
        no_active_promotion,
        "pkg/controller/promotions/promotions.go:369-377; pkg/api/promotion.go:192-249",
    ),
    Rule(
        "pre.no-failed-promotion",
        "No failed Promotion for this Freight",
        "not Failed/Errored/Aborted",
        (PROMOTIONS,),
        no_failed_promotion,
        "pkg/controller/stages/regular_stages.go:2095-2133",
    ),
    Rule(
        "pre.upstream-verified",
        "Upstream verified for this Freight",
        "available per Kargo; an upstream holding it: latest verification Successful; one that moved on "
        "or is control-flow: verifiedIn (+ soak)",
        (TARGET, FREIGHT, UPSTREAMS),
        upstream_verified,
        "api/v1alpha1/stage_types.go:151-207; api/v1alpha1/freight_types.go:147-196; "
        "pkg/controller/stages/control_flow_stages.go:373,391-418; "
        "pkg/controller/stages/regular_stages.go:1103-1121",
    ),
    Rule(
        "pre.argocd-not-syncing",
        "Target's Argo CD apps not syncing",
        "no sync in progress",
        (TARGET, TASKS, APPS),
        argocd_not_syncing,
        "pkg/webhook/kubernetes/promotion/webhook.go:250-271; pkg/api/promotion.go:261-430; "
        "pkg/promotion/evaluator.go:102-217",
    ),
    Rule(
        "pre.stage-not-stuck",
        "Target Stage is not stuck",
        "no reconcile error; a failed last Promotion blocks only a retry of its Freight",
        (TARGET,),
        stage_not_stuck,
        "pkg/controller/stages/regular_stages.go:820-845",
    ),
    Rule(
        "pre.already-current",
        "Freight already current in the target",
        "informational",
        (TARGET,),
        already_current,
        "pkg/controller/stages/regular_stages.go:1103-1121",
    ),
)


@dataclass
class Evaluated:
    rows: list[CheckResult]
    attach_to: dict | None = None
    already_current: bool = False
    diagnose: str = ""  # the Stage the first failing row is about, when not the target


def evaluate(readings: Readings, flags: Flags, rules: tuple[Rule, ...] = RULES) -> Evaluated:
    out = Evaluated([])
    for rule in rules:
        missing = [f"{what}: {readings.errors[what]}" for what in rule.reads if what in readings.errors]
        if missing:
            out.rows.append(
                row(
                    rule.id,
                    rule.name,
                    Status.ERROR,
                    "could not read " + "; ".join(missing),
                    rule.expected,
                    hint="The gate could not read what this rule needs, so it cannot say promoting is safe; "
                    "fix access (or the cluster) and run again",
                )
            )
            continue
        verdict = rule.verdict(readings, flags)
        if verdict is None:
            continue
        out.attach_to = out.attach_to or verdict.attach_to
        out.already_current = out.already_current or verdict.already_current
        if verdict.status == Status.FAIL and not any(r.status == Status.FAIL for r in out.rows):
            out.diagnose = verdict.about
        out.rows.append(
            row(
                rule.id,
                rule.name,
                verdict.status,
                verdict.observed,
                rule.expected,
                hint=verdict.hint,
                evidence=verdict.evidence,
            )
        )
    return out
