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
from gate.sim.scenario import resolve
from gate.sim.server import start
from tests.test_checks_l1_sim import kubeconfig_for

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SSRR = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"
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


@pytest.fixture(scope="module")
def ssar_sim():
    """A server that does not serve SelfSubjectRulesReview: every permission is an access review."""
    with start({**resolve("rbac-forbidden"), "api": {"rules_review": False}}) as handle:
        yield handle


def _reviews(sim, since: int, path: str = SSAR) -> int:
    return sum(1 for r in sim.requests[since:] if r["method"] == "POST" and r["path"] == path)


PERMS = [Permission("list", "pods", "", ns) for ns in ("platform", "argocd", "apps", "kargo", "monitoring")] \
    + [Permission("list", kind, "apps", "monitoring") for kind in ("deployments", "statefulsets", "daemonsets")] \
    + [Permission("get", "customresourcedefinitions", "apiextensions.k8s.io", None, "a.b.c"),
       Permission("list", "applications", "argoproj.io", "argocd"),
       Permission("get", "secrets", "", "monitoring", "grafana-admin")]


def test_one_rules_review_per_namespace_and_access_reviews_for_cluster_scope(sim) -> None:
    kube = connect(sim.kubeconfig)
    asked = PERMS + PERMS[:4]  # four asked twice
    before = len(sim.requests)
    answers = review_all(kube, asked)
    namespaces = {p.namespace for p in PERMS if p.namespace}
    assert _reviews(sim, before, SSRR) == len(namespaces) == 5
    assert _reviews(sim, before) == 1  # the cluster-scoped CRD
    assert [perm for perm, _ in answers] == asked
    denied = [perm for perm, ok in answers if not ok]
    assert denied == [Permission("list", "pods", "", "monitoring")]  # the scenario's one missing rule


def test_each_distinct_access_review_is_sent_once_and_answers_keep_their_order(ssar_sim) -> None:
    kube = connect(ssar_sim.kubeconfig)
    asked = PERMS + PERMS[:4]  # four asked twice
    before = len(ssar_sim.requests)
    answers = review_all(kube, asked)
    assert _reviews(ssar_sim, before) == len(PERMS)
    assert [r["status"] for r in ssar_sim.requests[before:] if r["path"] == SSRR] == [404] * 5
    assert [perm for perm, _ in answers] == asked
    denied = [perm for perm, ok in answers if not ok]
    assert denied == [Permission("list", "pods", "", "monitoring")]  # the scenario's one missing rule


def test_an_incomplete_rules_review_falls_back_to_access_reviews_for_what_it_does_not_grant() -> None:
    with start({**resolve("rbac-forbidden"), "api": {"rules_incomplete": True}}) as handle:
        kube = connect(handle.kubeconfig)
        before = len(handle.requests)
        answers = review_all(kube, PERMS)
        sent = _reviews(handle, before)
    assert [perm for perm, ok in answers if not ok] == [Permission("list", "pods", "", "monitoring")]
    assert sent == 2  # the CRD (cluster scope) and the one the incomplete rules do not grant


WORLDS = ["rbac-forbidden", "healthy", "diagnose-healthy", "crashloop"]


@pytest.mark.parametrize("world", WORLDS)
def test_rules_reviews_and_access_reviews_agree_on_every_permission(world: str, tmp_path: Path) -> None:
    """The two ways of asking give the same answer for every permission a stage of the demo needs, and
    for names, subresources and verbs the rules grant only in part."""
    from gate.cluster.rbac import all_permissions
    from gate.spec.load import load_spec
    from gate.spec.settings import load_settings

    spec = load_spec(str(ROOT / "gate/demo/l1.yaml"), load_settings(CONFIG, {}))
    perms = [p for stage in spec.stages for p in all_permissions(spec.plan(stage), job=False)]
    perms += [Permission("get", "pods/log", "", "monitoring", "x"), Permission("watch", "secrets", "", "monitoring"),
              Permission("get", "secrets", "", "monitoring", "grafana-admin"),
              Permission("delete", "pods", "", "monitoring")]
    answers, served = {}, {}
    for rules_review in (True, False):
        with start({**resolve(world), "api": {"rules_review": rules_review}}) as handle:
            for token in {handle.token, *(resolve(world).get("tokens") or {})}:
                kube = connect(kubeconfig_for(handle, token, tmp_path / f"{rules_review}-{len(token)}"))
                answers[(rules_review, token)] = review_all(kube, perms)
            served[rules_review] = sorted({r["status"] for r in handle.requests if r["path"] == SSRR})
    assert served == {True: [201], False: [404]}
    for (_, token), got in answers.items():
        assert got == answers[(False, token)], [(p, a) for (p, a), (_, b) in zip(got, answers[(False, token)],
                                                                                  strict=True) if a != b]
    assert any(not ok for got in answers.values() for _, ok in got) or world != "rbac-forbidden"


def test_reviews_are_concurrent_but_bounded(ssar_sim, monkeypatch: pytest.MonkeyPatch) -> None:
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
    kube = connect(ssar_sim.kubeconfig)
    ssar_sim.add_fault({"path": f"^{SSAR}", "latency": 0.3})
    try:
        started = time.monotonic()
        review_all(kube, PERMS + [Permission("list", "pvcs", "", "monitoring")])
        wall = time.monotonic() - started
    finally:
        ssar_sim.faults.clear()
    assert 1 < peak[0] <= PREFLIGHT_POOL
    assert wall < 12 * 0.3 / 2, f"{wall:.2f} s: the reviews were not sent concurrently"


def test_the_first_failing_review_in_order_is_raised(sim) -> None:
    """A review the server refuses (503 after retries) fails the preflight as it did one by one."""
    from gate.errors import TransientError

    kube = connect(sim.kubeconfig)
    kube.retry_budget = 0.5
    sim.add_fault({"path": "^/apis/authorization.k8s.io/v1/selfsubject", "status": 503})
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
    # the 16 distinct permissions (list pods, get pods/log and list events in two namespaces, list
    # deployments, statefulsets, daemonsets, pvcs, and the optional watch of each list) are answered by one
    # SelfSubjectRulesReview per namespace (monitoring, platform): none is cluster-scoped, so no access review
    assert [r["path"] for r in made] == [SSRR, SSRR]
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
