"""The real runner drives Progress, and its results go through every reporter."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

from gate.checks.base import Check, Clients

from gate.engine.plan import Plan, PlannedCheck
from gate.engine.progress import Progress
from gate.engine.runner import Runner
from gate.model import Observation, RunResult, Status
from gate.reports import render_json, render_junit, render_text


class Counting(Check):
    kind = "counting"

    def __init__(self, name: str, ready_after: int) -> None:
        super().__init__({}, name)
        self.ready_after, self.calls = ready_after, 0

    def observe(self, clients: Clients) -> Observation:
        self.calls += 1
        ready = min(self.calls, 3)
        return Observation(self.calls >= self.ready_after, f"{ready}/3 pods Ready", ">= 3 Ready")


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.001)


def run(checks: dict[int, list[Check]], progress: Progress, fake: FakeTime, timeout: float = 60.0):
    plan = Plan("monitoring", {n: [PlannedCheck(c, n, f"L{n}.{c.name}", timeout, 2.0, 4.0) for c in cs]
                               for n, cs in checks.items()})
    return Runner(Clients(), None, progress=progress, clock=fake.clock, sleep=fake.sleep).run(plan)


def test_runner_progress_lines_and_reports() -> None:
    fake, stream = FakeTime(), io.StringIO()
    progress = Progress(stream, live=False, first_after=0, every=0, clock=fake.clock)
    levels = run({1: [Counting("pods", ready_after=3)], 2: [Counting("never", ready_after=99)],
                  3: [Counting("later", 1)]}, progress, fake, timeout=20.0)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("… L1 pods: waiting ") and lines[0].endswith(
        "attempt 1: 1/3 pods Ready (want >= 3 Ready)")
    assert any("L2 never" in line and "attempt 2: 2/3 pods Ready" in line for line in lines)
    assert [lv.status for lv in levels] == [Status.PASS, Status.FAIL, Status.SKIPPED]

    result = RunResult(command="verify", stage="monitoring", levels=levels)
    text = render_text(result)
    assert "  [x] pods: 3/3 pods Ready (passed after " in text
    assert "Overall: FAIL at Level 2" in text and "Level 3 (Ingress & Auth): SKIPPED" in text
    root = ET.fromstring(render_junit(result))
    assert [s.get("failures") for s in root.findall("testsuite")] == ["0", "1", "0"]
    assert json.loads(render_json(result))["failed_level"] == 2
