"""Bearer tokens as real clusters and CI systems issue them (issue 24): a 2,000-character JWT as the
kubeconfig token, as KARGO_API_TOKEN and as a `*_TOKEN` CI variable; ServiceAccount tokens (~950), OIDC
id-tokens, EKS tokens (~1,000) and a 10,000-character token. `gate verify` of a healthy simulated world
exits 0 through either kubeconfig path, an unreachable server exits 3, never a traceback, and no value
appears in any output (stdout, stderr, JUnit, JSON, the GitHub step summary), in any encoding the canary
test knows."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_secrets_canary import forms

from gate.sim.server import start
from gate.sim.tokens import eks_token, jwt_of_length, serviceaccount_token

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
SPEC = """defaults: {timeout: 20s, interval: 0.5s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: monitoring, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}
        - argocd_apps: [kube-prometheus-stack, loki]
        - command: {name: prints the tokens, run: ["cat", "TOKENS"]}
"""
KARGO = jwt_of_length(2000)  # a Kargo API token is a JWT
CI_TOKEN = jwt_of_length(2000, {"iss": "https://gitlab.example.com", "sub": "project_path:shop/app:ref_type:branch",
                                "aud": "https://kargo.example.com", "namespace_path": "shop"})
SHAPES = {
    "serviceaccount": serviceaccount_token("platform", "gate"),
    "serviceaccount-bound-to-pod": serviceaccount_token("platform", "gate", pod="gate-verify-7x2k4"),
    "oidc-2000": jwt_of_length(2000),
    "eks": eks_token(),
    "jwt-10000": jwt_of_length(10_000),
}


@pytest.fixture(scope="module")
def sim():
    tokens = {value: {"user": "system:serviceaccount:platform:gate"} for value in SHAPES.values()}
    with start({"extends": "healthy", "tokens": tokens}) as handle:
        yield handle


def _verify(tmp: Path, kubeconfig: str, token: str, **env: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """`gate verify` with every report it writes, a command check printing the three tokens; all the text
    the run left anywhere."""
    (tmp / "tokens").write_text(f"kube {token}\nkargo {KARGO}\nci {CI_TOKEN}\n")
    (tmp / "gate.yaml").write_text(SPEC.replace("TOKENS", str(tmp / "tokens")))
    summary, outputs = tmp / "summary.md", tmp / "outputs.txt"
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec", str(tmp / "gate.yaml"),
         "--config", CONFIG, "--kubeconfig", kubeconfig, "--junit", str(tmp / "junit.xml"),
         "--json", str(tmp / "result.json")],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "KARGO_API_TOKEN": KARGO, "MY_ID_TOKEN": CI_TOKEN, "GITHUB_ACTIONS": "true",
             "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs), "PYTHONPATH": str(ROOT),
             **env})
    written = [p.read_text() for p in (tmp / "junit.xml", tmp / "result.json", summary, outputs) if p.exists()]
    return proc, "\n".join([proc.stdout, proc.stderr, *written])


def _leaks(text: str, *values: str) -> list[str]:
    return [f"{value[:12]}…/{how}" for value in values for how, form in forms(value).items() if form in text]


@pytest.mark.parametrize("client", ["auto", "library"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_verify_passes_with_a_real_token_shape_and_prints_none(sim, tmp_path: Path, shape: str,
                                                               client: str) -> None:
    token = SHAPES[shape]
    kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", {"token": token})
    start_at = len(sim.requests)
    proc, text = _verify(tmp_path, kubeconfig, token, GATE_KUBE_CLIENT=client)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Overall: PASS" in proc.stdout and "Traceback" not in proc.stderr
    assert {r["identity"] for r in sim.requests[start_at:]} == {"system:serviceaccount:platform:gate"}
    assert _leaks(text, token, KARGO, CI_TOKEN) == []
    assert "kube ***\nkargo ***\nci ***" in text  # the command check's output in the JSON result, masked


def test_an_unreachable_server_exits_3_and_prints_no_token(tmp_path: Path) -> None:
    token = SHAPES["oidc-2000"]
    with start("healthy") as gone:
        kubeconfig = gone.write_kubeconfig(tmp_path / "kubeconfig", {"token": token})
    proc, text = _verify(tmp_path, kubeconfig, token)  # the simulator has stopped: its port refuses connections
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Overall: PASS" not in proc.stdout and "Traceback" not in proc.stderr
    assert _leaks(text, token, KARGO, CI_TOKEN) == []


def test_a_token_the_server_does_not_know_exits_3_and_prints_none(sim, tmp_path: Path) -> None:
    token = jwt_of_length(2000)  # well formed, never issued by this cluster
    proc, text = _verify(tmp_path, sim.write_kubeconfig(tmp_path / "kubeconfig", {"token": token}), token)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "401" in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
    assert _leaks(text, token, KARGO, CI_TOKEN) == []


def test_a_kubeconfig_token_file_rewritten_during_the_run_is_re_read(tmp_path: Path) -> None:
    """`tokenFile:` (a token a sidecar or CI step keeps fresh): each new token is used from the next
    request on; the simulator stops accepting the old one 0.5 s after the file was replaced, and the pod
    the gate waits for turns up after three replacements made while it polled."""
    import threading

    late = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "late-0", "namespace": "apps",
                                                           "labels": {"app": "late"}},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    spec = ("defaults: {timeout: 30s, interval: 0.5s, max_interval: 1s}\nstages:\n  monitoring:\n    levels:\n"
            "      1:\n        - pods: {namespace: apps, selector: \"app=late\", min_ready: 1}\n")
    with start("healthy") as sim:
        def fresh() -> str:
            token = jwt_of_length(1200)
            sim.auth.issue(token, "system:serviceaccount:platform:gate")
            return token

        current = fresh()
        (tmp_path / "token").write_text(current + "\n")
        kubeconfig = sim.write_kubeconfig(tmp_path / "kubeconfig", {"tokenFile": "token"})  # beside it
        stop, rotations = threading.Event(), []  # (when, token) of each swap

        def rotate() -> None:
            old = current
            while not stop.wait(1.0):
                new = fresh()
                (tmp_path / "token.tmp").write_text(new + "\n")
                os.replace(tmp_path / "token.tmp", tmp_path / "token")
                rotations.append((time.time(), new))  # the clock of the simulator's request log
                if stop.wait(0.5):
                    return
                sim.auth.revoke(old)
                old = new
                if len(_polled_since(sim, rotations)) == 3:  # three swaps while the gate waited: enough
                    sim.apply_change({"create": late})

        (tmp_path / "gate.yaml").write_text(spec)
        rotator = threading.Thread(target=rotate, daemon=True)
        rotator.start()
        try:
            proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec",
                                   str(tmp_path / "gate.yaml"), "--config", CONFIG, "--kubeconfig", kubeconfig,
                                   "--no-watch"], capture_output=True, text=True, timeout=120,
                                  env={**os.environ, "PYTHONPATH": str(ROOT)})
        finally:
            stop.set()
            rotator.join(timeout=10)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(rotations) >= 3 and [r for r in sim.requests if r["status"] == 401] == []
    assert _leaks(proc.stdout + proc.stderr, current, *(token for _, token in rotations)) == []


def _polled_since(sim, swaps: list) -> list:
    """The swaps made after the gate first asked for the pods it waits for (the namespace `apps`)."""
    asked = [r["time"] for r in list(sim.requests) if r["path"].startswith("/api/v1/namespaces/apps")]
    return [swap for swap in swaps if asked and swap[0] > asked[0]]
