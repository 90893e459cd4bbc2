"""What the gate read during a run, as it read it.

The shared clients hand every answer here while a Recorder is active (gate/capture/tap.py): the
Kubernetes client each raw answer before any projection, the Kargo client each parsed answer, the HTTP
client each Level 2-4 target's answer, and the runner each observation of a check that reads no world
the simulator could serve (tls, tcp, command). Recording at the clients, rather than re-deriving the
list of objects a stage's checks, rules and diagnosis need, stays right when a check or rule starts
reading something new: the capture holds exactly what was read, no more and no less.

Later answers win: the capture is the world as the run last saw it (a verdict is made on the last
observation of each check). An object a later list no longer returns, or a later GET says is gone, is
left out.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from gate.engine.retrying import RETRYABLE_STATUS

OBSERVED_KINDS = frozenset({"tls", "tcp", "command"})  # their answer is the observation itself


def observed(check: Any) -> bool:
    """A check whose observation is kept and served whole: no world behind it the simulator could serve
    (a handshake, a connection, a program), or a round trip tied to the run (a test alert carries the
    run's own id)."""
    return check.kind in OBSERVED_KINDS or bool(check.params.get("test_alert"))


def loose_key(key: str) -> str:
    """The key with its query's values left out: a request whose query holds times or per-run values
    (a Loki range, a filter) matches the recorded one with the same parameters."""
    head, _, rest = key.partition(" ")
    target, sep, tail = rest.partition(" ")
    path, _, query = target.partition("?")
    names = sorted(p.split("=", 1)[0] for p in query.split("&") if p)
    return f"{head} {path}?{'&'.join(names)}{sep}{tail}"
BODY_LIMIT = 64 * 1024  # bytes of an HTTP answer kept
LOG_LIMIT = 256 * 1024


@dataclass(frozen=True)
class Attr:
    """What one request asked to do, as RBAC names it."""

    verb: str
    group: str
    resource: str  # plural, "pods/log" for a subresource
    namespace: str = ""
    name: str = ""


@dataclass(frozen=True)
class KubePath:
    group: str
    version: str
    plural: str
    namespace: str = ""
    name: str = ""
    sub: str = ""

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


def parse_path(path: str) -> KubePath | None:
    """/api/v1/namespaces/ns/pods/name/log and /apis/g/v/... into parts; None for anything else."""
    parts = [unquote(p) for p in path.split("?", 1)[0].strip("/").split("/")]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    ns = ""
    if len(rest) >= 3 and rest[0] == "namespaces":
        ns, rest = rest[1], rest[2:]
    if not rest or len(rest) > 3:
        return None
    return KubePath(group, version, rest[0], ns, rest[1] if len(rest) > 1 else "", rest[2] if len(rest) > 2 else "")


Ident = tuple[str, str, str, str]  # group, plural, namespace, name
REVIEWS = ("/selfsubjectaccessreviews", "/selfsubjectrulesreviews")  # POSTs the preflight reads answers from


def plural_of(kind: str) -> str:
    low = kind.lower()
    return low + "es" if low.endswith(("s", "x")) else low + "s"


@dataclass
class _Seen:
    seq: int
    obj: dict
    at: float  # wall-clock seconds when it was read


@dataclass
class Recorder:
    """Thread-safe: every check of a run reports here concurrently."""

    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._seq = itertools.count()
        self._raw: dict[tuple, tuple] = {}  # request -> its last answer, read by materialize()
        self.objects: dict[Ident, _Seen] = {}
        self.absent: dict[Ident, int] = {}
        self.lists: dict[tuple, list[tuple[int, set[Ident]]]] = {}
        self.logs: dict[str, str] = {}
        self.allowed: set[Attr] = set()
        self.denied: set[Attr] = set()
        # namespace -> the resource rules a SelfSubjectRulesReview granted there (the preflight asks one
        # per namespace): everything the token may do in that namespace, so the replay grants exactly it
        self.reviewed: dict[str, list[dict]] = {}
        self.served: set[tuple[str, str, str, bool]] = set()  # group, version, plural, namespaced
        self.faults: dict[str, dict] = {}  # path -> the fault that reproduces its last answer
        self.http: dict[str, dict] = {}
        self.observations: dict[str, dict] = {}
        self.not_recorded: dict[str, str] = {}  # check id -> why its answer was not recorded
        self.kargo_api = False
        self.kargo_version = ""
        self.kubernetes_version = ""
        self.started = time.time()

    # -- Kubernetes ------------------------------------------------------------------------------
    def kube_answer(self, method: str, path: str, query: dict | None, status: int, data: Any,
                    proxied: bool = False, client: Any = None) -> None:
        """One answer of the API server, before the gate parsed or projected it. Only kept here (the
        last answer to each request): it is read when the capture is written, so recording costs a check
        no time inside its deadline (parsing 20,000 pods again would)."""
        if method != "GET" and not path.endswith(REVIEWS):
            return
        query = {k: v for k, v in (query or {}).items() if v is not None}
        with self._lock:
            seq = next(self._seq)
            # every access review is its own answer (one path, many questions); a GET, the last one counts
            key = (method, path, tuple(sorted((k, str(v)) for k, v in query.items())) if method == "GET" else seq)
            self._raw[key] = (seq, status, data, proxied, time.time(), query)

    def materialize(self) -> None:
        """Read the kept answers, in the order they came (once; the capture is being written)."""
        with self._lock:
            raw, self._raw = sorted(self._raw.items(), key=lambda item: item[1][0]), {}
        for key, (_, status, data, proxied, at, query) in raw:
            try:
                if key[0] == "KARGO":
                    self._kargo_answer(key[1], key[2], status, data, at)
                else:
                    self._kube_answer(key[0], key[1], query, status, data, proxied, at)
            except Exception as exc:  # noqa: BLE001 - one unreadable answer must not lose the capture
                self.notes.append(f"not recorded: {key[-3]} {key[-2]}: {type(exc).__name__}")

    def kube_failure(self, method: str, path: str) -> None:
        """No answer at all (connection dropped, refused): replayed as a dropped connection, unless an
        answer to the same path came later."""
        if method == "GET" and "/proxy/" not in path:
            with self._lock:
                self._raw[("DROP", path, ())] = (next(self._seq), 0, None, False, time.time(), {})

    def _kube_answer(self, method: str, path: str, query: dict, status: int, data: Any, proxied: bool,
                     at: float) -> None:
        if method == "DROP":
            self.faults[path] = {"drop": True}
            return
        if path == "/version" and status == 200:
            self.kubernetes_version = str((_json(data) or {}).get("gitVersion") or "")
            return
        if status == 401:  # the credentials were refused: so they are in the replay
            with self._lock:
                self.faults[path] = {"status": 401, "method": method}
            return
        if method == "POST" and path.endswith("/selfsubjectaccessreviews") and status < 300:
            self._access_review(_json(data))
            return
        if method == "POST" and path.endswith("/selfsubjectrulesreviews") and status < 300:
            self._rules_review(_json(data))
            return
        kp = parse_path(path)
        if kp is None or method != "GET" or kp.sub == "proxy" or (proxied and kp.sub != "log"):
            return
        verb = "get" if kp.name else ("watch" if query.get("watch") else "list")
        attr = Attr(verb, kp.group, f"{kp.plural}/{kp.sub}" if kp.sub else kp.plural, kp.namespace,
                    kp.name if verb == "get" else "")
        with self._lock:
            if status == 403:
                self.denied.add(attr)
                self.faults.pop(path, None)
                return
            if status in RETRYABLE_STATUS:
                self.faults[path] = {"status": status}
                return
            self.faults.pop(path, None)
            if status >= 400 and status != 404:
                return
            if status == 404 and not kp.name:
                return  # the kind is not served: the capture will not serve it either
            self.allowed.add(attr)
            if status < 300:
                self.served.add((kp.group, kp.version, kp.plural, bool(kp.namespace)))
        if kp.sub == "log":
            self._log(kp, query, status, data)
            return
        if kp.sub:
            return
        body = _json(data)
        if status == 404:
            if kp.name and isinstance(body, dict) and (body.get("details") or {}).get("name"):
                with self._lock:
                    self.absent[(kp.group, kp.plural, kp.namespace, kp.name)] = next(self._seq)
            return
        if not isinstance(body, dict):
            with self._lock:
                self.faults[path] = {"raw_body": _text(data)[:BODY_LIMIT]}
            return
        now = at
        if kp.name:
            self._keep(_typed(body, kp.api_version, ""), now, kp.plural)
            return
        items = body.get("items")
        if not isinstance(items, list):
            with self._lock:
                self.faults[path] = {"body": body}
            return
        kind = str(body.get("kind") or "").removesuffix("List")
        idents: set[Ident] = set()
        for item in items:
            if isinstance(item, dict):
                ident = self._keep(_typed(item, str(body.get("apiVersion") or kp.api_version), kind), now, kp.plural)
                if ident:
                    idents.add(ident)
        key = (kp.group, kp.plural, kp.namespace, query.get("labelSelector") or "", query.get("fieldSelector") or "")
        with self._lock:
            seen = self.lists.setdefault(key, [])
            if query.get("continue") and seen:
                seen[-1][1].update(idents)
            else:
                seen.append((next(self._seq), idents))

    def _keep(self, obj: dict, at: float, plural: str = "") -> Ident | None:
        meta = obj.get("metadata")
        if not isinstance(meta, dict) or not meta.get("name") or not obj.get("kind"):
            return None
        group = str(obj.get("apiVersion") or "").rpartition("/")[0]
        ident = (group, plural or plural_of(str(obj["kind"])), str(meta.get("namespace") or ""), str(meta["name"]))
        with self._lock:
            self.objects[ident] = _Seen(next(self._seq), obj, at)
        return ident

    def _log(self, kp: KubePath, query: dict, status: int, data: Any) -> None:
        if status >= 300:
            return
        key = f"{kp.namespace}/{kp.name}"
        if query.get("container"):
            key += f"/{query['container']}"
            if str(query.get("previous")) in ("true", "1"):
                key += "#previous"
        with self._lock:
            self.logs[key] = _text(data)[-LOG_LIMIT:]

    def _access_review(self, body: Any) -> None:
        if not isinstance(body, dict):
            return
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        resource = str(attrs.get("resource") or "")
        if attrs.get("subresource"):
            resource += "/" + str(attrs["subresource"])
        attr = Attr(str(attrs.get("verb") or ""), str(attrs.get("group") or ""), resource,
                    str(attrs.get("namespace") or ""), str(attrs.get("name") or ""))
        with self._lock:
            (self.allowed if (body.get("status") or {}).get("allowed") else self.denied).add(attr)

    def _rules_review(self, body: Any) -> None:
        if not isinstance(body, dict):
            return
        namespace = str((body.get("spec") or {}).get("namespace") or "")
        rules = (body.get("status") or {}).get("resourceRules") or []
        if namespace and isinstance(rules, list):
            with self._lock:
                self.reviewed[namespace] = [r for r in rules if isinstance(r, dict)]

    # -- Kargo API -------------------------------------------------------------------------------
    def kargo_answer(self, method: str, path: str, status: int, parsed: Any) -> None:
        """One answer of the Kargo API (REST or Connect), kept like kube_answer's and read with them."""
        self.kargo_api = True
        with self._lock:
            seq = next(self._seq)
            # a Connect read is a POST whose body names the object: each is its own answer
            key = ("KARGO", method, path, None if method == "GET" else seq)
            self._raw[key] = (seq, status, parsed, False, time.time(), {})

    def _kargo_answer(self, method: str, path: str, status: int, parsed: Any, at: float) -> None:
        if isinstance(parsed, dict) and ("server-version" in path or "GetVersionInfo" in path):
            info = parsed.get("versionInfo") if isinstance(parsed.get("versionInfo"), dict) else parsed
            self.kargo_version = str(info.get("version") or info.get("gitVersion") or self.kargo_version)
        reading = method == "GET" or "/akuity.io.kargo.service" in path and any(
            w in path for w in ("/Get", "/List", "/Query"))
        if not reading:
            return
        with self._lock:
            if status in RETRYABLE_STATUS or status in (401, 403):
                self.faults[path] = {"status": status}
                return
            self.faults.pop(path, None)
        if status >= 300:
            return
        kind = _kargo_kind(path)
        for obj in _objects(parsed, kind):
            self._keep(obj, at)

    # -- HTTP targets and observations -----------------------------------------------------------
    def http_send(self, live: Any) -> Any:
        """Wrap one HttpClient transport call: call it, keep its answer (or its error) under its key."""
        def send(method: str, url: str | None, service: Any, path: str, *args: Any) -> Any:
            key = http_key(method, url, service, path, args)
            try:
                resp = live(method, url, service, path, *args)
            except Exception as exc:
                with self._lock:
                    self.http[key] = {"error": type(exc).__name__, "message": str(exc)}
                raise
            with self._lock:
                self.http[key] = {"status": resp.status, "headers": dict(resp.headers),
                                  "body": resp.text[:BODY_LIMIT], "url": resp.url, "via": resp.via,
                                  "history": [list(h) for h in resp.history],
                                  **({"truncated": True} if len(resp.text) > BODY_LIMIT else {})}
            return resp

        return send

    def observer(self, planned: Any) -> Any:
        """The check's observe(), keeping what it saw when nothing else could reproduce it."""
        check = planned.check

        def observe(clients: Any) -> Any:
            obs = check.observe(clients)
            if observed(check):
                with self._lock:
                    self.observations[planned.id] = {
                        "ok": obs.ok, "observed": obs.observed, "expected": obs.expected,
                        "evidence": list(obs.evidence), "final": obs.final, "output": obs.output,
                        "hint": obs.hint}
            return obs

        return observe

    def before_reports(self, result: Any) -> None:
        """Called by finish() before any report is written (RunRecorder writes the capture there)."""

    def skip(self, check_id: str, reason: str) -> None:
        with self._lock:
            self.not_recorded[check_id] = reason

    # -- what the world is now -------------------------------------------------------------------
    def world_objects(self) -> list[tuple[dict, float]]:
        """The last version of every object still there when last looked at, with when it was read."""
        self.materialize()
        with self._lock:
            gone = dict(self.absent)
            for observations in self.lists.values():
                for (_, before), (seq, now) in itertools.pairwise(observations):
                    for ident in before - now:
                        gone[ident] = max(gone.get(ident, -1), seq)
            return [(seen.obj, seen.at) for ident, seen in sorted(self.objects.items())
                    if seen.seq > gone.get(ident, -1)]


def http_key(method: str, url: str | None, service: Any, path: str, args: tuple = ()) -> str:
    """What an HTTP answer is filed under: method, target, the names of the headers sent and whether
    redirects were followed (never header values or the body: they hold credentials and per-run values).
    `args`: the rest of HttpClient._send's arguments (via, headers, body, timeout, verify, follow, auth)."""
    target = url if service is None else f"service {service}/{str(path).lstrip('/')}"
    key = f"{method.upper()} {target}"
    headers = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    names = sorted({str(k).lower() for k in headers} | ({"authorization"} if len(args) > 6 and args[6] else set()))
    if names:
        key += " [" + ",".join(names) + "]"
    if len(args) > 5 and args[5]:
        key += " (following redirects)"
    return key


def _json(data: Any) -> Any:
    if isinstance(data, (dict, list)):
        return data
    try:
        return json.loads(_text(data)) if data else None
    except ValueError:
        return None


def _text(data: Any) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")


def _typed(obj: dict, api_version: str, kind: str) -> dict:
    """A list item carries no apiVersion/kind on the wire: give it its list's."""
    if obj.get("kind") and obj.get("apiVersion"):
        return obj
    return {"apiVersion": obj.get("apiVersion") or api_version, "kind": obj.get("kind") or kind, **obj}


_KARGO_KINDS = {"stages": "Stage", "freight": "Freight", "freights": "Freight", "promotions": "Promotion",
                "warehouses": "Warehouse", "projects": "Project", "projectconfig": "ProjectConfig",
                "analysisruns": "AnalysisRun", "events": "Event"}


def _kargo_kind(path: str) -> str:
    for part in reversed(path.split("?", 1)[0].strip("/").split("/")):
        if part in _KARGO_KINDS:
            return _KARGO_KINDS[part]
    return ""


def _objects(value: Any, kind: str) -> list[dict]:
    """Every Kubernetes-shaped object in a Kargo answer (REST or Connect), whatever wraps it."""
    out: list[dict] = []
    if isinstance(value, list):
        for item in value:
            out.extend(_objects(item, kind))
    elif isinstance(value, dict):
        meta = value.get("metadata")
        if isinstance(meta, dict) and meta.get("name") and ("spec" in value or "status" in value or value.get("kind")):
            if str(value.get("kind") or "").endswith("List"):
                return _objects(value.get("items"), kind or str(value["kind"]).removesuffix("List"))
            obj_kind = value.get("kind") or kind
            if obj_kind:
                api = value.get("apiVersion") or ("v1" if obj_kind == "Event" else (
                    "argoproj.io/v1alpha1" if obj_kind == "AnalysisRun" else "kargo.akuity.io/v1alpha1"))
                out.append({**value, "kind": obj_kind, "apiVersion": api})
            return out
        for sub in value.values():
            out.extend(_objects(sub, kind))
    return out
