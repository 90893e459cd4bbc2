"""The level runner: order, stop at the first failing level, polling until a deadline, error handling."""

from __future__ import annotations

import threading
import time

from gate.checks.base import Check, Clients

from gate.engine.plan import Plan, PlannedCheck
from gate.engine.runner import Runner
from gate.errors import PermissionDenied, TransientError
from gate.model import Observation, Status


class Scripted(Check):
    """Answers from a script: each attempt takes the next item (an Observation or an exception)."""

    kind = "scripted"

    def __init__(self, name: str, script: list) -> None:
        super().__init__({}, name)
        self.script = list(script)
        self.calls = 0

    def observe(self, clients: Clients) -> Observation:
        self.calls += 1
        item = self.script[min(self.calls, len(self.script)) - 1]
        if isinstance(item, Exception):
            raise item
        return item


def ok(text: str = "fine") -> Observation:
    return Observation(True, text, "fine")


def bad(text: str = "broken") -> Observation:
    return Observation(False, text, "fine")


def plan_of(levels: dict[int, list[Check]], timeout: float = 2.0, interval: float = 0.05) -> Plan:
    return Plan("demo", {n: [PlannedCheck(c, n, f"L{n}.{c.name}", timeout, interval, interval * 2)
                             for c in checks] for n, checks in levels.items()})


def run(plan: Plan, **kw) -> list:
    return Runner(Clients(), None, **kw).run(plan)


def test_all_levels_pass_in_order() -> None:
    levels = run(plan_of({1: [Scripted("a", [ok()])], 2: [Scripted("b", [ok()])]}))
    assert [lv.number for lv in levels] == [1, 2]
    assert [lv.status for lv in levels] == [Status.PASS, Status.PASS]
    assert levels[0].checks[0].attempts == 1
    assert levels[0].checks[0].time_to_pass is not None


def test_first_failing_level_stops_the_run_and_later_levels_are_skipped() -> None:
    never = Scripted("never", [ok()])
    levels = run(plan_of({1: [Scripted("bad", [bad("2/3 pods Ready")])], 2: [never], 3: [Scripted("c", [ok()])]},
                         timeout=0.3))
    assert [lv.status for lv in levels] == [Status.FAIL, Status.SKIPPED, Status.SKIPPED]
    assert never.calls == 0
    failed = levels[0].checks[0]
    assert failed.attempts > 1, "a wrong answer is polled until the deadline"
    assert "2/3 pods Ready" in failed.reason
    assert levels[1].checks[0].status == Status.SKIPPED
    assert "Level 1" in levels[1].checks[0].reason


def test_check_passes_once_condition_turns_true() -> None:
    check = Scripted("late", [bad(), bad(), ok("ready now")])
    levels = run(plan_of({1: [check]}))
    result = levels[0].checks[0]
    assert result.status == Status.PASS and result.attempts == 3
    assert result.observed == "ready now"


def test_transient_errors_are_retried_then_pass() -> None:
    check = Scripted("flaky", [TransientError("HTTP 503"), TransientError("HTTP 503"), ok()])
    assert run(plan_of({1: [check]}))[0].checks[0].status == Status.PASS


def test_transient_until_deadline_is_an_error_not_a_failure() -> None:
    check = Scripted("down", [TransientError("connection refused")])
    result = run(plan_of({1: [check]}, timeout=0.3))[0].checks[0]
    assert result.status == Status.ERROR
    assert "connection refused" in result.reason


def test_permission_denied_ends_the_check_at_once() -> None:
    check = Scripted("rbac", [PermissionDenied("forbidden: the gate may not list pods in namespace x")])
    levels = run(plan_of({1: [check], 2: [Scripted("b", [ok()])]}))
    assert check.calls == 1
    assert levels[0].status == Status.ERROR
    assert "list pods" in levels[0].checks[0].reason
    assert levels[1].status == Status.SKIPPED


def test_final_observation_fails_without_waiting() -> None:
    check = Scripted("final", [Observation(False, "no such CRD kind", "served", final=True)])
    result = run(plan_of({1: [check]}, timeout=5))[0].checks[0]
    assert result.status == Status.FAIL and check.calls == 1


def test_a_crashing_check_is_an_error_never_a_pass() -> None:
    check = Scripted("bug", [ZeroDivisionError("boom")])
    result = run(plan_of({1: [check]}))[0].checks[0]
    assert result.status == Status.ERROR and "ZeroDivisionError" in result.reason


def test_overall_timeout_bounds_every_check() -> None:
    started = time.monotonic()
    levels = run(plan_of({1: [Scripted("slow", [bad()])]}, timeout=60), timeout=0.4)
    assert time.monotonic() - started < 3
    assert levels[0].status == Status.FAIL


def test_checks_of_a_level_run_concurrently() -> None:
    barrier = threading.Barrier(3, timeout=2)

    class Meet(Check):
        kind = "meet"

        def observe(self, clients: Clients) -> Observation:
            barrier.wait()  # only returns if all three are in flight at once
            return ok()

    levels = run(plan_of({1: [Meet({}, f"m{i}") for i in range(3)]}))
    assert levels[0].status == Status.PASS


def test_backoff_grows_but_is_capped() -> None:
    stamps: list[float] = []

    class Stamp(Check):
        kind = "stamp"

        def observe(self, clients: Clients) -> Observation:
            stamps.append(time.monotonic())
            return bad()

    plan = Plan("demo", {1: [PlannedCheck(Stamp({}, "s"), 1, "L1.s", timeout=1.5, interval=0.05,
                                          max_interval=0.2)]})
    run(plan)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert len(gaps) >= 4
    assert gaps[-2] > gaps[0], "intervals grow"
    assert max(gaps) < 0.2 + 0.05 + 0.1, "and stay under the cap (plus jitter and slack)"


def test_a_failing_check_is_not_hammered_near_its_deadline() -> None:
    check = Scripted("bad", [bad()])
    plan = Plan("demo", {1: [PlannedCheck(check, 1, "L1.bad", timeout=1.0, interval=0.2, max_interval=0.4)]})
    run(plan)
    # 0, 0.2, 0.5, ~0.95: a handful of attempts, never a busy loop at the deadline
    assert 3 <= check.calls <= 6
