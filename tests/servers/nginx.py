"""Debian's nginx on 127.0.0.1: TLS by SNI with generated certificates (valid, expired, wrong SAN,
self-signed, expiring in 3 days) and an auth_request-style SSO front."""

from __future__ import annotations

import base64
import os
import shutil
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from gate.demo_servers import Issued, make_ca, make_leaf

from .common import Process, free_port, wait_until

DOMAIN = "gate.test"
IDP = "https://auth.gate.test/oauth2/start"
CLIENT_ID = "grafana"
REDIRECT_URI = "https://grafana.gate.test/oauth2/callback"
# name -> (SANs on the certificate, days left, signed by the test CA?)
CERTS: dict[str, tuple[list[str], float, bool]] = {
    "valid": ([f"valid.{DOMAIN}", "127.0.0.1"], 90, True),
    "expired": ([f"expired.{DOMAIN}"], -2, True),
    "wrongsan": ([f"other.{DOMAIN}"], 90, True),
    "selfsigned": ([f"selfsigned.{DOMAIN}"], 90, False),
    "expiring": ([f"expiring.{DOMAIN}"], 3, True),
}


@dataclass
class Nginx:
    tls_port: int
    http_port: int
    ca_path: str
    token: str
    api_key: str
    basic: tuple[str, str]
    certs: dict[str, Issued] = field(default_factory=dict)
    process: Process | None = None
    workdir: str = ""

    def host(self, name: str) -> str:
        return f"{name}.{DOMAIN}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _conf(work: Path, tls_port: int, http_port: int, token: str, api_key: str, basic: str) -> str:
    servers = []
    for index, name in enumerate(CERTS):
        default = " default_server" if index == 0 else ""
        servers.append(f"""
    server {{
        listen 127.0.0.1:{tls_port} ssl{default};
        server_name {name}.{DOMAIN};
        ssl_certificate {work}/{name}.crt;
        ssl_certificate_key {work}/{name}.key;
        root {work}/www;
    }}""")
    user = "user root root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    default_type text/html;
    {''.join(servers)}
    server {{
        listen 127.0.0.1:{http_port};
        server_name _;
        root {work}/www;
        location = /_auth {{
            internal;
            if ($http_authorization = "Bearer {token}") {{ return 204; }}
            if ($http_x_api_key = "{api_key}") {{ return 204; }}
            if ($http_authorization = "Basic {basic}") {{ return 204; }}
            return 401;
        }}
        location /app/ {{
            auth_request /_auth;
            error_page 401 = @login;
        }}
        location @login {{
            return 302 {IDP}?client_id={CLIENT_ID}&redirect_uri={REDIRECT_URI}&response_type=code;
        }}
        location /evil/ {{
            auth_request /_auth;
            error_page 401 = @evil;
        }}
        location @evil {{
            return 302 https://evil.example/;
        }}
        location = /api/health {{
            default_type application/json;
            return 200 '{{"database":"ok","version":"10.4.0"}}';
        }}
        location = /api/health-down {{
            default_type application/json;
            return 503 '{{"database":"failing"}}';
        }}
        location = /echo {{
            default_type text/plain;
            return 200 "you sent: $http_authorization $http_x_api_key";
        }}
    }}
}}
"""


def start_nginx(token: str, api_key: str, basic: tuple[str, str]) -> Nginx:
    work = Path(tempfile.mkdtemp(prefix="gate-nginx-"))
    (work / "tmp").mkdir()
    for page, text in (("app", "Welcome to Grafana"), ("evil", "Welcome to Grafana")):
        (work / "www" / page).mkdir(parents=True)
        (work / "www" / page / "index.html").write_text(text)
    (work / "www" / "index.html").write_text("hello over TLS")
    ca = make_ca("Gate Test CA")
    ca_path = str(work / "ca.crt")
    Path(ca_path).write_bytes(ca.cert_pem())
    certs = {}
    for name, (sans, days, signed) in CERTS.items():
        certs[name] = make_leaf(sans, ca=ca if signed else None, days=days)
        certs[name].write(work, name)
    tls_port, http_port = free_port(), free_port()
    basic_b64 = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
    conf = work / "nginx.conf"
    conf.write_text(_conf(work, tls_port, http_port, token, api_key, basic_b64))
    nginx = Nginx(tls_port, http_port, ca_path, token, api_key, basic, certs, workdir=str(work))
    nginx.process = Process(["nginx", "-c", str(conf), "-p", str(work), "-e", str(work / "error.log")],
                            work / "stdout.log")

    def ready() -> bool:
        import socket

        context = ssl.create_default_context(cafile=ca_path)
        with socket.create_connection(("127.0.0.1", tls_port), timeout=1) as sock, \
                context.wrap_socket(sock, server_hostname=f"valid.{DOMAIN}"):
            pass
        with socket.create_connection(("127.0.0.1", http_port), timeout=1):
            return True

    try:
        wait_until(ready, 15, "nginx", nginx.process.proc, work / "error.log")
    except Exception:
        nginx.stop()
        raise
    return nginx
