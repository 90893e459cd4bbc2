"""Report rows for the Pre-promotion / Promotion / Kargo verification / Post-promotion sections."""

from __future__ import annotations

from gate.model import CheckResult, Section, Status, worst
from gate.redact import redact


def row(
    rid: str,
    name: str,
    status: Status,
    observed: str = "",
    expected: str = "",
    *,
    reason: str = "",
    hint: str = "",
    evidence: list[str] | None = None,
    kind: str = "kargo",
    duration: float = 0.0,
    output: str = "",
) -> CheckResult:
    if status in (Status.FAIL, Status.ERROR) and not reason:
        reason = observed
    return CheckResult(
        id=rid,
        name=name,
        kind=kind,
        level=0,
        status=status,
        attempts=1,
        duration=round(duration, 3),
        observed=redact(observed),
        expected=expected,
        reason=redact(reason),
        evidence=[redact(e) for e in evidence or []],
        hint=redact(hint),
        output=redact(output),
    )


def section(title: str, rows: list[CheckResult]) -> Section:
    return Section(title, worst([r.status for r in rows]) if rows else Status.SKIPPED, rows)


def skipped(title: str, why: str) -> Section:
    rid = title.lower().replace(" ", "-")
    return Section(title, Status.SKIPPED, [row(f"{rid}.skipped", title, Status.SKIPPED, why, reason=why)])
