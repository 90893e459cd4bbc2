"""Job mode: the AnalysisRun context from the downward-API uid, and the one-line termination message."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate import jobmode, redact
from gate.cluster.kube import connect
from gate.errors import EvaluationError, PermissionDenied
from gate.model import CheckResult, LevelResult, RunResult, Status

UID = "3f1c9a52-7e0b-4c1e-9d8a-5b6f2a1e0c11"
FC = "a" * 40


def _analysis_run(name: str, uid: str, promotion: bool = True) -> dict:
    meta: dict = {"name": name, "namespace": "kargo-demo", "uid": uid,
                  "labels": {"kargo.akuity.io/stage": "uat", "kargo.akuity.io/freight-collection": FC}}
    if promotion:
        meta["annotations"] = {"kargo.akuity.io/promotion": "uat.01k3abc.3f1c2a9"}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun", "metadata": meta,
            "spec": {"metrics": [{"name": "promotion-gate", "provider": {"job": {"spec": {
                "template": {"spec": {"containers": [{"name": "gate", "image": "gate"}]}}}}}}]}}


def _scenario(rules: list[dict]) -> dict:
    return {"name": "jobmode", "crds": ["rollouts"],
            "objects": [_analysis_run("uat.01k3abc.aaaaaaa", UID),
                        _analysis_run("uat.01k3xyz.bbbbbbb", "other-uid", promotion=False)],
            "tokens": {"gate-token": {"user": "system:serviceaccount:kargo-demo:promotion-gate-uat"}},
            "rbac": {"system:serviceaccount:kargo-demo:promotion-gate-uat": rules}}


LIST_RUNS = {"apiGroups": ["argoproj.io"], "resources": ["analysisruns"], "verbs": ["list"],
             "namespaces": ["kargo-demo"]}


@pytest.fixture
def sim_kube(request: pytest.FixtureRequest):
    from gate.sim.server import start

    rules = getattr(request, "param", [LIST_RUNS])
    with start(_scenario(rules)) as sim:
        yield connect(sim.kubeconfig)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in (jobmode.ENV_UID, jobmode.ENV_NAMESPACE):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(jobmode.ENV_LABELS_FILE, str(tmp_path / "no-labels"))
    monkeypatch.setattr(jobmode, "SA_DIR", str(tmp_path / "no-serviceaccount"))  # even if CI runs in a pod


def test_context_names_stage_freight_collection_and_promotion(sim_kube, monkeypatch) -> None:
    monkeypatch.setenv(jobmode.ENV_UID, UID)
    monkeypatch.setenv(jobmode.ENV_NAMESPACE, "kargo-demo")
    assert jobmode.job_context(sim_kube) == {
        "AnalysisRun": "kargo-demo/uat.01k3abc.aaaaaaa", "Kargo Stage": "uat", "Freight collection": FC,
        "Promotion": "uat.01k3abc.3f1c2a9"}


def test_uid_from_the_downward_api_labels_file(sim_kube, monkeypatch, tmp_path: Path) -> None:
    labels = tmp_path / "labels"
    labels.write_text(f'analysisrun.argoproj.io/uid="{UID}"\njob-name="x.promotion-gate.1"\n')
    monkeypatch.setenv(jobmode.ENV_LABELS_FILE, str(labels))
    ctx = jobmode.job_context(sim_kube, "kargo-demo")
    assert ctx["AnalysisRun"] == "kargo-demo/uat.01k3abc.aaaaaaa"


def test_outside_an_analysis_run_there_is_no_context(sim_kube) -> None:
    assert jobmode.job_context(sim_kube, "kargo-demo") == {}


@pytest.mark.parametrize("sim_kube", [[]], indirect=True)
def test_forbidden_is_an_error_not_nothing_found(sim_kube, monkeypatch) -> None:
    monkeypatch.setenv(jobmode.ENV_UID, UID)
    with pytest.raises(PermissionDenied) as err:
        jobmode.job_context(sim_kube, "kargo-demo")
    assert err.value.exit_code == 3
    assert "analysisruns.argoproj.io in namespace kargo-demo" in str(err.value)


def test_a_vanished_run_is_an_error(sim_kube, monkeypatch) -> None:
    monkeypatch.setenv(jobmode.ENV_UID, "no-such-uid")
    with pytest.raises(EvaluationError, match="no AnalysisRun with uid no-such-uid"):
        jobmode.job_context(sim_kube, "kargo-demo")


# -- termination message -------------------------------------------------------------------------
def _result(status: Status, reason: str = "") -> RunResult:
    check = CheckResult(id="L2.http.grafana", name="Grafana /api/health", kind="http", level=2,
                        status=status, reason=reason)
    levels = [LevelResult(1, Status.PASS, [CheckResult(id="L1.pods", name="pods", kind="pods", level=1,
                                                       status=Status.PASS)]),
              LevelResult(2, status, [check])]
    return RunResult(command="verify", stage="uat", freight="calm-crane", levels=levels)


def test_termination_message_is_one_line_verdict(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    log.write_text("")
    jobmode.write_termination_message(_result(Status.FAIL, "HTTP 503\nfrom grafana"), str(log))
    text = log.read_text()
    assert text.count("\n") == 1
    assert text.startswith("gate verify: FAIL at Level 2: stage uat, freight calm-crane: ")
    assert "HTTP 503 from grafana" in text


def test_termination_message_names_the_capture_before_the_advice(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    log.write_text("")
    result = _result(Status.FAIL, "HTTP 503 " + "from grafana " * 400)  # advice longer than 4 KiB
    result.context["Capture"] = "/tmp/gate-capture.yaml (42 objects, sha256 " + "ab" * 32 + ")"
    jobmode.write_termination_message(result, str(log))
    text = log.read_text()
    assert len(text.encode()) <= 4096
    assert text.startswith("gate verify: FAIL at Level 2: stage uat, freight calm-crane [capture "
                           "/tmp/gate-capture.yaml (42 objects, sha256 " + "ab" * 32 + ")]: ")


def test_termination_message_pass_and_error(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    log.write_text("old")
    jobmode.write_termination_message(_result(Status.PASS), str(log))
    assert log.read_text() == "gate verify: PASS: stage uat, freight calm-crane\n"
    jobmode.write_termination_message(_result(Status.ERROR, "forbidden"), str(log))
    assert log.read_text().startswith("gate verify: ERROR (not evaluated): stage uat")


def test_termination_message_fits_4kib_and_is_redacted(tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    log.write_text("")
    redact.register("s3cr3t-token-value")
    try:
        jobmode.write_termination_message(_result(Status.FAIL, "token s3cr3t-token-value " + "é" * 5000),
                                          str(log))
    finally:
        redact.clear()
    data = log.read_bytes()
    assert len(data) <= 4096
    assert b"s3cr3t" not in data and b"***" in data
    assert data.decode("utf-8").endswith("...\n")


def test_termination_log_is_never_created(tmp_path: Path) -> None:
    missing = tmp_path / "termination-log"
    assert jobmode.write_termination_line("x", str(missing)) is False
    assert not missing.exists()
