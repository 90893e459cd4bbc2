"""`tls` against nginx serving generated certificates by SNI, and `tcp`."""

from __future__ import annotations

import base64

import pytest
from gate.checks.base import Clients
from gate.checks.tcp import Tcp
from gate.checks.tls import Tls

from gate.cluster.kube import Permission


def tls(nginx, name: str, **extra) -> Tls:  # noqa: ANN001
    return Tls({"host": nginx.host(name), "address": "127.0.0.1", "port": nginx.tls_port,
                "ca_bundle": nginx.ca_path, **extra})


def test_valid_certificate_passes_and_reports_issuer_sans_expiry(nginx_server):
    obs = tls(nginx_server, "valid", min_days_left=14).observe(Clients())
    assert obs.ok, obs
    assert obs.observed == "trusted, covers valid.gate.test, expires in 90 days"
    assert "issuer: CN=Gate Test CA" in obs.evidence
    assert "SANs: valid.gate.test, 127.0.0.1" in obs.evidence
    assert any(line.startswith("valid: ") for line in obs.evidence)


def test_expiring_in_3_days(nginx_server):
    obs = tls(nginx_server, "expiring", min_days_left=14).observe(Clients())
    assert not obs.ok
    assert obs.observed == "certificate expires in 3 days"
    assert obs.expected == "at least 14 days left"
    assert tls(nginx_server, "expiring", min_days_left=2).observe(Clients()).ok


def test_expired(nginx_server):
    obs = tls(nginx_server, "expired").observe(Clients())
    assert not obs.ok
    assert obs.observed == "certificate expired 2 days ago"
    assert "verification failed: certificate has expired" in obs.evidence
    assert "served certificate (not trusted, described only):" in obs.evidence


def test_wrong_san(nginx_server):
    obs = tls(nginx_server, "wrongsan").observe(Clients())
    assert not obs.ok
    assert obs.observed == "certificate is for other.gate.test, not wrongsan.gate.test"
    assert obs.expected == "a certificate for wrongsan.gate.test"
    assert "SANs: other.gate.test" in obs.evidence


def test_self_signed_is_described_but_not_trusted(nginx_server):
    obs = tls(nginx_server, "selfsigned").observe(Clients())
    assert not obs.ok
    assert obs.observed.startswith("certificate not trusted: self")
    assert "issuer CN=selfsigned.gate.test" in obs.observed
    assert obs.expected == f"a certificate trusted by {nginx_server.ca_path}"


def test_system_cas_do_not_trust_the_test_ca(nginx_server):
    obs = Tls({"host": nginx_server.host("valid"), "address": "127.0.0.1",
               "port": nginx_server.tls_port}).observe(Clients())
    assert not obs.ok
    assert obs.observed.startswith("certificate not trusted: unable to get local issuer certificate")
    assert obs.expected == "a certificate trusted by the system CAs"


def test_nothing_listening():
    from servers.common import closed_port

    obs = Tls({"host": "localhost", "port": closed_port()}).observe(Clients())
    assert not obs.ok
    assert obs.observed.startswith("no TLS handshake with localhost:")
    assert "refused" in obs.observed.lower()


class _View:
    def __init__(self, secret: dict | None) -> None:
        self.secret = secret

    def get(self, res, name, namespace=None):  # noqa: ANN001, ANN201
        assert (res.plural, name, namespace) == ("secrets", "grafana-tls", "monitoring")
        return self.secret


def _secret(cert_pem: bytes) -> dict:
    return {"data": {"tls.crt": base64.b64encode(cert_pem).decode(),
                     "tls.key": base64.b64encode(b"-----BEGIN PRIVATE KEY-----never-shown").decode()}}


def test_compare_with_cert_manager_secret_by_public_key(nginx_server):
    check = tls(nginx_server, "valid", secret="monitoring/grafana-tls")
    assert check.permissions() == [Permission("get", "secrets", "", "monitoring", "grafana-tls")]
    same = check.observe(Clients(view=_View(_secret(nginx_server.certs["valid"].cert_pem()))))
    assert same.ok, same
    other = check.observe(Clients(view=_View(_secret(nginx_server.certs["expiring"].cert_pem()))))
    assert not other.ok
    assert other.observed.startswith("served certificate (public key ")
    assert "is not the one in Secret monitoring/grafana-tls" in other.observed
    assert "never-shown" not in str(other) and "PRIVATE" not in str(other)
    missing = check.observe(Clients(view=_View(None)))
    assert missing.observed == "Secret monitoring/grafana-tls not found"


def test_tcp_accepts_and_refuses(nginx_server):
    from servers.common import closed_port

    ok = Tcp({"host": "127.0.0.1", "port": str(nginx_server.http_port)}).observe(Clients())
    assert ok.ok and ok.observed.startswith(f"connected to 127.0.0.1:{nginx_server.http_port} in ")
    port = closed_port()
    bad = Tcp.normalize(f"127.0.0.1:{port}")
    obs = Tcp(bad).observe(Clients())
    assert not obs.ok
    assert obs.observed == f"127.0.0.1:{port}: Connection refused"
    assert obs.expected == f"127.0.0.1:{port} accepts a connection"


@pytest.mark.parametrize("port", [0, 70000])
def test_tcp_schema_rejects_bad_ports(port):
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"host": "db", "port": port}, Tcp.schema)
