"""Deadlines that hold, for every request and command the gate makes.

The design in one paragraph: the runner knows each check's deadline (its `timeout`, capped by the run's
`--timeout`), but the clients that do the waiting (HttpClient, KubeClient, KargoClient, the `command`
check) are shared by every check and know nothing of checks. So the deadline travels with the thread
that does the work: the runner sets the *current deadline* (a ContextVar, so each worker thread has its
own) around each attempt with `scope()`, and every client asks it before it waits:

- `clamp(timeout)` gives a request the time left as its connect and read timeout (or raises
  `DeadlineExceeded` when none is left), so `request_timeout: 60s` cannot outlast `--timeout 5s`;
- `stop_at_deadline` ends a tenacity retry loop when the next sleep would pass the deadline, so no
  retry budget or Retry-After outlives it;
- `read_body()` reads an answer in pieces and stops at the deadline, so a body that trickles in one
  byte a second is cut there (a socket read timeout alone restarts with every byte).

The run's wall (`start_run`, set once when a command opens its session) is a floor under every current
deadline, so calls made outside the runner (discovery, the RBAC preflight, Kargo reads) are held to
`--timeout` too. Times are `time.monotonic()` seconds.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any

from gate.errors import EvaluationError

MIN_REQUEST = 0.05  # less time than this left: do not start a request at all
CHUNK = 64 * 1024
PIECE = 256 * 1024  # what pieces() joins small chunks up to
TIMEOUT_REFRESH = 0.05  # seconds between two settimeout calls while a body is read (_each)

_run_wall: float | None = None
_current: ContextVar[float | None] = ContextVar("gate_deadline", default=None)


class DeadlineExceeded(EvaluationError):
    """The deadline passed before an answer was complete. Not transient: nothing is retried past it."""


def start_run(timeout: float | None) -> float | None:
    """Start the run's wall clock: `timeout` seconds from now (None: no wall). Returns the deadline."""
    global _run_wall
    _run_wall = time.monotonic() + timeout if timeout else None
    return _run_wall


def run_wall() -> float | None:
    return _run_wall


RESERVE_SHARE, RESERVE_MAX = 0.10, 2.0  # of the run's wall, kept back from the levels for the diagnosis


@contextlib.contextmanager
def reserve() -> Iterator[None]:
    """Hold back a slice of the run's wall (10 %, at most 2 s) from what runs inside (the levels), so a
    failure found at the wall can still be diagnosed before it: --timeout bounds the whole command."""
    wall = run_wall()
    if wall is None:
        yield
        return
    left = wall - time.monotonic()
    start_run(max(1e-3, left - min(RESERVE_MAX, RESERVE_SHARE * left)))
    try:
        yield
    finally:
        start_run(max(1e-3, wall - time.monotonic()))  # the same wall as before


def current() -> float | None:
    """The earliest of the run's wall and the deadline of the attempt this thread is making."""
    found = [d for d in (_run_wall, _current.get()) if d is not None]
    return min(found) if found else None


@contextlib.contextmanager
def scope(deadline: float | None) -> Iterator[None]:
    """Make `deadline` the current one for this thread (the runner wraps each attempt in this)."""
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


def remaining() -> float | None:
    """Seconds left before the current deadline (negative when passed); None when there is none."""
    deadline = current()
    return None if deadline is None else deadline - time.monotonic()


def passed() -> bool:
    """True when a current deadline exists and (all but) passed: a timeout now is the deadline's doing."""
    left = remaining()
    return left is not None and left < MIN_REQUEST


def clamp(timeout: float | None, what: str = "the request") -> float | None:
    """`timeout`, or the time left if that is shorter. Raises DeadlineExceeded when none is left."""
    left = remaining()
    if left is None:
        return timeout
    if left < MIN_REQUEST:
        raise DeadlineExceeded(f"the deadline passed before {what}")
    return left if timeout is None or not math.isfinite(timeout) else min(timeout, left)


def stop_at_deadline(retry_state: Any) -> bool:
    """tenacity stop: no further try when the sleep before it would end past the current deadline."""
    left = remaining()
    if left is None:
        return False
    return left - (getattr(retry_state, "upcoming_sleep", 0.0) or 0.0) < MIN_REQUEST


def read_body(resp: Any, what: str = "the answer") -> bytes:
    """The whole body of a urllib3 response (`preload_content=False`), read in pieces as they arrive,
    each read's socket timeout the time left; raises DeadlineExceeded when the deadline comes first."""
    return b"".join(pieces(resp, what))


def pieces(resp: Any, what: str = "the answer", size: int = PIECE) -> Iterator[bytes]:
    """The body of a urllib3 response in pieces of about `size` bytes as they arrive, under the deadline as
    read_body(); the connection goes back to the pool after the last piece.

    A chunked answer (the API server sends every list over ~2 kB chunked, often a chunk per object) is
    read with urllib3's read_chunked(), a call per chunk, and joined here: read1() hands back one chunk
    per call through more layers (20,000 pods from kube-apiserver v1.36, 128 MB: 0.6-1.2 s of CPU with
    read1(), 0.33-0.40 s with read_chunked())."""
    try:
        chunked = bool(getattr(resp, "chunked", False)) and hasattr(resp, "read_chunked") \
            and resp.supports_chunked_reads()
        if chunked:
            yield from _joined(_each(resp, what, lambda: resp.read_chunked(CHUNK, decode_content=True)), size)
        else:
            yield from _each(resp, what, lambda: iter(
                lambda: resp.read1(CHUNK, decode_content=True) if hasattr(resp, "read1") else resp.read(CHUNK),
                b""))
    except DeadlineExceeded:
        _close(resp)
        raise
    except GeneratorExit:  # the reader stopped early: the rest of the body is not read, so never reused
        _close(resp)
        raise
    except Exception:
        _close(resp)
        left = remaining()
        if left is not None and left <= MIN_REQUEST:
            raise DeadlineExceeded(f"{what}: the body was still arriving at the deadline") from None
        raise
    with contextlib.suppress(Exception):
        resp.release_conn()


def _each(resp: Any, what: str, reads: Callable[[], Iterator[bytes]]) -> Iterator[bytes]:
    """The pieces `reads()` yields, each socket read bounded by the time left. The socket's timeout is
    set again at most every TIMEOUT_REFRESH seconds, not before each of a list's 40,000 chunks:
    settimeout releases the GIL around its fcntl calls, and with other lists parsed in other threads (a
    level's checks run at once) each release could wait for the GIL back. A read may end up to
    TIMEOUT_REFRESH after the deadline."""
    last = -math.inf

    def bound() -> None:
        nonlocal last
        left = remaining()
        if left is not None:
            if left <= 0:
                raise DeadlineExceeded(f"{what}: the body was still arriving at the deadline")
            now = time.monotonic()
            if now - last >= TIMEOUT_REFRESH:
                _socket_timeout(resp, left)
                last = now

    bound()
    for data in reads():
        if data:
            yield data
        bound()


def _joined(parts: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Small pieces joined up to `size` bytes, so a reader handles a few hundred pieces, not 40,000."""
    held: list[bytes] = []
    total = 0
    for data in parts:
        held.append(data)
        total += len(data)
        if total >= size:
            yield b"".join(held)
            held, total = [], 0
    if held:
        yield b"".join(held)


def read_piece(resp: Any, what: str = "the answer", *, wait: float | None = None) -> bytes:
    """The next piece of a streamed urllib3 response as soon as any of it arrives (b"" at its end), for a
    stream read line by line (a watch), whose whole body never ends. The socket waits at most `wait`
    seconds and never past the current deadline; DeadlineExceeded when the deadline comes first, so a line
    that trickles in a byte at a time is cut there. A `wait` of silence raises the transport's timeout."""
    left = remaining()
    if left is not None and left < MIN_REQUEST:
        _close(resp)
        raise DeadlineExceeded(f"{what}: the deadline passed while the stream was open")
    limits = [x for x in (wait, left) if x is not None]
    if limits:
        _socket_timeout(resp, min(limits))
    try:
        return resp.read1(CHUNK, decode_content=True) if hasattr(resp, "read1") else resp.read(CHUNK)
    except Exception:
        if passed():
            _close(resp)
            raise DeadlineExceeded(f"{what}: the deadline passed while the stream was open") from None
        raise


def load(resp: Any, what: str = "the answer") -> Any:
    """A `requests` response asked for with stream=True, its body read under the deadline (read_body):
    requests' read timeout holds per socket read, so a body that trickles in would never trip it.
    Returns `resp` with .content/.text/.json() ready; the connection goes back to the pool."""
    with resp:
        resp._content = read_body(resp.raw, what)  # noqa: SLF001
        resp._content_consumed = True  # noqa: SLF001
    return resp


def _socket_timeout(resp: Any, seconds: float) -> None:
    """Best effort: the next socket read of `resp` waits at most `seconds`."""
    sock = getattr(getattr(resp, "_connection", None), "sock", None)
    if sock is None:  # http.client response inside: fp (BufferedReader) -> SocketIO -> socket
        fp = getattr(getattr(resp, "_fp", None), "fp", None)
        sock = getattr(getattr(fp, "raw", None), "_sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.settimeout(max(0.01, seconds))


def _close(resp: Any) -> None:
    with contextlib.suppress(Exception):
        resp.close()
