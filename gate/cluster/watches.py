"""Live lists while a level waits: one watch per (resource, namespace, label selector, field selector).

A check's list goes through `Watches.list`: the first time (or whenever the watch is not live) it is a
list as before, and its `resourceVersion` is kept. When the runner is about to wait, `arm()` opens a
watch from that resourceVersion (`?watch=1&resourceVersion=RV&allowWatchBookmarks=true`, JSON lines of
{type, object}), so nothing that happened since the list is missed; from then on the list is answered
from the cache the events keep up to date, with no request. Each change wakes the runner (`wait()`
returns the changed keys) so the checks that read that list are evaluated at once.

What goes wrong falls back to what the gate did before, polling:
- `410 Gone` (status or an ERROR event with code 410), or an event whose shape is unreadable (the same
  gate.cluster.answers checks as a list answer; never data): the cache is dropped and the runner woken,
  so the next read re-lists;
- a watch that breaks (connection cut, other errors): the next read re-lists; after `MAX_FAILURES`
  the key is polled for the rest of the level;
- `403` on the watch (the `watch` verb not granted): polled, silently.
Upstream: client-go tools/cache/reflector.go (ListAndWatch: list, then watch from the list's
resourceVersion; `isExpiredError` → relist; bookmarks move the resourceVersion on).

A list's first read is one answer from the API server's watch cache (`resourceVersion=0`, served whole),
parsed and projected as its bytes arrive (gate.cluster.listbody), then watched from its resourceVersion:
client-go's ListAndWatch (tools/cache/reflector.go:1126-1130, "for performance reasons"). Not a streaming
list (KEP-3157, `sendInitialEvents`): measured on kube-apiserver v1.36 + etcd 3.6, a streaming list of
20,000 pods takes the server 1.6x as long as the cache read (docs/semantics.md "Reading big lists").
A named read (`get`) watches its one object by `fieldSelector=metadata.name=NAME` (RBAC authorizes that
watch by resourceName, apiserver pkg/endpoints/request/requestinfo.go) with a streaming start
(`?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`: the object
as an ADDED event, then a BOOKMARK annotated `k8s.io/initial-events-end: "true"`; apiserver
pkg/storage/cacher/cacher.go sends it only with allowWatchBookmarks), so it needs no resourceVersion; a
server that refuses it (422 Invalid: the WatchList gate off, apimachinery
pkg/apis/meta/internalversion/validation/validation.go) or ends it with an ERROR event (etcd unable to
report progress, cacher.go:576-581) has that name polled by GET.

Watch threads are daemons, bounded by the level's last deadline (the request's `timeoutSeconds` and
socket timeout), and `close()` (the level's end, or a signal unwinding the runner) cuts their sockets.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import socket
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, urlencode

from gate.cluster import answers
from gate.cluster.kube import KubeClient, _orjson
from gate.cluster.resources import Resource
from gate.engine import deadlines

Key = tuple  # (Resource, namespace, label selector, field selector)
MAX_FAILURES = 3
MAX_WATCH = 300  # seconds a single watch request asks for; renewed from the last resourceVersion
MAX_WATCHES = 32  # open at once per level; lists beyond that are polled
END_OF_INITIAL = "k8s.io/initial-events-end"  # apimachinery meta/v1 types.go InitialEventsAnnotationKey
STREAMING = {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan"}
_reading: ContextVar[set | None] = ContextVar("gate_watch_keys", default=None)


@contextlib.contextmanager
def reading(keys: set) -> Iterator[None]:
    """Collect into `keys` the lists the current thread reads (the runner: which checks a change wakes)."""
    token = _reading.set(keys)
    try:
        yield
    finally:
        _reading.reset(token)


def named_key(res: Resource, name: str, namespace: str | None) -> Key:
    """The key of a watch on one object: its name as a field selector."""
    return (res, namespace if res.namespaced else None, None, f"metadata.name={name}")


def note(key: Key) -> None:
    keys = _reading.get()
    if keys is not None:
        keys.add(key)


class _Watched:
    """One watched list: its items by (namespace, name), where it stands, and its watch thread."""

    def __init__(self, key: Key) -> None:
        self.key = key
        self._items: dict[tuple[str, str], dict] | None = {}
        self._listed: list[dict] = []  # a list read, not indexed yet (items)
        self.version: str | None = None
        self.state = "listed"  # listed (no watch yet) | live | stale (re-list) | off (poll only)
        self.generation = 0
        self.failures = 0
        self.response: Any = None
        self.project: Callable[[dict], dict] | None = None  # what the list's readers keep of each object
        self.named = False  # one object by name (get), polled by GET when the server cannot stream
        self.initial: dict[tuple[str, str], dict] | None = None  # a streaming start's objects so far
        self.synced = threading.Event()  # set when the items are whole (read, or a streaming start ended)

    @property
    def items(self) -> dict[tuple[str, str], dict]:
        """The objects by (namespace, name), indexed from a list read on first need: a level that passes
        at once watches nothing (20,000 pods indexed for no one: 14 ms)."""
        if self._items is None:
            self._items, self._listed = {_name(o): o for o in self._listed}, []
        return self._items

    @items.setter
    def items(self, value: dict[tuple[str, str], dict]) -> None:
        self._items, self._listed = value, []

    def listed(self, items: list[dict]) -> None:
        self._items, self._listed = None, items


class Watches:
    """The watched lists of one level. Thread-safe; `close()` ends every watch."""

    def __init__(self, kube: KubeClient, condition: threading.Condition | None = None) -> None:
        """`condition`: another Watches' (`.condition`), so a change in either cluster wakes one waiter."""
        self.kube = kube
        self._changed_cv = condition or threading.Condition(threading.Lock())
        self._lock = self._changed_cv  # its lock guards the lists (shared with the condition's other Watches)
        self._lists: dict[Key, _Watched] = {}
        self._changed: set[Key] = set()
        self._closed = False
        self._api: Any = None  # the watches' own connection pool, so they never starve the checks'
        self.streaming: bool | None = None  # does the server offer streaming lists (None: not known yet)

    @property
    def condition(self) -> threading.Condition:
        return self._changed_cv

    # -- reads (check threads) -------------------------------------------------------------------
    def list(self, res: Resource, namespace: str | None, label_selector: str | None,
             field_selector: str | None, project: Callable[[dict], dict] | None = None) -> list[dict]:
        """The list, from the live watch's cache when there is one; `project` (gate.cluster.projection)
        cuts listed items and watch events alike."""
        key = (res, namespace, label_selector or None, field_selector or None)
        with self._lock:
            watched = self._lists.get(key)
            if watched is not None and watched.state == "live" and watched.synced.is_set():
                return list(watched.items.values())
            first = watched is None
        # The first read from the watch cache (resourceVersion=0), one answer parsed as it arrives; a key
        # read again (its watch broke, or it is polled) lists in pages with no resourceVersion, a consistent
        # read. The watch armed from the list's resourceVersion replays every change since
        # (docs/semantics.md, "Reading big lists").
        items, version = self.kube.list_with_version(res, namespace, label_selector, field_selector,
                                                     project=project, cached=first)
        with self._lock:
            watched = self._lists.setdefault(key, _Watched(key))
            watched.project = project
            if watched.state != "live":
                watched.listed(items)
                watched.version = version
                watched.synced.set()
                if watched.state == "stale" and watched.failures < MAX_FAILURES and version:
                    watched.state = "listed"
                elif watched.state == "listed" and not version:
                    watched.state = "off"  # nothing to resume from: poll
        return items

    def get(self, res: Resource, name: str, namespace: str | None) -> dict | None:
        """One object by name (None: it does not exist): from its live watch once armed, else a GET."""
        key = named_key(res, name, namespace)
        with self._lock:
            watched = self._lists.get(key)
            if watched is not None and watched.state == "live":
                return next(iter(watched.items.values()), None)
        obj = self.kube.get(res, name, namespace)
        with self._lock:
            watched = self._lists.setdefault(key, _Watched(key))
            watched.named = True
            if watched.state != "live":
                watched.items = {_name(obj): obj} if obj is not None else {}
                watched.version = None  # a named watch starts streaming: it needs no resourceVersion
                watched.synced.set()
                if self.streaming is False:
                    watched.state = "off"  # no streaming start to watch one name from: poll it by GET
                elif watched.state == "stale" and watched.failures < MAX_FAILURES:
                    watched.state = "listed"
        return obj

    # -- the runner ------------------------------------------------------------------------------
    def arm(self, until: float | None) -> None:
        """Open a watch for every list read but not watched yet, bounded by `until` (monotonic)."""
        with self._lock:
            if self._closed:
                return
            open_now = sum(1 for w in self._lists.values() if w.state == "live")
            starting = [w for w in self._lists.values() if w.state == "listed"][:max(0, MAX_WATCHES - open_now)]
            for watched in starting:
                watched.state = "live"
                watched.generation += 1
        for watched in starting:
            threading.Thread(target=self._run, args=(watched, watched.generation, until),
                             name="gate-watch", daemon=True).start()

    def wait(self, timeout: float) -> set[Key]:
        """Sleep up to `timeout` seconds, less when a watched list changes; the keys that changed."""
        with self._changed_cv:
            if not self._changed and timeout > 0:
                self._changed_cv.wait(timeout)
            changed, self._changed = self._changed, set()
        return changed

    @staticmethod
    def wait_any(watches: list[Watches], timeout: float) -> set[Key]:
        """wait() over several Watches sharing one condition (the clusters of one run): checking for
        changes and going to sleep happen under its lock, so a change in any of them is never missed."""
        condition = watches[0].condition
        with condition:
            if not any(w._changed for w in watches) and timeout > 0:
                condition.wait(timeout)
            changed: set[Key] = set()
            for w in watches:
                changed |= w._changed
                w._changed = set()
        return changed

    def close(self) -> None:
        """End every watch (their threads exit on their next read) and forget the lists."""
        with self._lock:
            self._closed = True
            self._changed = set()
            lists, self._lists = list(self._lists.values()), {}
            for watched in lists:
                watched.generation += 1
        for watched in lists:
            _cut(watched.response)

    def reopen(self) -> None:
        """Start afresh for the next level."""
        self.close()
        with self._lock:
            self._closed = False

    # -- watch threads ---------------------------------------------------------------------------
    def _run(self, watched: _Watched, generation: int, until: float | None) -> None:
        with deadlines.scope(until):
            try:
                while self._current(watched, generation):
                    outcome = self._watch_once(watched, generation)
                    if outcome != "renew":
                        self._end(watched, generation, outcome)
                        return
            except Exception:  # noqa: BLE001 - a broken watch means polling, never a crash
                self._end(watched, generation, "broken")

    def _current(self, watched: _Watched, generation: int) -> bool:
        with self._lock:
            return not self._closed and watched.generation == generation

    def _watch_once(self, watched: _Watched, generation: int) -> str:
        """One watch request, its events applied; what next: renew, stale, broken, denied or expired."""
        left = deadlines.remaining()
        if left is not None and left < deadlines.MIN_REQUEST:
            return "expired"  # past the level's last deadline: nobody waits for this list any more
        res, namespace, label_selector, field_selector = watched.key
        seconds = MAX_WATCH if left is None else max(1, min(MAX_WATCH, math.ceil(left)))
        starting = watched.version is None  # no resourceVersion to resume from: a streaming start
        query = {"watch": "1", "resourceVersion": watched.version, "allowWatchBookmarks": "true",
                 "timeoutSeconds": str(seconds), "labelSelector": label_selector, "fieldSelector": field_selector,
                 **(STREAMING if starting else {})}
        resp = self._open(res.path(namespace), query, seconds + 5)
        with self._lock:
            if watched.generation != generation:
                _cut(resp)
                return "closed"
            watched.response = resp
            if starting:
                watched.initial = {}
        if resp.status == 403:
            return "denied"
        if resp.status == 410:
            return "stale"
        if starting and resp.status in (400, 422):
            self.streaming = False  # the WatchList gate is off (or the server predates it)
            return "refused"
        if resp.status != 200:
            return "broken"
        for line in _lines(resp):
            outcome = self._apply(watched, generation, line)
            if outcome:
                return outcome
        return "renew"  # the server ended the watch (its timeoutSeconds): resume from the last version

    def _pool(self) -> Any:
        """An ApiClient like the checks' (same configuration: TLS, auth) with a pool of its own."""
        with self._lock:
            if self._api is None:
                if hasattr(self.kube.api, "with_pool_size"):  # gate.cluster.lightclient
                    self._api = self.kube.api.with_pool_size(MAX_WATCHES)
                    return self._api
                from kubernetes import client

                cfg = copy.copy(self.kube.api.configuration)
                cfg.connection_pool_maxsize = MAX_WATCHES
                self._api = client.ApiClient(cfg)
            return self._api

    def _open(self, path: str, query: dict[str, Any], read_timeout: float) -> Any:
        api = self._pool()
        url = self.kube.host + path + "?" + urlencode({k: v for k, v in query.items() if v is not None},
                                                      quote_via=quote)
        headers = {"Accept": "application/json"}
        api.update_params_for_auth(headers, [], ["BearerToken"], path, "GET", None)
        limit = deadlines.clamp(self.kube.request_timeout, f"watch {path}") or self.kube.request_timeout
        raw = api.call_api("GET", url, header_params=headers, _request_timeout=(limit, read_timeout))
        return raw.response

    def _apply(self, watched: _Watched, generation: int, line: bytes) -> str | None:
        """One event into the cache; an outcome string when the watch must end."""
        res = watched.key[0]
        what = f"watch {res.display}"
        try:
            event = _loads(line)
        except ValueError:
            return "stale"
        if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
            return "stale"
        kind, obj = event.get("type"), event["object"]
        if kind == "ERROR":
            if watched.initial is not None and obj.get("code") != 410:
                # A streaming start the server ends before its end bookmark cannot stream (e.g. etcd
                # without RequestWatchProgress: apiserver pkg/storage/cacher/cacher.go:576-581, "client-go is
                # going to fall back to a standard LIST on any error returned for watch-list requests").
                self.streaming = False
                return "refused"
            return "stale" if obj.get("code") == 410 else "broken"
        version = (obj.get("metadata") or {}).get("resourceVersion") if isinstance(obj.get("metadata"), dict) \
            else None
        if kind == "BOOKMARK":
            if watched.initial is not None and _ends_initial(obj):
                return self._synced(watched, generation, version)
            if isinstance(version, str) and version and watched.initial is None:
                with self._lock:
                    watched.version = version
            return None
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            return "stale"
        try:
            obj = answers.kube_object(obj, res.kind, what)
        except answers.UnreadableAnswer:
            return "stale"  # an unreadable event is an evaluation problem: re-list, never data
        if watched.project is not None:
            obj = watched.project(obj)
        with self._changed_cv:
            if watched.generation != generation:
                return "closed"
            if watched.initial is not None:  # a streaming start: the list so far, not a change yet
                if kind == "DELETED":
                    watched.initial.pop(_name(obj), None)
                else:
                    watched.initial[_name(obj)] = obj
                return None
            if kind == "DELETED":
                watched.items.pop(_name(obj), None)
            else:
                watched.items[_name(obj)] = obj
            if isinstance(version, str) and version:
                watched.version = version
            self._changed.add(watched.key)
            self._changed_cv.notify_all()
        return None

    def _synced(self, watched: _Watched, generation: int, version: Any) -> str | None:
        """The initial-events-end bookmark: the streaming start's objects are the list, at its version."""
        if not (isinstance(version, str) and version):
            return "broken"  # nothing to resume from
        with self._changed_cv:
            if watched.generation != generation:
                return "closed"
            items, watched.initial = watched.initial or {}, None
            changed = items != watched.items  # only a named watch starts streaming: news if its GET is old
            watched.items, watched.version = items, version
            self.streaming = True
            watched.synced.set()
            if changed:
                self._changed.add(watched.key)
                self._changed_cv.notify_all()
        return None

    def _end(self, watched: _Watched, generation: int, outcome: str) -> None:
        with self._changed_cv:
            if watched.generation != generation or outcome == "closed":
                return
            watched.initial = None
            watched.response = None
            if outcome == "refused":
                watched.state = "off"  # one name, no streaming start: polled by GET
                return
            if outcome == "expired":
                watched.state = "stale"
                return
            if outcome == "denied":
                watched.state = "off"  # no `watch` verb: poll, silently
                return
            watched.state = "stale"
            if outcome == "broken":
                watched.failures += 1
                if watched.failures >= MAX_FAILURES:
                    watched.state = "off"
                return  # polling picks it up on its schedule
            self._changed.add(watched.key)  # 410 / unreadable: re-list now
            self._changed_cv.notify_all()


def _name(obj: dict) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _loads(line: bytes) -> Any:
    """One event's JSON: orjson when installed (the `fast` extra), else the standard library's."""
    if _orjson is not None:
        try:
            return _orjson.loads(line)
        except ValueError:
            pass  # what orjson does not take (NaN, integers past 64 bits): the standard library says
    return json.loads(line)


def _ends_initial(obj: dict) -> bool:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, dict) else None
    return isinstance(annotations, dict) and annotations.get(END_OF_INITIAL) == "true"


def _lines(resp: Any) -> Iterator[bytes]:
    """The stream's lines as they arrive (each piece split once: a streaming list of 60 MB is not copied
    line by line)."""
    buffer = b""
    while True:
        data = resp.read1(256 * 1024) if hasattr(resp, "read1") else resp.read(1)
        if not data:
            if buffer.strip():
                yield buffer
            return
        lines = (buffer + data).split(b"\n") if buffer else data.split(b"\n")
        buffer = lines.pop()
        for line in lines:
            if line.strip():
                yield line


def _cut(resp: Any) -> None:
    """Unblock a thread reading `resp`, from any thread: its socket shut down both ways, then closed.

    Both ways, not urllib3's `HTTPResponse.shutdown()` (SHUT_RD only): the reading thread's OpenSSL takes
    that local end of input for a truncated stream and, the write side still open, sends the server a
    fatal decode_error alert (OpenSSL 3 ssl/record/rec_layer_s3.c, ssl3_read_n: SSLfatal(SSL_AD_DECODE_ERROR,
    SSL_R_UNEXPECTED_EOF_WHILE_READING)); shut both ways, the alert cannot leave and the server sees the
    connection end, as from any client that hangs up.
    """
    if resp is None:
        return
    sock = getattr(getattr(resp, "connection", None), "sock", None)  # urllib3 HTTPResponse → its socket
    if sock is not None:
        with contextlib.suppress(Exception):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        resp.close()

