"""`gate verify` against the simulator as a user runs it: what it asks the cluster, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from gate.sim.server import start

CONFIG = Path(__file__).resolve().parents[1] / "gate/demo/config.yaml"

SHARED_LISTS = """
defaults: {timeout: 3s, interval: 0.3s, max_interval: 0.6s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: monitoring, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}
        - pods: {name: four ready, namespace: monitoring,
                 selector: "app.kubernetes.io/part-of=kube-prometheus-stack", min_ready: 4}
        - workloads: {namespace: monitoring}
        - argocd_apps: [kube-prometheus-stack, loki]
      2:
        - tcp: {host: 127.0.0.1, port: 9}
"""


def gate(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def crashloop_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, list, dict]:
    tmp = tmp_path_factory.mktemp("verify")
    spec = tmp / "gate.yaml"
    spec.write_text(SHARED_LISTS)
    log = tmp / "requests.jsonl"
    with start("crashloop", request_log=str(log)) as sim:
        proc = gate("verify", "--stage", "monitoring", "--spec", str(spec), "--config", str(CONFIG),
                    "--kubeconfig", sim.kubeconfig, "--json", str(tmp / "r.json"))
    requests = [json.loads(line) for line in log.read_text().splitlines()]
    return proc, requests, json.loads((tmp / "r.json").read_text())


def test_crashloop_verdict(crashloop_run: tuple) -> None:
    proc, _, result = crashloop_run
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert result["failed_level"] == 1
    assert result["levels"][1]["status"] == "SKIPPED"


def test_the_gate_writes_nothing_but_access_reviews(crashloop_run: tuple) -> None:
    _, requests, _ = crashloop_run
    writes = [(r["method"], r["path"]) for r in requests if r["method"] != "GET"]
    assert writes, "the preflight asks SelfSubjectRulesReviews"
    # one rules review per namespace answers every permission here (none is cluster-scoped: no access review)
    assert {path for _, path in writes} == {"/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"}
    assert {method for method, _ in writes} == {"POST"}


def test_one_list_per_resource_namespace_and_selector_per_round(crashloop_run: tuple) -> None:
    _, requests, result = crashloop_run
    checks = {c["name"]: c for c in result["levels"][0]["checks"]}
    pods_checks = [c for c in checks.values() if c["kind"] == "pods"]
    assert len(pods_checks) == 2
    rounds = max(c["attempts"] for c in pods_checks)
    assert rounds >= 3, "the failing checks were polled several times"
    assert {c["attempts"] for c in pods_checks} == {rounds}, "both pods checks shared every round"
    # One list per key from the watch cache, then one watch from its resourceVersion (issues 12, 25): later
    # rounds read the watch's cache, no request. After the levels the failure's diagnosis lists the failing pods.
    lists = Counter((r["path"], r["query"].get("labelSelector"), r["query"].get("fieldSelector"),
                     r["query"].get("watch")) for r in requests if r["method"] == "GET")
    key = ("/api/v1/namespaces/monitoring/pods", "app.kubernetes.io/part-of=kube-prometheus-stack", None)
    assert lists[(*key, None)] == 2, f"{lists[(*key, None)]} pod lists for {rounds} rounds of two checks"
    assert lists[(*key, "1")] == 1, f"{lists[(*key, '1')]} pod watches"
    first = next(r for r in requests if r["path"] == key[0] and not r["query"].get("watch"))
    assert first["query"].get("resourceVersion") == "0"
    watch = next(r for r in requests if r["path"] == key[0] and r["query"].get("watch"))
    assert watch["query"]["resourceVersion"] not in ("", "0") and "sendInitialEvents" not in watch["query"]
    workloads = next(c for c in checks.values() if c["kind"] == "workloads")
    assert workloads["status"] == "FAIL"
    for kind in ("deployments", "statefulsets", "daemonsets"):
        assert lists[(f"/apis/apps/v1/namespaces/monitoring/{kind}", None, None, None)] == 1
        assert lists[(f"/apis/apps/v1/namespaces/monitoring/{kind}", None, None, "1")] == 1
    # No list was made more often than the most-polled check was polled.
    assert max(lists.values()) <= rounds + 1  # + the diagnosis' one read of the failing pods


@pytest.mark.parametrize(("spec_text", "line", "key", "words"), [
    ("stages:\n  monitoring:\n    levels: a: b\n", 3, None, ["gate.yaml:3", "not valid YAML"]),
    ("stages:\n  monitoring:\n    levels:\n      1:\n        - podz: {namespace: monitoring}\n", 5,
     "stages.monitoring.levels.1[1].podz", ["unknown check kind 'podz'", "pods"]),
    ("stages:\n  monitoring:\n    levels:\n      1:\n        - pods: {namespace: monitoring, min_ready: three}\n",
     5, "stages.monitoring.levels.1[1].pods.min_ready", ["three"]),
    ("stages:\n  other:\n    levels:\n      1:\n        - crds: [a.b.c]\n", None, None,
     ["monitoring", "other"]),
])
def test_malformed_spec_exits_2_naming_file_line_and_key(tmp_path: Path, spec_text: str, line: int | None,
                                                         key: str | None, words: list[str]) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text(spec_text)
    # No kubeconfig at all: a bad spec must be reported before any cluster access.
    proc = gate("verify", "--stage", "monitoring", "--spec", str(spec), "--config", str(CONFIG),
                "--kubeconfig", str(tmp_path / "none"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert "gate.yaml" in proc.stderr
    if line:
        assert f"gate.yaml:{line}" in proc.stderr
    if key:
        assert key in proc.stderr
    for word in words:
        assert word in proc.stderr


@pytest.mark.parametrize(("config_text", "words"), [
    ("monitoring_namespace: monitoring\ndomian: example.com\n", [".gitops-config.yaml:2", "domian", "domain"]),
    ("monitoring_namespace: [a, b]\n", [".gitops-config.yaml:1", "monitoring_namespace"]),
    ("monitoring_namespace: 'unterminated\n", [".gitops-config.yaml"]),
])
def test_malformed_settings_exit_2_naming_file_line_and_key(tmp_path: Path, config_text: str,
                                                            words: list[str]) -> None:
    config = tmp_path / ".gitops-config.yaml"
    config.write_text(config_text)
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  monitoring:\n    levels:\n      1:\n        - crds: [a.b.c]\n")
    proc = gate("verify", "--stage", "monitoring", "--spec", str(spec), "--config", str(config))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr


def test_unreachable_cluster_exits_3_and_still_writes_junit(tmp_path: Path) -> None:
    with start("healthy") as sim:
        kubeconfig = Path(sim.kubeconfig).read_text()
    # The simulator is gone: its address now refuses connections.
    path = tmp_path / "kubeconfig"
    path.write_text(kubeconfig)
    spec = tmp_path / "gate.yaml"
    spec.write_text("defaults: {timeout: 2s}\nstages:\n  monitoring:\n    levels:\n      1:\n"
                    "        - crds: [prometheuses.monitoring.coreos.com]\n")
    junit = tmp_path / "junit.xml"
    proc = gate("verify", "--stage", "monitoring", "--spec", str(spec), "--config", str(CONFIG),
                "--kubeconfig", str(path), "--junit", str(junit), "--no-preflight")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Overall: PASS" not in proc.stdout
    assert junit.exists() and "<error" in junit.read_text()
