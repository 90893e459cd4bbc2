"""The one HTTP session every Level 2-4 check shares.

`HttpClient` wraps a `requests.Session`: pooled connections sized for ~32 concurrent checks, a timeout
on every request, TLS verified unless a caller turns it off, no cookies kept between requests (checks
must not see each other's sessions), and no redirects followed unless asked. A target is either a URL or
an in-cluster Service (`ns/name:port` plus a path), reached through the API server's services/proxy
subresource (`via: proxy`), by cluster DNS (`via: direct`), or whichever fits (`auto`: direct inside a
pod, proxy outside).

Transient trouble (connection errors, read timeouts, 5xx, 429 with Retry-After) is retried briefly
here and then raised as `TransientError`; callers that judge the answer themselves (the `http` check)
ask for 5xx/429 to be returned instead.

Every request is held to the current deadline (gate/engine/deadlines.py): its connect and read timeouts are
the time left when shorter than its own, its body is read in pieces that stop at the deadline (a
trickling body cannot outlast it), and no retry starts that would end past it.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import urllib3
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay

from gate import redact
from gate.capture import tap
from gate.engine import deadlines
from gate.engine.retrying import RETRYABLE_STATUS, parse_retry_after, wait_retry_after
from gate.errors import ConfigError, EvaluationError, TransientError

POOL_SIZE = 32
DEFAULT_TIMEOUT = 10.0
USER_AGENT = "promotion-gate"
EXCERPT = 500
# Header values that are credentials: never shown, whatever the server or the spec says.
SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
                               "api-key", "x-auth-token", "x-vault-token", "private-token"})
_SERVICE = re.compile(r"^(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?)/(?P<name>[a-z0-9]([-a-z0-9]*[a-z0-9])?)"
                      r":(?P<port>[A-Za-z0-9-]+)$")
_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


class TargetUnreachable(TransientError):
    """The target did not answer: connection refused or reset, DNS failure, timeout."""


class TlsFailure(EvaluationError):
    """The target's certificate was not accepted (verification failed, handshake error)."""


@dataclass(frozen=True)
class ServiceRef:
    namespace: str
    name: str
    port: str

    @classmethod
    def parse(cls, text: str) -> ServiceRef:
        match = _SERVICE.match(text.strip())
        if not match:
            raise ConfigError(f"service {text!r} is not namespace/name:port", key="service")
        return cls(match["ns"], match["name"], match["port"])

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}:{self.port}"

    def dns_url(self, path: str) -> str:
        scheme = "https" if self.port in ("443", "https", "8443") else "http"
        return f"{scheme}://{self.name}.{self.namespace}.svc:{self.port}/{path.lstrip('/')}"


@dataclass
class HttpResponse:
    """What came back: status, lower-cased headers, text body, the URL asked, redirects followed."""

    status: int
    headers: dict[str, str]
    text: str
    url: str
    elapsed: float
    via: str = "direct"  # "direct" or "proxy"
    history: list[tuple[int, str]] = field(default_factory=list)  # (status, Location) per redirect

    def json(self) -> Any:
        import json

        return json.loads(self.text)

    def excerpt(self, limit: int = EXCERPT) -> str:
        return excerpt(self.text, limit)


def excerpt(text: str, limit: int = EXCERPT) -> str:
    """A bounded, single-line-ish, redacted body excerpt."""
    text = redact.redact((text or "").strip())
    text = re.sub(r"\s*\n\s*", " ⏎ ", text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def show_header(name: str, value: str) -> str:
    """One `Name: value` evidence line; credential headers masked."""
    if name.lower() in SENSITIVE_HEADERS:
        return f"{name}: {redact.MASK}"
    return redact.redact(f"{name}: {value}")


def resolve_env(value: str) -> str:
    """Substitute any `${env:NAME}` the spec layer left in place, registering the value as a secret."""
    import os

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise EvaluationError(f"environment variable {name} is not set")
        redact.register(os.environ[name])
        return os.environ[name]

    return _ENV_REF.sub(sub, value) if "${env:" in value else value


def protect_headers(headers: dict[str, Any] | None) -> dict[str, str]:
    """Request headers with `${env:}` resolved; every credential-looking value registered as a secret."""
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        text = resolve_env(str(value))
        if name.lower() in SENSITIVE_HEADERS:
            redact.register(text)
            scheme, _, rest = text.partition(" ")
            if rest and scheme.lower() in ("bearer", "basic", "token", "apikey"):
                redact.register(rest.strip())
        out[str(name)] = text
    return out


def _no_cookies() -> Any:
    """A policy that accepts no cookie (a DefaultCookiePolicy)."""
    import http.cookiejar  # here, with requests (it imports it too): a run without HTTP checks needs neither

    return http.cookiejar.DefaultCookiePolicy(allowed_domains=[])


def _stop_when_hint_exceeds(budget: float):  # noqa: ANN202 - tenacity stop callable
    def stop(state: RetryCallState) -> bool:
        exc = state.outcome.exception() if state.outcome else None
        hinted = parse_retry_after(getattr(exc, "retry_after", None))
        return hinted is not None and state.seconds_since_start + hinted > budget
    return stop


class HttpClient:
    """Thread-safe: one instance serves every check of a run."""

    def __init__(self, kube: Any = None, *, in_cluster: bool | None = None, pool_size: int = POOL_SIZE,
                 retry_budget: float = 8.0) -> None:
        self.kube = kube
        if in_cluster is None:
            from gate.cluster.kube import in_cluster as detect

            in_cluster = detect()
        self.in_cluster = in_cluster
        self.retry_budget = retry_budget
        self.pool_size = pool_size
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        """The requests.Session, made on the first direct request: a run with no HTTP check never imports
        requests (~25 ms of start-up)."""
        with self._lock:
            if self._session is None:
                import requests
                from requests.adapters import HTTPAdapter

                session = requests.Session()
                session.headers["User-Agent"] = USER_AGENT
                session.cookies.set_policy(_no_cookies())
                adapter = HTTPAdapter(pool_connections=self.pool_size, pool_maxsize=self.pool_size, max_retries=0)
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                self._session = session
            return self._session

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.close()

    # -- routing -------------------------------------------------------------------------------
    def route(self, via: str = "auto") -> str:
        if via not in ("auto", "proxy", "direct"):
            raise ConfigError(f"via must be proxy, direct or auto, not {via!r}", key="via")
        if via == "auto":
            return "direct" if self.in_cluster else "proxy"
        return via

    def describe(self, url: str | None = None, service: ServiceRef | None = None, path: str = "",
                 via: str = "auto") -> str:
        """Where a request goes, for reports: a URL, or `service ns/name:port/path via proxy`."""
        if service is None:
            return redact.redact(url or "")
        route = self.route(via)
        if route == "direct":
            return service.dns_url(path)
        return f"service {service}/{path.lstrip('/')} (via the API server's service proxy)"

    # -- requests ------------------------------------------------------------------------------
    def request(self, method: str = "GET", url: str | None = None, *, service: ServiceRef | None = None,
                path: str = "", via: str = "auto", headers: dict[str, str] | None = None,
                body: Any = None, timeout: float = DEFAULT_TIMEOUT, verify: bool | str = True,
                follow_redirects: bool = False, auth: tuple[str, str] | None = None,
                return_errors: bool = False, attempts: int = 3) -> HttpResponse:
        """One request, retried briefly on transient trouble.

        With `return_errors`, 5xx/429 answers come back as responses; otherwise they raise
        TransientError (with `retry_after` and `response` set). Transport errors raise
        TargetUnreachable; certificate problems raise TlsFailure.
        """
        retrying = Retrying(
            stop=stop_after_attempt(max(1, attempts)) | stop_after_delay(self.retry_budget)
            | _stop_when_hint_exceeds(self.retry_budget) | deadlines.stop_at_deadline,
            wait=wait_retry_after(initial=0.2, maximum=2.0),
            retry=retry_if_exception_type(TransientError),
            reraise=True,
        )
        return retrying(self._once, method, url, service, path, via, headers, body, timeout, verify,
                        follow_redirects, auth, return_errors)

    def _once(self, method: str, url: str | None, service: ServiceRef | None, path: str, via: str,
              headers: dict[str, str] | None, body: Any, timeout: float, verify: bool | str,
              follow_redirects: bool, auth: tuple[str, str] | None, return_errors: bool) -> HttpResponse:
        timeout = deadlines.clamp(timeout, f"{method} {redact.redact(url or str(service))}") or timeout
        send = self._send if tap.current is None else tap.current.http_send(self._send)  # capture/replay
        resp = send(method, url, service, path, via, headers, body, timeout, verify, follow_redirects, auth)
        if not return_errors and resp.status in RETRYABLE_STATUS:
            err = TransientError(f"{method} {resp.url}: HTTP {resp.status} {excerpt(resp.text, 200)}".strip())
            err.retry_after = resp.headers.get("retry-after")  # type: ignore[attr-defined]
            err.response = resp  # type: ignore[attr-defined]
            raise err
        return resp

    def _send(self, method: str, url: str | None, service: ServiceRef | None, path: str, via: str,
              headers: dict[str, str] | None, body: Any, timeout: float, verify: bool | str,
              follow_redirects: bool, auth: tuple[str, str] | None) -> HttpResponse:
        if service is not None:
            if self.route(via) == "proxy":
                return self._via_proxy(method, service, path, headers, body, timeout, auth)
            return self._direct(method, service.dns_url(path), headers, body, timeout, verify, follow_redirects,
                                auth)
        if url:
            return self._direct(method, url, headers, body, timeout, verify, follow_redirects, auth)
        raise ConfigError("a request needs a url or a service", key="url")

    def _direct(self, method: str, url: str, headers: dict[str, str] | None, body: Any, timeout: float,
                verify: bool | str, follow_redirects: bool, auth: tuple[str, str] | None) -> HttpResponse:
        kwargs: dict[str, Any] = {"headers": headers or {}, "timeout": (timeout, timeout), "verify": verify,
                                  "allow_redirects": follow_redirects, "auth": auth, "stream": True}
        if isinstance(body, (dict, list)):
            kwargs["json"] = body
        elif body is not None:
            kwargs["data"] = body if isinstance(body, bytes) else str(body).encode()
        shown = redact.redact(url)
        session = self.session
        import requests  # loaded by the session above

        start = time.monotonic()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # InsecureRequestWarning when the user said insecure
                raw = deadlines.load(session.request(method, url, **kwargs), f"{method} {shown}")
        except deadlines.DeadlineExceeded:
            raise
        except requests.exceptions.SSLError as exc:
            raise TlsFailure(f"{method} {shown}: TLS: {_reason(exc)}") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                requests.exceptions.ChunkedEncodingError) as exc:
            if deadlines.passed():
                raise deadlines.DeadlineExceeded(f"{method} {shown}: no answer before the deadline") from None
            raise TargetUnreachable(f"{method} {shown}: {_reason(exc)}") from None
        except requests.exceptions.InvalidURL as exc:
            raise ConfigError(f"invalid URL {shown}: {exc}", key="url") from None
        except requests.exceptions.RequestException as exc:
            raise EvaluationError(f"{method} {shown}: {_reason(exc)}") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:  # the body, read from the raw stream
            raise TargetUnreachable(f"{method} {shown}: {_reason(exc)}") from None
        history = [(r.status_code, r.headers.get("location", "")) for r in raw.history]
        return HttpResponse(raw.status_code, {k.lower(): v for k, v in raw.headers.items()},
                            raw.text, url, round(time.monotonic() - start, 3), "direct", history)

    def _via_proxy(self, method: str, service: ServiceRef, path: str, headers: dict[str, str] | None,
                   body: Any, timeout: float, auth: tuple[str, str] | None) -> HttpResponse:
        import base64

        if self.kube is None:
            raise EvaluationError(f"service {service} is reached through the API server's service proxy, "
                                  "and no cluster is configured (set via: direct, or give a kubeconfig)")
        hdrs = dict(headers or {})
        if auth is not None:
            hdrs["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        # Note: the API server consumes Authorization itself (the gate's own token replaces the
        # target's), so credentials for the target do not survive services/proxy; use via: direct.
        start = time.monotonic()
        shown = f"service {service}/{path.lstrip('/')}"
        resp = self.kube.service_proxy(service.namespace, service.name, service.port, path,
                                       method=method, headers=hdrs or None, body=body, timeout=timeout)
        text = resp.body if isinstance(resp.body, str) else ""
        return HttpResponse(resp.status, dict(resp.headers), text, shown, round(time.monotonic() - start, 3),
                            "proxy")


def _reason(exc: Exception) -> str:
    """The innermost useful words of a requests/urllib3 error (no object reprs)."""
    text = str(exc)
    for pattern in (r"\[SSL: [A-Z_]+\] ([^(\]]+?)(?: \(_ssl|\)|'|$)", r"certificate verify failed: ([^(']+)",
                    r"(Connection refused)", r"(Name or service not known|nodename nor servname|"
                    r"Temporary failure in name resolution)", r"(Read timed out)", r"(timed out)",
                    r"(Connection reset by peer)", r"(RemoteDisconnected\([^)]*\))"):
        match = re.search(pattern, text)
        if match:
            return redact.redact(match.group(1).strip())
    return redact.cut(text, 300)  # masked before the cut


# -- targets as checks declare them ----------------------------------------------------------------
DURATION_SCHEMA: dict[str, Any] = {"anyOf": [{"type": "number", "minimum": 0},
                                             {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h)?)+$"}]}
PORT_SCHEMA: dict[str, Any] = {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 65535},
                                         {"type": "string", "pattern": r"^[0-9]{1,5}$"}]}
SERVICE_PATTERN = _SERVICE.pattern.replace("(?P<ns>", "(").replace("(?P<name>", "(").replace("(?P<port>", "(")


# RFC 9110 §5.1: a field name is a token; http.client encodes names as ASCII and raised UnicodeEncodeError
# inside the check ("internal error") for `ünï:`. A value is one line of Latin-1 (gate/headers.py).
HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
HEADER_VALUE = "^[\t\x20-\x7e\x80-\xff]*$"


def headers_schema(description: str = "", *, values: str = HEADER_VALUE) -> dict[str, Any]:
    """A header mapping: names HTTP can carry (a token), string values of one line of Latin-1."""
    schema: dict[str, Any] = {"type": "object", "propertyNames": {"pattern": HEADER_NAME},
                              "additionalProperties": {"type": "string", "pattern": values}}
    if description:
        schema["description"] = description
    return schema


def target_schema(*, path: bool = True) -> dict[str, Any]:
    """JSON Schema properties shared by every HTTP-based kind: where to go and how to trust it."""
    props: dict[str, Any] = {
        "url": {"type": "string", "minLength": 1, "description": "Base URL (http:// or https://)."},
        "service": {"type": "string", "pattern": SERVICE_PATTERN,
                    "description": "In-cluster Service as namespace/name:port."},
        "via": {"enum": ["auto", "proxy", "direct"],
                "description": "proxy: the API server's services/proxy; direct: cluster DNS; "
                               "auto: direct inside a pod, else proxy."},
        "headers": headers_schema("Request headers; values may use ${env:NAME} and are never printed."),
        "ca_bundle": {"type": "string", "description": "PEM file of CA certificates to trust."},
        "insecure": {"type": "boolean", "description": "Skip TLS verification (only when named)."},
        "request_timeout": {**DURATION_SCHEMA, "description": "Per-request timeout (default 10s)."},
    }
    if path:
        props["path"] = {"type": "string", "description": "Path on the service (with `service:`)."}
    return props


TARGET_ONE_OF: list[dict[str, Any]] = [{"required": ["url"]}, {"required": ["service"]}]


def _sendable(headers: dict[str, Any]) -> None:
    """A header value HTTP cannot carry, `${env:…}` ones included (the schema does not read those), is a
    usage error at load (the spec loader adds the file, line and key) naming the header, never its value
    (gate/headers.py)."""
    from gate.headers import unsendable

    for name, value in headers.items():
        why = unsendable(str(value))
        if why:
            raise ValueError(f"the value of header {name} cannot be sent: it contains {why}")


@dataclass
class Target:
    """A URL or Service from a check's params, with its trust and timeout settings."""

    url: str | None
    service: ServiceRef | None
    path: str
    via: str
    headers: dict[str, str]
    verify: bool | str
    timeout: float

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Target:
        from gate.engine.durations import parse

        service = ServiceRef.parse(params["service"]) if params.get("service") else None
        if service is None and not params.get("url"):
            raise ConfigError("give either url or service", key="url")
        verify: bool | str = True
        if params.get("insecure") is True:
            verify = False
        elif params.get("ca_bundle"):
            verify = str(params["ca_bundle"])
        timeout = parse(params["request_timeout"]) if params.get("request_timeout") is not None \
            else DEFAULT_TIMEOUT
        headers = dict(params.get("headers") or {})
        _sendable(headers)
        return cls(params.get("url"), service, str(params.get("path") or ""), params.get("via", "auto"),
                   headers, verify, timeout)

    def join(self, suffix: str) -> tuple[str | None, str]:
        """(url, service path) for an API path under this target."""
        if self.service is not None:
            return None, (self.path.rstrip("/") + "/" + suffix.lstrip("/")) if suffix else self.path
        base = str(self.url)
        if not suffix:
            return base, ""
        return base.rstrip("/") + "/" + suffix.lstrip("/"), ""

    def where(self, client: HttpClient, suffix: str = "") -> str:
        url, path = self.join(suffix)
        return client.describe(url, self.service, path, self.via)

    def call(self, client: HttpClient, method: str = "GET", suffix: str = "", *,
             query: dict[str, Any] | None = None, **kwargs: Any) -> HttpResponse:
        url, path = self.join(suffix)
        if query:
            from urllib.parse import urlencode

            qs = urlencode({k: v for k, v in query.items() if v is not None})
            if url is not None:
                url += ("&" if "?" in url else "?") + qs
            else:
                path += ("&" if "?" in path else "?") + qs
        headers = {**protect_headers(self.headers), **(kwargs.pop("headers", None) or {})}
        kwargs.setdefault("timeout", self.timeout)
        kwargs.setdefault("verify", self.verify)
        return client.request(method, url, service=self.service, path=path, via=self.via,
                              headers=headers, **kwargs)

    def permissions(self, method: str = "GET") -> list:
        """`get` (or `create` for writes) on services/proxy when the request goes through the API server."""
        from gate.cluster.kube import Permission
        from gate.cluster.kube import in_cluster as detect

        if self.service is None or self.via == "direct" or (self.via == "auto" and detect()):
            return []
        verb = "get" if method.upper() in ("GET", "HEAD") else "create"
        return [Permission(verb, "services/proxy", "", self.service.namespace, self.service.name)]


_shared: HttpClient | None = None
_shared_lock = threading.Lock()


def client_for(clients: Any) -> HttpClient:
    """The run's shared client (`clients.http`), or a process-wide one built on `clients.kube`."""
    http = getattr(clients, "http", None)
    if http is not None:
        return http
    global _shared
    with _shared_lock:
        if _shared is None or (_shared.kube is None and getattr(clients, "kube", None) is not None):
            _shared = HttpClient(getattr(clients, "kube", None),
                                 in_cluster=getattr(clients, "in_cluster", None) or None)
        return _shared
