"""`gate verify` with client-certificate kubeconfigs as kind (kubeadm, minikube) and k3s write them, against
a simulator that authenticates client certificates (CN = user, O = groups): embedded
(`client-certificate-data`/`client-key-data`) and as files next to the kubeconfig. The private key is a
secret: a check that prints it shows it masked, and no output carries it, as PEM or base64."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_secrets_canary import forms

from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
SPEC = """defaults: {timeout: 20s, interval: 0.5s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: monitoring, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}
        - command: {name: prints the key, run: ["cat", "KEY"]}
"""


@pytest.fixture(scope="module")
def sim():
    with start({"extends": "healthy", "client_certificates": True}) as handle:
        yield handle


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _verify(tmp: Path, kubeconfig: str, key: str) -> tuple[subprocess.CompletedProcess[str], str]:
    (tmp / "printed.key").write_text(key)
    (tmp / "gate.yaml").write_text(SPEC.replace("KEY", str(tmp / "printed.key")))
    proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec",
                           str(tmp / "gate.yaml"), "--config", CONFIG, "--kubeconfig", kubeconfig,
                           "--json", str(tmp / "result.json")],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    result = (tmp / "result.json").read_text() if (tmp / "result.json").exists() else ""
    return proc, proc.stdout + proc.stderr + result


def _key_leaks(text: str, key: str) -> list[str]:
    body = "".join(key.strip().splitlines()[1:-1])  # the base64 inside the PEM armour
    found = [how for how, form in forms(key.strip()).items() if form in text]
    return found + (["pem-body"] if body[:40] in text else [])


@pytest.mark.parametrize("style", ["kind", "k3s"])
@pytest.mark.parametrize("where", ["data", "files"])
def test_verify_with_a_client_certificate(sim, tmp_path: Path, style: str, where: str) -> None:
    cert, key = sim.client_certificate("cert-admin", ["system:masters"], style=style)
    if where == "data":
        user = {"client-certificate-data": _b64(cert), "client-key-data": _b64(key)}
    else:
        (tmp_path / "pki").mkdir()
        (tmp_path / "pki/client.crt").write_text(cert)
        (tmp_path / "pki/client.key").write_text(key)
        user = {"client-certificate": "pki/client.crt", "client-key": "pki/client.key"}  # relative to the file
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", user, user=f"{style}-admin")
    start_at = len(sim.requests)
    proc, text = _verify(tmp_path, kubeconfig, key)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Overall: PASS" in proc.stdout
    assert {r["identity"] for r in sim.requests[start_at:]} == {"cert-admin"}
    assert _key_leaks(text, key) == []
    assert "***" in text  # the printed key, masked


def test_a_certificate_the_cluster_does_not_trust_exits_3(tmp_path: Path) -> None:
    with start({"extends": "healthy", "client_certificates": "require"}) as sim, start("healthy") as other:
        cert, key = other.client_certificate("cert-admin", ["system:masters"])  # another cluster's CA
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", {"client-certificate-data": _b64(cert),
                                                                    "client-key-data": _b64(key)})
        proc, text = _verify(tmp_path, kubeconfig, key)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Overall: PASS" not in proc.stdout
    assert _key_leaks(text, key) == []
