"""P3: follow a Promotion to a terminal phase, then wait for Kargo's own verification of the Freight."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from gate.engine import deadlines
from gate.engine.durations import format as fmt_duration
from gate.errors import GateError, TransientError
from gate.kargo import stages as st
from gate.kargo.client import TERMINAL_PHASES
from gate.kargo.rows import row
from gate.kargo.timefmt import parse_time
from gate.model import CheckResult, Status
from gate.redact import redact

WARN_AFTER = 600.0  # the guide: "If promotion takes > 10 minutes", check Argo CD and the repo-server
Note = Callable[[str], None]


@dataclass
class Followed:
    promotion: dict
    timed_out: bool = False
    aborted: bool = False
    elapsed: float = 0.0

    @property
    def phase(self) -> str:
        return (self.promotion.get("status") or {}).get("phase") or "Pending"


def describe(promo: dict) -> str:
    """`Running, step 2/3 argocd-update (Running), errors: push=2`."""
    status = promo.get("status") or {}
    phase = status.get("phase") or "Pending"
    steps = (promo.get("spec") or {}).get("steps") or []
    meta = status.get("stepExecutionMetadata") or []
    text = phase
    if phase not in TERMINAL_PHASES and meta:
        idx = int(status.get("currentStep") or 0)
        cur = meta[idx] if idx < len(meta) else meta[-1]
        total = len(steps) or len(meta)
        alias, step_status = cur.get("alias") or "?", cur.get("status") or "Running"
        text += f", step {min(idx + 1, total)}/{total} {alias} ({step_status})"
    errors = [f"{m.get('alias')}={m['errorCount']}" for m in meta if m.get("errorCount")]
    if errors:
        text += ", errors: " + " ".join(errors)
    return text


def failing_step(promo: dict) -> dict | None:
    meta = (promo.get("status") or {}).get("stepExecutionMetadata") or []
    return next((m for m in reversed(meta) if m.get("status") in ("Failed", "Errored", "Aborted")), None)


def follow_promotion(
    reader: Any,
    project: str,
    name: str,
    *,
    timeout: float,
    interval: float,
    note: Note,
    abort_on_timeout: bool = False,
    warn_after: float = WARN_AFTER,
    watch: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> Followed:
    """Until Succeeded/Failed/Errored/Aborted, printing a line whenever the phase, step or errors change."""
    start = clock()
    deadline = start + timeout
    last_line, warned = "", False
    promo: dict = {}

    def seen(obj: dict) -> bool:
        nonlocal last_line, warned, promo
        if obj:
            promo = obj
            line = describe(obj)
            if line != last_line:
                note(f"Promotion {name}: {line} ({clock() - start:.0f}s)")
                last_line = line
        finished = bool(promo) and (promo.get("status") or {}).get("phase") in TERMINAL_PHASES
        if not warned and not finished and clock() - start > warn_after:
            warned = True  # once per run; a Promotion that has already ended needs no advice
            note(
                f"WARNING: Promotion {name} has taken more than {fmt_duration(warn_after)}: "
                "check the Argo CD Application sync status and the repo-server logs "
                "(OOM, connection errors)"
            )
        return finished

    if watch and hasattr(reader, "watch_promotion") and not getattr(reader, "connect", False):
        # The watch is held to this follow's own deadline (--promotion-timeout), not only the run's wall:
        # a stream that trickles in without completing a line ends there, and the GET below still reads
        # the Promotion before the gate gives up on it.
        try:
            with deadlines.scope(start + timeout if clock is time.monotonic else None):
                for obj in reader.watch_promotion(project, name, timeout=max(1.0, min(30.0, timeout))):
                    if seen(obj) or clock() >= deadline:
                        break
        except deadlines.DeadlineExceeded as exc:
            if deadlines.passed():
                raise  # the run's wall, not this follow's: nothing is left for a GET either
            note(f"watch of {name} ended ({exc}); reading the Promotion instead")
        except TransientError as exc:
            note(f"watch of {name} ended ({exc}); polling instead")
    while not seen(reader.get_promotion(project, name)) and clock() < deadline:
        time.sleep(max(0.0, min(interval, deadline - clock())))
    done = Followed(promo, elapsed=clock() - start)
    if done.phase in TERMINAL_PHASES:
        return done
    done.timed_out = True
    if abort_on_timeout:
        try:
            reader.abort_promotion(project, name)
            done.aborted = True
            note(f"Promotion {name}: aborted after {timeout:.0f}s (--abort-on-timeout)")
        except GateError as exc:
            note(f"Promotion {name}: could not abort: {exc}")
    return done


def promotion_row(done: Followed, *, attached: bool = False) -> CheckResult:
    promo = done.promotion
    name = promo.get("metadata", {}).get("name", "?")
    status = promo.get("status") or {}
    title = f"Promotion {name}" + (" (attached)" if attached else "")
    evidence = [
        f"step {m.get('alias')}: {m.get('status')}"
        + (f", {m['errorCount']} errors" if m.get("errorCount") else "")
        + (f": {m['message']}" if m.get("message") else "")
        for m in status.get("stepExecutionMetadata") or []
    ]
    if done.phase == "Succeeded":
        return row(
            "promotion.phase",
            title,
            Status.PASS,
            f"Succeeded in {done.elapsed:.0f}s",
            "Succeeded",
            evidence=evidence,
            duration=done.elapsed,
        )
    if done.timed_out:
        what = "aborted" if done.aborted else "left running (pass --abort-on-timeout to abort it)"
        return row(
            "promotion.phase",
            title,
            Status.FAIL,
            f"still {describe(promo)} after {done.elapsed:.0f}s; {what}",
            "Succeeded",
            evidence=evidence,
            duration=done.elapsed,
            hint=f"Promotion {name} did not finish in time: check the Argo CD sync and the repo-server "
            "logs, then raise --promotion-timeout",
        )
    step = failing_step(promo)
    msg = status.get("message") or "no message"
    step_msg = (step or {}).get("message")
    where = f" at step {step.get('alias')}" if step else ""
    if step_msg and step_msg != msg:
        where += f" ({step_msg})"
    return row(
        "promotion.phase",
        title,
        Status.FAIL,
        f"{done.phase}{where}: {msg}",
        "Succeeded",
        evidence=evidence,
        duration=done.elapsed,
        hint=f"Promotion {name} {done.phase}{where}: {msg}. Fix the cause, then run `gate promote` again "
        "with --retry-failed",
    )


# The verification Kargo records without an AnalysisRun carries the start of the reconcile pass as its
# startTime (regular_stages.go L367 `r.reconcile(ctx, stage, time.Now())` → L494 → L1245 at v1.11.2),
# while the Promotion's finishedAt is stamped by the Promotion controller when it ends (promotions.go
# L436/L746). A pass that began just before the Promotion ended and saw it end records a startTime
# before finishedAt; both are written in whole seconds (metav1.Time), so by up to one second.
TIE_SLACK = timedelta(seconds=1)


def _tied(stage: dict, latest: dict, promo: dict, reader: Any, project: str) -> bool:
    """The verification attempt belongs to this Promotion: started at or after its finishedAt (less
    TIE_SLACK, in whole seconds), or its AnalysisRun is annotated kargo.akuity.io/promotion=<name>."""
    finished = parse_time((promo.get("status") or {}).get("finishedAt"))
    started = parse_time(latest.get("startTime"))
    if finished and started and started >= finished.replace(microsecond=0) - TIE_SLACK:
        return True
    run = (latest.get("analysisRun") or {}).get("name")
    if run:
        ar = reader.get_analysis_run(project, run) or {}
        anns = (ar.get("metadata") or {}).get("annotations") or {}
        return anns.get("kargo.akuity.io/promotion") == promo.get("metadata", {}).get("name")
    return finished is None


def failed_metrics(ar: dict | None) -> list[str]:
    if not ar:
        return []
    out = []
    for metric in (ar.get("status") or {}).get("metricResults") or []:
        if metric.get("phase") in ("Failed", "Error", "Inconclusive"):
            last = (metric.get("measurements") or [{}])[-1]
            detail = (
                metric.get("message")
                or last.get("message")
                or (f"value {last['value']}" if last.get("value") else "")
            )
            out.append(
                f"metric {metric.get('name')}: {metric.get('phase')}" + (f": {detail}" if detail else "")
            )
    return out


@dataclass
class Observed:
    """One reading of the target Stage while waiting for Kargo's verification."""

    target: dict
    holds: bool
    latest: dict | None  # verificationHistory[0] of freightHistory[0], when it holds the Freight
    tied: bool  # ... and it belongs to this Promotion

    @property
    def phase(self) -> str:
        return (self.latest or {}).get("phase") or "Pending"

    @property
    def finished(self) -> bool:
        return self.tied and self.phase in st.VERIFICATION_TERMINAL

    def line(self, stage: str) -> str:
        healthy = st.condition(self.target, "Healthy") or {}
        return (
            f"Stage {stage}: "
            + ("holds the Freight" if self.holds else "Freight not current yet")
            + f", Healthy={healthy.get('status', '?')}"
            + (f", verification {self.phase}" if self.tied else ", waiting for verification to start")
        )


def observe(reader: Any, project: str, stage: str, freight: str, promo: dict) -> Observed:
    target = reader.get_stage(project, stage)
    holds = st.holds(target, freight)
    latest = st.latest_verification(target) if holds else None
    tied = latest is not None and _tied(target, latest, promo, reader, project)
    return Observed(target, holds, latest, tied)


def wait_verification(
    reader: Any,
    project: str,
    stage: str,
    freight: str,
    promo: dict,
    *,
    timeout: float,
    interval: float,
    note: Note,
    clock: Callable[[], float] = time.monotonic,
) -> list[CheckResult]:
    """Until freightHistory[0] holds the Freight and its verificationHistory[0] (this Promotion's) ends."""
    start = clock()
    last_line = ""
    while True:
        seen = observe(reader, project, stage, freight, promo)
        line = seen.line(stage)
        if line != last_line:
            note(f"{line} ({clock() - start:.0f}s)")
            last_line = line
        if seen.finished:
            verdict = _verdict_row(reader, project, stage, freight, seen, clock() - start)
            return [_current_row(stage, freight), verdict]
        if clock() - start >= timeout:
            return _timeout_rows(stage, seen, line, timeout)
        time.sleep(interval)


def _current_row(stage: str, freight: str) -> CheckResult:
    return row(
        "verification.current",
        f"Freight current in {stage}",
        Status.PASS,
        f"freightHistory[0] holds {st.short(freight)}",
        "freightHistory[0] holds it",
    )


def _timeout_rows(stage: str, seen: Observed, line: str, timeout: float) -> list[CheckResult]:
    return [
        row(
            "verification.current",
            f"Freight current in {stage}",
            Status.PASS if seen.holds else Status.FAIL,
            "yes" if seen.holds else "no",
            "freightHistory[0] holds it",
        ),
        row(
            "verification.phase",
            "Kargo verification",
            Status.FAIL,
            f"not finished after {timeout:.0f}s: {line}; {st.summary(seen.target)}",
            "Successful",
            hint=f"Kargo has not finished verifying the Freight in {stage}: check the Stage's health "
            "and its AnalysisRun",
        ),
    ]


def _verdict_row(
    reader: Any, project: str, stage: str, freight: str, seen: Observed, elapsed: float
) -> CheckResult:
    """PASS on Successful; otherwise FAIL quoting the AnalysisRun's failed metrics or Kargo's message."""
    latest = seen.latest or {}
    phase = seen.phase
    run = (latest.get("analysisRun") or {}).get("name")
    where = f"AnalysisRun {run}" if run else "no AnalysisRun (no spec.verification)"
    if phase == "Successful":
        return row(
            "verification.phase",
            "Kargo verification",
            Status.PASS,
            f"Successful ({where})",
            "Successful",
            duration=elapsed,
        )
    ar = reader.get_analysis_run(project, run) if run else None
    metrics = failed_metrics(ar)
    message = latest.get("message") or ((ar or {}).get("status") or {}).get("message") or ""
    detail = "; ".join(metrics) or message or "no message"
    return row(
        "verification.phase",
        "Kargo verification",
        Status.FAIL,
        f"{phase} ({where}): {detail}",
        "Successful",
        evidence=metrics + ([message] if message and message not in metrics else []),
        duration=elapsed,
        hint=redact(
            f"Kargo's verification of {st.short(freight)} in {stage} ended {phase}: {detail}. "
            f"Fix it, then re-verify (`kargo verify stage {stage}`) or promote again"
        ),
    )
