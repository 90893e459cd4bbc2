"""Names the gate reads from the cluster and prints (a failing pod, its Deployment) stay whole in a report
even where a short secret value is part of them, while the secret itself is still masked.

A `secret` check reads `api` (a Secret's username); a short value is masked as a whole word, and "-" ends
a word, so the crash-looping pod `api-server-5d8c7b9f4-x2k4p` was printed as `***-server-5d8c7b9f4-x2k4p`
in the failing row, the DIAGNOSIS and its fix lines (`kubectl logs ***-server-…`, which no one can run).
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gate.sim.scenario import resolve
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
RS, DEPLOY, SECRET_VALUE = "api-server-5d8c7b9f4", "api-server", "api"
POD = f"{RS}-x2k4p"
SPEC = ("stages:\n  s:\n    levels:\n      1:\n"
        "        - secret: {namespace: apps, name: api-db, keys: [username]}\n"
        "        - pods: {namespace: apps, timeout: 3s}\n"
        "        - workloads: {namespace: apps, timeout: 3s}\n")


def _renamed(obj: dict, kind: str) -> dict:
    """crashloop's grafana Deployment or Pod, moved to namespace apps as api-server (container `server`)."""
    text = json.dumps(obj).replace("grafana-7c9d8f6b5", RS).replace('"grafana"', f'"{DEPLOY}"')
    moved = json.loads(text.replace("_monitoring(", "_apps("))
    moved["metadata"]["namespace"] = "apps"
    for container in moved.get("spec", {}).get("containers", []) + moved.get("status", {}).get("containerStatuses", []):
        container["name"] = "server"
    if kind == "Pod":
        moved["status"]["containerStatuses"][0]["state"]["waiting"]["message"] = "back-off restarting failed container"
    return moved


def _world() -> dict[str, Any]:
    crash = resolve("crashloop")
    pod, deploy = (copy.deepcopy(next(o for o in crash["objects"] if o["kind"] == kind
                                      and o["metadata"]["name"].startswith("grafana")))
                   for kind in ("Pod", "Deployment"))
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "api-db", "namespace": "apps"},
              "data": {"username": base64.b64encode(SECRET_VALUE.encode()).decode()}}
    return {"name": "short-secret-in-names", "extends": "healthy",
            "objects": [_renamed(pod, "Pod"), _renamed(deploy, "Deployment"), secret],
            "logs": {f"apps/{POD}": 'level=info msg="starting"\n'
                                    'level=error msg="connecting as api: password authentication failed"\n'}}


def test_a_failing_pod_named_with_a_short_secret_is_named_whole_and_the_secret_stays_masked(tmp_path: Path) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text(SPEC)
    with start(_world()) as sim:
        proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", "s", "--spec", str(spec),
                               "--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--json", str(tmp_path / "r.json")],
                              capture_output=True, text=True, timeout=120, cwd=ROOT,
                              env={**os.environ, "GATE_TIMEOUT": "60s"})
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    # the failing rows name the pod and its Deployment as they are in the cluster
    assert f"- apps/{POD}: CrashLoopBackOff" in out, out
    assert f"- Deployment apps/{DEPLOY}: " in out, out
    # the DIAGNOSIS too, and its fix lines can be copied and run
    assert f"Root Cause: pod apps/{POD} crash-loops" in out, out
    assert f"kubectl logs {POD} -n apps -c server --previous --tail=100" in out, out
    assert f"kubectl describe pod {POD} -n apps" in out, out
    assert f"Action Required: Read the crash: kubectl logs -n apps {POD}" in out, out
    assert f"kubectl rollout status deployment/{DEPLOY} -n apps" in out, out
    # the value itself, where it stands alone (the pod's log), is still masked, in every output
    report = (tmp_path / "r.json").read_text()
    for text in (out, report):
        assert "***-" not in text
        assert 'connecting as ***: password authentication failed' in text
        assert "connecting as api:" not in text
