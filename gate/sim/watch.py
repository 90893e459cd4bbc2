"""Watches, as the apiserver serves them: `GET <collection>?watch=1&resourceVersion=RV` answers a
stream of JSON lines `{"type": ADDED|MODIFIED|DELETED|BOOKMARK|ERROR, "object": ...}`.

Upstream: k8s.io/apiserver pkg/endpoints/handlers/watch.go (one JSON object per line, `Transfer-Encoding:
chunked`); pkg/storage/cacher/watch_cache.go (a bounded window of past events: a resourceVersion older
than the window is `410 Gone` "too old resource version", sent as an ERROR event carrying a Status);
bookmarks only when asked (`allowWatchBookmarks=true`), an object of the kind with just
metadata.resourceVersion. An object that stops matching the watch's selectors is sent as DELETED, one
that starts matching as ADDED (pkg/storage/cacher/cacher.go, watchCacheEvent's PrevObject).
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from gate.sim.http import SimResponse, compact, status_body
from gate.sim.kinds import ResourceType
from gate.sim.store import Store, split_api_version

HISTORY = 1000  # events kept for resuming watches (the watch cache's window)
BOOKMARK_EVERY = 1.0  # seconds between bookmarks (the apiserver's are rarer; a short one tests them)
_END = object()
BATCH = 256 * 1024
INITIAL_EVENTS_END = "k8s.io/initial-events-end"


class WatchHub:
    """Every write of the store, numbered by resourceVersion, fanned out to the open watches."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._history: deque[tuple[int, str, str, str, dict]] = deque(maxlen=HISTORY)
        self._oldest = int(store.resource_version)  # a watch from before this is 410
        self._queues: list[queue.Queue] = []
        store.on_change(self._changed)

    def _changed(self, event: str, obj: dict) -> None:
        api_version, kind = obj.get("apiVersion") or "", obj.get("kind") or ""
        group, _ = split_api_version(api_version)
        meta = obj.setdefault("metadata", {})
        if event == "DELETED":  # the deletion has its own resourceVersion, as in etcd
            meta["resourceVersion"] = self.store.resource_version
        rv = int(meta.get("resourceVersion") or self.store.resource_version)
        entry = (rv, event, group, kind, obj)
        with self._lock:
            if len(self._history) == self._history.maxlen:
                self._oldest = self._history[0][0]
            self._history.append(entry)
            for q in self._queues:
                q.put(entry)

    def expire(self) -> None:
        """Forget the history (an etcd compaction): open watches get `410 Gone`, and so does any watch
        resuming from a resourceVersion before now."""
        with self._lock:
            self._history.clear()
            self._oldest = int(self.store.resource_version)
            for q in self._queues:
                q.put(_END)

    def serve(self, rt: ResourceType, namespace: str | None, since: str | None, bookmarks: bool,
              timeout: float | None, matches: Callable[[dict], bool], *, initial: bool = False) -> SimResponse:
        """`initial` (sendInitialEvents=true, KEP-3157): the current objects as ADDED events whatever
        `since` says (the store is always newer than any version a client holds: NotOlderThan), then,
        with `bookmarks`, a BOOKMARK annotated k8s.io/initial-events-end at the snapshot's version
        (apiserver pkg/storage/cacher/cacher.go, pkg/storage/util.go AnnotateInitialEventsEndBookmark)."""
        if initial:
            since = None
        q: queue.Queue = queue.Queue()
        with self._lock:
            start = int(since) if since and since.isdigit() and since != "0" else None
            too_old = start is not None and start < self._oldest
            if start is None:  # "0"/absent: the current state as ADDED events first
                current, _ = self.store.select(rt.group, rt.plural, namespace, lambda o: True)  # shallow copies
                backlog = [(int(o["metadata"].get("resourceVersion") or 0), "ADDED", rt.group, rt.kind, o)
                           for o in current]
                start = int(self.store.resource_version)
            else:
                backlog = [e for e in self._history if e[0] > start]
            if not too_old:
                self._queues.append(q)
        if too_old:
            gone = status_body(410, "Expired", f"too old resource version: {since} ({self._oldest})")
            return SimResponse(200, iter([event_line("ERROR", gone)]), {"Content-Type": "application/json"})
        # a fresh start knows nothing yet: its backlog goes out as ADDED events, as the watch cache sends the
        # current state (k8s.io/apiserver pkg/storage/cacher/watch_cache.go:901-909, watch_cache_interval.go:162)
        seen: set | None = set() if since in (None, "", "0") else None
        stream = self._stream(q, backlog, rt, namespace, start, bookmarks, timeout, matches, seen,
                              initial and bookmarks)
        return SimResponse(200, stream, {"Content-Type": "application/json"})

    def _stream(self, q: queue.Queue, backlog: list, rt: ResourceType, namespace: str | None, rv: int,
                bookmarks: bool, timeout: float | None, matches: Callable[[dict], bool],
                seen: set | None, end_of_initial: bool = False) -> Iterator[bytes]:
        # Objects known to match; None: not known (a resumed watch), so a non-match is sent as DELETED
        # once for objects of the watched scope, which the client ignores when it does not hold them.
        known: set = seen if seen is not None else set()
        ends = time.monotonic() + timeout if timeout else None
        try:
            batch = bytearray()  # the backlog's lines in pieces of ~256 KB, as a server's buffered writer
            for entry in backlog:
                line = self._event(entry, rt, namespace, matches, known, seen is None)
                if line:
                    rv = max(rv, entry[0])
                    batch += line
                    if len(batch) >= BATCH:
                        yield bytes(batch)
                        batch.clear()
            if end_of_initial:
                mark = {"kind": rt.kind, "apiVersion": rt.api_version,
                        "metadata": {"resourceVersion": str(rv), "annotations": {INITIAL_EVENTS_END: "true"}}}
                batch += event_line("BOOKMARK", mark)
            if batch:
                yield bytes(batch)
            next_bookmark = time.monotonic() + BOOKMARK_EVERY
            while ends is None or time.monotonic() < ends:
                wait = next_bookmark - time.monotonic()
                if ends is not None:
                    wait = min(wait, ends - time.monotonic())
                try:
                    entry = q.get(timeout=max(0.0, wait))
                except queue.Empty:
                    if time.monotonic() >= next_bookmark:
                        next_bookmark = time.monotonic() + BOOKMARK_EVERY
                        if bookmarks:
                            mark = {"kind": rt.kind, "apiVersion": rt.api_version,
                                    "metadata": {"resourceVersion": str(rv)}}
                            yield event_line("BOOKMARK", mark)
                    continue
                if entry is _END:
                    yield event_line("ERROR", status_body(410, "Expired", "too old resource version"))
                    return
                rv = max(rv, entry[0])
                line = self._event(entry, rt, namespace, matches, known, seen is None)
                if line:
                    yield line
        finally:
            with self._lock:
                if q in self._queues:
                    self._queues.remove(q)

    @staticmethod
    def _event(entry: tuple, rt: ResourceType, namespace: str | None, matches: Callable[[dict], bool],
               known: set, resumed: bool) -> bytes | None:
        _, event, group, kind, obj = entry
        if group != rt.group or kind != rt.kind:
            return None
        if namespace and (obj.get("metadata") or {}).get("namespace") != namespace:
            return None
        key = _key(obj)
        obj = {**obj, "apiVersion": rt.api_version}
        if event != "DELETED" and matches(obj):
            event = "MODIFIED" if key in known and event == "ADDED" else event
            event = "ADDED" if key not in known and event == "MODIFIED" and not resumed else event
            known.add(key)
            return event_line(event, obj)
        if key in known or (resumed and event != "ADDED"):
            known.discard(key)
            return event_line("DELETED", obj)
        return None


def _key(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return meta.get("namespace") or "", meta.get("name") or ""


def event_line(kind: str, obj: Any) -> bytes:
    """One watch event as kube-apiserver writes it: compact JSON, a line."""
    return compact({"type": kind, "object": obj}) + b"\n"
