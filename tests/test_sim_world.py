"""Simulator scenarios: files and extends, the timeline, faults, the request log, `gate sim serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
import urllib3
import yaml

from gate.cluster.kube import connect
from gate.cluster.resources import APPLICATIONS, CRDS, PODS
from gate.errors import TransientError
from gate.sim.server import start

MINIMAL = {
    "name": "mini",
    "tokens": {"t-read": {"user": "reader"}},
    "gate_token": "t-read",
    "rbac": {"reader": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]},
    "objects": [
        {
            "apiVersion": "v1",
            "kind": "ConfigMapList",
            "items": [
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "a", "namespace": "n"},
                    "data": {},
                },
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "b", "namespace": "n"},
                    "data": {"when": "${now-30s}"},
                },
            ],
        },
    ],
}


def _ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def test_scenario_file_with_list_multidoc_and_extends(tmp_path: Path) -> None:
    (tmp_path / "extra.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: n}\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: d, namespace: n}\n"
    )
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(MINIMAL))
    (tmp_path / "child.yaml").write_text(
        yaml.safe_dump(
            {
                "extends": "base.yaml",
                "files": ["extra.yaml"],
                "remove": [
                    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}}
                ],
                "patches": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "metadata": {"name": "b", "namespace": "n"},
                        "data": {"x": "1"},
                    }
                ],
            }
        )
    )
    with start(tmp_path / "child.yaml") as sim:
        kube = connect(sim.kubeconfig)
        from gate.cluster.resources import Resource

        cms = kube.list(Resource("", "v1", "configmaps", "ConfigMap"), "n")
        assert [c["metadata"]["name"] for c in cms] == ["b", "c", "d"]
        b = cms[0]["data"]
        assert b["x"] == "1" and abs(_ts(b["when"]) - (time.time() - 30)) < 5


def test_timeline_refreshes_the_stale_application() -> None:
    with start("stale-argocd", speed=4) as sim:
        kube = connect(sim.kubeconfig)
        status = kube.get(APPLICATIONS, "loki", "argocd")["status"]
        assert status["health"]["status"] == "Healthy"
        assert _ts(status["reconciledAt"]) == _ts(status["operationState"]["finishedAt"]) - 120
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            status = kube.get(APPLICATIONS, "loki", "argocd")["status"]
            if _ts(status["reconciledAt"]) >= _ts(status["operationState"]["finishedAt"]):
                break
            time.sleep(0.1)
        else:
            pytest.fail("the timeline never refreshed loki")
        assert sim.clock >= 4  # scenario seconds: 4 s at speed 4 is about 1 s of wall time


def test_crashloop_scenario_shapes() -> None:
    with start("crashloop") as sim:
        pod = connect(sim.kubeconfig).get(PODS, "grafana-7c9d8f6b5-x2k4p", "monitoring")
        cs = pod["status"]["containerStatuses"][0]
        assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" and cs["restartCount"] == 7
        assert cs["lastState"]["terminated"] == {
            **cs["lastState"]["terminated"],
            "reason": "Error",
            "exitCode": 1,
        }


def test_faults_429_503_and_dropped_connection(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    with start(MINIMAL, request_log=str(log)) as sim:
        url = f"{sim.url}/api/v1/namespaces/n/configmaps"
        auth = {"Authorization": f"Bearer {sim.token}"}
        sim.add_fault(
            {"path": "^/api/v1/namespaces/n/configmaps$", "status": 429, "retry_after": 1, "count": 1}
        )
        r = requests.get(url, headers=auth, verify=sim.ca_file)
        assert (
            r.status_code == 429
            and r.headers["Retry-After"] == "1"
            and r.json()["reason"] == "TooManyRequests"
        )
        assert requests.get(url, headers=auth, verify=sim.ca_file).status_code == 200  # count exhausted
        sim.add_fault({"path": "/configmaps/a$", "status": 503, "count": 2})
        kube = connect(sim.kubeconfig)
        from gate.cluster.resources import Resource

        cm = Resource("", "v1", "configmaps", "ConfigMap")
        started = time.monotonic()
        assert kube.get(cm, "a", "n")["metadata"]["name"] == "a"  # retried through two 503s
        assert time.monotonic() - started < 5
        sim.add_fault({"path": "/configmaps/b$", "drop": True})
        with pytest.raises(TransientError):
            kube.get(cm, "b", "n")
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{url}/b", headers=auth, verify=sim.ca_file)
        sim.add_fault({"path": "/configmaps/a$", "latency": 0.3, "count": 1})
        started = time.monotonic()
        assert requests.get(f"{url}/a", headers=auth, verify=sim.ca_file).status_code == 200
        assert time.monotonic() - started >= 0.3
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    statuses = [(e["method"], e["path"], e["status"]) for e in lines]
    assert statuses[:2] == [
        ("GET", "/api/v1/namespaces/n/configmaps", 429),
        ("GET", "/api/v1/namespaces/n/configmaps", 200),
    ]
    assert [s for _, p, s in statuses if p.endswith("/a")][:3] == [503, 503, 200]
    assert ("GET", "/api/v1/namespaces/n/configmaps/b", 0) in statuses  # dropped: no status sent
    assert all(e["identity"] == "reader" for e in lines)
    assert len(lines) == len(sim.requests)


def test_fault_time_window_from_scenario() -> None:
    data = {**MINIMAL, "faults": [{"path": "configmaps", "status": 500, "window": ["0s", "0.5s"]}]}
    with start(data) as sim:
        url = f"{sim.url}/api/v1/namespaces/n/configmaps"
        auth = {"Authorization": f"Bearer {sim.token}"}
        assert requests.get(url, headers=auth, verify=sim.ca_file).status_code == 500
        time.sleep(0.6)
        assert requests.get(url, headers=auth, verify=sim.ca_file).status_code == 200


def test_mounted_routes_are_logged_and_faulted() -> None:
    from gate.sim.http import SimResponse

    with start(MINIMAL) as sim:
        sim.add_route("/v1beta1/", lambda req: SimResponse(200, {"path": req.path, "q": req.arg("x")}))
        r = requests.get(f"{sim.url}/v1beta1/projects?x=1", verify=sim.ca_file)
        assert r.json() == {"path": "/v1beta1/projects", "q": "1"}
        sim.add_fault({"path": "^/v1beta1/", "status": 503, "count": 1})
        assert requests.get(f"{sim.url}/v1beta1/projects", verify=sim.ca_file).status_code == 503
        assert [(e["path"], e["status"]) for e in sim.requests] == [
            ("/v1beta1/projects", 200),
            ("/v1beta1/projects", 503),
        ]
        ticks: list[float] = []
        sim.add_ticker(ticks.append)
        time.sleep(0.3)
        assert len(ticks) >= 3 and ticks == sorted(ticks)


def test_gate_sim_serve_prints_where_it_listens(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gate.cli import main; main()",
            "sim",
            "serve",
            "--scenario",
            "healthy",
            "--kubeconfig-out",
            str(kubeconfig),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]  # type: ignore[union-attr]
        assert lines[0].startswith("simulated cluster (healthy) listening on https://127.0.0.1:")
        assert lines[2].strip() == f"export KUBECONFIG={kubeconfig}"
        kube = connect(str(kubeconfig))
        assert any(c["metadata"]["name"] == "stages.kargo.akuity.io" for c in kube.list(CRDS))
        assert "gate-token" not in "".join(lines)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    urllib3.disable_warnings()
