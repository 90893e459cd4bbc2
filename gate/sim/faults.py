"""Injected faults, for requests whose path matches a regex, for the first N matches and/or inside a
time window:

- transport: `latency` (before answering), `drop` (close the connection, no answer), `trickle` (send the
  answer in small pieces, this long apart), `short_read` (announce the whole body, send half, close);
- status: `status` (5xx, 429 with `retry_after`): a Status body with that code;
- body: the request is served as usual, then its body is replaced (the status stays unless `status`
  is given too): `body` (any YAML value, sent as JSON: `body: {}`, `body: null`, `body: {items: null}`),
  `raw_body` (exact text: `""` for an empty body, `'{"items": ['` for malformed JSON), `truncate`
  (keep this fraction of the real body, cut mid-JSON, with a Content-Length that matches), `stale`
  (serve the first answer recorded for the same method, path and query), or `shape`, a named preset
  (SHAPES) the fault campaign draws from.

`method: WATCH` matches only watch requests (GET with `?watch=1`); `method: GET` matches both.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import Any

from gate.engine import durations
from gate.sim.scenario import ScenarioError

_UNSET: Any = object()

# Named body faults: replacement body (JSON-encoded), or a transformation of the real answer.
SHAPES: dict[str, dict[str, Any]] = {
    "empty-object": {"body": {}},
    "null": {"body": None},
    "empty": {"raw_body": ""},
    "items-null": {"body": {"items": None}},
    "items-object": {"body": {"items": {}}},
    "status-failure": {"status_failure": True},
    "truncated": {"truncate": 0.5},
    "malformed": {"raw_body": '{"kind": "List", "items": [{"metadata": }'},
    "html": {"raw_body": "<html><body>502 Bad Gateway</body></html>"},
    "stale": {"stale": True},
    "prom-no-data": {"body": {"status": "success"}},
    "prom-data-null": {"body": {"status": "success", "data": None}},
    "prom-unknown-type": {"body": {"status": "success", "data": {"resultType": "table", "result": []}}},
    "prom-bad-value": {"body": {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1700000000, "not-a-number"]}]}}},
}


@dataclass
class Fault:
    path: re.Pattern[str]
    method: str | None = None
    status: int | None = None
    retry_after: str | None = None
    latency: float = 0.0
    drop: bool = False
    trickle: float = 0.0  # seconds between pieces of the body
    short_read: bool = False
    body: Any = _UNSET  # replacement JSON value
    raw_body: str | None = None  # replacement text, as is
    truncate: float | None = None  # fraction of the real body kept
    stale: bool = False
    status_failure: bool = False  # a `kind: Status, status: Failure` body under the real status
    shape: str | None = None
    count: int | None = None  # first N matching requests; None = unlimited
    start: float | None = None  # scenario seconds
    end: float | None = None
    message: str = ""
    hits: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Fault:
        raw = dict(raw)
        shape = raw.get("shape")
        if shape is not None:
            if shape not in SHAPES:
                raise ScenarioError(f"unknown fault shape {shape!r} (known: {', '.join(sorted(SHAPES))})")
            raw = {**SHAPES[shape], **raw}
        window = raw.get("window")
        start = end = None
        if window:
            start, end = (durations.parse(w) for w in window)
        if raw.get("after") is not None:
            start = durations.parse(raw["after"])
        if raw.get("until") is not None:
            end = durations.parse(raw["until"])
        retry_after = raw.get("retry_after", raw.get("retryAfter"))
        truncate = raw.get("truncate")
        if truncate is True:
            truncate = 0.5
        return cls(
            path=re.compile(raw.get("path", raw.get("match", ".*"))),
            method=(raw.get("method") or "").upper() or None,
            status=raw.get("status"),
            retry_after=None if retry_after is None else str(retry_after),
            latency=durations.parse(raw.get("latency", 0)),
            drop=bool(raw.get("drop")),
            trickle=durations.parse(raw.get("trickle", 0)),
            short_read=bool(raw.get("short_read")),
            body=raw.get("body", _UNSET),
            raw_body=None if raw.get("raw_body") is None else str(raw["raw_body"]),
            truncate=None if truncate in (None, False) else float(truncate),
            stale=bool(raw.get("stale")),
            status_failure=bool(raw.get("status_failure")),
            shape=shape,
            count=raw.get("count"),
            start=start,
            end=end,
            message=raw.get("message", ""),
        )

    @property
    def replaces_body(self) -> bool:
        """The real answer is computed, then its body (and maybe status) replaced."""
        return (self.body is not _UNSET or self.raw_body is not None or self.truncate is not None
                or self.stale or self.status_failure)

    def take(self, method: str, path: str, now: float) -> bool:
        """True when this fault applies to the request (and counts it)."""
        if self.method and self.method != method and not (self.method == "GET" and method == "WATCH"):
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
