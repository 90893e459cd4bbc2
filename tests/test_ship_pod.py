"""`gate verify` as the container of a Kargo verification Job, against the simulator.

A private mount namespace gives the process what a pod has: the service-account files at
/var/run/secrets/kubernetes.io/serviceaccount, KUBERNETES_SERVICE_HOST/PORT, a /dev/termination-log,
and the downward-API variables the rendered template sets. Nothing outside the namespace changes.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(importlib.resources.files("gate.demo").joinpath("l1.yaml"))
CONFIG = str(importlib.resources.files("gate.demo").joinpath("config.yaml"))
UID = "5d0c7e55-2b1a-4c53-9f43-7f9f0d6b8a11"
FC = "0f" * 20

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"),
                                reason="needs root for a private mount namespace (the test bed runs as root)")


def _analysis_run() -> dict:
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": "monitoring.01k3pod.0f0f0f0", "namespace": "platform", "uid": UID,
                         "labels": {"kargo.akuity.io/stage": "monitoring",
                                    "kargo.akuity.io/freight-collection": FC},
                         "annotations": {"kargo.akuity.io/promotion": "monitoring.01k3pod.abc1234"}},
            "spec": {"metrics": [{"name": "promotion-gate", "provider": {"job": {"spec": {
                "template": {"spec": {"containers": [{"name": "gate", "image": "gate"}]}}}}}}]}}


def _in_pod(sim, tmp_path: Path,
            extra_env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `gate verify` as the rendered Job's container would; return the run and its termination log."""
    stage = tmp_path / "pod"
    sa = stage / "serviceaccount"
    sa.mkdir(parents=True)
    (sa / "token").write_text(sim.token)
    (sa / "namespace").write_text("platform")
    shutil.copy(sim.ca_file, sa / "ca.crt")
    (stage / "olddev").mkdir()
    home = stage / "home"
    home.mkdir()
    out = stage / "termination-message"
    script = f"""set -e
mount --bind /dev "{stage}/olddev"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero full random urandom; do touch "/dev/$n"; mount --bind "{stage}/olddev/$n" "/dev/$n"; done
ln -s /proc/self/fd /dev/fd
: > /dev/termination-log
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /run/secrets/kubernetes.io/serviceaccount
mount --bind "{sa}" /run/secrets/kubernetes.io/serviceaccount
set +e
"$@"
rc=$?
cp /dev/termination-log "{out}"
exit $rc
"""
    host, port = sim.url.removeprefix("https://").rsplit(":", 1)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "TMPDIR": "/tmp",
           "LANG": "C.UTF-8", "PYTHONPATH": str(ROOT),
           "KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port,
           # what the rendered pod spec sets through the downward API and the ConfigMap mount
           "GATE_ANALYSISRUN_UID": UID, "GATE_NAMESPACE": "platform",
           "GATE_SPEC": SPEC, "GATE_CONFIG": CONFIG, **(extra_env or {})}
    gate = [sys.executable, "-c", "import sys; from gate.cli import main; sys.argv[0] = 'gate'; main()"]
    cmd = ["unshare", "--mount", "sh", "-c", script, "sh", *gate, "verify", "--stage", "monitoring"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, cwd="/")
    return proc, (out.read_text() if out.exists() else "")


@pytest.fixture
def sim():
    from gate.sim.server import start

    with start("healthy") as handle:
        handle.store.create(_analysis_run())
        yield handle


def test_in_a_pod_verify_uses_the_service_account_and_names_its_analysis_run(sim, tmp_path: Path) -> None:
    proc, message = _in_pod(sim, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Overall: PASS" in proc.stdout
    assert "AnalysisRun: platform/monitoring.01k3pod.0f0f0f0" in proc.stdout
    assert "Kargo Stage: monitoring" in proc.stdout
    assert f"Freight collection: {FC}" in proc.stdout
    assert "Promotion: monitoring.01k3pod.abc1234" in proc.stdout
    assert message == "gate verify: PASS: stage monitoring\n"
    # Every request carried the service account's token (in-cluster config), none was anonymous.
    identities = {r["identity"] for r in sim.requests}
    assert identities == {"system:serviceaccount:platform:gate"}
    runs = "/apis/argoproj.io/v1alpha1/namespaces/platform/analysisruns"
    assert any(r["path"] == runs for r in sim.requests)


def test_in_a_pod_a_403_on_its_analysis_run_exits_3_and_says_so(sim, tmp_path: Path) -> None:
    ident = sim.auth.identify(sim.token)
    for rule in ident.rules:
        rule.resources = [r for r in rule.resources if r != "analysisruns"]
    proc, message = _in_pod(sim, tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Overall: PASS" not in proc.stdout
    assert "analysisruns" in proc.stdout + proc.stderr
    assert message.startswith("gate verify: ERROR (not evaluated): stage monitoring")
    assert message.count("\n") == 1 and len(message.encode()) <= 4096


def test_in_a_pod_a_failing_verdict_keeps_its_capture_and_names_it(tmp_path: Path) -> None:
    from gate.render import _env
    from gate.sim.server import start

    # What the rendered Job sets; here the pod's /tmp is the test's own directory.
    (rendered,) = [e["value"] for e in _env([], True, "s") if e["name"] == "GATE_CAPTURE_ON_FAILURE"]
    capture = tmp_path / Path(rendered).name
    with start("crashloop") as crash:
        crash.store.create(_analysis_run())
        proc, message = _in_pod(crash, tmp_path, {"GATE_CAPTURE_ON_FAILURE": str(capture), "GATE_TIMEOUT": "5s"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("capture: "))  # the pod's log
    assert line.endswith(str(capture)) and capture.exists()
    assert message.startswith("gate verify: FAIL at Level 1: stage monitoring [capture ")
    assert str(capture) in message
