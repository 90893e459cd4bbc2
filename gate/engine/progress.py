"""Progress lines for long waits, on stderr: what is being waited for and what was last seen.

`Progress` is the runner's progress callback. Lines are throttled per check (the first after
`first_after` seconds of waiting, then one every `every` seconds) so CI logs stay readable. In CI or
when stderr is not a terminal every line is a plain line; on an interactive terminal the latest
line is redrawn in place until something else is printed or `finish()` is called.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TextIO

from gate.engine import durations
from gate.reports.common import one_line

if TYPE_CHECKING:
    from gate.engine.runner import CheckState

CI_VARIABLES = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD")
PREFIX = "…"


def in_ci(env: Mapping[str, str]) -> bool:
    return any(env.get(name, "").lower() not in ("", "0", "false") for name in CI_VARIABLES)


def describe(state: CheckState, elapsed: float) -> str:
    """`L1 <check>: waiting 12s, attempt 5: 2/3 pods Ready (want >= 3)`, unredacted."""
    planned = state.planned
    from gate.engine.runner import row_name  # with its cluster, as the report names it

    where = f"L{planned.level} {row_name(planned)}" if planned.level else row_name(planned)
    if state.last_error is not None:
        seen = f"could not evaluate yet: {state.last_error}"
    elif state.last is not None:
        seen = state.last.observed or "no observation yet"
        if state.last.expected:
            seen += f" (want {state.last.expected})"
    else:
        seen = "no observation yet"
    return f"{where}: waiting {durations.format(elapsed)}, attempt {state.attempts}: {seen}"


class Progress:
    """Thread-safe, throttled progress printer; call it as `progress(state, elapsed)`."""

    def __init__(self, stream: TextIO | None = None, *, first_after: float = 5.0, every: float = 10.0,
                 quiet: bool = False, live: bool | None = None, env: Mapping[str, str] = os.environ,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.first_after = first_after
        self.every = every
        self.quiet = quiet
        self.clock = clock
        if live is None:
            isatty = getattr(self.stream, "isatty", lambda: False)
            live = bool(isatty()) and not in_ci(env)
        self.live = live
        self._lock = threading.Lock()
        self._printed_at: dict[str, float] = {}
        self._open_line = False  # live mode: a redrawable line is on screen without its newline

    def __call__(self, state: CheckState, elapsed: float) -> None:
        if self.quiet:
            return
        key = state.planned.id
        with self._lock:
            now = self.clock()
            last = self._printed_at.get(key)
            if last is None and elapsed < self.first_after:
                return
            if last is not None and now - last < self.every:
                return
            self._printed_at[key] = now
        self._emit(describe(state, elapsed), redraw=True)

    def note(self, text: str) -> None:
        """One unthrottled line for other phases (e.g. following a Promotion)."""
        if not self.quiet:
            self._emit(text, redraw=False)

    def finish(self) -> None:
        """End a redrawn line so the next output starts on its own line (live mode only)."""
        with self._lock:
            if self._open_line:
                self.stream.write("\n")
                self.stream.flush()
                self._open_line = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def _emit(self, text: str, *, redraw: bool) -> None:
        line = f"{PREFIX} {one_line(text)}"
        with self._lock:
            if self.live and redraw:
                width = shutil.get_terminal_size((120, 20)).columns - 1
                self.stream.write(f"\r\x1b[K{line[:width]}")
                self._open_line = True
            else:
                self.stream.write(("\r\x1b[K" if self._open_line else "") + line + "\n")
                self._open_line = False
            self.stream.flush()
