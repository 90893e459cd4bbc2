"""The cyclic garbage collector paused while the gate makes many objects that live on (lists read).

Parsing a list's page allocates ~10^5 objects; with 20,000 projected objects already alive, the
collections that triggers each walk all of them: half the time of a 20,000-pod list. JSON makes no
cycles, so nothing is left for the collector; it runs again (if it was on) when the last concurrent
user is done.

The objects made meanwhile then go straight to the oldest generation (gc.freeze, gc.unfreeze: no object
is visited): left young, the first two collections after it would each walk every one of them (20,000
pods and 2,000 Applications: ~40 ms on this machine's kube-apiserver benchmark, bench_scale.py). They
stay collectable: a full collection still visits them, as it visits every survivor.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

_lock = threading.Lock()
_users = 0
_was_enabled = False


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside; thread-safe, nested and concurrent users share one pause."""
    global _users, _was_enabled
    with _lock:
        if _users == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0 and _was_enabled:
                gc.freeze()
                gc.unfreeze()
                gc.enable()
