"""A one-line progress note on stderr for lint runs past ~1 s, only when stderr is a terminal (a CI log or
a redirect gets nothing), overwritten in place and cleared at the end."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TextIO

AFTER = 1.0  # seconds before the first note
EVERY = 0.1  # at most ten redraws a second


class Progress:
    def __init__(self, stream: TextIO, clock: type = time) -> None:
        self.stream, self.clock = stream, clock
        self.enabled = bool(getattr(stream, "isatty", lambda: False)())
        self.start = clock.monotonic()
        self.last = 0.0
        self.files = 0
        self.shown = False

    def _show(self, text: str, force: bool = False) -> None:
        now = self.clock.monotonic()
        if not self.enabled or now - self.start < AFTER or (not force and now - self.last < EVERY):
            return
        self.last, self.shown = now, True
        self.stream.write(f"\r\x1b[Kgate lint: {text} ({now - self.start:.0f}s)"[:200])
        self.stream.flush()

    def file(self, name: str) -> None:
        self.files += 1
        self._show(f"read {self.files} files, reading {name}")

    def phase(self, name: str) -> None:
        self._show(f"{name} ({self.files} files read)", force=True)

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
