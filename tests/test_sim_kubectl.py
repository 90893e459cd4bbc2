"""Debian's kubectl (whatever is on PATH) reads the simulated cluster."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate.sim.server import SimHandle, start

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="no kubectl on PATH")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start("healthy") as handle:
        yield handle


def kubectl(sim: SimHandle, *args: str) -> str:
    proc = subprocess.run(
        [KUBECTL or "kubectl", "--kubeconfig", sim.kubeconfig, *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_kubectl_get_pods(sim: SimHandle) -> None:
    out = kubectl(sim, "get", "pods", "-n", "monitoring")
    header, *rows = out.splitlines()
    assert header.split()[:4] == ["NAME", "READY", "STATUS", "RESTARTS"]
    by_name = {r.split()[0]: r.split() for r in rows}
    assert by_name["grafana-7c9d8f6b5-x2k4p"][1:3] == ["1/1", "Running"]
    assert by_name["prometheus-kube-prometheus-stack-prometheus-0"][1] == "2/2"
    assert len(rows) == 5


def test_kubectl_get_deployments_and_crds(sim: SimHandle) -> None:
    deploys = kubectl(sim, "get", "deployments", "-n", "monitoring")
    assert "grafana" in deploys and "kube-prometheus-stack-operator" in deploys
    crds = kubectl(sim, "get", "crds")
    for name in ("stages.kargo.akuity.io", "applications.argoproj.io", "prometheuses.monitoring.coreos.com"):
        assert name in crds


def test_kubectl_get_kargo_stages_uses_printer_columns(sim: SimHandle) -> None:
    out = kubectl(sim, "get", "stages.kargo.akuity.io", "-n", "platform")
    assert "CURRENT FREIGHT" in out.splitlines()[0]
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == {"operators", "monitoring", "services"}
    assert (
        "0b60e85e2b8477acd27f894785b4a956cace538f" in rows["monitoring"] and "Healthy" in rows["monitoring"]
    )
    freight = kubectl(sim, "get", "freight", "-n", "platform")
    assert "brave-badger" in freight and "calm-crane" in freight


def test_kubectl_is_refused_what_rbac_forbids(sim: SimHandle) -> None:
    proc = subprocess.run(
        [KUBECTL or "kubectl", "--kubeconfig", sim.kubeconfig, "delete", "pod", "loki-0", "-n", "monitoring"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert 'cannot delete resource "pods" in API group "" in the namespace "monitoring"' in proc.stderr


def run_kubectl(kubeconfig: str, cache: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [KUBECTL or "kubectl", "--kubeconfig", kubeconfig, "--cache-dir", str(cache), *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


# -- kubectl auth can-i: a protobuf SelfSubjectAccessReview (client-go sends it as protobuf) -----------
def test_kubectl_auth_can_i_answers_yes_and_no(sim: SimHandle, tmp_path: Path) -> None:
    yes = run_kubectl(sim.kubeconfig, tmp_path, "auth", "can-i", "list", "pods", "-n", "monitoring")
    assert (yes.returncode, yes.stdout.strip()) == (0, "yes"), yes.stderr
    no = run_kubectl(sim.kubeconfig, tmp_path, "auth", "can-i", "delete", "pods", "-n", "monitoring")
    assert (no.returncode, no.stdout.strip()) == (1, "no"), no.stderr
    named = run_kubectl(sim.kubeconfig, tmp_path, "auth", "can-i", "get", "services/grafana", "--subresource",
                        "proxy", "-n", "monitoring")
    assert named.stdout.strip() == "yes", named.stderr
    reviews = [r for r in sim.requests if r["path"].endswith("/selfsubjectaccessreviews")]
    assert reviews and {r["status"] for r in reviews} == {201}


# -- kubectl apply: /openapi/v3 lets it validate server-side (fieldValidation=Strict) -------------------
WAREHOUSE = """\
apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: applied, namespace: platform}
spec:
  subscriptions:
  - image: {repoURL: %s}
"""
CONFIGMAP = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: applied, namespace: platform}
data: {colour: %s}
"""


def test_kubectl_apply_creates_then_configures(sim: SimHandle, tmp_path: Path) -> None:
    admin = sim.admin_kubeconfig
    for manifest, first, second in ((WAREHOUSE, "ghcr.io/acme/a", "ghcr.io/acme/b"), (CONFIGMAP, "red", "blue")):
        created = run_kubectl(admin, tmp_path, "apply", "-f", "-", stdin=manifest % first)
        assert created.returncode == 0 and created.stdout.strip().endswith("applied created"), created.stderr
        changed = run_kubectl(admin, tmp_path, "apply", "-f", "-", stdin=manifest % second)
        assert changed.returncode == 0 and changed.stdout.strip().endswith("applied configured"), changed.stderr
        assert "warning" not in (created.stderr + changed.stderr).lower()
    got = run_kubectl(admin, tmp_path, "get", "warehouse", "applied", "-n", "platform", "-o",
                      "jsonpath={.spec.interval} {.spec.subscriptions[0].image.repoURL}")
    assert got.stdout == "5m0s ghcr.io/acme/b"  # the schema default, and the second apply's change
    cm = run_kubectl(admin, tmp_path, "get", "configmap", "applied", "-n", "platform", "-o",
                     "jsonpath={.data.colour}")
    assert cm.stdout == "blue"
    writes = [r for r in sim.requests if r["method"] in ("POST", "PATCH") and r["path"].endswith("/applied")
              or (r["method"] == "POST" and r["path"].endswith(("/warehouses", "/configmaps")))]
    assert writes and all(r["query"].get("fieldValidation") == "Strict" for r in writes)


def test_kubectl_apply_rejects_unknown_fields_as_a_strict_server_does(sim: SimHandle, tmp_path: Path) -> None:
    typo = (WAREHOUSE % "ghcr.io/acme/a").replace("name: applied", "name: typo") + "  intervall: 1m\n"
    proc = run_kubectl(sim.admin_kubeconfig, tmp_path, "apply", "-f", "-", stdin=typo)
    assert proc.returncode != 0
    assert 'strict decoding error: unknown field "spec.intervall"' in proc.stderr


def test_kubectl_against_gate_sim_serve(tmp_path: Path) -> None:
    """The kubeconfig `gate sim serve --admin --kubeconfig-out` writes is enough for can-i and apply."""
    import os
    import signal
    import sys

    kubeconfig = tmp_path / "kc"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from gate.cli import main; main()", "sim", "serve", "--scenario", "healthy",
         "--admin", "--kubeconfig-out", str(kubeconfig)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        for _ in range(3):
            proc.stdout.readline()  # type: ignore[union-attr]
        can = run_kubectl(str(kubeconfig), tmp_path / "cache", "auth", "can-i", "delete", "pods", "-A")
        assert (can.returncode, can.stdout.strip()) == (0, "yes"), can.stderr
        applied = run_kubectl(str(kubeconfig), tmp_path / "cache", "apply", "-f", "-",
                              stdin=WAREHOUSE % "ghcr.io/acme/served")
        assert applied.returncode == 0 and "warehouse.kargo.akuity.io/applied created" in applied.stdout, \
            applied.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
