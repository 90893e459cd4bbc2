"""`http` and `sso_redirect` against Debian's nginx (TLS, auth_request SSO front) and local servers."""

from __future__ import annotations

import json

import pytest
from conftest_servers import CANARY_API_KEY, CANARY_PASSWORD, CANARY_TOKEN
from gate.checks.base import Clients
from gate.checks.http import Http, json_path
from gate.checks.sso_redirect import SsoRedirect

from gate import redact
from gate.cluster.kube import Permission
from gate.errors import ConfigError
from gate.httpclient import HttpClient, ServiceRef


@pytest.fixture(scope="module")
def clients() -> Clients:
    return Clients(http=HttpClient(in_cluster=False))


def all_text(obs) -> str:  # noqa: ANN001
    return json.dumps([obs.observed, obs.expected, obs.evidence, obs.output, obs.hint])


def test_health_json_passes(nginx_server, clients):
    obs = Http({"url": f"{nginx_server.http_url}/api/health",
                "expect": {"status": 200, "json": {"database": "ok"}}}).observe(clients)
    assert obs.ok, obs
    assert obs.observed == "HTTP 200"
    assert obs.expected == "status 200; JSON database == 'ok'"
    assert any(line.startswith("body: ") and '"database":"ok"' in line for line in obs.evidence)


def test_wrong_json_value_fails_with_the_value_seen(nginx_server, clients):
    obs = Http({"url": f"{nginx_server.http_url}/api/health",
                "expect": {"json": {"version": "11.0.0"}}}).observe(clients)
    assert not obs.ok and not obs.final
    assert obs.observed == "HTTP 200, JSON version is '10.4.0'"
    assert obs.expected == "status 200; JSON version == '11.0.0'"


def test_unhealthy_status_is_a_wrong_answer_with_status_and_body(nginx_server, clients):
    obs = Http({"url": f"{nginx_server.http_url}/api/health-down"}).observe(clients)
    assert not obs.ok and not obs.final
    assert obs.observed == "HTTP 503"
    assert obs.expected == "status 200"
    assert any("failing" in line for line in obs.evidence)


def test_redirect_to_the_idp_passes_and_to_another_host_fails(nginx_server, clients):
    good = Http({"url": f"{nginx_server.http_url}/app/", "follow_redirects": False,
                 "expect": {"status": 302, "location": r"^https://auth\."}}).observe(clients)
    assert good.ok, good
    bad = Http({"url": f"{nginx_server.http_url}/evil/", "follow_redirects": False,
                "expect": {"status": 302, "location": r"^https://auth\."}}).observe(clients)
    assert not bad.ok
    assert bad.observed == "302 to https://evil.example/"
    assert bad.expected == r"status 302; Location matching ^https://auth\."
    assert "Location: https://evil.example/" in bad.evidence


def test_header_and_body_expectations(nginx_server, clients):
    ok = Http({"url": f"{nginx_server.http_url}/api/health",
               "expect": {"headers": {"Content-Type": "^application/json"}, "body_contains": "database",
                          "body_regex": r"\d+\.\d+", "json_exists": ["version"]}}).observe(clients)
    assert ok.ok, ok
    bad = Http({"url": f"{nginx_server.http_url}/api/health",
                "expect": {"headers": {"Content-Type": "^text/"}}}).observe(clients)
    assert bad.observed == "HTTP 200 with Content-Type: application/json"
    assert bad.expected == "status 200; header Content-Type matching ^text/"
    missing = Http({"url": f"{nginx_server.http_url}/api/health",
                    "expect": {"body_contains": "grafana"}}).observe(clients)
    assert missing.observed == "HTTP 200, body does not contain 'grafana'"


def test_connection_refused_is_reported_not_raised(clients):
    from servers.common import closed_port

    obs = Http({"url": f"http://127.0.0.1:{closed_port()}/healthz"}).observe(clients)
    assert not obs.ok and not obs.final
    assert obs.observed.startswith("no answer: GET http://127.0.0.1:")
    assert "Connection refused" in obs.observed


def test_tls_verified_with_ca_bundle_refused_without_and_insecure_by_name(nginx_server, clients):
    url = f"https://127.0.0.1:{nginx_server.tls_port}/"
    trusted = Http({"url": url, "ca_bundle": nginx_server.ca_path, "expect": {"body_contains": "TLS"}})
    assert trusted.observe(clients).ok
    untrusted = Http({"url": url}).observe(clients)
    assert not untrusted.ok
    assert untrusted.observed.startswith("TLS failure: GET https://127.0.0.1:")
    assert "certificate verify failed" in untrusted.observed or "unable to get local issuer" in \
        untrusted.observed
    assert Http({"url": url, "insecure": True}).observe(clients).ok


def test_env_secrets_in_headers_and_basic_auth_never_show(nginx_server, clients, canary_env):
    redact.clear()
    check = Http({"url": f"{nginx_server.http_url}/echo",
                  "headers": {"Authorization": "Bearer ${env:GATE_TEST_TOKEN}",
                              "X-Api-Key": "${env:GATE_TEST_API_KEY}"},
                  "expect": {"body_contains": "nothing-like-this"}})
    obs = check.observe(clients)
    assert not obs.ok
    text = all_text(obs)
    assert "you sent: *** ***" in text  # the server echoed them; the report masks them
    assert CANARY_TOKEN not in text and CANARY_API_KEY not in text
    basic = Http({"url": f"{nginx_server.http_url}/app/", "follow_redirects": False,
                  "basic_auth": {"username": "gate", "password": "${env:GATE_TEST_PASSWORD}"}})
    obs = basic.observe(clients)
    assert obs.ok, obs  # nginx let the basic-auth request through
    assert CANARY_PASSWORD not in all_text(obs)


def test_sso_redirect_and_credentials(nginx_server, clients, canary_env):
    base = {"url": f"{nginx_server.http_url}/app/", "idp_host": r"^auth\.gate\.test$", "client_id": "grafana",
            "redirect_uri": r"^https://grafana\.gate\.test/"}
    for creds in ({"bearer": "${env:GATE_TEST_TOKEN}"}, {"api_key": "${env:GATE_TEST_API_KEY}"},
                  {"basic": {"username": "gate", "password": "${env:GATE_TEST_PASSWORD}"}}):
        obs = SsoRedirect({**base, "credentials": creds}).observe(clients)
        assert obs.ok, obs
        assert obs.observed == "302 to auth.gate.test; with credentials HTTP 200"
        text = all_text(obs)
        assert CANARY_TOKEN not in text and CANARY_API_KEY not in text and CANARY_PASSWORD not in text


def test_sso_wrong_idp_wrong_client_and_rejected_credentials(nginx_server, clients, monkeypatch):
    evil = SsoRedirect({"url": f"{nginx_server.http_url}/evil/", "idp_host": r"^auth\."}).observe(clients)
    assert not evil.ok
    assert evil.observed == "302 to https://evil.example/ (host evil.example)"
    assert evil.expected == r"302 or 303 to a host matching ^auth\."
    client = SsoRedirect({"url": f"{nginx_server.http_url}/app/", "idp_host": r"^auth\.",
                          "client_id": "argocd"}).observe(clients)
    assert client.observed == "302 to the identity provider with client_id=grafana"
    monkeypatch.setenv("WRONG_TOKEN", "not-the-right-token")
    rejected = SsoRedirect({"url": f"{nginx_server.http_url}/app/", "idp_host": r"^auth\.",
                            "credentials": {"bearer": "${env:WRONG_TOKEN}"}}).observe(clients)
    assert not rejected.ok
    assert rejected.observed.startswith("with credentials HTTP 302 to https://auth.gate.test/")
    open_door = SsoRedirect({"url": f"{nginx_server.http_url}/api/health", "idp_host": "^auth"})
    open_door = open_door.observe(clients)
    assert open_door.observed == "HTTP 200 without credentials"


def test_permissions_and_schema_bits():
    assert Http({"url": "http://x/"}).permissions() == []
    proxied = Http({"service": "monitoring/grafana:3000", "path": "/api/health", "via": "proxy"})
    assert proxied.permissions() == [Permission("get", "services/proxy", "", "monitoring", "grafana")]
    post = Http({"service": "monitoring/grafana:3000", "via": "proxy", "method": "POST"})
    assert post.permissions()[0].verb == "create"
    assert Http({"service": "monitoring/grafana:3000", "via": "direct"}).permissions() == []
    assert ServiceRef.parse("monitoring/grafana:3000").dns_url("/api/health") == \
        "http://grafana.monitoring.svc:3000/api/health"
    with pytest.raises(ConfigError):
        Http({"url": "http://x/", "expect": {"location": "("}})
    assert json_path({"data": {"result": [{"v": 3}]}}, "data.result[0].v") == (True, 3)
    assert json_path({"a": 1}, "$.b") == (False, None)


def test_service_through_the_simulators_service_proxy(nginx_server):
    from gate.cluster.kube import connect
    from gate.sim import server

    with server.start("healthy") as sim:
        sim.set_service_target("monitoring", "grafana", 3000, nginx_server.http_url)
        kube = connect(kubeconfig=sim.kubeconfig)
        clients = Clients(kube=kube, http=HttpClient(kube, in_cluster=False))
        ok = Http({"service": "monitoring/grafana:3000", "path": "/api/health",
                   "expect": {"status": 200, "json": {"database": "ok"}}}).observe(clients)
        assert ok.ok, ok
        assert "through the API server's service proxy" in ok.evidence[0]
        down = Http({"service": "monitoring/grafana:3000", "path": "/api/health-down"}).observe(clients)
        assert not down.ok and down.observed == "HTTP 503"
        assert any("/api/v1/namespaces/monitoring/services/grafana:3000/proxy/api/health" in
                   str(getattr(r, "path", r)) for r in sim.requests)


def test_a_cookie_one_answer_sets_is_never_sent_back(clients):
    """A login page's Set-Cookie must not turn the next check's request into a logged-in one."""
    import http.server
    import threading

    seen: list[str | None] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Cookie"))
            self.send_response(200)
            self.send_header("Set-Cookie", "session=abc; Path=/")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/"
        answers = [clients.http.request("GET", url) for _ in range(2)]
    finally:
        server.shutdown()
        server.server_close()
    assert [a.status for a in answers] == [200, 200]
    assert seen == [None, None]
