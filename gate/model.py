"""The result of a run: what every reporter renders and what decides the exit code."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from gate.errors import EXIT_CLOSED, EXIT_PASS, EXIT_UNEVALUATED, GateClosed
from gate.redact import redact

LEVEL_TITLES = {1: "Infrastructure", 2: "Service Health", 3: "Ingress & Auth", 4: "Functional"}


class Status(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"  # a verdict: the condition did not hold
    ERROR = "ERROR"  # could not evaluate (never a pass)
    SKIPPED = "SKIPPED"


@dataclass
class Observation:
    """What one attempt of a check saw. `observed`/`expected` are one line each, for the report."""

    ok: bool
    observed: str
    expected: str
    evidence: list[str] = field(default_factory=list)
    final: bool = False  # waiting cannot change the answer: stop polling now
    output: str = ""  # long text (command output tails) for JUnit system-out
    hint: str = ""  # what a person should do about a failure


@dataclass
class CheckResult:
    id: str  # stable and unique within the run, e.g. "L1.pods.monitoring"
    name: str  # the line in the report
    kind: str
    level: int  # 1..4 for levels, 0 for pre/post-promotion rows
    status: Status
    attempts: int = 0
    duration: float = 0.0
    time_to_pass: float | None = None
    observed: str = ""
    expected: str = ""
    reason: str = ""  # one line: why it failed, errored or was skipped
    evidence: list[str] = field(default_factory=list)
    output: str = ""
    hint: str = ""


@dataclass
class LevelResult:
    number: int
    status: Status
    checks: list[CheckResult] = field(default_factory=list)
    duration: float = 0.0

    @property
    def title(self) -> str:
        return LEVEL_TITLES.get(self.number, f"Level {self.number}")


@dataclass
class Section:
    """A block before or after the levels: Pre-promotion, Promotion, Kargo verification, Post-promotion."""

    title: str
    status: Status
    rows: list[CheckResult] = field(default_factory=list)

    @classmethod
    def from_error(cls, title: str, exc: Exception) -> Section:
        """One row saying why this block could not go on: FAIL for a verdict (GateClosed), else ERROR."""
        status = Status.FAIL if isinstance(exc, GateClosed) else Status.ERROR
        message = redact(str(exc))
        rid = title.lower().replace(" ", "-")
        from gate.reports.actions import setup_action

        action = redact(setup_action(exc)) or message
        row = CheckResult(id=f"{rid}.error", name=title, kind="error", level=0, status=status, attempts=1,
                          observed=message, reason=message, hint=action)
        return cls(title, status, [row])


def _worst(statuses: list[Status]) -> Status:
    if Status.FAIL in statuses:
        return Status.FAIL
    if Status.ERROR in statuses:
        return Status.ERROR
    if statuses and all(s == Status.SKIPPED for s in statuses):
        return Status.SKIPPED
    return Status.PASS


def worst(statuses: list[Status]) -> Status:
    """FAIL beats ERROR beats PASS; all SKIPPED stays SKIPPED."""
    return _worst(list(statuses))


def now_utc() -> datetime:
    return datetime.now(UTC)


@dataclass
class RunResult:
    command: str
    stage: str
    project: str | None = None
    freight: str | None = None
    started_at: datetime = field(default_factory=now_utc)
    finished_at: datetime | None = None
    sections: list[Section] = field(default_factory=list)  # shown before the levels
    levels: list[LevelResult] = field(default_factory=list)
    post_sections: list[Section] = field(default_factory=list)  # shown after the levels
    interrupted: bool = False
    interrupt_code: int | None = None  # 130 (SIGINT) or 143 (SIGTERM) when a signal ended the run
    notes: list[str] = field(default_factory=list)
    context: dict[str, str] = field(default_factory=dict)  # e.g. analysis run, promotion name
    diagnosis: Any = None  # a failed run's gate.diagnose.attach.FailureDiagnosis (never changes the verdict)
    report_failures: list[str] = field(default_factory=list)  # reports asked for that could not be written

    def all_sections(self) -> list[Section]:
        return [*self.sections, *self.post_sections]

    @property
    def failed_level(self) -> int | None:
        for level in self.levels:
            if level.status in (Status.FAIL, Status.ERROR):
                return level.number
        return None

    @property
    def overall(self) -> Status:
        statuses = [s.status for s in self.all_sections()] + [lv.status for lv in self.levels]
        statuses = [s for s in statuses if s != Status.SKIPPED]
        if self.interrupted:
            return Status.ERROR if Status.FAIL not in statuses else Status.FAIL
        if not statuses:
            return Status.ERROR  # nothing was evaluated: never a pass
        return _worst(statuses)

    @property
    def exit_code(self) -> int:
        if self.interrupted and self.interrupt_code:
            return self.interrupt_code
        if self.report_failures:  # a report asked for is missing: never "open", nor a verdict CI trusts
            return EXIT_UNEVALUATED
        return {Status.PASS: EXIT_PASS, Status.FAIL: EXIT_CLOSED}.get(self.overall, EXIT_UNEVALUATED)

    def first_problem(self) -> CheckResult | None:
        rows = [r for s in self.sections for r in s.rows]
        rows += [c for lv in self.levels for c in lv.checks]
        rows += [r for s in self.post_sections for r in s.rows]
        for wanted in (Status.FAIL, Status.ERROR):
            for row in rows:
                if row.status == wanted:
                    return row
        return None

    def failed_row(self) -> CheckResult | None:
        """The row a diagnosis explains: the first FAIL (a verdict), in report order; None without one."""
        problem = self.first_problem()
        return problem if problem is not None and problem.status == Status.FAIL else None

    @property
    def action_required(self) -> str:
        if self.interrupted:
            return "Run interrupted before it finished; run the gate again."
        problem = self.first_problem()
        if problem is None:
            return "None" if self.overall == Status.PASS else "Nothing was evaluated; check the spec."
        if problem.hint:
            return problem.hint
        where = f"Level {problem.level}" if problem.level else "Fix"
        return f"{where}: {problem.name}: {problem.reason or problem.observed}"

    def to_dict(self) -> dict:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return data
