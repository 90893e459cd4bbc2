"""Every failing `verify`, `precheck` and `promote` carries its DIAGNOSIS (issue 10, item 3): in the text
report, the JUnit failure (system-out and body of the failing testcase), the JSON and the step summary; with
the failing pod's last log lines (`--previous` for a crash loop) and its Warning events; read-only, masked,
bounded, inside the run's deadline, and never a change of verdict or exit code. Against the simulator with
the real kubernetes client and requests."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from test_kargo_support import F2, Kit, kargo_sim

from gate import redact
from gate.cli import cli
from gate.entry import run
from gate.reports.jsonreport import load_schema
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
XSD = ROOT / "tests/data/junit/jenkins-xunit-junit-10.xsd"
POD = "grafana-7c9d8f6b5-x2k4p"
LOG_END = "Error: ✗ failed to initialize database: open /var/lib/grafana/grafana.db: permission denied"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
SSAR = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
SSRR = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"  # a review too: nothing is stored
SPEC = """
defaults: {timeout: 3s, interval: 0.3s, max_interval: 0.6s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: monitoring, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}
        - kargo_stage: {}
"""


def assert_valid_junit(path: Path) -> ET.Element:
    import xmlschema

    xmlschema.XMLSchema(str(XSD)).validate(str(path))
    return ET.parse(path).getroot()


def failing_cases(root: ET.Element) -> list[ET.Element]:
    return [c for c in root.iter("testcase") if c.find("failure") is not None]


def verify(world: str | dict, tmp: Path, capsys: pytest.CaptureFixture[str], *extra: str,
           spec: str = SPEC) -> tuple[int, str, dict, ET.Element, list]:
    (tmp / "gate.yaml").write_text(spec)
    junit, js = tmp / "junit.xml", tmp / "result.json"
    with start(world) as sim:
        code = run(cli, ["verify", "--stage", "monitoring", "--spec", str(tmp / "gate.yaml"), "--config", CONFIG,
                         "--kubeconfig", sim.kubeconfig, "--junit", str(junit), "--json", str(js), *extra])
        requests = list(sim.requests)
    out = capsys.readouterr().out
    return code, out, json.loads(js.read_text()), assert_valid_junit(junit), requests


def reads_only(requests: list, allowed: set[tuple[str, str]] = frozenset()) -> None:
    writes = {(r["method"], r["path"]) for r in requests if r["method"] in WRITES} - {("POST", SSAR), ("POST", SSRR)}
    assert writes <= set(allowed), f"unexpected writes: {writes - set(allowed)}"


# -- verify: the crash loop ---------------------------------------------------------------------------
def test_crashloop_verify_carries_previous_logs_events_and_the_fix(tmp_path: Path, capsys) -> None:
    # The checks fail at their own 3s (SPEC); the run's wall is far from it, so under load the diagnosis
    # still has the time it needs (with --timeout 5s it had ~2s, and a loaded machine ran out of it).
    code, out, doc, junit, requests = verify("crashloop", tmp_path, capsys, "--timeout", "30s")
    assert code == 1 and "Overall: FAIL at Level 1" in out
    text = out.split("DIAGNOSIS\n=========")[1]
    assert f"Root Cause: pod monitoring/{POD} crash-loops: CrashLoopBackOff" in text and LOG_END in text
    assert "(--previous, the run that died)" in text and "Event BackOff x61 on Pod" in text
    assert f"kubectl logs {POD} -n monitoring -c grafana --previous --tail=100" in text
    assert "Verify: kubectl rollout status deployment/grafana -n monitoring" in text
    assert "Risk Level: LOW" in text
    # the log was read as `kubectl logs --previous` would, bounded by tailLines
    logs = [r for r in requests if r["path"].endswith(f"/pods/{POD}/log")]
    assert logs and all(r["query"].get("previous") == "true" and r["query"].get("tailLines") for r in logs)
    reads_only(requests)
    # JUnit: the failing pods testcase carries it in system-out and in its failure body
    (case,) = [c for c in failing_cases(junit) if c.get("name").startswith("Pods ready")]
    for where in (case.find("system-out").text, case.find("failure").text):
        assert "DIAGNOSIS" in where and LOG_END in where and "--previous" in where
    # JSON: versioned schema, the root cause as data
    jsonschema.validate(doc, load_schema())
    diag = doc["diagnosis"]
    assert diag["check"].startswith("L1.pods") and diag["root_cause"]["rule"] == "pod-crashloop"
    assert diag["root_cause"]["risk"] == "LOW" and any(LOG_END in e for e in diag["root_cause"]["evidence"])


def test_demo_crashloop_junit_failure_has_the_logs_and_the_diagnosis(tmp_path: Path) -> None:
    junit = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "gate", "demo", "--scenario", "crashloop", "--timeout", "5s",
                           "--junit", str(junit)], capture_output=True, text=True, timeout=90)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "DIAGNOSIS" in proc.stdout and "Traceback" not in proc.stderr
    root = assert_valid_junit(junit)
    case = next(c for c in failing_cases(root) if POD in (c.find("system-out").text or ""))
    out = case.find("system-out").text
    assert "Root Cause: pod monitoring/" + POD in out and LOG_END in out and "Risk Level: LOW" in out


def test_healthy_demo_has_no_diagnosis(tmp_path: Path) -> None:
    junit, js = tmp_path / "junit.xml", tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "gate", "demo", "--junit", str(junit), "--json", str(js)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "DIAGNOSIS" not in proc.stdout and "no diagnosis" not in proc.stdout
    assert "DIAGNOSIS" not in junit.read_text() and json.loads(js.read_text())["diagnosis"] is None


def test_logs_are_masked_before_they_are_cut(tmp_path: Path, capsys) -> None:
    secret = "s3cr3t-db-password-4f9a1c2e8b7d"
    redact.register(secret)
    try:
        world = {"name": "crashloop-secret", "extends": "crashloop", "logs": {
            f"monitoring/{POD}": "x" * 9000 + f'\nlevel=error msg="db login failed" password={secret}\n'}}
        code, out, doc, junit, _ = verify(world, tmp_path, capsys, "--timeout", "5s")
    finally:
        redact.clear()
    everything = out + json.dumps(doc) + ET.tostring(junit, encoding="unicode")
    assert code == 1 and secret not in everything
    assert "password=***" in out  # noqa: S105 - the masked form
    # bounded: no log line of 9000 characters made it through
    assert max(len(line) for line in doc["diagnosis"]["text"].splitlines()) < 4100


# -- precheck and promote ---------------------------------------------------------------------------
@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Kit:
    with kargo_sim(request.param, tmp_path) as k:
        yield k
        for text in k.outputs:
            assert k.token not in text


def _files(kit: Kit) -> tuple[dict, ET.Element]:
    n = len(kit.outputs) - 1
    doc = json.loads((kit.tmp / f"result{n}.json").read_text())
    jsonschema.validate(doc, load_schema())
    return doc, assert_valid_junit(kit.tmp / f"junit{n}.xml")


@pytest.mark.parametrize("kit", ["stuck-stage"], indirect=True)
def test_failing_precheck_prints_the_diagnosis_everywhere(kit: Kit, capsys) -> None:
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    text = out.split("DIAGNOSIS\n=========")[1]
    assert "Root Cause: the Stage's reconcile fails" in text
    assert "kargo refresh stage monitoring --project platform" in text and "Risk Level: LOW" in text
    doc, junit = _files(kit)
    assert doc["diagnosis"]["root_cause"]["rule"] == "reconcile-error"
    assert doc["diagnosis"]["check"] == next(r["id"] for s in doc["sections"] for r in s["rows"]
                                             if r["status"] == "FAIL")
    (case,) = failing_cases(junit)
    assert "Root Cause: the Stage's reconcile fails" in case.find("system-out").text
    reads_only(kit.sim.requests)


@pytest.mark.parametrize("kit", ["promote-errored"], indirect=True)
def test_failing_promote_prints_the_diagnosis_everywhere(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    text = out.split("DIAGNOSIS\n=========")[1]
    # the message is quoted once in the report (the failing row); the block refers to it
    assert "Root Cause:" in text and "(the message above)" in text and "Risk Level:" in text
    assert out.count("repository not accessible") == 1
    assert "kargo promote --project platform --stage monitoring" in text
    doc, junit = _files(kit)
    assert "repository not accessible" in doc["diagnosis"]["root_cause"]["root_cause"]
    assert doc["diagnosis"]["root_cause"]["rule"].startswith("promotion-errored")
    assert any("DIAGNOSIS" in (c.find("system-out").text or "") for c in failing_cases(junit))
    # the only writes: the Promotion itself (through the Kargo API)
    reads_only(kit.sim.requests, {("POST", "/v1beta1/projects/platform/stages/monitoring/promotions")})


# -- the pieces: pod_logs, RBAC, the failure to diagnose, the deadline --------------------------------
def test_pod_logs_come_back_as_text_even_a_one_line_json_log(tmp_path: Path) -> None:
    """kubectl logs prints a JSON log line as it is; pod_logs used to parse it and re-serialize it."""
    from gate.cluster.kube import connect

    line = '{"level":"error","msg":"boom","ts":1732550000.5}'
    world = {"name": "json-log", "extends": "crashloop", "logs": {f"monitoring/{POD}": line + "\n"}}
    with start(world) as sim:
        kube = connect(sim.kubeconfig, None)
        assert kube.pod_logs("monitoring", POD, "grafana", tail_lines=5) == line + "\n"
        assert kube.pod_logs("monitoring", POD, "grafana", tail_lines=5, previous=True) == line + "\n"
        sent = [r["query"] for r in sim.requests if r["path"].endswith("/log")]
    assert [q.get("previous") for q in sent] == [None, "true"]


def test_rbac_of_a_spec_that_can_fail_with_a_diagnosis_names_pods_log_and_events(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text(SPEC)
    proc = subprocess.run([sys.executable, "-m", "gate", "render", "analysis-template", "--stage", "monitoring",
                           "--image", "gate:test", "--offline", "--namespace", "platform", "--config", CONFIG,
                           "--spec", str(tmp_path / "gate.yaml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    role = next(d for d in __import__("yaml").safe_load_all(proc.stdout)
                if d and d.get("kind") == "Role" and d["metadata"].get("namespace") == "monitoring")
    rules = {(r, v) for rule in role["rules"] for r in rule["resources"] for v in rule["verbs"]}
    assert {("pods", "list"), ("pods/log", "get"), ("events", "list")} <= rules
    assert not {v for _, v in rules} - {"get", "list", "watch"}, "least privilege: reads only"


def test_a_failure_to_diagnose_is_a_note_not_a_new_exit_code(tmp_path: Path, capsys, monkeypatch) -> None:
    import gate.diagnose.attach as attach

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the diagnosis broke")

    monkeypatch.setattr(attach, "diagnose_failure", broken)
    code, out, doc, junit, _ = verify("crashloop", tmp_path, capsys, "--timeout", "4s")
    assert code == 1 and doc["exit_code"] == 1 and doc["diagnosis"] is None
    assert "Note: no diagnosis: RuntimeError: the diagnosis broke" in out and "DIAGNOSIS" not in out


def test_no_diagnosis_past_the_deadline() -> None:
    import time

    from gate.diagnose.attach import attach
    from gate.engine import deadlines
    from gate.model import CheckResult, LevelResult, RunResult, Status

    row = CheckResult(id="L1.pods.x", name="Pods", kind="pods", level=1, status=Status.FAIL)
    result = RunResult(command="verify", stage="monitoring", levels=[LevelResult(1, Status.FAIL, [row])])
    deadlines.start_run(0.01)
    try:
        time.sleep(0.02)
        attach(result, object(), {}, "monitoring")  # a kube client it must not touch
    finally:
        deadlines.start_run(None)
    assert result.diagnosis is None and result.exit_code == 1
    assert result.notes == ["no diagnosis: the run's deadline had passed (raise --timeout to get one)"]


def test_the_step_summary_shows_the_diagnosis(tmp_path: Path, capsys, monkeypatch) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, _, _, _, _ = verify("crashloop", tmp_path, capsys, "--timeout", "4s")
    text = summary.read_text()
    assert code == 1 and "### Diagnosis" in text and "Root Cause: pod monitoring/" + POD in text


def test_a_stage_that_cannot_be_read_runs_no_stage_rule(tmp_path: Path, capsys) -> None:
    """The identity may read pods, logs and events but no Kargo object: the pod leaf is the root cause, the
    Stage is named under "Could not read", and no Stage rule (least of all the nuclear option) runs."""
    world = {"name": "crashloop-no-kargo", "extends": "crashloop", "rbac": {"system:serviceaccount:platform:gate": [
        {"apiGroups": [""], "resources": ["pods", "pods/log", "events"], "verbs": ["get", "list"]},
        {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews"], "verbs": ["create"]}]}}
    spec = SPEC.replace("        - kargo_stage: {}\n", "")
    code, out, doc, _, requests = verify(world, tmp_path, capsys, "--timeout", "4s", spec=spec)
    assert code == 1
    assert [d["rule"] for d in doc["diagnosis"]["diagnoses"]] == ["pod-crashloop"]
    assert "stages" in doc["diagnosis"]["unread"] and "Could not read:\n  - freight" in out
    assert "nuclear" not in out and "kubectl delete stage" not in out
    reads_only(requests)


def _pod(waiting: str = "", phase: str = "Running", scheduled: dict | None = None) -> dict:
    status: dict = {"phase": phase, "conditions": [{"type": "Ready", "status": "False"}]}
    if scheduled:
        status["conditions"].append(scheduled)
    if waiting:
        status["containerStatuses"] = [{"name": "app", "image": "reg/app:9.9", "ready": False,
                                        "state": {"waiting": {"reason": waiting}}}]
    return {"metadata": {"name": "app-6d4b9c-abcde", "namespace": "apps",
                         "ownerReferences": [{"kind": "ReplicaSet", "name": "app-6d4b9c"}]},
            "spec": {"containers": [{"name": "app"}]}, "status": status}


@pytest.mark.parametrize(("pod", "rule", "cause", "fix"), [
    (_pod("ImagePullBackOff"), "pod-image-pull", "cannot start: ImagePullBackOff (image: reg/app:9.9)",
     "imagePullSecrets"),
    (_pod(phase="Pending", scheduled={"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                      "message": "0/3 nodes are available: 3 Insufficient cpu."}),
     "pod-pending", "Pending: Unschedulable: 0/3 nodes are available", "kubectl describe pod app-6d4b9c-abcde -n apps"),
    (_pod(), "pod-not-ready", "is not Ready", "kubectl logs app-6d4b9c-abcde -n apps --tail=100"),
])
def test_each_pod_leaf(pod: dict, rule: str, cause: str, fix: str) -> None:
    from gate.diagnose.view import View
    from gate.diagnose.workload import diagnose_failure

    view = View(stage={"metadata": {"name": "apps"}}, namespace="platform", project="platform",
                unread={"stages": "forbidden"}, pods=[pod], failed_check="Pods ready in apps")
    (d,) = diagnose_failure(view)
    assert (d.rule, d.risk) == (rule, "LOW") and cause in d.root_cause and any(fix in f for f in d.fix)
    assert d.verify == "kubectl rollout status deployment/app -n apps --timeout=5m"


@pytest.mark.parametrize("kit", ["upstream-unverified"], indirect=True)
def test_failing_upstream_rule_carries_the_upstream_stages_diagnosis(kit: Kit, capsys) -> None:
    """The upstream's failed verification is what blocks: its diagnosis explains the failure, not the
    target's (which is healthy: before, "no diagnosis: no rule explains this failure")."""
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
    assert code == 1, out
    text = out.split("DIAGNOSIS\n=========")[1]
    assert "Stage: operators" in text and "Root Cause: verification Failed" in text
    assert "kargo verify stage operators --project platform" in text
    doc, _ = _files(kit)
    assert doc["diagnosis"]["root_cause"]["rule"] == "verification-failed-other"
    assert doc["diagnosis"]["check"] == "pre.upstream-verified"
    reads_only(kit.sim.requests)
