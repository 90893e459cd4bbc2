"""`gate precheck` and `gate promote`: P1 → PromoteToStage → follow → Kargo's verification → levels → P4.

What promote reports when the Freight is already current *and verified* in the target: no Promotion is
created (Kargo would re-promote and re-verify, which is not what a gate is for); the Promotion section
says "already current", the Kargo verification section shows the current verification, and the levels
and post-promotion checks still run, so exit 0 means "the target runs this Freight and it is good".

--no-wait: create (or attach to) the Promotion and stop. --no-verify: follow the Promotion to its end,
skip Kargo's verification and the levels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from gate.entry import Interrupted
from gate.errors import ConfigError, GateError, TransientError
from gate.kargo import downstream as ds
from gate.kargo import stages as st
from gate.kargo.argocd_ops import argocd_row
from gate.kargo.client import KargoClient, KargoConfig, parse_version
from gate.kargo.follow import WARN_AFTER, Followed, follow_promotion, promotion_row, wait_verification
from gate.kargo.freight import Selection, auto_promotion_candidates, origin_of, select
from gate.kargo.precheck import PrecheckOutcome, phase_of, promotion_freight, run_precheck
from gate.kargo.rows import row, section, skipped
from gate.kargo.timefmt import parse_time
from gate.model import RunResult, Section, Status
from gate.options import RunOptions
from gate.redact import redact


@dataclass
class KargoOptions:
    stage: str
    freight: str | None = None
    alias: str | None = None
    origin: str | None = None
    retry_failed: bool = False
    no_wait: bool = False
    no_verify: bool = False
    abort_on_timeout: bool = False
    promotion_timeout: float = 1800.0
    warn_after: float = WARN_AFTER  # the guide's "promotion takes > 10 minutes" advice
    verification_timeout: float = 1800.0
    downstream_timeout: float = 60.0
    poll_interval: float = 2.0
    via: str = "api"
    kargo: KargoConfig = field(default_factory=KargoConfig)


@dataclass
class Context:
    """What one precheck/promote run talks to."""

    reader: Any  # KargoClient or KubeKargoReader
    promoter: Any  # KargoClient, KargoCli or KubeKargoReader (which refuses)
    project: str
    kube: Any
    argocd_namespace: str
    note: Callable[[str], None]
    session: Any = None
    diagnose: str = ""  # the Stage whose diagnosis explains a failed precheck, when not the target


def _note_fn(session: Any) -> Callable[[str], None]:
    progress = getattr(session, "progress", None)
    if progress is not None and hasattr(progress, "note"):
        return lambda text: progress.note(redact(text))
    return lambda text: click.echo(redact(text), err=True)


def open_context(opts: RunOptions, kopts: KargoOptions, *, need_plan: bool, promoting: bool = False) -> Context:
    from gate.session import Session

    if promoting and kopts.via == "api" and not kopts.kargo.configured:
        raise ConfigError(
            "promote creates the Promotion through the Kargo API (never through Kubernetes): set "
            "KARGO_API_ADDRESS and KARGO_API_TOKEN (or --kargo-address/--kargo-token), or use --via cli "
            "with a logged-in kargo CLI",
            key="--kargo-address",
        )
    # precheck reads the target's Argo CD Applications (and Kargo itself without an API address) from the
    # cluster, whatever the spec's checks need
    session = Session.open(opts, need_cluster=True, need_plan=need_plan, connect_always=True)
    if not opts.project and hasattr(session, "discover"):
        session.discover({"kargo_project"})  # discovered like `gate discover` when not set
    settings = session.settings
    get = getattr(settings, "get", lambda key, default=None: getattr(settings, key, default))
    project = opts.project or get("kargo_project") or get("kargo_namespace")
    if not project:
        raise ConfigError(
            "no Kargo project: pass --project or set kargo_project in .gitops-config.yaml", key="--project"
        )
    cfg = kopts.kargo
    if not cfg.address or not cfg.token:
        cfg = KargoConfig.resolve(
            cfg.address,
            cfg.token,
            None,  # .gitops-config.yaml has no Kargo API keys (Settings.get raised KeyError on them)
            ca_file=cfg.ca_file,
            insecure_skip_tls_verify=cfg.insecure_skip_tls_verify,
        )
        kopts.kargo = cfg
    if cfg.configured:
        reader: Any = KargoClient(cfg)
        reader.discover()
    else:
        from gate.kargo.kubereader import KubeKargoReader

        reader = KubeKargoReader(session.kube)
    promoter = reader
    if kopts.via == "cli":
        from gate.kargo.cli_backend import KargoCli

        promoter = KargoCli(cfg, reader)
    session.clients.kargo = reader
    note = _note_fn(session)
    return Context(
        reader, promoter, project, session.kube, get("argocd_namespace") or "argocd", note, session
    )


def _select(ctx: Context, kopts: KargoOptions) -> Selection:
    return select(
        ctx.reader, ctx.project, kopts.stage, freight=kopts.freight, alias=kopts.alias, origin=kopts.origin
    )


def run_precheck_command(opts: RunOptions, kopts: KargoOptions) -> int:
    from gate.commands.verify import finish

    result = RunResult(command="precheck", stage=kopts.stage, project=opts.project)
    ctx: Context | None = None
    try:
        ctx = open_context(opts, kopts, need_plan=False)
        result.project = ctx.project
        result.context["Kargo API"] = str(getattr(ctx.reader, "version", ""))
        sel = _select(ctx, kopts)
        result.freight = sel.name
        pre = run_precheck(
            ctx.reader,
            ctx.project,
            kopts.stage,
            sel,
            kube=ctx.kube,
            argocd_namespace=ctx.argocd_namespace,
            retry_failed=kopts.retry_failed,
        )
        result.sections.append(pre.section)
        ctx.diagnose = pre.diagnose
    except ConfigError:
        raise
    except GateError as exc:
        result.sections.append(Section.from_error("Pre-promotion", exc))
    diagnose_failure(ctx, result)
    return finish(result, opts)


def diagnose_failure(ctx: Context | None, result: RunResult) -> None:
    """A failed precheck/promote carries a diagnosis (gate/diagnose/attach.py): of the target Stage, or of
    the upstream Stage whose verification the failing rule is about. Read-only, inside the run's deadline,
    never a change of verdict or exit code."""
    if ctx is None or result.failed_row() is None:
        return  # nothing to explain: the diagnosis modules stay unloaded
    from gate.diagnose.attach import attach

    session = ctx.session
    attach(result, ctx.kube, getattr(session, "settings", None) or {}, ctx.diagnose or result.stage,
           plan=getattr(session, "plan", None), project=ctx.project, clusters=getattr(session, "clusters", None))


def promote_result(opts: RunOptions, kopts: KargoOptions) -> RunResult:
    """The whole promote run as a RunResult (reports not written). Interrupted is re-raised carrying
    `.result`; ConfigError (exit 2) is raised as is."""
    result = RunResult(command="promote", stage=kopts.stage, project=opts.project)
    stage_titles = ["Pre-promotion", "Promotion", "Kargo verification"]
    ctx: Context | None = None
    try:
        ctx = open_context(opts, kopts, need_plan=not (kopts.no_wait or kopts.no_verify), promoting=True)
        result.project = ctx.project
        result.context["Kargo API"] = str(getattr(ctx.reader, "version", ""))
        sel = _select(ctx, kopts)
        result.freight = sel.name
        if ctx.session is not None:
            ctx.session.clients.freight = sel.name  # the levels expect this Freight to be current
        promote_flow(ctx, kopts, sel, result)
    except ConfigError:
        raise
    except Interrupted as exc:
        result.levels = result.levels or getattr(exc, "levels", [])
        result.interrupted = True
        exc.result = result  # type: ignore[attr-defined]
        raise
    except GateError as exc:
        done = {s.title for s in result.sections}
        title = next((t for t in stage_titles if t not in done), "Post-promotion")
        target = result.sections if title in stage_titles else result.post_sections
        target.append(Section.from_error(title, exc))
    diagnose_failure(ctx, result)
    return result


def run_promote_command(opts: RunOptions, kopts: KargoOptions) -> int:
    from gate.commands.verify import finish

    try:
        result = promote_result(opts, kopts)
    except Interrupted as exc:
        finish(exc.result, opts)  # type: ignore[attr-defined]
        return exc.code
    return finish(result, opts)


def promote_flow(ctx: Context, kopts: KargoOptions, sel: Selection, result: RunResult) -> None:
    """Fill result's sections, levels and post_sections; raise GateError for what cannot go on.

    precheck → (already current | attach | create) → follow → Kargo's verification → levels → post."""
    started = datetime.now(UTC) - timedelta(seconds=1)
    pre = _precheck(ctx, kopts, sel, result)
    if pre is None:
        return
    if pre.already_current:
        _already_current(ctx, kopts, sel, pre, result)
        return
    promo, attached = _start_promotion(ctx, kopts, sel, pre, result)
    if kopts.no_wait:
        _not_followed(promo, attached, result)
        return
    done = _follow(ctx, kopts, promo, attached, result)
    if done.phase != "Succeeded":
        result.sections.append(skipped("Kargo verification", f"Promotion {done.phase}"))
        return
    freight = result.freight or sel.name
    if not _verify_then_levels(ctx, kopts, freight, done, result):
        return
    if result.failed_level is None:
        result.post_sections.append(post_promotion(ctx, kopts, freight, done, started))


def _precheck(ctx: Context, kopts: KargoOptions, sel: Selection, result: RunResult) -> PrecheckOutcome | None:
    """P1; None (and the later sections SKIPPED) when it says "do not promote"."""
    pre = run_precheck(
        ctx.reader,
        ctx.project,
        kopts.stage,
        sel,
        kube=ctx.kube,
        argocd_namespace=ctx.argocd_namespace,
        retry_failed=kopts.retry_failed,
        for_promote=True,
    )
    result.sections.append(pre.section)
    ctx.diagnose = pre.diagnose
    if pre.ok:
        return pre
    result.sections += [
        skipped("Promotion", "precheck did not pass: no Promotion created"),
        skipped("Kargo verification", "no Promotion"),
    ]
    return None


def _start_promotion(
    ctx: Context, kopts: KargoOptions, sel: Selection, pre: PrecheckOutcome, result: RunResult
) -> tuple[dict, bool]:
    """Attach to the running Promotion for this Freight, or create one; note what Kargo resolved."""
    attached = pre.attach_to is not None
    if attached:
        promo = pre.attach_to
        ctx.note(
            f"Promotion {promo['metadata']['name']} is already {phase_of(promo)} for {sel.label}: attaching"
        )
    else:
        hold = hold_note(ctx, kopts.stage, sel, pre.target)
        if hold:
            result.notes.append(hold)
        promo = create_promotion(ctx, kopts, sel)
    result.context["Promotion"] = promo["metadata"]["name"]
    resolved = promotion_freight(promo)
    if resolved and resolved != sel.name:
        # the webhook picks the origin's candidate when the Promotion is created (webhook.go L198-208);
        # a Freight that became available after the gate's reading changes it
        result.notes.append(
            f"Kargo resolved {sel.how} to Freight {resolved}, not the {sel.label} the precheck vetted (its "
            "candidate changed in between); the rest of this report is about the Freight Kargo promoted"
        )
        result.freight = resolved
    return promo, attached


def hold_note(ctx: Context, stage: str, sel: Selection, target: dict) -> str | None:
    """Kargo v1.11+ puts auto-promotion of the origin on hold in the target when a user promotes Freight
    that is not its auto-promotion candidate (pkg/webhook/kubernetes/promotion/webhook.go L397-472), and
    releases it when the candidate is promoted. Say so before it happens."""
    version = parse_version(str(getattr(ctx.reader, "version", "")))
    if not target or not (target.get("status") or {}).get("autoPromotionEnabled"):
        return None
    if version is None or version < (1, 11, 0) or "origin" in sel.request:
        return None
    candidates, _ = auto_promotion_candidates(target, ctx.reader.available_freight(ctx.project, stage))
    key = origin_of(sel.freight)
    candidate = candidates.get(key)
    if candidate is not None and candidate["metadata"]["name"] == sel.name:
        return None
    instead = f"its candidate is {st.short(candidate['metadata']['name'])}" if candidate else "it has no candidate"
    return (
        f"{sel.label} is not Kargo's auto-promotion candidate for {key} in {stage} ({instead}): Kargo will "
        f"hold auto-promotion of {key} there until its candidate is promoted (`gate promote --origin {key}`)"
    )


def _not_followed(promo: dict, attached: bool, result: RunResult) -> None:
    verb = "attached to" if attached else "created"
    name = promo["metadata"]["name"]
    result.sections.append(
        section(
            "Promotion",
            [
                row(
                    "promotion.created",
                    f"Promotion {name}",
                    Status.PASS,
                    f"{verb} (--no-wait: not followed)",
                    "created",
                )
            ],
        )
    )
    result.sections.append(skipped("Kargo verification", "--no-wait"))


def _follow(ctx: Context, kopts: KargoOptions, promo: dict, attached: bool, result: RunResult) -> Followed:
    done = follow_promotion(
        ctx.reader,
        ctx.project,
        promo["metadata"]["name"],
        timeout=kopts.promotion_timeout,
        interval=kopts.poll_interval,
        note=ctx.note,
        abort_on_timeout=kopts.abort_on_timeout,
        warn_after=kopts.warn_after,
    )
    result.sections.append(section("Promotion", [promotion_row(done, attached=attached)]))
    return done


def _verify_then_levels(
    ctx: Context, kopts: KargoOptions, freight: str, done: Followed, result: RunResult
) -> bool:
    """Kargo's verification, then the levels; False when the verification did not pass."""
    if kopts.no_verify:
        result.sections.append(skipped("Kargo verification", "--no-verify"))
        return True
    rows = wait_verification(
        ctx.reader,
        ctx.project,
        kopts.stage,
        freight,
        done.promotion,
        timeout=kopts.verification_timeout,
        interval=kopts.poll_interval,
        note=ctx.note,
    )
    result.sections.append(section("Kargo verification", rows))
    if result.sections[-1].status != Status.PASS:
        return False
    _levels(ctx, result)
    return True


def _levels(ctx: Context, result: RunResult) -> None:
    session = ctx.session
    if session is not None and getattr(session, "plan", None) is not None:
        from gate.engine.deadlines import reserve

        with reserve():  # --timeout bounds the levels and the diagnosis of their failure together
            result.levels = session.run_levels()


def _already_current(
    ctx: Context, kopts: KargoOptions, sel: Selection, pre: PrecheckOutcome, result: RunResult
) -> None:
    latest = st.latest_verification(pre.target) or {}
    run = (latest.get("analysisRun") or {}).get("name")
    result.sections.append(
        section(
            "Promotion",
            [
                row(
                    "promotion.already-current",
                    "Promotion",
                    Status.PASS,
                    f"{sel.label} is already current and verified in {kopts.stage}: no Promotion created",
                    "Freight current",
                )
            ],
        )
    )
    result.sections.append(
        section(
            "Kargo verification",
            [
                row(
                    "verification.phase",
                    "Kargo verification",
                    Status.PASS,
                    f"Successful (current verification{', AnalysisRun ' + run if run else ''})",
                    "Successful",
                )
            ],
        )
    )
    result.notes.append(
        f"{sel.label} was already current and verified in {kopts.stage}; nothing was promoted"
    )
    if not kopts.no_verify and not kopts.no_wait:
        _levels(ctx, result)
    if result.failed_level is None:
        result.post_sections.append(post_promotion(ctx, kopts, sel.name, None, result.started_at))


def create_promotion(ctx: Context, kopts: KargoOptions, sel: Selection, attempts: int = 4) -> dict:
    """PromoteToStage once. A 5xx or a lost answer is not blindly retried: the Promotions are listed
    again first, and a new one for this Freight is adopted instead of creating a second."""
    project, stage = ctx.project, kopts.stage
    before = {p["metadata"]["name"] for p in ctx.reader.list_promotions(project, stage)}
    delay = 0.5
    for attempt in range(1, attempts + 1):
        try:
            promo = ctx.promoter.promote(
                project,
                stage,
                freight=sel.request.get("freight"),
                alias=sel.request.get("freightAlias"),
                origin=sel.request.get("origin"),
            )
            ctx.note(f"Promotion {promo['metadata']['name']} created for {sel.label} in {stage}")
            return promo
        except TransientError as exc:
            fresh = [
                p
                for p in ctx.reader.list_promotions(project, stage)
                if p["metadata"]["name"] not in before and promotion_freight(p) == sel.name
            ]
            if fresh:
                ctx.note(
                    f"PromoteToStage answered badly ({exc}) but created {fresh[-1]['metadata']['name']}: "
                    "following it"
                )
                return fresh[-1]
            if attempt == attempts:
                raise
            ctx.note(f"PromoteToStage failed ({exc}); trying again ({attempt}/{attempts - 1})")
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def post_promotion(
    ctx: Context, kopts: KargoOptions, freight: str, done: Followed | None, started: datetime | None
) -> Section:
    """P4 from what real Kargo and Argo CD write: the Freight in freightHistory, the Argo CD operations
    this Promotion started, downstream auto-promotion where Kargo would start one, and Warning events
    Kubernetes itself emitted in the project namespace since the promotion (Kargo's own events are all
    Normal: pkg/event/kubernetes/sender.go L99 at v1.11.2)."""
    project, stage = ctx.project, kopts.stage
    rows = []
    target = ctx.reader.get_stage(project, stage)
    rows.append(
        row(
            "post.freight-history",
            f"Freight in {stage}'s freightHistory",
            Status.PASS if st.in_history(target, freight) else Status.FAIL,
            "freightHistory[0] = "
            + ", ".join(map(st.short, st.freight_names(st.current_collection(target)))),  # noqa: E501
            f"contains {st.short(freight)}",
        )
    )
    if done is not None:
        rows.append(argocd_row(ctx, done.promotion))
    rows.append(_downstream_row(ctx, kopts, freight))
    since = started
    if done is not None:
        since = parse_time((done.promotion.get("metadata") or {}).get("creationTimestamp")) or started
    rows.append(_events_row(ctx, since))
    return section("Post-promotion", rows)


def _downstream_row(ctx: Context, kopts: KargoOptions, freight: str) -> Any:
    """A Promotion for the Freight in every downstream Stage where Kargo would auto-promote *it*
    (gate/kargo/downstream.py); SKIPPED where it would not, saying what Kargo does instead."""
    name = "Downstream auto-promotion started"
    expected = "a Promotion where Kargo auto-promotes this Freight"
    project, stage = ctx.project, kopts.stage
    downstream, auto = ds.auto_promoting(ctx.reader, project, stage)
    if not auto:
        names = ", ".join(s["metadata"]["name"] for s in downstream) or "none"
        return row(
            "post.downstream",
            name,
            Status.PASS,
            f"no downstream Stage with auto-promotion (downstream: {names})",
            expected,
        )
    deadline = time.monotonic() + kopts.downstream_timeout
    while True:
        seen, settling = _assess_downstream(ctx, kopts, freight, [s["metadata"]["name"] for s in auto])
        waiting = [d for d in seen if d.state == ds.WAITING]
        if not (waiting or settling) or time.monotonic() >= deadline:
            break
        time.sleep(kopts.poll_interval)
    return _downstream_verdict(name, expected, seen, kopts.downstream_timeout)


def _assess_downstream(
    ctx: Context, kopts: KargoOptions, freight: str, names: list[str]
) -> tuple[list[ds.Downstream], bool]:
    """Each auto-promoting downstream Stage, read afresh; settling while Kargo has not yet written
    verifiedIn[target] after a verification the gate saw succeed (markFreightVerifiedForStage runs
    after verifyStageFreight in the same pass, regular_stages.go L491-517)."""
    obj = ctx.reader.get_freight(ctx.project, freight)
    verified_here = kopts.stage in ((obj.get("status") or {}).get("verifiedIn") or {})
    seen = []
    for dname in names:
        down = ctx.reader.get_stage(ctx.project, dname)
        got = ds.assess(ctx.reader, ctx.project, down, obj)
        if not verified_here and got.state == ds.NOT_EXPECTED and "not available" in got.detail:
            why = "--no-verify did not wait for it" if kopts.no_verify else "Kargo has not marked it yet"
            got.detail = (
                f"{st.short(freight)} is not verified in {kopts.stage} yet ({why}): Kargo auto-promotes it "
                f"to {dname} once it is available there"
            )
        seen.append(got)
    return seen, not verified_here and not kopts.no_verify


def _downstream_verdict(name: str, expected: str, seen: list[ds.Downstream], timeout: float) -> Any:
    waiting = [d for d in seen if d.state == ds.WAITING]
    started = [d.line() for d in seen if d.state == ds.STARTED]
    others = [d.line() for d in seen if d.state == ds.NOT_EXPECTED]
    if waiting:
        stages = ", ".join(d.stage for d in waiting)
        return row(
            "post.downstream",
            name,
            Status.FAIL,
            f"no Promotion yet for {stages}" + (f" ({'; '.join(started)})" if started else ""),
            expected,
            evidence=started + others,
            hint=f"Kargo should have auto-promoted the Freight to {stages} (its candidate, no hold, no failed "
            f"Promotion of it) but did not within {timeout:.0f}s: check the Stage's conditions and the "
            "controller logs",
        )
    if started:
        return row("post.downstream", name, Status.PASS, "; ".join(started + others), expected)
    return row(
        "post.downstream", name, Status.SKIPPED, "; ".join(others), expected, reason="; ".join(others)
    )


def _event_time(ev: dict) -> datetime | None:
    return parse_time(
        ev.get("lastTimestamp")
        or ev.get("eventTime")
        or ev.get("firstTimestamp")
        or (ev.get("metadata") or {}).get("creationTimestamp")
    )


def _from_kubernetes(ev: dict) -> bool:
    """Not about a Kargo object: Kargo never sends a Warning (sender.go L99 records every event as
    Normal), so a Warning about a Stage/Freight/Promotion can only be a simulator's or a third party's."""
    api = (ev.get("involvedObject") or {}).get("apiVersion") or ""
    return not api.startswith("kargo.akuity.io/")


def _events_row(ctx: Context, since: datetime | None) -> Any:
    name = "No Warning events from Kubernetes in the project namespace"
    expected = "no Warning events (Pods, Jobs of the verification, …)"
    try:
        events = ctx.reader.list_events(ctx.project)
    except GateError as exc:
        return row("post.events", name, Status.ERROR, f"cannot list events: {exc}", expected)
    warnings = [
        e
        for e in events
        if e.get("type") == "Warning"
        and _from_kubernetes(e)
        and (since is None or (_event_time(e) or since) >= since)
    ]
    if not warnings:
        return row(
            "post.events", name, Status.PASS, f"0 Warning events in {ctx.project} since the promotion", expected
        )
    lines = [
        f"{e.get('reason')} {(e.get('involvedObject') or {}).get('kind', '')}/"
        f"{(e.get('involvedObject') or {}).get('name', '')}: {e.get('message', '')}"
        for e in warnings
    ]
    return row(
        "post.events",
        name,
        Status.FAIL,
        f"{len(warnings)} Warning event(s): {lines[0]}",
        expected,
        evidence=lines,
        hint=f"Look into: {lines[0]}",
    )
