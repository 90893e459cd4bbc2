"""Reading an answer ahead of its parser (gate.engine.readahead): same pieces, same order, same errors,
the caller's deadline, and a reader that stops when the caller does."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from gate.engine import deadlines, readahead


def _source(n: int, fail: Exception | None = None, seen: list | None = None) -> Iterator[bytes]:
    try:
        for i in range(n):
            if seen is not None:
                seen.append((threading.current_thread().name, deadlines.remaining()))
            yield b"%d," % i
        if fail is not None:
            raise fail
    finally:
        if seen is not None:
            seen.append("closed")


@pytest.mark.parametrize("n", [0, 1, 2, 3, 200])
def test_the_pieces_come_through_whole_and_in_order(n):
    assert b"".join(readahead.ahead(_source(n), depth=4)) == b"".join(_source(n))


def test_an_error_reaches_the_caller_after_the_pieces_read_before_it():
    got = []
    with pytest.raises(OSError, match="connection cut"):
        for piece in readahead.ahead(_source(50, OSError("connection cut")), depth=4):
            got.append(piece)
    assert b"".join(got) == b"".join(_source(50))


def test_the_reader_works_under_the_callers_deadline():
    seen: list = []
    with deadlines.scope(time.monotonic() + 30.0):
        assert len(list(readahead.ahead(_source(20, seen=seen), depth=2))) == 20
    threads = {name for name, _ in seen[:-1]}
    assert "gate-read-ahead" in threads  # the pieces after the second were read by the reader thread
    assert all(left is not None and 0 < left <= 30.0 for _, left in seen[:-1])


def test_a_caller_that_stops_stops_the_reader():
    seen: list = []
    reader = readahead.ahead(_source(10_000, seen=seen), depth=2)
    assert next(reader) == b"0,"
    next(reader)
    next(reader)
    reader.close()
    ends = time.monotonic() + 5
    while "closed" not in seen and time.monotonic() < ends:
        time.sleep(0.01)
    assert "closed" in seen and len(seen) < 100  # read a few pieces ahead, then closed, not 10,000
