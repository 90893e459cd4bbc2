"""Progress lines while the runner waits: throttled, one line at a time, redacted."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from gate import redact
from gate.engine.progress import Progress, in_ci
from gate.errors import TransientError
from gate.model import Observation


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def state(check_id: str = "L1.pods", attempts: int = 5, last=None, error=None):
    planned = SimpleNamespace(id=check_id, level=1, label="", check=SimpleNamespace(name="pods", kind="pods"))
    return SimpleNamespace(planned=planned, attempts=attempts, last=last, last_error=error)


OBS = Observation(ok=False, observed="2/3 pods Ready", expected=">= 3")


def make(**kw) -> tuple[Progress, io.StringIO, Clock]:
    stream, clock = io.StringIO(), Clock()
    return Progress(stream, clock=clock, live=False, **kw), stream, clock


@pytest.fixture(autouse=True)
def _clear() -> Iterator[None]:
    yield
    redact.clear()


def test_line_format() -> None:
    progress, stream, _ = make()
    progress(state(last=OBS), 12.0)
    assert stream.getvalue() == "… L1 pods: waiting 12s, attempt 5: 2/3 pods Ready (want >= 3)\n"


def test_last_error_is_shown() -> None:
    progress, stream, _ = make()
    progress(state(error=TransientError("HTTP 503 Service Unavailable")), 6.0)
    assert stream.getvalue().endswith("attempt 5: could not evaluate yet: HTTP 503 Service Unavailable\n")


def test_throttling_first_after_5s_then_every_10s_per_check() -> None:
    progress, stream, clock = make()
    for elapsed in (1, 3, 4.9, 5, 8, 14.9, 15, 24, 25):
        clock.now = 1000.0 + elapsed
        progress(state(last=OBS), elapsed)
    waits = [line.split("waiting ")[1].split(",")[0] for line in stream.getvalue().splitlines()]
    assert waits == ["5s", "15s", "25s"]
    other = state("L1.crds", last=OBS)
    progress(other, 5.0)  # another check has its own schedule
    assert stream.getvalue().count("\n") == 4


def test_configurable_and_quiet() -> None:
    progress, stream, clock = make(first_after=0, every=1)
    progress(state(last=OBS), 0.1)
    clock.now += 1
    progress(state(last=OBS), 1.1)
    assert stream.getvalue().count("\n") == 2
    quiet, qstream, _ = make(quiet=True)
    quiet(state(last=OBS), 100)
    quiet.note("following promotion")
    assert qstream.getvalue() == ""


def test_note_is_never_throttled_and_redacted() -> None:
    redact.register("s3cr3t-canary")
    progress, stream, _ = make()
    progress.note("promotion prod.01 Running \x1b[31ms3cr3t-canary\x1b[0m")
    progress.note("promotion prod.01 Running")
    assert stream.getvalue() == "… promotion prod.01 Running ***\n… promotion prod.01 Running\n"


def test_observation_is_redacted() -> None:
    redact.register("s3cr3t-canary")
    progress, stream, _ = make()
    progress(state(last=Observation(ok=False, observed="key=s3cr3t-canary", expected="x")), 9)
    assert "s3cr3t-canary" not in stream.getvalue() and "key=***" in stream.getvalue()


def test_ci_detection_and_non_tty_default_to_plain_lines() -> None:
    assert in_ci({"GITHUB_ACTIONS": "true"}) and in_ci({"GITLAB_CI": "true"}) and in_ci({"CI": "1"})
    assert not in_ci({}) and not in_ci({"CI": "false"})

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert Progress(io.StringIO(), env={}).live is False
    assert Progress(Tty(), env={"CI": "true"}).live is False
    assert Progress(Tty(), env={}).live is True


def test_live_mode_redraws_and_finish_ends_the_line() -> None:
    stream, clock = io.StringIO(), Clock()
    progress = Progress(stream, clock=clock, live=True, first_after=0, every=0)
    progress(state(last=OBS), 1)
    progress(state(last=OBS), 2)
    assert "\n" not in stream.getvalue() and stream.getvalue().count("\r\x1b[K") == 2
    progress.finish()
    assert stream.getvalue().endswith("\n")
    progress.finish()
    assert not stream.getvalue().endswith("\n\n")


def test_thread_safe_whole_lines() -> None:
    stream = io.StringIO()
    progress = Progress(stream, first_after=0, every=0, live=False)

    def hammer(n: int) -> None:
        for i in range(200):
            progress(state(f"L1.c{n}", last=OBS), float(i))

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 800 and all(line.startswith("… L1 pods: waiting ") for line in lines)
