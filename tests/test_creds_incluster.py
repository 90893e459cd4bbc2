"""In a Pod, the ServiceAccount token is a projected file the kubelet rotates while the gate runs.

A private mount namespace gives `gate verify` the Pod's /var/run/secrets/kubernetes.io/serviceaccount
(written as the kubelet's AtomicWriter writes a projected volume: timestamped directories, a `..data`
symlink swapped on each update, `token` -> `..data/token`) and KUBERNETES_SERVICE_HOST/PORT. The test
writes a new Pod-bound token (minted through the simulator's TokenRequest, ~1,100 characters) every
1.5 s and the simulator stops accepting the old one 0.5 s after its successor is on disk, while the gate
polls for a pod that turns up after three swaps made while it polled.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
SPEC = """defaults: {timeout: 30s, interval: 0.5s, max_interval: 1s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: apps, selector: "app=late", min_ready: 1}
"""
F2 = "7539ab25fa8b285f5321128519e52887bdf8c7a1"
LATE_POD = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "late-0", "namespace": "apps", "labels": {"app": "late"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                              "state": {"running": {}}}]}}

in_a_pod = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                              reason="needs root for a private mount namespace (the test bed runs as root)")


class ProjectedVolume:
    """A projected ServiceAccount volume, updated as the kubelet's AtomicWriter updates one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        self.generation = 0

    def write(self, files: dict[str, str]) -> None:
        self.generation += 1
        stamp = time.strftime("..%Y_%m_%d_%H_%M_%S.") + str(self.generation)
        target = self.root / stamp
        target.mkdir()
        for name, text in files.items():
            (target / name).write_text(text)
            link = self.root / name
            if not link.is_symlink():
                link.symlink_to(f"..data/{name}")
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(stamp)
        os.replace(tmp, self.root / "..data")  # the atomic swap


def _mint(sim) -> str:
    resp = requests.post(
        f"{sim.url}/api/v1/namespaces/platform/serviceaccounts/gate/token",
        json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
              "spec": {"expirationSeconds": 3607, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1",
                                                                      "name": "gate-verify-x7k2p"}}},
        headers={"Authorization": f"Bearer {sim.admin_token}"}, verify=sim.ca_file, timeout=10)
    resp.raise_for_status()
    return resp.json()["status"]["token"]


def _in_pod(sim, volume: ProjectedVolume, tmp: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`gate ARGS` with the volume mounted where a Pod has its ServiceAccount, and the service's address."""
    host, port = sim.url.removeprefix("https://").rsplit(":", 1)
    script = f"""set -e
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
mount --bind "{volume.root}" /run/secrets/kubernetes.io/serviceaccount
exec "$@"
"""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "LANG": "C.UTF-8",
           "PYTHONPATH": str(ROOT), "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port, **env}
    return subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", sys.executable, "-m", "gate", *args,
                           "--config", CONFIG], env=env, capture_output=True, text=True, timeout=120, cwd="/")


@in_a_pod
def test_in_a_job_the_kargo_api_takes_the_pods_serviceaccount_token(tmp_path: Path) -> None:
    """KARGO_API_ADDRESS set, no KARGO_API_TOKEN: the pod's token, which Kargo v1.11 verifies by asking
    Kubernetes (pkg/server/option/auth.go, `authenticate` case 4)."""
    with start({"extends": "promote-ok", "token_request": True}, speed=10.0) as sim:
        from gate.sim.kargo_api import mount

        mount(sim)
        volume = ProjectedVolume(tmp_path / "serviceaccount")
        token = _mint(sim)
        volume.write({"token": token, "ca.crt": Path(sim.ca_file).read_text(), "namespace": "platform"})
        proc = _in_pod(sim, volume, tmp_path, "precheck", "--stage", "monitoring", "--freight", F2,
                       "--kargo-ca", sim.ca_file, KARGO_API_ADDRESS=sim.url)
        kargo = [r for r in sim.requests if r["path"].startswith("/v1beta1/")]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert kargo and {(r["status"], r["identity"]) for r in kargo} == {(200, "system:serviceaccount:platform:gate")}
    assert token not in proc.stdout + proc.stderr


@in_a_pod
def test_in_cluster_the_pods_token_is_a_secret(tmp_path: Path) -> None:
    """A check that prints the token file shows it masked (it was registered only as "bearer <token>")."""
    spec = SPEC.replace("apps, selector: \"app=late\"", "monitoring, selector: \"app.kubernetes.io/name=grafana\"") \
        + "        - command: {run: [cat, /var/run/secrets/kubernetes.io/serviceaccount/token]}\n"
    with start({"extends": "healthy", "token_request": True}) as sim:
        volume = ProjectedVolume(tmp_path / "serviceaccount")
        token = _mint(sim)
        volume.write({"token": token, "ca.crt": Path(sim.ca_file).read_text(), "namespace": "platform"})
        (tmp_path / "gate.yaml").write_text(spec)
        proc = _in_pod(sim, volume, tmp_path, "verify", "--stage", "monitoring", "--spec", str(tmp_path / "gate.yaml"),
                       "--json", str(tmp_path / "result.json"))
    result = (tmp_path / "result.json").read_text()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert token[:60] not in proc.stdout + proc.stderr + result and "***" in result


@in_a_pod
def test_in_cluster_the_rotated_token_file_is_re_read(tmp_path: Path) -> None:
    scenario = {"extends": "healthy", "token_request": True}
    with start(scenario) as sim:
        volume = ProjectedVolume(tmp_path / "serviceaccount")
        first = _mint(sim)
        assert len(first) >= 1050
        volume.write({"token": first, "ca.crt": Path(sim.ca_file).read_text(), "namespace": "platform"})
        stop = threading.Event()
        rotations: list[float] = []

        def rotate() -> None:
            current = first
            while not stop.wait(1.0):
                fresh = _mint(sim)
                volume.write({"token": fresh, "ca.crt": Path(sim.ca_file).read_text(), "namespace": "platform"})
                rotations.append(time.time())  # the clock of the simulator's request log
                if stop.wait(0.5):
                    return
                sim.auth.revoke(current)  # from here on, only the token on disk is accepted
                current = fresh
                asked = [r["time"] for r in list(sim.requests) if r["path"].startswith("/api/v1/namespaces/apps")]
                if asked and sum(1 for when in rotations if when > asked[0]) == 3:
                    sim.apply_change({"create": LATE_POD})  # three swaps while the gate waited: enough

        (tmp_path / "gate.yaml").write_text(SPEC)
        rotator = threading.Thread(target=rotate, daemon=True)
        rotator.start()
        try:
            proc = _in_pod(sim, volume, tmp_path, "verify", "--stage", "monitoring", "--spec",
                           str(tmp_path / "gate.yaml"), "--no-watch")
        finally:
            stop.set()
            rotator.join(timeout=10)
        finished = time.time()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Overall: PASS" in proc.stdout
    assert len(rotations) >= 3, rotations  # the run outlived several tokens
    assert [r for r in sim.requests if r["status"] == 401] == []
    assert {r["identity"] for r in sim.requests if r["path"].startswith("/api/v1/namespaces/apps")} == \
        {"system:serviceaccount:platform:gate"}
    assert finished - rotations[0] > 2.5  # requests went on after the first token was revoked
    for token in (first,):
        assert token not in proc.stdout + proc.stderr


def test_the_token_source_follows_a_projected_volume_swap(tmp_path: Path) -> None:
    """The same source the in-cluster path installs, in this process (no mount namespace needed): the
    kubernetes client's requests carry each token from the first request after the swap."""
    from kubernetes import client

    from gate import redact
    from gate.cluster.kube import KubeClient
    from gate.cluster.resources import PODS
    from gate.cluster.tokenfile import TokenFile

    with start({"extends": "healthy", "token_request": True}) as sim:
        volume = ProjectedVolume(tmp_path / "serviceaccount")
        tokens = [_mint(sim)]
        volume.write({"token": tokens[0]})
        cfg = client.Configuration()
        cfg.host, cfg.ssl_ca_cert = sim.url, sim.ca_file
        source = TokenFile(str(volume.root / "token"), prefix="bearer ")
        source.refresh_hook(cfg)  # as connect() does: the client asks the hook only once a key is set
        cfg.refresh_api_key_hook = source.refresh_hook
        kube = KubeClient(client.ApiClient(cfg))
        assert kube.list(PODS, "monitoring")
        for _ in range(3):
            tokens.append(_mint(sim))
            volume.write({"token": tokens[-1]})
            sim.auth.revoke(tokens[-2])  # only the token on disk is accepted
            assert kube.list(PODS, "monitoring")
        assert source.reads == 4 and [r for r in sim.requests if r["status"] == 401] == []
        assert all(redact.redact(token) == "***" for token in tokens)
