"""Hand-built RunResults shared by the test_reports_* modules (no tests here)."""

from __future__ import annotations

from datetime import UTC, datetime

from gate.model import CheckResult, LevelResult, RunResult, Section, Status

STARTED = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
CANARY = "s3cr3t-canary"
NASTY = 'a<b & "c" \'d\' \x1b[31mred\x1b[0m bell\x07 nul\x00 end'


def check(name: str, status: Status, level: int = 1, **kw: object) -> CheckResult:
    defaults: dict[str, object] = {"id": f"L{level}.{name}", "kind": "pods", "attempts": 1}
    if status == Status.PASS:
        defaults.update(observed="5/5 pods Ready", expected=">= 3 Ready", time_to_pass=0.4,
                        duration=0.4)
    defaults.update(kw)
    return CheckResult(name=name, level=level, status=status, **defaults)  # type: ignore[arg-type]


def skipped_levels(start: int, failed_at: int) -> list[LevelResult]:
    return [LevelResult(n, Status.SKIPPED, [check(f"check {n}", Status.SKIPPED, n,
                                                  reason=f"Level {failed_at} did not pass")])
            for n in range(start, 5)]


def passing() -> RunResult:
    levels = [LevelResult(n, Status.PASS, [check(f"check {n}", Status.PASS, n)], duration=0.5)
              for n in range(1, 5)]
    return RunResult(command="verify", stage="monitoring", freight="abc123", started_at=STARTED,
                     finished_at=STARTED, levels=levels)


def failing_l1() -> RunResult:
    bad = check("Pods ready in monitoring", Status.FAIL, 1, observed="2/3 pods Ready",
                expected=">= 3 Ready", reason="still 2/3 pods Ready after 300s", attempts=12,
                duration=300.0, evidence=[f"pod grafana-{i}: CrashLoopBackOff" for i in range(12)],
                hint="Look at the grafana pod logs.")
    good = check("CRDs installed", Status.PASS, 1)
    levels = [LevelResult(1, Status.FAIL, [good, bad], duration=300.2), *skipped_levels(2, 1)]
    return RunResult(command="verify", stage="monitoring", started_at=STARTED, levels=levels)


def erroring_l2() -> RunResult:
    err = check("Grafana health", Status.ERROR, 2, kind="http",
                reason="could not evaluate before the deadline: HTTP 503 Service Unavailable")
    levels = [LevelResult(1, Status.PASS, [check("CRDs installed", Status.PASS, 1)]),
              LevelResult(2, Status.ERROR, [err]), *skipped_levels(3, 2)]
    return RunResult(command="verify", stage="monitoring", started_at=STARTED, levels=levels)


def with_sections(pre_fails: bool = False) -> RunResult:
    pre_status = Status.FAIL if pre_fails else Status.PASS
    pre = Section("Pre-promotion", pre_status, [
        check("No running promotion", Status.PASS, 0, observed="none running"),
        check("Freight verified upstream", pre_status, 0, observed="not verified in staging",
              expected="verified in staging") if pre_fails else check("Freight verified upstream",
                                                                       Status.PASS, 0)])
    post = [Section("Post-promotion", Status.PASS, [check("Freight current", Status.PASS, 0)])]
    levels = [] if pre_fails else passing().levels
    return RunResult(command="promote", stage="prod", project="shop", freight="f-1", started_at=STARTED,
                     sections=[pre], levels=levels, post_sections=[] if pre_fails else post,
                     context={"promotion": "prod.01abc"}, notes=["Kargo verification is not configured"])


def interrupted() -> RunResult:
    levels = [LevelResult(1, Status.PASS, [check("CRDs installed", Status.PASS, 1)])]
    return RunResult(command="verify", stage="monitoring", started_at=STARTED, levels=levels,
                     interrupted=True)


def nasty() -> RunResult:
    """Markup, quotes, ANSI and control characters; float-sum durations; duplicate names."""
    rows = [check(NASTY, Status.FAIL, 1, observed=NASTY, expected="<none>", reason=NASTY,
                  evidence=[NASTY], output=f"line1\n{NASTY}\r\nline3", duration=0.1 + 0.2),
            check(NASTY, Status.PASS, 1, duration=0.1 + 0.2, time_to_pass=0.1 + 0.2),
            check("zero", Status.ERROR, 1, duration=0.0, reason="permission denied")]
    levels = [LevelResult(1, Status.FAIL, rows, duration=0.1 + 0.2 + 0.4), *skipped_levels(2, 1)]
    return RunResult(command="verify", stage="mon<&>", freight='f"1', started_at=STARTED, levels=levels)


def leaky() -> RunResult:
    """A registered secret in every free-text field."""
    row = check(f"secret {CANARY}", Status.FAIL, 1, observed=f"value {CANARY}", expected=CANARY,
                reason=f"saw {CANARY}", evidence=[f"data: {CANARY}"], output=f"token={CANARY}\n",
                hint=f"rotate {CANARY}")
    levels = [LevelResult(1, Status.FAIL, [row]), *skipped_levels(2, 1)]
    return RunResult(command="verify", stage="monitoring", freight=CANARY, started_at=STARTED,
                     levels=levels, notes=[f"note {CANARY}"], context={"token": CANARY})


ALL = {"passing": passing, "failing_l1": failing_l1, "erroring_l2": erroring_l2,
       "sections": with_sections, "pre_fails": lambda: with_sections(True), "interrupted": interrupted,
       "nasty": nasty, "leaky": leaky,
       "empty": lambda: RunResult(command="verify", stage="x", started_at=STARTED)}
