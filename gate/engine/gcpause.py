"""The cyclic garbage collector paused while the gate makes many objects that live on (lists read).

Parsing a list's page allocates ~10^5 objects; with 20,000 projected objects already alive, the
collections that triggers each walk all of them: half the time of a 20,000-pod list. JSON makes no
cycles, so nothing is left for the collector; it runs again (if it was on) when the last concurrent
user is done.

The objects made meanwhile then go straight to the oldest generation (gc.freeze, gc.unfreeze: no object
is visited): left young, the first two collections after it would each walk every one of them (20,000
pods and 2,000 Applications: ~40 ms on this machine's kube-apiserver benchmark, bench_scale.py). They
stay collectable: a full collection still visits them, as it visits every survivor.

The process's start-up (start_up() .. end_start_up(): gate.entry, gate.session) collects rarely instead:
imports, the spec and the plan make objects that live to the end and no garbage, yet set off 73
collections (15 ms) before the scale run's first request. Rarely, not never: a command that opens no
session (a long `gate sim`) still collects.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_users = 0
_was_enabled = False
START_UP_THRESHOLD = 100_000  # allocations between two young collections during start-up (default 700)
_saved: tuple[int, ...] | None = None  # the thresholds before start_up()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside; thread-safe, nested and concurrent users share one pause."""
    with _lock:
        _enter()
    try:
        yield
    finally:
        with _lock:
            _leave()


def start_up() -> None:
    """The start-up begins: young collections are rare until end_start_up()."""
    global _saved
    with _lock:
        if _saved is None:
            _saved = gc.get_threshold()
            if _saved[0]:  # 0: the caller turned automatic collection off; kept so
                gc.set_threshold(START_UP_THRESHOLD, *_saved[1:])


def end_start_up() -> None:
    """The start-up is over (the session is open, or the command ended without one): the thresholds as
    they were, and what start-up made in the oldest generation (it lives to the end). Idempotent."""
    global _saved
    with _lock:
        if _saved is not None:
            gc.set_threshold(*_saved)
            _saved = None
            gc.freeze()
            gc.unfreeze()


def _enter() -> None:
    global _users, _was_enabled
    if _users == 0:
        _was_enabled = gc.isenabled()
        gc.disable()
    _users += 1


def _leave() -> None:
    global _users
    _users -= 1
    if _users == 0 and _was_enabled:
        gc.freeze()
        gc.unfreeze()
        gc.enable()
