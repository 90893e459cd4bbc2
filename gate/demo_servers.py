"""Small local servers `gate demo` starts for Levels 2-4, and the certificate helpers they (and the tests)
use. Everything listens on 127.0.0.1 on ports chosen by the OS.

One HTTP server answers, by path, in the shapes the real products use:
  /api/health                      Grafana's health JSON
  /api/v1/targets, /api/v1/query   Prometheus' HTTP API
  /loki/api/v1/query_range         Loki's streams answer
  /api/v2/status, /api/v2/alerts   Alertmanager's v2 API (posted alerts are kept and listed)
  /sso/                            an SSO front: 302 to the identity provider unless the bearer token is right
and one HTTPS server serves /api/health with a certificate signed by a CA the demo generates.

Switches turn on the failing demo scenarios: no scrape target up, the SSO front redirecting to the wrong
host, a certificate expiring in 3 days.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import ssl
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TLS_HOST = "grafana.demo.local"
IDP = "https://auth.demo.local/oauth2/authorize"
WRONG_IDP = "https://evil.example/login"
CLIENT_ID = "grafana"
REDIRECT_URI = "https://grafana.demo.local/login/generic_oauth"


# -- certificates ------------------------------------------------------------------------------------
@dataclass
class Issued:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    def write(self, directory: str | Path, stem: str) -> tuple[str, str]:
        """Write `<stem>.crt` and `<stem>.key` (0600); return their paths."""
        crt, key = Path(directory) / f"{stem}.crt", Path(directory) / f"{stem}.key"
        crt.write_bytes(self.cert_pem())
        key.write_bytes(self.key_pem())
        key.chmod(0o600)
        return str(crt), str(key)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str = "Promotion Gate Demo CA") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(common_name)).issuer_name(_name(common_name))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(key, hashes.SHA256()))
    return Issued(cert, key)


def make_leaf(sans: list[str], *, ca: Issued | None = None, days: float = 90,
              not_before: timedelta = timedelta(days=1),
              key: ec.EllipticCurvePrivateKey | None = None) -> Issued:
    """A server certificate for `sans`, valid `days` from now (negative: already expired).

    Signed by `ca`, or self-signed without one. A little slack is added so "3 days" still reads as 3.
    """
    key = key or ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    end = now + timedelta(days=days, hours=1 if days > 0 else 0)
    start = min(now - not_before, end - timedelta(days=1))
    alt: list[x509.GeneralName] = []
    for san in sans:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(san)))
        except ValueError:
            alt.append(x509.DNSName(san))
    builder = (x509.CertificateBuilder().subject_name(_name(sans[0]))
               .issuer_name(ca.cert.subject if ca else _name(sans[0]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(start).not_valid_after(end)
               .add_extension(x509.SubjectAlternativeName(alt), critical=False)
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                              critical=False))
    return Issued(builder.sign(ca.key if ca else key, hashes.SHA256()), key)


# -- switches ----------------------------------------------------------------------------------------
@dataclass
class Switches:
    no_up_targets: bool = False
    sso_wrong_host: bool = False
    cert_days: float = 90


SCENARIOS: dict[str, Switches] = {
    "healthy": Switches(),
    "l2-no-targets": Switches(no_up_targets=True),
    "l3-sso-broken": Switches(sso_wrong_host=True),
    "l3-cert-expiring": Switches(cert_days=3),
}


def switches_for(scenario: str | None) -> Switches:
    """The servers' switches for a demo scenario; scenarios that concern Level 1 get healthy servers."""
    return SCENARIOS.get(scenario or "healthy", Switches())


# -- the HTTP server ---------------------------------------------------------------------------------
def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class _State:
    switches: Switches
    token: str
    alerts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _targets(state: _State) -> dict[str, Any]:
    def target(job: str, instance: str, up: bool, error: str = "") -> dict[str, Any]:
        return {"discoveredLabels": {"__address__": instance, "job": job},
                "labels": {"instance": instance, "job": job}, "scrapePool": job,
                "scrapeUrl": f"http://{instance}/metrics", "globalUrl": f"http://{instance}/metrics",
                "lastError": error, "lastScrape": _now_iso(), "lastScrapeDuration": 0.004,
                "health": "up" if up else "down", "scrapeInterval": "30s", "scrapeTimeout": "10s"}
    if state.switches.no_up_targets:
        refused = ('Get "http://10.42.0.17:9100/metrics": '
                   "dial tcp 10.42.0.17:9100: connect: connection refused")
        active = [target("node-exporter", "10.42.0.17:9100", False, refused)]
    else:
        active = [target("node-exporter", "10.42.0.17:9100", True), target("loki", "10.42.0.23:3100", True)]
    return {"status": "success", "data": {"activeTargets": active, "droppedTargets": []}}


def _loki() -> dict[str, Any]:
    now = time.time_ns()
    lines = [[str(now - i * 7_000_000_000), f"level=info msg=\"request served\" path=/api/health n={i}"]
             for i in range(3)]
    return {"status": "success", "data": {"resultType": "streams", "result": [
        {"stream": {"namespace": "monitoring", "app": "grafana"}, "values": lines}],
        "stats": {"summary": {"totalLinesProcessed": 3}}}}


def _alert_filter(query: dict[str, list[str]]) -> dict[str, str]:
    wanted = {}
    for item in query.get("filter", []):
        name, sep, value = item.partition("=")
        if sep:
            wanted[name.strip()] = value.strip().strip('"')
    return wanted


class _Handler(BaseHTTPRequestHandler):
    server_version = "gate-demo/1"
    state: _State  # set on the subclass per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        text = body if isinstance(body, str) else json.dumps(body) if body is not None else ""
        data = text.encode()
        self.send_response(status)
        content_type = "text/plain; charset=utf-8" if isinstance(body, str) else "application/json"
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        state = self.state
        if path == "/api/health":
            self._send(200, {"commit": "demo", "database": "ok", "version": "10.4.0"})
        elif path == "/api/v1/targets":
            self._send(200, _targets(state))
        elif path == "/api/v1/query":
            value = "0" if state.switches.no_up_targets else "1"
            self._send(200, {"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [time.time(), value]}]}})
        elif path == "/loki/api/v1/query_range":
            self._send(200, _loki())
        elif path == "/api/v2/status":
            self._send(200, {"cluster": {"name": "demo", "peers": [], "status": "ready"},
                             "versionInfo": {"version": "0.27.0"}, "uptime": _now_iso(),
                             "config": {"original": "route: {receiver: 'null'}"}})
        elif path == "/api/v2/alerts":
            wanted = _alert_filter(query)
            with state.lock:
                alerts = [a for a in state.alerts
                          if all(a["labels"].get(k) == v for k, v in wanted.items())]
            self._send(200, alerts)
        elif path.startswith("/sso"):
            if self.headers.get("Authorization", "") == f"Bearer {state.token}":
                self._send(200, "Welcome to Grafana")
                return
            idp = WRONG_IDP if state.switches.sso_wrong_host else IDP
            location = f"{idp}?client_id={CLIENT_ID}&redirect_uri={REDIRECT_URI}&response_type=code"
            self._send(302, "", {"Location": location})
        else:
            self._send(404, {"error": "not found"})

    do_HEAD = do_GET  # noqa: N815

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if urlsplit(self.path).path != "/api/v2/alerts":
            self._send(404, {"error": "not found"})
            return
        try:
            posted = json.loads(raw or b"[]")
        except ValueError:
            self._send(400, {"error": "bad json"})
            return
        with self.state.lock:
            for alert in posted:
                self.state.alerts.append({**alert, "status": {"state": "active", "silencedBy": [],
                                                             "inhibitedBy": []},
                                          "fingerprint": secrets.token_hex(8),
                                          "receivers": [{"name": "null"}],
                                          "updatedAt": _now_iso()})
        self._send(200)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


# -- the bundle --------------------------------------------------------------------------------------
class DemoServers:
    """Start with `start()` (or as a context manager); `env()` gives the DEMO_* variables for the spec."""

    def __init__(self, switches: Switches | None = None) -> None:
        self.switches = switches or Switches()
        self.token = secrets.token_urlsafe(24)
        self.state = _State(self.switches, self.token)
        self._dir = tempfile.TemporaryDirectory(prefix="gate-demo-")
        self._servers: list[_Server] = []
        self.ca_path = ""
        self.http_port = 0
        self.tls_port = 0

    def _serve(self, context: ssl.SSLContext | None = None) -> int:
        handler = type("Handler", (_Handler,), {"state": self.state})
        server = _Server(("127.0.0.1", 0), handler)
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True,
                         name=f"demo-server-{server.server_address[1]}").start()
        self._servers.append(server)
        return int(server.server_address[1])

    def start(self) -> DemoServers:
        self.http_port = self._serve()
        ca = make_ca()
        leaf = make_leaf([TLS_HOST], ca=ca, days=self.switches.cert_days)
        self.ca_path = str(Path(self._dir.name) / "demo-ca.crt")
        Path(self.ca_path).write_bytes(ca.cert_pem())
        crt, key = leaf.write(self._dir.name, "grafana")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(crt, key)
        os.unlink(key)  # loaded; nothing needs it on disk any more
        self.tls_port = self._serve(context)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()
        self._dir.cleanup()

    def __enter__(self) -> DemoServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def env(self) -> dict[str, str]:
        """The variables gate/demo/levels.yaml uses (DEMO_SSO_TOKEN is a secret: use it as ${env:…})."""
        base = self.base_url
        return {
            "DEMO_HTTP_URL": base,
            "DEMO_PROMETHEUS_URL": base,
            "DEMO_LOKI_URL": base,
            "DEMO_ALERTMANAGER_URL": base,
            "DEMO_SSO_URL": f"{base}/sso/",
            "DEMO_SSO_TOKEN": self.token,
            "DEMO_TLS_HOST": TLS_HOST,
            "DEMO_TLS_ADDRESS": "127.0.0.1",
            "DEMO_TLS_PORT": str(self.tls_port),
            "DEMO_TLS_CA": self.ca_path,
            "DEMO_PYTHON": sys.executable,
        }
