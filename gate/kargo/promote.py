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
from gate.kargo import stages as st
from gate.kargo.client import KargoClient, KargoConfig
from gate.kargo.follow import WARN_AFTER, Followed, follow_promotion, promotion_row, wait_verification
from gate.kargo.freight import Selection, select
from gate.kargo.precheck import PrecheckOutcome, phase_of, promotion_freight, run_precheck
from gate.kargo.rows import row, section, skipped
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
    session = Session.open(opts, need_cluster=True, need_plan=need_plan)
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
    except ConfigError:
        raise
    except GateError as exc:
        result.sections.append(Section.from_error("Pre-promotion", exc))
    return finish(result, opts)


def promote_result(opts: RunOptions, kopts: KargoOptions) -> RunResult:
    """The whole promote run as a RunResult (reports not written). Interrupted is re-raised carrying
    `.result`; ConfigError (exit 2) is raised as is."""
    result = RunResult(command="promote", stage=kopts.stage, project=opts.project)
    stage_titles = ["Pre-promotion", "Promotion", "Kargo verification"]
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
    """Fill result's sections, levels and post_sections; raise GateError for what cannot go on."""
    stage, project = kopts.stage, ctx.project
    started = datetime.now(UTC) - timedelta(seconds=1)
    pre = run_precheck(
        ctx.reader,
        project,
        stage,
        sel,
        kube=ctx.kube,
        argocd_namespace=ctx.argocd_namespace,
        retry_failed=kopts.retry_failed,
        for_promote=True,
    )
    result.sections.append(pre.section)
    if not pre.ok:
        result.sections += [
            skipped("Promotion", "precheck did not pass: no Promotion created"),
            skipped("Kargo verification", "no Promotion"),
        ]
        return
    if pre.already_current:
        _already_current(ctx, kopts, sel, pre, result)
        return
    attached = pre.attach_to is not None
    if attached:
        promo = pre.attach_to
        ctx.note(
            f"Promotion {promo['metadata']['name']} is already {phase_of(promo)} for {sel.label}: attaching"
        )
    else:
        promo = create_promotion(ctx, kopts, sel)
    name = promo["metadata"]["name"]
    result.context["Promotion"] = name
    if promotion_freight(promo) and promotion_freight(promo) != sel.name:
        result.notes.append(f"Kargo resolved {sel.how} to Freight {promotion_freight(promo)}")
        result.freight = promotion_freight(promo)
    if kopts.no_wait:
        verb = "attached to" if attached else "created"
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
        return
    done = follow_promotion(
        ctx.reader,
        project,
        name,
        timeout=kopts.promotion_timeout,
        interval=kopts.poll_interval,
        note=ctx.note,
        abort_on_timeout=kopts.abort_on_timeout,
        warn_after=kopts.warn_after,
    )
    result.sections.append(section("Promotion", [promotion_row(done, attached=attached)]))
    if done.phase != "Succeeded":
        result.sections.append(skipped("Kargo verification", f"Promotion {done.phase}"))
        return
    freight = result.freight or sel.name
    if kopts.no_verify:
        result.sections.append(skipped("Kargo verification", "--no-verify"))
    else:
        rows = wait_verification(
            ctx.reader,
            project,
            stage,
            freight,
            done.promotion,
            timeout=kopts.verification_timeout,
            interval=kopts.poll_interval,
            note=ctx.note,
        )
        result.sections.append(section("Kargo verification", rows))
        if result.sections[-1].status != Status.PASS:
            return
        _levels(ctx, result)
    if result.failed_level is None:
        result.post_sections.append(post_promotion(ctx, kopts, freight, done, started))


def _levels(ctx: Context, result: RunResult) -> None:
    session = ctx.session
    if session is not None and getattr(session, "plan", None) is not None:
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
    """P4: the Freight is in freightHistory, downstream auto-promotion started where enabled, no Warning
    events in the project namespace since the promotion started."""
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
    rows.append(_downstream_row(ctx, kopts, freight))
    since = started
    if done is not None:
        since = st.parse_time((done.promotion.get("metadata") or {}).get("creationTimestamp")) or started
    rows.append(_events_row(ctx, since))
    return section("Post-promotion", rows)


def _downstream_row(ctx: Context, kopts: KargoOptions, freight: str) -> Any:
    name = "Downstream auto-promotion started"
    project, stage = ctx.project, kopts.stage
    downstream = [s for s in ctx.reader.list_stages(project) if stage in st.upstreams(s)]
    auto = [s for s in downstream if (s.get("status") or {}).get("autoPromotionEnabled")]
    if not auto:
        names = ", ".join(s["metadata"]["name"] for s in downstream) or "none"
        return row(
            "post.downstream",
            name,
            Status.PASS,
            f"no downstream Stage with auto-promotion (downstream: {names})",
            "a Promotion for each auto-promoting downstream Stage",
        )
    deadline = time.monotonic() + kopts.downstream_timeout
    while True:
        started, waiting = [], []
        for down in auto:
            dname = down["metadata"]["name"]
            promos = [
                p for p in ctx.reader.list_promotions(project, dname) if promotion_freight(p) == freight
            ]
            if promos:
                started.append(f"{dname}: {promos[-1]['metadata']['name']} {phase_of(promos[-1])}")
            elif st.in_history(ctx.reader.get_stage(project, dname), freight):
                started.append(f"{dname}: already holds it")
            else:
                waiting.append(dname)
        if not waiting or time.monotonic() >= deadline:
            break
        time.sleep(kopts.poll_interval)
    if waiting:
        return row(
            "post.downstream",
            name,
            Status.FAIL,
            f"no Promotion yet for {', '.join(waiting)}" + (f" ({'; '.join(started)})" if started else ""),
            "a Promotion for each auto-promoting Stage",
            hint=f"Auto-promotion to {', '.join(waiting)} did not start within "
            f"{kopts.downstream_timeout:.0f}s: check soak time, auto-promotion holds and the Stage",
        )
    return row(
        "post.downstream", name, Status.PASS, "; ".join(started), "a Promotion for each auto-promoting Stage"
    )


def _event_time(ev: dict) -> datetime | None:
    return st.parse_time(
        ev.get("lastTimestamp")
        or ev.get("eventTime")
        or ev.get("firstTimestamp")
        or (ev.get("metadata") or {}).get("creationTimestamp")
    )


def _events_row(ctx: Context, since: datetime | None) -> Any:
    name = "No Warning events in the project namespace"
    try:
        events = ctx.reader.list_events(ctx.project)
    except GateError as exc:
        return row("post.events", name, Status.ERROR, f"cannot list events: {exc}", "no Warning events")
    warnings = [
        e
        for e in events
        if e.get("type") == "Warning" and (since is None or (_event_time(e) or since) >= since)
    ]
    if not warnings:
        return row(
            "post.events",
            name,
            Status.PASS,
            f"0 Warning events in {ctx.project} since the promotion",
            "no Warning events",
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
        "no Warning events",
        evidence=lines,
        hint=f"Look into: {lines[0]}",
    )
