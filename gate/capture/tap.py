"""The hook the shared clients call: `current` is the active Recorder/Replayer, or None.

Kept to the standard library modules a run has loaded anyway, so the clients pay one module attribute read
per request when nothing is captured.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

current: Any = None  # gate.capture.record.Recorder or gate.capture.replay.Replayer


def activate(tap: Any) -> None:
    global current
    current = tap


def deactivate() -> None:
    global current
    current = None


@contextmanager
def recording(recorder: Any) -> Iterator[Any]:
    """Record with `recorder` while the block runs, with watches off (GATE_WATCH=0): every list is then read
    by a request the recorder sees (a watch's events are not); the environment is restored after."""
    saved = os.environ.get("GATE_WATCH")
    os.environ["GATE_WATCH"] = "0"
    activate(recorder)
    try:
        yield recorder
    finally:
        deactivate()
        if saved is None:
            os.environ.pop("GATE_WATCH", None)
        else:
            os.environ["GATE_WATCH"] = saved
