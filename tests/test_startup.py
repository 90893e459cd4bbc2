"""Start-up and the RBAC preflight: what a command imports, and how the preflight asks the cluster.

`gate --version` and `gate --help` import none of the heavy libraries; the preflight sends each distinct
SelfSubjectAccessReview once, several at a time but never more than its pool, and still names a
denied permission exactly as before (exit 3)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gate.cluster.kube import KubeClient, Permission, connect
from gate.cluster.rbac import PREFLIGHT_POOL, review_all
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
HEAVY = ("kubernetes", "jsonschema", "requests", "cryptography", "pydantic")


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_import_no_heavy_library(args: list[str]) -> None:
    code = (f"import sys\nsys.argv = ['gate', *{args!r}]\nfrom gate.cli import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "LOADED []", proc.stdout
    assert ("gate, version" in proc.stdout) if args == ["--version"] else ("verify" in proc.stdout)


def test_verify_of_level_one_loads_no_tls_library(tmp_path: Path) -> None:
    """A stage without a `tls` check never pays for cryptography."""
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  s:\n    levels:\n      1:\n        - crds: [a.b.c]\n")
    code = ("import sys\nsys.argv = ['gate', 'verify', '--stage', 's', '--spec', {!r}, '--config', {!r}, "
            "'--kubeconfig', {!r}]\nfrom gate.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED', 'cryptography' in sys.modules)".format(str(spec), CONFIG, str(tmp_path / "none")))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert proc.stdout.strip().splitlines()[-1] == "LOADED False", proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def sim():
    with start("rbac-forbidden") as handle:
        yield handle


def _reviews(sim, since: int) -> int:
    return sum(1 for r in sim.requests[since:] if r["method"] == "POST" and r["path"] == SSAR)


PERMS = [Permission("list", "pods", "", ns) for ns in ("platform", "argocd", "apps", "kargo", "monitoring")] \
    + [Permission("list", kind, "apps", "monitoring") for kind in ("deployments", "statefulsets", "daemonsets")] \
    + [Permission("get", "customresourcedefinitions", "apiextensions.k8s.io", None, "a.b.c"),
       Permission("list", "applications", "argoproj.io", "argocd"),
       Permission("get", "secrets", "", "monitoring", "grafana-admin")]


def test_each_distinct_review_is_sent_once_and_answers_keep_their_order(sim) -> None:
    kube = connect(sim.kubeconfig)
    asked = PERMS + PERMS[:4]  # four asked twice
    before = len(sim.requests)
    answers = review_all(kube, asked)
    assert _reviews(sim, before) == len(PERMS)
    assert [perm for perm, _ in answers] == asked
    denied = [perm for perm, ok in answers if not ok]
    assert denied == [Permission("list", "pods", "", "monitoring")]  # the scenario's one missing rule


def test_reviews_are_concurrent_but_bounded(sim, monkeypatch: pytest.MonkeyPatch) -> None:
    """With 0.3 s of API latency, twelve reviews one by one would take 3.6 s; at most PREFLIGHT_POOL fly
    at once."""
    lock, in_flight, peak = threading.Lock(), [0], [0]
    original = KubeClient.access_review

    def counted(self: KubeClient, perm: Permission) -> bool:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            return original(self, perm)
        finally:
            with lock:
                in_flight[0] -= 1

    monkeypatch.setattr(KubeClient, "access_review", counted)
    kube = connect(sim.kubeconfig)
    sim.add_fault({"path": f"^{SSAR}", "latency": 0.3})
    try:
        started = time.monotonic()
        review_all(kube, PERMS + [Permission("list", "pvcs", "", "monitoring")])
        wall = time.monotonic() - started
    finally:
        sim.faults.clear()
    assert 1 < peak[0] <= PREFLIGHT_POOL
    assert wall < 12 * 0.3 / 2, f"{wall:.2f} s: the reviews were not sent concurrently"


def test_the_first_failing_review_in_order_is_raised(sim) -> None:
    """A review the server refuses (503 after retries) fails the preflight as it did one by one."""
    from gate.errors import TransientError

    kube = connect(sim.kubeconfig)
    kube.retry_budget = 0.5
    sim.add_fault({"path": f"^{SSAR}", "status": 503})
    try:
        with pytest.raises(TransientError):
            review_all(kube, PERMS[:3])
    finally:
        sim.faults.clear()


def test_a_denied_permission_stops_verify_with_exit_3_naming_it(tmp_path: Path) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text("defaults: {timeout: 3s}\nstages:\n  monitoring:\n    levels:\n      1:\n"
                    "        - pods: {namespace: monitoring}\n        - pods: {namespace: platform}\n"
                    "        - workloads: {namespace: monitoring}\n        - pvcs: {namespace: monitoring}\n")
    with start("rbac-forbidden") as sim:  # its own simulator: nothing else in its request log
        before = len(sim.requests)
        proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec",
                               str(spec), "--config", CONFIG, "--kubeconfig", sim.kubeconfig,
                               "--json", str(tmp_path / "r.json")], capture_output=True, text=True, timeout=60,
                              cwd=ROOT, env={"GATE_TIMEOUT": "10s", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "list pods in namespace monitoring" in proc.stdout + proc.stderr
    result = json.loads((tmp_path / "r.json").read_text())
    rows = [c for section in result.get("sections", []) for c in section.get("checks", [])] \
        or [c for level in result["levels"] for c in level["checks"]]
    assert any("list pods in namespace monitoring" in json.dumps(row) for row in rows) \
        or "list pods in namespace monitoring" in json.dumps(result)
    assert "list pods in namespace platform" not in json.dumps(result)
    made = [r for r in sim.requests[before:] if r["method"] == "POST"]
    # each distinct permission once: list pods, get pods/log and list events in two namespaces (the pods
    # check reads the failing pod's logs and events for its diagnosis: optional, never watched), list
    # deployments, statefulsets, daemonsets, pvcs; and the optional watch of each list the checks observe
    # (a denied watch only means polling)
    assert len(made) == 16
    assert not [r for r in sim.requests[before:] if r["method"] == "GET"], "no check ran after the denial"


@pytest.mark.parametrize(("crd", "loaded"), [
    ("prometheuses.monitoring.coreos.com", "[]"),  # passes: no diagnosis, no JUnit asked for
    ("nothings.example.com", "['gate.diagnose']"),  # fails: its diagnosis is read
])
def test_verify_loads_the_diagnosis_only_for_a_failure_and_junit_only_when_asked(
        tmp_path: Path, crd: str, loaded: str) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text(f"stages:\n  s:\n    levels:\n      1:\n        - crds: {{names: [{crd}], timeout: 1s}}\n")
    with start("healthy", workdir=str(tmp_path)) as sim:
        argv = ["gate", "verify", "--stage", "s", "--spec", str(spec), "--config", CONFIG, "--kubeconfig",
                sim.kubeconfig]
        code = (f"import sys\nsys.argv = {argv!r}\nfrom gate.cli import main\ntry:\n    main()\n"
                "except SystemExit:\n    pass\n"
                "print('LOADED', sorted(m for m in ('gate.diagnose', 'junit_xml') if m in sys.modules))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.stdout.strip().splitlines()[-1] == f"LOADED {loaded}", proc.stdout + proc.stderr


@pytest.mark.parametrize("client, loaded", [
    ("", "['jsonschema']"),  # a plain token kubeconfig: the light path, no HTTP check
    ("library", "['jsonschema', 'kubernetes', 'pydantic', 'requests']"),  # GATE_KUBE_CLIENT=library
])
def test_a_level_one_verify_with_a_token_kubeconfig_loads_no_kubernetes_package_nor_requests(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str, loaded: str) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  s:\n    levels:\n      1:\n        - crds: [prometheuses.monitoring.coreos.com]\n"
                    "        - pods: {namespace: monitoring}\n")
    monkeypatch.setenv("GATE_KUBE_CLIENT", client)
    with start("healthy", workdir=str(tmp_path)) as sim:
        argv = ["gate", "verify", "--stage", "s", "--spec", str(spec), "--config", CONFIG, "--kubeconfig",
                sim.kubeconfig]
        code = (f"import sys\nsys.argv = {argv!r}\nfrom gate.cli import main\ntry:\n    main()\n"
                "except SystemExit as e:\n    print('EXIT', e.code)\n"
                f"print('LOADED', sorted(m for m in {HEAVY!r} if m in sys.modules))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.stdout.strip().splitlines()[-2:] == ["EXIT 0", f"LOADED {loaded}"], proc.stdout + proc.stderr
