"""The simulator issues and accepts credentials in the shapes real clusters use (gate/sim/tokens.py):
TokenRequest-minted ServiceAccount JWTs that expire, revoked tokens, and client certificates (mTLS),
spoken to with requests and kubectl as a user would."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from gate.sim.server import start
from gate.sim.tokens import DEFAULT_ISSUER, eks_token, jwt_of_length, serviceaccount_token

TOKEN_PATH = "/api/v1/namespaces/platform/serviceaccounts/gate/token"
PODS = "/api/v1/namespaces/monitoring/pods"


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


@pytest.fixture(scope="module")
def sim():
    with start({"extends": "healthy", "token_request": {"min_expiration_seconds": 1},
                "client_certificates": True}) as handle:
        yield handle


def _get(sim, path: str, token: str | None = None, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(sim.url + path, headers=headers, verify=sim.ca_file, timeout=10, **kw)


def _mint(sim, seconds: int = 3600, token: str | None = None, audiences: list[str] | None = None,
          path: str = TOKEN_PATH) -> requests.Response:
    spec: dict = {"expirationSeconds": seconds}
    if audiences:
        spec["audiences"] = audiences
    return requests.post(sim.url + path, json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                                              "spec": spec},
                         headers={"Authorization": f"Bearer {token or sim.admin_token}"}, verify=sim.ca_file,
                         timeout=10)


def test_shapes_are_as_long_as_real_ones() -> None:
    sa = serviceaccount_token("shop", "promotion-gate-dev")
    assert 900 <= len(sa) <= 1000  # `kubectl create token` printed 914 in the issue
    assert 1050 <= len(serviceaccount_token("shop", "gate", pod="gate-abc")) <= 1300
    assert _claims(sa)["sub"] == "system:serviceaccount:shop:promotion-gate-dev"
    assert len(jwt_of_length(2000)) == 2000 and len(jwt_of_length(10_000)) == 10_000
    eks = eks_token()
    assert eks.startswith("k8s-aws-v1.") and 900 <= len(eks) <= 1200


def test_token_request_mints_a_serviceaccount_jwt_the_server_accepts(sim) -> None:
    resp = _mint(sim)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    token = body["status"]["token"]
    assert body["kind"] == "TokenRequest" and body["status"]["expirationTimestamp"].endswith("Z")
    assert len(token) >= 900
    assert _claims(token)["sub"] == "system:serviceaccount:platform:gate"
    assert _get(sim, PODS, token).status_code == 200
    assert sim.requests[-1]["identity"] == "system:serviceaccount:platform:gate"


def test_a_minted_token_is_refused_after_it_expires(sim) -> None:
    token = _mint(sim, seconds=2).json()["status"]["token"]
    assert _get(sim, PODS, token).status_code == 200
    time.sleep(2.2)
    assert _get(sim, PODS, token).status_code == 401


def test_token_request_rules(sim) -> None:
    assert _mint(sim, seconds=0).status_code == 422  # under the minimum
    missing = _mint(sim, path="/api/v1/namespaces/platform/serviceaccounts/nobody/token")
    assert missing.status_code == 404
    # the gate's own ServiceAccount may not create tokens
    assert _mint(sim, token=sim.token).status_code == 403
    # another audience: minted, but not a credential for this API server
    other = _mint(sim, audiences=["https://kargo.example"]).json()["status"]["token"]
    assert _get(sim, PODS, other).status_code == 401


def test_a_revoked_token_is_refused(sim) -> None:
    token = _mint(sim).json()["status"]["token"]
    sim.auth.revoke(token)
    assert _get(sim, PODS, token).status_code == 401


@pytest.mark.parametrize("style", ["kind", "k3s"])
def test_client_certificate_authenticates_as_cn_with_o_groups(sim, tmp_path: Path, style: str) -> None:
    cert, key = sim.client_certificate("cert-admin", ["system:masters"], style=style)
    assert ("BEGIN RSA PRIVATE KEY" if style == "kind" else "BEGIN EC PRIVATE KEY") in key
    (tmp_path / "c.crt").write_text(cert)
    (tmp_path / "c.key").write_text(key)
    resp = _get(sim, "/apis/kargo.akuity.io/v1alpha1/namespaces/platform/stages",
                cert=(str(tmp_path / "c.crt"), str(tmp_path / "c.key")))
    assert resp.status_code == 200, resp.text
    assert sim.requests[-1]["identity"] == "cert-admin"
    nobody, nkey = sim.client_certificate("nobody", [], style=style)
    (tmp_path / "n.crt").write_text(nobody)
    (tmp_path / "n.key").write_text(nkey)
    assert _get(sim, PODS, cert=(str(tmp_path / "n.crt"), str(tmp_path / "n.key"))).status_code == 403


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl not installed")
def test_kubectl_mints_a_token_and_uses_a_client_certificate_kubeconfig(sim, tmp_path: Path) -> None:
    proc = subprocess.run(["kubectl", "--kubeconfig", sim.admin_kubeconfig, "create", "token", "gate", "-n",
                           "platform", "--duration", "20m", "--audience", DEFAULT_ISSUER],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    token = proc.stdout.strip()
    claims = _claims(token)
    assert claims["sub"] == "system:serviceaccount:platform:gate" and 1150 < claims["exp"] - time.time() <= 1200
    assert claims["aud"] == [DEFAULT_ISSUER]
    assert _get(sim, PODS, token).status_code == 200
    cert, key = sim.client_certificate("cert-admin", ["system:masters"])
    kubeconfig = sim.write_kubeconfig(tmp_path / "kc", {
        "client-certificate-data": base64.b64encode(cert.encode()).decode(),
        "client-key-data": base64.b64encode(key.encode()).decode()}, user="kind-sim")
    proc = subprocess.run(["kubectl", "--kubeconfig", kubeconfig, "get", "stages", "-n", "platform", "-o",
                           "name"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "stage" in proc.stdout
    assert sim.requests[-1]["identity"] == "cert-admin"
