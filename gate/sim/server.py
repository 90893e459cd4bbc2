"""The simulator's HTTPS server: `start()` returns a running `SimHandle`.

Every request is recorded (method, path, query, status, identity; and the JSON body of writes under a
prefix in `body_log_prefixes`, e.g. the Kargo API's PromoteToStage), may meet an injected fault, goes
to a mounted route (`add_route`, e.g. the Kargo API) or to the Kubernetes API.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from gate.sim import protoenc
from gate.sim import scenario as scen
from gate.sim.api import KubeAPI, query_string
from gate.sim.faults import Fault, Faults
from gate.sim.http import SimRequest, SimResponse, status_body, status_response
from gate.sim.rbac import Authorizer
from gate.sim.store import Store, StoreError

Handler = Callable[[SimRequest], SimResponse]
TICK = 0.05
MAX_ANSWERS = 4096  # first answers kept for `stale` faults
TRICKLE_PIECE = 64  # bytes per piece of a trickled body
# Go's net/http buffers an answer's first 2 kB (bufferBeforeChunkingSize): a longer one written without a
# Content-Length, as kube-apiserver writes lists, goes out chunked, often a chunk per object.
UNCHUNKED_MAX = 2048
SENT_CHUNK = 8192
# kube-apiserver gzips an answer whose first write exceeds 128 KiB when the client accepts gzip, at level 1
# (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/writers.go:155-159, 262-266,
# kubernetes v1.36); client-go's transport asks for it unless DisableCompression (rest/config.go:101-103).
GZIP_MIN = 128 * 1024
_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "authorization",
    "content-length",
    "content-encoding",
}


class Clock:
    """Scenario seconds since start: wall time multiplied by the speed factor."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed if speed > 0 else 1.0
        self.started = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self.started) * self.speed


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    sim: SimHandle

    def handle_error(self, request: Any, client_address: tuple[str, int]) -> None:
        """A client that fails the TLS handshake or hangs up gets one line on stderr, not a traceback."""
        exc = sys.exc_info()[1]
        if not isinstance(exc, ssl.SSLError | ConnectionError | TimeoutError):
            super().handle_error(request, client_address)
            return
        host, port = client_address[:2]
        why = f"TLS handshake failed ({exc.reason or exc})" if isinstance(exc, ssl.SSLError) else str(exc)
        if isinstance(exc, ssl.SSLError) and exc.reason == "HTTP_REQUEST":
            why += ": plain HTTP sent to the HTTPS port (use https:// and the CA it printed)"
        print(f"gate sim: rejected a connection from {host}:{port}: {why}", file=sys.stderr, flush=True)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY, as Go's net/http (the API server) sets it: without it, the body written after the
    # headers waits for the client's delayed ACK, ~40 ms on every answer on a kept-alive connection.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _serve(self) -> None:
        self.server.sim._serve(self)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve  # noqa: N815


class SimHandle:
    """A running simulated cluster."""

    def __init__(
        self,
        data: dict,
        *,
        port: int = 0,
        speed: float | None = None,
        request_log: str | None = None,
        workdir: str | None = None,
    ) -> None:
        self.scenario = data
        self.controllers = scen.controllers_enabled(data)  # a bad `controllers:` fails before serving
        self.name: str = data.get("name", "scenario")
        self.settings: dict = dict(data.get("settings") or {})
        self.client_certificates = _client_cert_mode(data.get("client_certificates"))  # before serving
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="gate-sim-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._clock = Clock(speed if speed is not None else float(data.get("speed", 1.0)))
        self.store = Store()
        self.store.load(scen.crd_objects(data.get("crds") or []))
        self.store.load(scen.render_time(data.get("objects") or []), owned=True)  # fresh copies
        self.token: str = data.get("gate_token", "gate-token")
        self.admin_token: str = data.get("admin_token", "admin-token")
        tokens = dict(data.get("tokens") or {})
        tokens.setdefault(self.admin_token, {"user": "kubernetes-admin", "groups": ["system:masters"]})
        self.auth = Authorizer(tokens, data.get("rbac") or {}, self.store)
        self.faults = Faults(data.get("faults"))
        self._answers: dict[tuple[str, str, str], SimResponse] = {}
        self.requests: list[dict] = []
        self.request_log = request_log
        # writes whose JSON body is worth recording (never Kubernetes paths: Secrets travel there)
        self.body_log_prefixes: list[str] = []
        self._log_lock = threading.Lock()
        self._routes: list[tuple[str, Handler]] = []
        self._tickers: list[Callable[[float], None]] = []
        self._targets: dict[str, str] = {k: str(v) for k, v in (data.get("services") or {}).items()}
        self._timeline = scen.timeline_entries(data)
        self._stop = threading.Event()
        self.destinations: dict[str, SimHandle] = {}  # gate/sim/multicluster.py: the scenario's `clusters:`
        self._http = requests.Session()
        self.api = KubeAPI(self.store, self.auth, scen.render_time(dict(data.get("logs") or {})), self._proxy,
                           features=data.get("api"))
        self._start_server(port)
        self.add_ticker(self._apply_timeline)
        if data.get("token_request"):
            from gate.sim.tokens import TokenIssuer

            self.api.token_issuer = TokenIssuer(data["token_request"])
        if self.controllers["argocd"]:
            from gate.sim.argocd_controller import ArgoCDController

            self.add_ticker(ArgoCDController(self.store).tick)
        self._ticker_thread = threading.Thread(target=self._tick_loop, name="sim-clock", daemon=True)
        self._ticker_thread.start()

    # -- lifecycle -----------------------------------------------------------------------------
    def _start_server(self, port: int) -> None:
        from gate.sim.tls import make_certs, write_kubeconfig

        self.ca_file, cert, key = (str(p) for p in make_certs(self.workdir))
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        if self.client_certificates:  # mTLS: the CA signs client certificates too (as kubeadm and kind)
            ctx.load_verify_locations(self.ca_file)
            ctx.verify_mode = ssl.CERT_REQUIRED if self.client_certificates == "require" else ssl.CERT_OPTIONAL
        self._httpd = _Server(("127.0.0.1", port), _RequestHandler, bind_and_activate=True)
        self._httpd.socket = ctx.wrap_socket(
            self._httpd.socket, server_side=True, do_handshake_on_connect=False
        )
        self._httpd.sim = self
        self.port = self._httpd.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self.api.server_url = self.url
        ca = Path(self.ca_file)
        self.kubeconfig = str(write_kubeconfig(self.workdir / "kubeconfig", self.url, ca, self.token))
        self.admin_kubeconfig = str(
            write_kubeconfig(self.workdir / "admin-kubeconfig", self.url, ca, self.admin_token, user="admin")
        )
        self._serve_thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sim-http", daemon=True
        )
        self._serve_thread.start()

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        for destination in self.destinations.values():
            destination.stop()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._ticker_thread.join(timeout=2)
        self._http.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> SimHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- public helpers ------------------------------------------------------------------------
    @property
    def clock(self) -> float:
        """Scenario seconds since start (wall time × speed)."""
        return self._clock.now()

    def now(self) -> float:
        return self._clock.now()

    @property
    def speed(self) -> float:
        return self._clock.speed

    def add_route(self, prefix: str, handler: Handler) -> None:
        """Send requests whose path starts with prefix to handler (auth is the handler's business)."""
        self._routes.append((prefix, handler))
        self._routes.sort(key=lambda r: len(r[0]), reverse=True)

    def add_ticker(self, fn: Callable[[float], None]) -> None:
        """Call fn(scenario_seconds) about every 50 ms from the clock thread."""
        self._tickers.append(fn)

    def set_service_target(self, namespace: str, name: str, port: int | str, url: str) -> None:
        self._targets[f"{namespace}/{name}:{port}"] = url

    def add_fault(self, raw: dict[str, Any]) -> Any:
        """Add a fault at run time (same keys as a scenario's `faults:` entries)."""
        return self.faults.add(raw)

    def client_certificate(self, user: str, groups: list[str], style: str = "kind") -> tuple[str, str]:
        """(certificate PEM, key PEM) for CN=user, O=groups, signed by the CA this simulator trusts for
        clients (scenario `client_certificates: true`); `style` kind (RSA, PKCS#1) or k3s (EC, chain)."""
        from gate.sim.tls import client_certificate

        return client_certificate(self.workdir, user, groups, style)

    def write_kubeconfig(self, path: str | Path, credentials: dict, user: str = "gate") -> str:
        """A kubeconfig for this simulator with the user entry `credentials` (token, client certificate,
        exec plugin, ...)."""
        from gate.sim.tls import write_kubeconfig

        return str(write_kubeconfig(Path(path), self.url, Path(self.ca_file), "", user=user,
                                    credentials=credentials))

    def identity_of(self, token: str | None) -> str | None:
        ident = self.auth.identify(token)
        return ident.user if ident else None

    # -- clock and timeline --------------------------------------------------------------------
    def _tick_loop(self) -> None:
        while not self._stop.wait(TICK):
            now = self._clock.now()
            for fn in list(self._tickers):
                try:
                    fn(now)
                except Exception as exc:  # a broken ticker must not stop the clock
                    print(f"gate sim: ticker {getattr(fn, '__name__', fn)} failed: {exc}", file=sys.stderr)

    def _apply_timeline(self, now: float) -> None:
        while self._timeline and self._timeline[0][0] <= now:
            _, entry = self._timeline.pop(0)
            self.apply_change(entry)

    def apply_change(self, entry: dict) -> None:
        """Apply one timeline entry: patch / create / replace / delete (each an object or a list)."""
        entry = scen.render_time(entry)
        for action in ("create", "replace", "patch", "delete"):
            items = entry.get(action)
            if items is None:
                continue
            for obj in items if isinstance(items, list) else [items]:
                try:
                    self._apply_one(action, obj)
                except StoreError as err:
                    print(f"gate sim: timeline {action} failed: {err.message}", file=sys.stderr)

    def _apply_one(self, action: str, obj: dict) -> None:
        if action == "create":
            self.store.load([obj])
            return
        if action == "replace":
            self.store.replace(obj)
            return
        group = obj.get("apiVersion", "").rpartition("/")[0]
        plural = self.store.plural_of(group, obj.get("kind", ""))
        meta = obj.get("metadata") or {}
        if plural is None:
            raise StoreError(404, "NotFound", f"unknown kind {obj.get('kind')}")
        if action == "delete":
            self.store.delete(group, plural, meta.get("namespace"), meta["name"])
        else:
            self.store.merge_patch(group, plural, meta.get("namespace"), meta["name"], obj)

    # -- request handling ----------------------------------------------------------------------
    def _serve(self, h: _RequestHandler) -> None:
        split = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        req = SimRequest(
            h.command,
            split.path,
            parse_qs(split.query, keep_blank_values=True),
            {k.lower(): v for k, v in h.headers.items()},
            body,
        )
        req.client_cert = _peer_identity(h.connection)
        ident = self.api.authenticate(req)
        req.identity = ident.user if ident else None
        self._respond(h, req)

    def _respond(self, h: _RequestHandler, req: SimRequest) -> int:
        body_faults: list[Fault] = []
        delivery: Fault | None = None  # trickle / short_read: how the answer is sent
        method = "WATCH" if req.method == "GET" and req.arg("watch") in ("1", "true") else req.method
        for fault in self.faults.match(method, req.path, self._clock.now()):
            if fault.latency:
                time.sleep(fault.latency)
            if fault.drop:
                self._record(req, 0)
                h.close_connection = True
                with contextlib.suppress(OSError):
                    h.connection.shutdown(socket.SHUT_RDWR)
                return 0
            if fault.trickle or fault.short_read:
                delivery = fault
            if fault.replaces_body:
                body_faults.append(fault)
            elif fault.status:
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                reason = {429: "TooManyRequests", 503: "ServiceUnavailable"}.get(
                    fault.status, "InternalError"
                )
                msg = fault.message or f"injected fault: HTTP {fault.status}"
                resp = protoenc.negotiated(req, status_response(fault.status, reason, msg, {}, headers))
                return self._write(h, req, resp, delivery)
        try:
            resp = self._route(req)
        except Exception as exc:  # an internal error is a 500 Status, as the apiserver answers
            resp = status_response(500, "InternalError", f"simulator error: {type(exc).__name__}: {exc}")
        resp = self._remember(req, protoenc.negotiated(req, resp))
        for fault in body_faults:
            resp = self._replace_body(req, resp, fault)
        return self._write(h, req, resp, delivery)

    def _answer_key(self, req: SimRequest) -> tuple[str, str, str]:
        return req.method, req.path, query_string(req.query)

    def _remember(self, req: SimRequest, resp: SimResponse) -> SimResponse:
        """Encode the answer once; keep the first 200 answer to each GET, for `stale` faults."""
        data, headers = resp.encoded()
        if data is None:
            return resp  # a stream
        resp = SimResponse(resp.status, data, headers)
        if req.method == "GET" and resp.status == 200 and len(self._answers) < MAX_ANSWERS:
            self._answers.setdefault(self._answer_key(req), resp)
        return resp

    def _replace_body(self, req: SimRequest, resp: SimResponse, fault: Fault) -> SimResponse:
        status = fault.status or resp.status
        headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-type"}
        headers["Content-Type"] = "application/json"
        if fault.stale:
            old = self._answers.get(self._answer_key(req))
            return SimResponse(status, old.body, dict(old.headers)) if old else resp
        if fault.status_failure:
            msg = fault.message or "injected fault: a Status Failure body in a 200 answer"
            return SimResponse(status, json.dumps(status_body(500, "InternalError", msg)).encode(), headers)
        if fault.raw_body is not None:
            return SimResponse(status, fault.raw_body.encode(), headers)
        if fault.truncate is not None:
            data = resp.body if isinstance(resp.body, bytes) else b""
            keep = min(max(int(len(data) * fault.truncate), 1), max(len(data) - 1, 0))
            return SimResponse(status, data[:keep], headers)
        return SimResponse(status, json.dumps(fault.body).encode(), headers)

    def _route(self, req: SimRequest) -> SimResponse:
        for prefix, handler in self._routes:
            if req.path.startswith(prefix):
                return handler(req)
        return self.api.handle(req)

    def _write(self, h: _RequestHandler, req: SimRequest, resp: SimResponse,
               delivery: Fault | None = None) -> int:
        data, headers = resp.encoded()
        chunked = data is not None and len(data) > UNCHUNKED_MAX and delivery is None and req.method != "HEAD"
        gzipped = chunked and len(data) > GZIP_MIN and self._gzips(req)  # type: ignore[arg-type]
        # Recorded before the answer leaves: a client that got its answer always finds it in the log.
        self._record(req, resp.status, "gzip" if gzipped else None,
                     protobuf=headers.get("Content-Type") == protoenc.CONTENT_TYPE)
        try:
            h.send_response(resp.status)
            for key, value in headers.items():
                h.send_header(key, value)
            if data is None:
                h.send_header("Transfer-Encoding", "chunked")
                h.send_header("Cache-Control", "no-cache")
                h.end_headers()
                self._stream(h, resp.body)  # type: ignore[arg-type]
            elif chunked:
                if gzipped:
                    h.send_header("Content-Encoding", "gzip")
                    h.send_header("Vary", "Accept-Encoding")
                    data = gzip.compress(data, compresslevel=1)
                h.send_header("Transfer-Encoding", "chunked")  # as Go's net/http sends a long answer
                h.end_headers()
                self._send_chunked(h, data)
            else:
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                if req.method != "HEAD":
                    self._send(h, data, delivery)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            h.close_connection = True
        return resp.status

    def _gzips(self, req: SimRequest) -> bool:
        """A Kubernetes API answer (not another API this server plays) to a client that accepts gzip."""
        accepted = {t.strip() for t in req.headers.get("accept-encoding", "").split(",")}  # as Go compares
        return "gzip" in accepted and not any(req.path.startswith(prefix) for prefix, _ in self._routes)

    @staticmethod
    def _send_chunked(h: _RequestHandler, data: bytes) -> None:
        for i in range(0, len(data), SENT_CHUNK):
            piece = data[i:i + SENT_CHUNK]
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        h.wfile.write(b"0\r\n\r\n")

    def _send(self, h: _RequestHandler, data: bytes, delivery: Fault | None) -> None:
        if delivery is None:
            h.wfile.write(data)
            return
        if delivery.short_read:  # the whole length announced, half of it sent, then the connection cut
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            h.close_connection = True
            with contextlib.suppress(OSError):
                h.connection.shutdown(socket.SHUT_RDWR)
            return
        for i in range(0, len(data), TRICKLE_PIECE):
            if i and self._stop.wait(delivery.trickle):
                return
            h.wfile.write(data[i : i + TRICKLE_PIECE])
            h.wfile.flush()

    def _stream(self, h: _RequestHandler, chunks: Any) -> None:
        try:
            for chunk in chunks:
                if self._stop.is_set():
                    break
                if chunk:
                    h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    h.wfile.flush()
            h.wfile.write(b"0\r\n\r\n")
        finally:
            close = getattr(chunks, "close", None)
            if close:
                close()

    def _record(self, req: SimRequest, status: int, encoding: str | None = None, protobuf: bool = False) -> None:
        entry = {
            "time": round(time.time(), 3),
            "method": req.method,
            "path": req.path,
            "query": {k: v if len(v) > 1 else v[0] for k, v in req.query.items()},
            "status": status,
            "identity": req.identity,
        }
        if encoding:
            entry["encoding"] = encoding
        if protobuf:
            entry["format"] = "protobuf"
        if req.method not in ("GET", "HEAD") and any(req.path.startswith(p) for p in self.body_log_prefixes):
            try:
                entry["body"] = req.json()
            except ValueError:
                entry["body"] = None
        with self._log_lock:
            self.requests.append(entry)
            if self.request_log:
                with open(self.request_log, "a", encoding="utf-8") as fh:
                    fh.write(json.dumps(entry) + "\n")

    # -- services/proxy ------------------------------------------------------------------------
    def _proxy(self, req: SimRequest, namespace: str, name: str, tail: str) -> SimResponse:
        svc_name, port = _split_service(name)
        svc = self.store.get("", "services", namespace, svc_name)
        if svc is None:
            return status_response(
                404, "NotFound", f'services "{svc_name}" not found', {"name": svc_name, "kind": "services"}
            )
        target = self._target_for(namespace, svc, port)
        if target is None:
            return status_response(
                503, "ServiceUnavailable", f'no endpoints available for service "{svc_name}"', {}
            )
        url = target.rstrip("/") + "/" + tail.lstrip("/")
        if req.query:
            url += "?" + query_string(req.query)
        headers = {k: v for k, v in req.headers.items() if k not in _HOP}
        try:
            r = self._http.request(
                req.method, url, headers=headers, data=req.body or None, allow_redirects=False, timeout=30
            )
        except requests.RequestException as exc:
            return status_response(503, "ServiceUnavailable", f"error trying to reach service: {exc}", {})
        out_headers = {k: v for k, v in r.headers.items() if k.lower() not in _HOP}
        return SimResponse(r.status_code, r.content, out_headers)

    def _target_for(self, namespace: str, svc: dict, port: str) -> str | None:
        name = svc["metadata"]["name"]
        ports = (svc.get("spec") or {}).get("ports") or []
        candidates = {port}
        for p in ports:
            if port in (str(p.get("port")), p.get("name")) or (not port and len(ports) == 1):
                candidates |= {str(p.get("port")), str(p.get("name") or "")}
        for cand in candidates:
            url = self._targets.get(f"{namespace}/{name}:{cand}") if cand else None
            if url:
                return url
        return self._targets.get(f"{namespace}/{name}") if not port else None


def _client_cert_mode(raw: Any) -> str | None:
    """The scenario's `client_certificates:` switch: true/accept (a verified client certificate
    authenticates, as kube-apiserver's --client-ca-file), require (no handshake without one). A mapping
    of users to groups (how another branch's gate/sim/x509auth.py spells it) accepts too."""
    if raw in (None, False):
        return None
    if raw is True or raw == "accept" or isinstance(raw, dict):  # a mapping {user: [groups]}: accept too
        return "accept"
    if raw == "require":
        return "require"
    raise scen.ScenarioError(f"client_certificates: expected true, accept or require, got {raw!r}")


def _peer_identity(conn: Any) -> tuple[str, list[str]] | None:
    """(CN, [O, ...]) of the client certificate the handshake verified, or None."""
    try:
        cert = conn.getpeercert()
    except (AttributeError, ValueError, ssl.SSLError):
        return None
    if not cert:
        return None
    names = [pair for rdn in cert.get("subject", ()) for pair in rdn]
    cn = next((v for k, v in names if k == "commonName"), None)
    return (cn, [v for k, v in names if k == "organizationName"]) if cn else None


def _split_service(name: str) -> tuple[str, str]:
    """`grafana:3000`, `https:grafana:3000`, `grafana` -> (name, port)."""
    parts = name.split(":")
    if len(parts) == 3:
        return parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1]
    return parts[0], ""


def start(
    scenario: str | Path | dict,
    *,
    port: int = 0,
    speed: float | None = None,
    request_log: str | None = None,
    workdir: str | None = None,
) -> SimHandle:
    """Load a scenario (built-in name, file, or dict) and serve it in background threads; with a
    `clusters:` block, its destination clusters too (gate/sim/multicluster.py)."""
    from gate.sim.multicluster import prepare, serve_destinations

    handle = SimHandle(prepare(scen.resolve(scenario)), port=port, speed=speed, request_log=request_log,
                       workdir=workdir)
    if handle.scenario.get("clusters"):
        try:
            handle.destinations = serve_destinations(handle)
        except BaseException:
            handle.stop()
            raise
    return handle
