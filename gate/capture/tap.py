"""The hook the shared clients call: `current` is the active Recorder/Replayer, or None.

Kept free of imports so the clients pay one module attribute read per request when nothing is captured.
"""

from __future__ import annotations

from typing import Any

current: Any = None  # gate.capture.record.Recorder or gate.capture.replay.Replayer


def activate(tap: Any) -> None:
    global current
    current = tap


def deactivate() -> None:
    global current
    current = None
