"""A closed stdout (`gate demo --list | head -1`) is not an error: the rest of the output goes nowhere
and the command ends with its own exit code (a verdict stays the verdict; a listing exits 0).

Click turns the first EPIPE into exit 1 and stops the command halfway; Python, into "Exception ignored"
at exit. Here the first BrokenPipeError points file descriptor 1 at /dev/null (as the Python docs advise
for SIGPIPE) and the write is taken as done, so the command goes on to its end.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any


class _PipeSafe:
    """Delegates to `stream`; a write or flush to a closed pipe sends the stream to /dev/null."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()

    def _to_devnull(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextlib.contextmanager
def closed_stdout_tolerated() -> Iterator[None]:
    original = sys.stdout
    sys.stdout = _PipeSafe(original)  # type: ignore[assignment]
    try:
        yield
    finally:
        if isinstance(sys.stdout, _PipeSafe):
            sys.stdout.flush()
            sys.stdout = original
