"""Kargo API client: REST `/v1beta1` (v1.9+), Connect JSON for older servers, and a read-only
Kubernetes-backed reader for when no Kargo address is configured.

Every answer is a Kubernetes-shaped dict, whichever backend produced it. Errors become gate errors:
400 "not available" → GateClosed (exit 1, Kargo's reason); 401 → AuthError (exit 3, token rejected);
403 → PermissionDenied naming the missing permission (exit 3); 404 → ConfigError (exit 2: the named
Stage/Freight does not exist); 5xx, 429 and connection errors are retried, then TransientError (exit 3).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay

from gate import redact
from gate.capture import tap
from gate.cluster import answers
from gate.cluster.kube import Permission
from gate.cluster.resources import check_name, segment
from gate.engine import deadlines
from gate.engine.retrying import RETRYABLE_STATUS, wait_retry_after
from gate.errors import (
    AuthError,
    ConfigError,
    EvaluationError,
    GateClosed,
    PermissionDenied,
    TransientError,
    from_kargo_api,
)
from gate.kargo.timefmt import normalize

GROUP = "kargo.akuity.io"
TERMINAL_PHASES = frozenset({"Succeeded", "Failed", "Errored", "Aborted"})
CONNECT_PREFIX = "/akuity.io.kargo.service.v1alpha1.KargoService/"
REST_SINCE = (1, 9, 0)
MAX_SSE_LINE = 1 << 20  # bytes: a longer line of a watch is an unreadable answer


@dataclass
class KargoConfig:
    """Where the Kargo API is and how to trust it. Token never printed (registered with redact)."""

    address: str | None = None
    token: str | None = None
    ca_file: str | None = None
    insecure_skip_tls_verify: bool = False
    timeout: float = 15.0
    retry_budget: float = 20.0
    token_file: str | None = None  # the pod's ServiceAccount token, re-read when the kubelet rotates it

    @classmethod
    def resolve(
        cls, address: str | None = None, token: str | None = None, settings: Any = None, **kw: Any
    ) -> KargoConfig:
        """Flags, then KARGO_API_ADDRESS/KARGO_API_TOKEN (as the kargo CLI reads them), then settings."""
        def get(key: str) -> str | None:  # Settings.get raises KeyError for keys it does not know
            try:
                return settings.get(key) if settings is not None and hasattr(settings, "get") else None
            except KeyError:
                return None

        address = address or os.environ.get("KARGO_API_ADDRESS") or get("kargo_api_address")
        token = token or os.environ.get("KARGO_API_TOKEN") or get("kargo_api_token")
        if address and not token and "token_file" not in kw:
            token = _pod_token(kw)
        redact.register(token)
        redact.register_url(address)  # https://user:TOKEN@kargo… or …?token=
        return cls(address=address, token=token, **kw)

    @property
    def configured(self) -> bool:
        return bool(self.address and self.token)


def _pod_token(kw: dict[str, Any]) -> str | None:
    """In a Job: the pod's ServiceAccount token (Kargo verifies a JWT it did not issue with Kubernetes),
    its file kept in `kw` so the client re-reads it when the kubelet rotates it; None elsewhere."""
    from gate.cluster.kube import SA_DIR, in_cluster

    if not in_cluster():
        return None
    from gate.cluster.tokenfile import TokenFile

    kw["token_file"] = f"{SA_DIR}/token"
    return TokenFile(kw["token_file"]).current()


class _RotatingBearer(requests.auth.AuthBase):
    """Authorization from a token file on every request (a rotated pod token is used from its first
    request on)."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __call__(self, request: Any) -> Any:
        token = self.source.current()
        if token:
            request.headers["Authorization"] = f"Bearer {token}"
        return request


def parse_version(text: str | None) -> tuple[int, int, int] | None:
    match = re.match(r"v?(\d+)\.(\d+)(?:\.(\d+))?", (text or "").strip())
    return (int(match[1]), int(match[2]), int(match[3] or 0)) if match else None


def error_message(body: Any) -> str:
    """Kargo REST errors are {"error": msg}; Connect errors {"code", "message"}."""
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or "")
    return redact.cut(str(body or ""), 300)  # masked before the cut


class KargoClient:
    """Talks to one Kargo API server. Thread-safe for reads (one requests.Session per client)."""

    def __init__(self, config: KargoConfig, session: requests.Session | None = None) -> None:
        if not config.configured:
            raise ConfigError(
                "the Kargo API needs an address and a token: pass --kargo-address/--kargo-token "
                "or set KARGO_API_ADDRESS and KARGO_API_TOKEN",
                key="--kargo-address",
            )
        from gate.headers import unsendable

        why = unsendable(config.token or "")
        if why:
            raise ConfigError(f"the Kargo API token cannot be sent: it contains {why}", key="--kargo-token")
        self.config = config
        self.base = config.address.rstrip("/")  # type: ignore[union-attr]
        if not self.base.startswith(("https://", "http://")):
            self.base = "https://" + self.base
        redact.register(config.token)
        self.http = session or requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {config.token}", "Accept": "application/json"})
        if config.token_file:
            from gate.cluster.tokenfile import TokenFile

            self.http.auth = _RotatingBearer(TokenFile(config.token_file))
        # Passed on every request: a session-level value loses to REQUESTS_CA_BUNDLE in requests.
        self.verify: bool | str = False if config.insecure_skip_tls_verify else (config.ca_file or True)
        if config.insecure_skip_tls_verify:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        self.version: str | None = None
        self.connect = False  # True: a server older than v1.9, spoken to over Connect JSON

    # -- transport -------------------------------------------------------------------------------
    def _once(self, method: str, path: str, query: dict | None, body: Any) -> tuple[int, Any, dict]:
        try:
            resp = deadlines.load(self.http.request(
                method,
                self.base + path,
                params=query,
                json=body if body is not None else None,
                timeout=deadlines.clamp(self.config.timeout, f"Kargo API {method} {path}"),
                verify=self.verify,
                stream=True,  # the body is read under the deadline (deadlines.load)
            ), f"Kargo API {method} {path}")
        except deadlines.DeadlineExceeded:
            raise
        except requests.exceptions.SSLError as exc:
            raise EvaluationError(
                f"Kargo API at {self.base}: TLS verification failed ({exc.__class__.__name__});"
                " pass --kargo-ca with its CA bundle"
            ) from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if deadlines.passed():
                raise deadlines.DeadlineExceeded(f"Kargo API {method} {path}: no answer before the deadline") \
                    from None
            raise TransientError(f"Kargo API at {self.base} unreachable: {type(exc).__name__}") from None
        try:
            parsed: Any = resp.json() if resp.content else None
        except ValueError:
            parsed = resp.text
        if tap.current is not None:  # gate capture / --capture-on-failure: keep what was read
            tap.current.kargo_answer(method, path, resp.status_code, parsed)
        if resp.status_code in RETRYABLE_STATUS:
            err = TransientError(
                f"Kargo API {method} {path}: HTTP {resp.status_code} {error_message(parsed)}"
            )
            err.retry_after = resp.headers.get("Retry-After")  # type: ignore[attr-defined]
            raise err
        return resp.status_code, parsed, dict(resp.headers)

    def request(
        self, method: str, path: str, *, query: dict | None = None, body: Any = None, retry: bool = True
    ) -> tuple[int, Any]:
        attempts = Retrying(
            stop=stop_after_attempt(5 if retry else 1)
            | stop_after_delay(self.config.retry_budget)
            | deadlines.stop_at_deadline,
            wait=wait_retry_after(initial=0.2, maximum=3.0),
            retry=retry_if_exception_type(TransientError),
            reraise=True,
        )
        try:
            status, parsed, _ = attempts(self._once, method, path, query, body)
        except Exception as exc:
            from_kargo_api(exc)  # unreachable, TLS, deadline: the Kargo API's, not the cluster's
            raise
        return status, parsed

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str = "",
        key: str | None = None,
        permission: Permission | None = None,
        query: dict | None = None,
        body: Any = None,
        retry: bool = True,
        missing_ok: bool = False,
        judge: Callable[[Any], Any] | None = None,
    ) -> Any:
        """One call, errors mapped to gate errors (see the module docstring). A success answer goes
        through `judge` (a gate.cluster.answers shape check) before anyone reads it; an unreadable one is asked
        again when `retry` (never for a write), then raised (UnreadableAnswer, a TransientError)."""

        def once() -> Any:
            status, parsed = self.request(method, path, query=query, body=body, retry=retry)
            if status < 400:
                return judge(parsed) if judge else parsed
            msg = error_message(parsed)
            if status == 404 and missing_ok:
                return None
            raise map_error(status, msg, what=what or f"{method} {path}", key=key, permission=permission)

        attempts = Retrying(
            stop=stop_after_attempt(3 if retry else 1) | stop_after_delay(self.config.retry_budget)
            | deadlines.stop_at_deadline,
            wait=wait_retry_after(initial=0.2, maximum=2.0),
            retry=retry_if_exception_type(answers.UnreadableAnswer),
            reraise=True,
        )
        return attempts(once)

    # -- discovery -------------------------------------------------------------------------------
    def discover(self) -> str:
        """Ask the server's version first; servers older than v1.9 get the Connect JSON API. A 200 that
        is not a readable VersionInfo is retried, then an error: it never sends the gate to Connect."""
        what = "Kargo server-version"

        def rest_version() -> str | None:
            status, body = self.request("GET", "/v1beta1/system/server-version")
            if status == 401:
                raise map_error(401, error_message(body), what="server-version")
            return answers.kargo_version(body, what) if status == 200 else None

        version = Retrying(
            stop=stop_after_attempt(3) | stop_after_delay(self.config.retry_budget),
            wait=wait_retry_after(initial=0.2, maximum=2.0),
            retry=retry_if_exception_type(answers.UnreadableAnswer),
            reraise=True,
        )(rest_version)
        if version is None:
            status, body = self.request("POST", CONNECT_PREFIX + "GetVersionInfo", body={})
            if status >= 400:
                raise map_error(status, error_message(body), what="Kargo version")
            body = answers.kargo_object_or_empty(body, "Kargo version (Connect)")
            info = body.get("versionInfo") or body
            version = (info.get("version") if isinstance(info, dict) else None) or "v0.0.0"
        self.version = version
        parsed = parse_version(version)
        self.connect = parsed is not None and parsed < REST_SINCE
        return version

    def _rpc(self, method: str, body: dict, **kw: Any) -> Any:
        """One Connect call; the answer in the REST shape (protojson times/durations/int64s: timefmt)."""
        return normalize(self.call("POST", CONNECT_PREFIX + method, body=body, **kw))

    # -- reads -----------------------------------------------------------------------------------
    # Every answer passes a gate.cluster.answers shape check (REST: the swagger's PromotionList, Stage,
    # queryFreightsResponse...; Connect: the response message, empty repeated fields omitted).
    def get_stage(self, project: str, name: str) -> dict:
        what = f'Stage "{name}" in project "{project}"'
        if self.connect:
            return self._rpc("GetStage", {"project": project, "name": name}, what=what, key="--stage",
                             judge=lambda b: answers.kargo_object(b, "Stage", what, key="stage"))
        return self.call("GET", _path("projects", (project, "project"), "stages", (name, "stage")), what=what,
                         key="--stage", judge=lambda b: answers.kargo_object(b, "Stage", what))

    def list_stages(self, project: str) -> list[dict]:
        what = f'Stages of project "{project}"'
        if self.connect:
            return self._rpc("ListStages", {"project": project}, what=what,
                             judge=lambda b: answers.kargo_list(b, what, key="stages", connect=True))
        return self.call("GET", _path("projects", (project, "project"), "stages"), what=what, key="--project",
                         judge=lambda b: answers.kargo_list(b, what))

    def get_freight(self, project: str, name_or_alias: str) -> dict:
        what = f'Freight "{name_or_alias}" in project "{project}"'
        if self.connect:
            for field in ("name", "alias"):
                got = self._rpc(
                    "GetFreight",
                    {"project": project, field: name_or_alias},
                    what=what,
                    key="--freight",
                    missing_ok=True,
                    judge=lambda b: answers.kargo_object(b, "Freight", what, key="freight"),
                )
                if got:
                    return got
            raise map_error(404, "not found", what=what, key="--freight")
        path = _path("projects", (project, "project"), "freight", (name_or_alias, "Freight name or alias"))
        return self.call("GET", path, what=what, key="--freight",
                         judge=lambda b: answers.kargo_object(b, "Freight", what))

    def available_freight(self, project: str, stage: str) -> list[dict]:
        """QueryFreight ?stage=: the Freight Kargo considers available to promote into the Stage."""
        what = f'Freight available to Stage "{stage}"'
        if self.connect:
            return self._rpc("QueryFreight", {"project": project, "stage": stage}, what=what,
                             judge=lambda b: answers.kargo_freight_groups(b, what, connect=True))
        _checked(stage, "stage")  # it travels as a query parameter
        return self.call(
            "GET",
            _path("projects", (project, "project"), "freight"),
            query={"stage": stage},
            what=what,
            key="--stage",
            judge=lambda b: answers.kargo_freight_groups(b, what),
        )

    def list_freight(self, project: str) -> list[dict]:
        what = f'Freight of project "{project}"'
        if self.connect:
            return self._rpc("QueryFreight", {"project": project}, what=what,
                             judge=lambda b: answers.kargo_freight_groups(b, what, connect=True))
        return self.call("GET", _path("projects", (project, "project"), "freight"), what=what,
                         judge=lambda b: answers.kargo_freight_groups(b, what))

    def list_promotions(self, project: str, stage: str | None = None) -> list[dict]:
        what = f'Promotions of project "{project}"'
        query = {"stage": _checked(stage, "stage")} if stage else None
        if self.connect:
            return self._rpc("ListPromotions", {"project": project, **(query or {})}, what=what,
                             judge=lambda b: answers.kargo_list(b, what, key="promotions", connect=True))
        return self.call("GET", _path("projects", (project, "project"), "promotions"), query=query, what=what,
                         judge=lambda b: answers.kargo_list(b, what))

    def get_promotion(self, project: str, name: str) -> dict:
        what = f'Promotion "{name}"'
        if self.connect:
            return self._rpc("GetPromotion", {"project": project, "name": name}, what=what,
                             judge=lambda b: answers.kargo_object(b, "Promotion", what, key="promotion"))
        return self.call("GET", _path("projects", (project, "project"), "promotions", (name, "Promotion name")),
                         what=what, judge=lambda b: answers.kargo_object(b, "Promotion", what))

    def watch_promotion(self, project: str, name: str, timeout: float) -> Iterator[dict]:
        """SSE `?watch=true`: each event's object ({} for a keepalive), until the stream ends or `timeout`
        of silence. Read in pieces under the run's deadline (a line that trickles in a byte at a time ends
        there, not when its newline comes); a line over MAX_SSE_LINE is an unreadable answer."""
        url = self.base + _path("projects", (project, "project"), "promotions", (name, "Promotion name"))
        what = f'watch of Promotion "{name}"'
        try:
            with self.http.get(
                url,
                params={"watch": "true"},
                stream=True,
                headers={"Accept": "text/event-stream"},
                timeout=(deadlines.clamp(self.config.timeout), deadlines.clamp(timeout)),
                verify=self.verify,
            ) as resp:
                if resp.status_code != 200:
                    raise map_error(
                        resp.status_code, error_message(_safe_json(resp)), what=f'Promotion "{name}"'
                    )
                event = ""
                for line in _sse_lines(resp.raw, what, silence=timeout):
                    if deadlines.passed():  # keepalives keep the stream busy: the wall still holds
                        raise _watch_deadline(name)
                    if line.startswith(":"):
                        yield {}  # keepalive: lets the caller check its deadline
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data = answers.parse_json(line[5:].strip() or "{}", what)
                        if not isinstance(data, dict):
                            raise answers.unreadable(what, "an event that is not an object", data)
                        if event == "error":
                            raise from_kargo_api(TransientError(f"Kargo watch error: {data.get('message')}"))
                        obj = data.get("object")
                        if obj:
                            yield answers.kargo_object(obj, "Promotion", what)
                    elif not line:
                        event = ""
        except deadlines.DeadlineExceeded:
            raise _watch_deadline(name) from None
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            if deadlines.passed():
                raise _watch_deadline(name) from None
            raise from_kargo_api(TransientError(f"Kargo watch of Promotion {name} ended: {type(exc).__name__}")) \
                from None

    def get_analysis_run(self, project: str, name: str) -> dict | None:
        what = f'AnalysisRun "{name}"'
        if self.connect:
            # GetAnalysisRunRequest has `namespace`, not `project` (api/service/v1alpha1/service.proto
            # L1295-1302 at v1.8.0); the v1.8 handler rejects an empty one
            # (pkg/server/get_analysisrun_v1alpha1.go L28-31). AnalysisRuns live in the Project namespace.
            return self._rpc("GetAnalysisRun", {"namespace": project, "name": name}, what=what, missing_ok=True,
                             judge=lambda b: answers.kargo_object(b, "AnalysisRun", what, key="analysisRun"))
        return self.call("GET", _path("projects", (project, "project"), "analysis-runs", (name, "AnalysisRun name")),
                         what=what, missing_ok=True, judge=lambda b: answers.kargo_object(b, "AnalysisRun", what))

    def list_events(self, project: str) -> list[dict]:
        what = f'events of project "{project}"'
        if self.connect:
            return self._rpc("ListProjectEvents", {"project": project}, what=what,
                             judge=lambda b: answers.kargo_list(b, what, key="events", connect=True))
        return self.call("GET", _path("projects", (project, "project"), "events"), what=what,
                         judge=lambda b: answers.kargo_list(b, what))

    # -- writes (promotions only ever through here or the kargo CLI) -----------------------------
    def promote(
        self,
        project: str,
        stage: str,
        *,
        freight: str | None = None,
        alias: str | None = None,
        origin: str | None = None,
    ) -> dict:
        """PromoteToStage with exactly one of freight / freightAlias / origin. Not retried on 5xx: the caller
        re-lists Promotions before trying again, so a lost answer never makes a second Promotion."""
        chosen = {k: v for k, v in (("freight", freight), ("freightAlias", alias), ("origin", origin)) if v}
        if len(chosen) != 1:
            raise ConfigError(
                "promote needs exactly one of --freight, --freight-alias or --origin", key="--freight"
            )
        perm = Permission("promote", "stages", GROUP, project, stage)
        what = f'Stage "{stage}" in project "{project}"'
        if self.connect:
            if origin:
                raise ConfigError(
                    f"Kargo {self.version} has no origin promotion (v1.11+): pass --freight", key="--origin"
                )
            return self._rpc(
                "PromoteToStage",
                {"project": project, "stage": stage, **chosen},
                what=what,
                permission=perm,
                retry=False,
                judge=lambda b: answers.kargo_object(b, "Promotion", what, key="promotion"),
            )
        # An unreadable answer is raised (TransientError), never retried here: the caller re-lists
        # the Promotions and adopts one this request created (promote.create_promotion).
        return self.call(
            "POST",
            _path("projects", (project, "project"), "stages", (stage, "stage"), "promotions"),
            body=chosen,
            what=what,
            permission=perm,
            retry=False,
            judge=lambda b: answers.kargo_object(b, "Promotion", what),
        )

    def abort_promotion(self, project: str, name: str) -> None:
        perm = Permission("patch", "promotions", GROUP, project, name)
        if self.connect:
            self._rpc(
                "AbortPromotion",
                {"project": project, "name": name},
                what=f'Promotion "{name}"',
                permission=perm,
            )
            return
        self.call(
            "POST",
            _path("projects", (project, "project"), "promotions", (name, "Promotion name"), "abort"),
            what=f'Promotion "{name}"',
            permission=perm,
        )


def _sse_lines(raw: Any, what: str, *, silence: float) -> Iterator[str]:
    """The lines of an event stream as they arrive (urllib3 response `raw`), each piece read under the
    deadline (deadlines.read_piece) with at most `silence` seconds between pieces. A line longer than
    MAX_SSE_LINE is an unreadable answer, never a buffer that grows until the stream ends."""
    line = bytearray()
    begun: float | None = None  # when the line now arriving began: one that trickles for `silence` is unreadable
    while True:
        piece = deadlines.read_piece(raw, what, wait=silence)
        if not piece:
            if line:
                yield _text(line)
            return
        start = 0
        while True:
            end = piece.find(b"\n", start)
            line += piece[start:] if end < 0 else piece[start:end]
            if len(line) > MAX_SSE_LINE:
                raw.close()
                raise answers.UnreadableAnswer(
                    f"{what}: unreadable answer: a line longer than {MAX_SSE_LINE >> 20} MiB")
            if end < 0:
                break
            yield _text(line)
            line.clear()
            begun = None
            start = end + 1
        if line and begun is None:
            begun = time.monotonic()
        elif line and begun is not None and time.monotonic() - begun > silence:
            raw.close()
            raise answers.UnreadableAnswer(
                f"{what}: unreadable answer: a line still incomplete after {silence:.0f}s")


def _text(line: bytearray) -> str:
    return line.rstrip(b"\r").decode("utf-8", "replace")


def _watch_deadline(name: str) -> deadlines.DeadlineExceeded:
    return deadlines.DeadlineExceeded(f"the deadline passed while following Promotion {name} (it goes on in Kargo)")


def _checked(value: str, what: str) -> str:
    return check_name(value, what, label=what == "project", key=f"--{what}" if what in _FLAGS else None)


_FLAGS = ("project", "stage")


def _path(*parts: str | tuple[str, str]) -> str:
    """`/v1beta1/...` from fixed parts and (value, what) names, each checked and escaped
    (gate.cluster.resources.segment): a project is a namespace (DNS label), other names DNS subdomains."""
    out = ["/v1beta1"]
    for part in parts:
        if isinstance(part, tuple):
            value, what = part
            out.append(segment(value, what, label=what == "project",
                               key=f"--{what}" if what in _FLAGS else None))
        else:
            out.append(part)
    return "/".join(out)


def _safe_json(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text


def map_error(
    status: int, msg: str, *, what: str, key: str | None = None, permission: Permission | None = None
) -> Exception:
    """Kargo's HTTP answer → the gate error with the exit code a user sees."""
    return from_kargo_api(_mapped(status, redact.redact(msg), what=what, key=key, permission=permission))


def _mapped(
    status: int, msg: str, *, what: str, key: str | None = None, permission: Permission | None = None
) -> Exception:
    if status == 400 and "not available" in msg:
        return GateClosed(f"Kargo refused the promotion: {msg}")
    if status == 401:
        return AuthError(f"Kargo API token rejected (401) on {what}: check KARGO_API_TOKEN / --kargo-token")
    if status == 403:
        if permission is not None and "promotions" in msg and "create" in msg:
            permission = Permission("create", "promotions", GROUP, permission.namespace)
        need = permission.describe() if permission else what
        return PermissionDenied(
            f"Kargo denied the gate's token: it needs {need} ({msg or 'forbidden'})", permission=permission
        )
    if status == 404:
        return ConfigError(f"{what} does not exist ({msg or 'not found'})", key=key)
    if status in (409, 422):
        return GateClosed(f"Kargo refused {what} ({status}): {msg}")
    return EvaluationError(f"Kargo API answered {status} on {what}: {msg}")
