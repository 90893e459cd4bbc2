"""Injected faults: latency, error statuses (5xx, 429 with Retry-After) and dropped connections,
for requests whose path matches a regex, for the first N matches and/or inside a time window."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from gate import durations


@dataclass
class Fault:
    path: re.Pattern[str]
    method: str | None = None
    status: int | None = None
    retry_after: str | None = None
    latency: float = 0.0
    drop: bool = False
    count: int | None = None  # first N matching requests; None = unlimited
    start: float | None = None  # scenario seconds
    end: float | None = None
    message: str = ""
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Fault:
        window = raw.get("window")
        start = end = None
        if window:
            start, end = (durations.parse(w) for w in window)
        if raw.get("after") is not None:
            start = durations.parse(raw["after"])
        if raw.get("until") is not None:
            end = durations.parse(raw["until"])
        retry_after = raw.get("retry_after", raw.get("retryAfter"))
        return cls(
            path=re.compile(raw.get("path", raw.get("match", ".*"))),
            method=(raw.get("method") or "").upper() or None,
            status=raw.get("status"),
            retry_after=None if retry_after is None else str(retry_after),
            latency=durations.parse(raw.get("latency", 0)),
            drop=bool(raw.get("drop")),
            count=raw.get("count"),
            start=start,
            end=end,
            message=raw.get("message", ""),
        )

    def take(self, method: str, path: str, now: float) -> bool:
        """True when this fault applies to the request (and counts it)."""
        if self.method and self.method != method:
            return False
        if not self.path.search(path):
            return False
        if self.start is not None and now < self.start:
            return False
        if self.end is not None and now >= self.end:
            return False
        with self._lock:
            if self.count is not None and self.hits >= self.count:
                return False
            self.hits += 1
        return True


class Faults:
    def __init__(self, raw: list[dict] | None = None) -> None:
        self._lock = threading.Lock()
        self._faults = [Fault.parse(f) for f in raw or []]

    def add(self, raw: dict[str, Any]) -> Fault:
        fault = Fault.parse(raw)
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def match(self, method: str, path: str, now: float) -> list[Fault]:
        with self._lock:
            faults = list(self._faults)
        return [f for f in faults if f.take(method, path, now)]
