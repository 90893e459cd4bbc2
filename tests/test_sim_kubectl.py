"""Debian's kubectl (whatever is on PATH) reads the simulated cluster."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator

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
