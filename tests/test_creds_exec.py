"""`gate verify` through kubeconfig `exec` credential plugins (client.authentication.k8s.io v1 and v1beta1),
against the simulator: the fixture plugin (tests/fixtures/exec-credential) mints ServiceAccount tokens
through the simulator's TokenRequest, as `aws eks get-token` or `kubelogin` mint theirs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from gate.sim.server import start
from gate.sim.tokens import jwt_of_length

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = str(ROOT / "tests/fixtures/exec-credential")
CONFIG = str(ROOT / "gate/demo/config.yaml")
V1, V1BETA1 = "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"
# A pod that becomes ready only 7 s into the run: the gate polls (no watch) for longer than a token lives.
LATE_POD = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "late-0", "namespace": "apps", "labels": {"app": "late"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "c", "ready": True, "restartCount": 0,
                                              "state": {"running": {}}}]}}
SPEC = """defaults: {timeout: 30s, interval: 0.5s, max_interval: 1s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: apps, selector: "app=late", min_ready: 1}
"""
KARGO = jwt_of_length(2000)


SCENARIO = {"extends": "healthy", "token_request": {"min_expiration_seconds": 1}}


@pytest.fixture(scope="module")
def sim():
    with start(SCENARIO) as handle:
        yield handle


@pytest.fixture
def waiting_sim():
    """A simulator of its own, for a run that waits for LATE_POD."""
    with start(SCENARIO) as handle:
        yield handle


def _after_first_run(tmp: Path, *steps: tuple[float, Callable[[], None]]) -> threading.Thread:
    """Run each (seconds, action) that long after the plugin first ran (the gate connected), whatever
    the gate's start-up took on a busy machine."""
    def go() -> None:
        until = time.monotonic() + 60
        while not (tmp / "plugin.jsonl").exists() and time.monotonic() < until:
            time.sleep(0.05)
        began = time.monotonic()
        for seconds, action in steps:
            time.sleep(max(0.0, began + seconds - time.monotonic()))
            action()

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    return thread


def _exec_kubeconfig(sim, tmp: Path, **exec_block) -> str:
    block = {"apiVersion": V1, "command": PLUGIN, "interactiveMode": "Never",
             "args": ["--server", sim.url, "--ca", sim.ca_file, "--log", str(tmp / "plugin.jsonl")],
             "env": [{"name": "SIM_ADMIN_TOKEN", "value": sim.admin_token}], **exec_block}
    return sim.write_kubeconfig(tmp / "kubeconfig", {"exec": {k: v for k, v in block.items() if v is not None}})


def _verify(tmp: Path, kubeconfig: str, spec: str = SPEC, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp / "gate.yaml").write_text(spec)
    return subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec",
                           str(tmp / "gate.yaml"), "--config", CONFIG, "--kubeconfig", kubeconfig, "--no-watch",
                           "--json", str(tmp / "result.json")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "KARGO_API_TOKEN": KARGO, "PYTHONPATH": str(ROOT), **env})


def _runs(tmp: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp / "plugin.jsonl").read_text().splitlines()]


def test_an_exec_plugin_token_is_refreshed_before_it_expires_during_a_wait(waiting_sim, tmp_path: Path) -> None:
    sim = waiting_sim
    # Tokens live 3 s; the pod turns up 7 s after the gate connected: without a refresh, a 401.
    kubeconfig = _exec_kubeconfig(sim, tmp_path, args=["--server", sim.url, "--ca", sim.ca_file, "--expiration",
                                                       "3", "--log", str(tmp_path / "plugin.jsonl")])
    start_at = len(sim.requests)
    _after_first_run(tmp_path, (7.0, lambda: sim.apply_change({"create": LATE_POD})))
    proc = _verify(tmp_path, kubeconfig)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Overall: PASS" in proc.stdout
    mine = sim.requests[start_at:]
    assert mine and all(r["status"] != 401 for r in mine), [r for r in mine if r["status"] == 401][:3]
    assert {r["identity"] for r in mine if r["path"].startswith("/api/v1/namespaces/apps")} == \
        {"system:serviceaccount:platform:gate"}
    runs = _runs(tmp_path)
    assert len(runs) >= 3  # at least two refreshes in a wait of ~7 s
    for run in runs:  # never interactive: spec.interactive false, no terminal, nothing on stdin
        assert run["info"] == {"apiVersion": V1, "kind": "ExecCredential", "spec": {"interactive": False}}
        assert run["stdin_tty"] is False and run["stdin_data"] == ""
    assert sim.admin_token not in proc.stdout + proc.stderr and KARGO not in proc.stdout + proc.stderr


def test_a_token_refused_before_it_expires_runs_the_plugin_again(waiting_sim, tmp_path: Path) -> None:
    """The server stops accepting the plugin's token 2 s after the gate connected (revoked, an SSO session
    ended), while it waits for a pod: the 401 runs the plugin once more (once, however many requests were
    refused at the same moment) and the same request is asked again, as client-go does."""
    sim = waiting_sim
    kubeconfig = _exec_kubeconfig(sim, tmp_path)  # tokens of an hour: no refresh for expiry

    def revoke() -> None:
        for token in list(sim.auth.expiry):  # every minted token so far
            sim.auth.revoke(token)

    _after_first_run(tmp_path, (2.0, revoke), (5.0, lambda: sim.apply_change({"create": LATE_POD})))
    proc = _verify(tmp_path, kubeconfig)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(_runs(tmp_path)) == 2


GRAFANA = SPEC.replace("app=late", "app.kubernetes.io/name=grafana").replace("namespace: apps", "namespace: monitoring")


def test_a_v1beta1_plugin_without_interactive_mode_gets_the_cluster_info(sim, tmp_path: Path) -> None:
    kubeconfig = _exec_kubeconfig(sim, tmp_path, apiVersion=V1BETA1, interactiveMode=None, provideClusterInfo=True)
    proc = _verify(tmp_path, kubeconfig, spec=GRAFANA)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    info = _runs(tmp_path)[0]["info"]
    assert info["apiVersion"] == V1BETA1
    assert info["spec"]["cluster"]["server"] == sim.url  # provideClusterInfo
    assert info["spec"]["cluster"]["certificate-authority-data"]


def test_a_plugin_beside_the_kubeconfig_can_give_a_client_certificate(tmp_path: Path) -> None:
    with start({"extends": "healthy", "client_certificates": True}) as sim:
        cert, key = sim.client_certificate("cert-admin", ["system:masters"])
        (tmp_path / "c.crt").write_text(cert)
        (tmp_path / "c.key").write_text(key)
        shutil.copy(PLUGIN, tmp_path / "get-cert")  # `./get-cert`: relative to the kubeconfig's directory
        kubeconfig = _exec_kubeconfig(sim, tmp_path, command="./get-cert",
                                      args=["--cert", str(tmp_path / "c.crt"), "--key", str(tmp_path / "c.key")])
        proc = _verify(tmp_path, kubeconfig, spec=GRAFANA + "        - command: {run: [cat, KEY]}\n"
                       .replace("KEY", str(tmp_path / "c.key")))
        identities = {r["identity"] for r in sim.requests}
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert identities == {"cert-admin"}
    body = "".join(key.strip().splitlines()[1:-1])
    result = (tmp_path / "result.json").read_text()
    assert "-----BEGIN RSA PRIVATE KEY-----" not in result and "***" in result  # the check's output, masked
    assert body[:40] not in proc.stdout + proc.stderr + result  # the key the plugin gave is a secret


def test_a_missing_plugin_exits_3_naming_the_command(sim, tmp_path: Path) -> None:
    kubeconfig = _exec_kubeconfig(sim, tmp_path, command="aws-iam-authenticator-not-installed")
    proc = _verify(tmp_path, kubeconfig)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "aws-iam-authenticator-not-installed" in proc.stderr and "not found" in proc.stderr
    assert "Traceback" not in proc.stderr and "Overall: PASS" not in proc.stdout


def test_a_failing_plugin_exits_3_with_its_stderr_masked(sim, tmp_path: Path) -> None:
    kubeconfig = _exec_kubeconfig(sim, tmp_path, args=["--fail"], env=[
        {"name": "SIM_ADMIN_TOKEN", "value": sim.admin_token},
        {"name": "PLUGIN_ERROR", "value": f"error: token {KARGO} was rejected by {sim.admin_token}: SSO expired"}])
    proc = _verify(tmp_path, kubeconfig)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out
    assert PLUGIN in proc.stderr and "failed (exit 1)" in proc.stderr and "SSO expired" in proc.stderr
    assert KARGO not in out and sim.admin_token not in out and "Traceback" not in out


@pytest.mark.parametrize(("script", "words"), [
    ("exit 0", "printed no JSON ExecCredential"),
    ("exec sleep 30", "did not finish within"),  # waits for a browser login: the run's --timeout ends it
])
def test_a_plugin_without_a_credential_exits_3(sim, tmp_path: Path, script: str, words: str) -> None:
    (tmp_path / "plugin").write_text(f"#!/bin/sh\n{script}\n")
    (tmp_path / "plugin").chmod(0o755)
    command = str(tmp_path / "plugin")
    proc = _verify(tmp_path, _exec_kubeconfig(sim, tmp_path, command=command), GATE_TIMEOUT="4s")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert words in proc.stderr and command in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(("block", "words"), [
    ({"interactiveMode": None}, ["interactiveMode must be specified", V1]),
    ({"interactiveMode": "Always"}, ["interactiveMode: Always", "never runs a plugin interactively"]),
    ({"apiVersion": "client.authentication.k8s.io/v1alpha1"}, ["apiVersion must be one of"]),
])
def test_an_exec_block_the_gate_cannot_run_exits_2(sim, tmp_path: Path, block: dict, words: list[str]) -> None:
    proc = _verify(tmp_path, _exec_kubeconfig(sim, tmp_path, **block))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    for word in words:
        assert word in proc.stderr
    assert not (tmp_path / "plugin.jsonl").exists()  # refused before the plugin runs
