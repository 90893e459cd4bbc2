"""Issue 21: each diagnosis follows its own evidence and agrees with Kargo. Every item is a scenario pair (the
case and its healthy twin, gate/sim/scenarios/diagnose-*.yaml) run through `gate diagnose` against the
simulator with the real kubernetes client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gate.cli import cli
from gate.entry import run
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


def diagnose(world: str | dict, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    with start(world) as sim:
        code = run(cli, ["diagnose", "--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--output", "json", *args])
        writes = [r for r in sim.requests if r["method"] in WRITES]
    assert not writes, "diagnose must not write"
    return code, json.loads(capsys.readouterr().out)


def stage(doc: dict, name: str) -> dict:
    return next(s for s in doc["stages"] if s["stage"] == name)


def fixes(doc: dict) -> list[str]:
    return [f for s in doc["stages"] for d in s["diagnoses"] for f in d["fix"]]


# -- item 1: the suggested Freight is the newest *available* one (precheck's answer) ------------------------
def test_never_promoted_stage_gets_the_newest_available_freight_not_the_newest(capsys) -> None:
    code, doc = diagnose("diagnose-no-freight-newest-unavailable", capsys, "--stage", "monitoring")
    (d,) = [x for x in stage(doc, "monitoring")["diagnoses"] if x["kind"] == "root-cause"]
    assert code == 1 and d["rule"] == "no-freight-not-promoted"
    assert d["fix"][0] == "kargo promote --project platform --stage monitoring --freight-alias calm-crane"
    assert not any("eager-eel" in f for f in d["fix"])
    assert any("eager-eel" in e and "not available to monitoring: not verified in operators" in e
               for e in d["evidence"])


def test_no_available_freight_says_why_and_suggests_no_promotion(capsys) -> None:
    code, doc = diagnose("diagnose-no-freight-none-available", capsys, "--stage", "monitoring")
    (d,) = stage(doc, "monitoring")["diagnoses"]
    assert d["rule"] == "no-freight-none-available" and not d["problem"] and code == 0
    assert "not verified in operators" in d["root_cause"]
    assert not any(f.startswith("kargo promote") for f in d["fix"]), d["fix"]
    assert "operators must verify it first" in d["fix"][0]
    assert any("soak time not met" in e for e in d["evidence"])


# -- item 2: a control-flow Stage is judged by what it routes, never "never promoted" ----------------------
def test_healthy_control_flow_stage_is_fine(capsys) -> None:
    code, doc = diagnose("diagnose-control-flow-routing", capsys)
    assert code == 0
    assert stage(doc, "gate")["diagnoses"] == []
    assert not any("kargo promote" in f for f in fixes(doc))


def test_control_flow_stage_not_routing_is_fixed_by_rbac_and_refresh_not_a_promotion(capsys) -> None:
    code, doc = diagnose("diagnose-control-flow-not-routing", capsys, "--stage", "gate")
    (d,) = stage(doc, "gate")["diagnoses"]
    assert code == 1 and d["rule"] == "control-flow-not-routing"
    assert "cannot patch resource \"freights/status\"" in d["root_cause"]
    assert any("status.verifiedIn[gate]: not set" in e for e in d["evidence"])
    assert not any("kargo promote" in f for f in d["fix"])


# -- item 3: a deleted AnalysisRun is named, with its failed metric, and re-verified ------------------------
def test_deleted_analysisrun_is_named_with_its_metric(capsys) -> None:
    code, doc = diagnose("diagnose-verification-run-deleted", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["diagnoses"][0]
    assert code == 1 and d["rule"] == "verification-run-deleted"
    assert "monitoring.01k3zz9x8w7v6t5s4r3q2p1n0m.6d30631" in d["root_cause"] and "'smoke'" in d["root_cause"]
    assert "garbage-collected or deleted" in d["root_cause"]
    assert d["fix"][0].startswith("kargo verify stage monitoring --project platform")
    assert not any("AnalysisTemplate" in f for f in d["fix"])


def test_analysisrun_still_there_is_read_not_called_deleted(capsys) -> None:
    code, doc = diagnose("diagnose-verification-failed-other", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["diagnoses"][0]
    assert code == 1 and d["rule"] == "verification-failed-other"


def test_misconfigured_verification_without_a_run_quotes_kargo(capsys) -> None:
    code, doc = diagnose("diagnose-verification-no-analysisrun", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["diagnoses"][0]
    assert d["rule"] == "verification-no-analysisrun"
    assert 'error getting AnalysisTemplate "monitoring-health"' in d["root_cause"]


# -- item 4: a failing kargo_stage check is diagnosed on the Kargo Stage it names ------------------------------
NAMED_SPEC = """
defaults: {timeout: 3s, interval: 0.3s, max_interval: 0.6s}
stages:
  monitoring-verify:
    levels:
      1:
        - kargo_stage: {stage: monitoring}
"""


def verify_named(world: str, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict, str]:
    (tmp / "gate.yaml").write_text(NAMED_SPEC)
    js = tmp / "result.json"
    with start(world) as sim:
        code = run(cli, ["verify", "--stage", "monitoring-verify", "--spec", str(tmp / "gate.yaml"), "--config",
                         CONFIG, "--kubeconfig", sim.kubeconfig, "--json", str(js), "--timeout", "20s"])
    return code, json.loads(js.read_text()), capsys.readouterr().out


def test_failing_kargo_stage_check_is_diagnosed_on_the_stage_it_names(tmp_path: Path, capsys) -> None:
    code, doc, out = verify_named("diagnose-verification-failed-other", tmp_path, capsys)
    assert code == 1, out
    diag = doc["diagnosis"]
    assert diag["root_cause"]["rule"] == "verification-failed-other", diag
    assert diag["stage"] == "monitoring"
    assert "Stage: monitoring\n" in out and "no diagnosis" not in out


def test_passing_kargo_stage_check_under_another_key_has_no_diagnosis(tmp_path: Path, capsys) -> None:
    code, doc, out = verify_named("diagnose-healthy", tmp_path, capsys)
    assert code == 0, out
    assert not doc.get("diagnosis") and "DIAGNOSIS" not in out


# -- item 5: Gotcha 8 by what the app deploys, not its destination namespace -----------------------------------
def test_app_of_apps_in_argocd_namespace_is_not_argo_cd_itself(capsys) -> None:
    code, doc = diagnose("diagnose-gotcha-foundation-app-of-apps", capsys)
    assert code == 0
    assert not [d for s in doc["stages"] for d in s["diagnoses"]], doc


def test_app_that_deploys_argo_cd_controllers_is_argo_cd_itself(capsys) -> None:
    code, doc = diagnose("diagnose-gotcha-foundation-chicken-egg", capsys, "--stage", "operators")
    (d,) = [x for x in stage(doc, "operators")["diagnoses"] if x["rule"] == "gotcha-foundation-chicken-egg"]
    assert any("CRD applications.argoproj.io (Argo CD)" in e for e in d["evidence"])
    assert any("Deployment argocd/argocd-server" in e for e in d["evidence"])


# -- item 6: a discovered commit with no Freight is the Warehouse's creation policy, not "empty" ---------------
def test_discovered_commit_without_freight_names_the_creation_criteria(capsys) -> None:
    code, doc = diagnose("diagnose-gotcha-empty-commit", capsys, "--stage", "operators")
    (d,) = [x for x in stage(doc, "operators")["diagnoses"] if x["rule"] == "gotcha-empty-commit"]
    assert "freightCreationCriteria.expression" in d["root_cause"]
    assert "not because the commit is empty" in d["root_cause"]
    assert not any("touch a file" in f for f in d["fix"])


def test_empty_commit_that_became_freight_is_fine(capsys) -> None:
    code, doc = diagnose("diagnose-gotcha-empty-commit-made-freight", capsys)
    assert code == 0 and not [d for s in doc["stages"] for d in s["diagnoses"]]


# -- item 7: a Promotion without startedAt is dated by its creation, never "startedAt = None" -------------------
@pytest.mark.parametrize(("world", "phrase"), [
    ("diagnose-promotion-stuck-legacy", "no status.startedAt (older Kargo does not record it); created "),
    ("diagnose-promotion-stuck", "startedAt = "),
])
def test_running_promotion_age(world: str, phrase: str, capsys) -> None:
    code, doc = diagnose(world, capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["diagnoses"][0]
    assert code == 1 and d["rule"] == "promotion-stuck" and "running 40 min" in d["root_cause"]
    line = next(e for e in d["evidence"] if "status.phase = Running" in e)
    assert phrase in line and "None" not in line and "(40 min ago)" in line


# -- fixes that follow their evidence ------------------------------------------------------------------------
def test_warehouse_auth_error_gets_the_credentials_for_that_repo(capsys) -> None:
    code, doc = diagnose("diagnose-no-freight-warehouse-auth", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["diagnoses"][0]
    assert code == 1 and d["rule"] == "no-freight-warehouse-auth"
    assert d["fix"][0].startswith("kargo create repo-credentials --project=platform ")
    assert "--image --repo-url=ghcr.io/acme/platform-bundle" in d["fix"][0]
    assert "kargo.akuity.io/cred-type=image" in d["fix"][1]


def test_warehouse_constraint_error_is_not_called_credentials(capsys) -> None:
    code, doc = diagnose("diagnose-no-freight-warehouse-empty", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["diagnoses"][0]
    assert d["rule"] == "no-freight-warehouse-empty"
    assert not any("credentials" in f for f in d["fix"])


def test_oomkilled_controller_gets_a_memory_limit_not_a_restart(capsys) -> None:
    code, doc = diagnose("diagnose-kargo-controller-oomkilled", capsys)
    causes = {s["stage"]: s["root_cause"] for s in doc["stages"]}
    assert code == 1 and {c["rule"] for c in causes.values()} == {"kargo-controller-oomkilled"}
    fix = causes["monitoring"]["fix"]
    assert "--set controller.resources.limits.memory=1Gi" in fix[0]
    assert not any("rollout restart" in f for f in fix)


def test_crashing_controller_not_oom_is_restarted_after_reading_its_log(capsys) -> None:
    code, doc = diagnose("diagnose-kargo-controller-unavailable", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["root_cause"]
    assert d["rule"] == "kargo-controller-unavailable" and not any("memory" in f for f in d["fix"])


def test_a_cluster_wide_cause_is_printed_once(capsys) -> None:
    with start("diagnose-kargo-controller-oomkilled") as sim:
        code = run(cli, ["diagnose", "--config", CONFIG, "--kubeconfig", sim.kubeconfig])
    out = capsys.readouterr().out
    assert code == 1
    assert out.count("Root Cause: the Kargo controller is killed for memory") == 1
    assert "Stages: monitoring, operators, services (one cause for the whole cluster)" in out


def test_failed_job_metric_quotes_the_failing_log_line_and_reads_the_job_log(capsys) -> None:
    code, doc = diagnose("diagnose-verification-failed-other", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["root_cause"]
    assert "error budget check: 7.2% errors over the last 10m, allowed 1%" in d["root_cause"]
    assert d["fix"][0].startswith("kubectl logs job/6f1c2a9e-0b7d-4c5e-8f70-8192a3b4c5d6.gate.1 -n platform")


def test_controller_forbidden_gets_the_exact_rbac_rule(capsys) -> None:
    code, doc = diagnose("diagnose-controller-rbac-forbidden", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["root_cause"]
    assert code == 1 and d["rule"] == "controller-rbac-forbidden"
    assert d["fix"][0] == ('missing rule: {apiGroups: ["kargo.akuity.io"], resources: ["freights/status"], '
                           'verbs: ["patch"]} in namespace platform')
    assert d["verify"] == ("kubectl auth can-i patch freights.kargo.akuity.io --subresource=status -n platform "
                           "--as=system:serviceaccount:kargo:kargo-controller")


def test_controller_error_that_is_no_refusal_stays_generic(capsys) -> None:
    code, doc = diagnose("diagnose-log-reconcile-error", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["root_cause"]
    assert d["rule"] == "log-reconcile-error" and not any("missing rule" in f for f in d["fix"])


def test_promotion_stuck_on_an_app_whose_sync_is_stuck_looks_at_that_app(capsys) -> None:
    code, doc = diagnose("diagnose-promotion-stuck-app-operation", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["root_cause"]
    assert d["rule"] == "promotion-stuck-app-operation" and d["risk"] == "MEDIUM"
    assert "loki-schema-migrate" in d["root_cause"]
    assert d["fix"][0] == "argocd app get argocd/loki --show-operation   # which hook/resource it waits on"
    assert any("RISK: drops the requested sync" in f for f in d["fix"])


def test_promotion_stuck_with_settled_apps_reads_the_controller_log(capsys) -> None:
    code, doc = diagnose("diagnose-promotion-stuck", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["root_cause"]
    assert d["rule"] == "promotion-stuck" and not any("operation" in f and "patch" in f for f in d["fix"])


def test_old_selfheal_drift_is_a_real_cause_never_exit_0(capsys) -> None:
    code, doc = diagnose("diagnose-gotcha-selfheal-not-healing", capsys, "--stage", "monitoring")
    rules = [d["rule"] for d in stage(doc, "monitoring")["diagnoses"]]
    assert code == 1 and "gotcha-selfheal-not-healing" in rules and "gotcha-selfheal-delay" not in rules


def test_recent_selfheal_drift_is_a_wait(capsys) -> None:
    code, doc = diagnose("diagnose-gotcha-selfheal-delay", capsys, "--stage", "monitoring")
    rules = [d["rule"] for d in stage(doc, "monitoring")["diagnoses"]]
    assert "gotcha-selfheal-delay" in rules and "gotcha-selfheal-not-healing" not in rules


# -- the missing D3/D6 rules: each on its world (test_diagnose.py::test_rule), the twins here ------------------
def test_comparison_error_for_credentials_gets_the_repository_credentials(capsys) -> None:
    code, doc = diagnose("diagnose-argocd-comparison-auth", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["root_cause"]
    assert d["rule"] == "argocd-comparison-error" and "authentication required" in d["root_cause"]
    assert "argocd repo add https://github.com/acme/platform-gitops.git" in d["fix"][1]


@pytest.mark.parametrize("world", ["diagnose-healthy", "diagnose-gotcha-stale-operationstate",
                                   "diagnose-gotcha-selfheal-delay"])
def test_no_argocd_rule_on_apps_that_are_fine_or_only_drifting(world: str, capsys) -> None:
    _, doc = diagnose(world, capsys)
    assert not [d["rule"] for s in doc["stages"] for d in s["diagnoses"] if d["rule"].startswith("argocd-")]


@pytest.mark.parametrize(("world", "rule", "problem"), [
    ("diagnose-verification-job-failed", "verification-job-failed", True),
    ("diagnose-verification-job-retrying", "verification-job-retrying", False),
    ("diagnose-verification-in-progress", "verification-in-progress", False),
])
def test_running_verification_says_whether_its_job_failed_or_retries(world: str, rule: str, problem: bool,
                                                                     capsys) -> None:
    code, doc = diagnose(world, capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["root_cause"]
    assert d["rule"] == rule and d["problem"] is problem and code == (1 if problem else 0)
    if rule == "verification-in-progress":  # nothing failed: no "failed 1" contradicting "wait"
        assert not any("failed 1" in e for e in d["evidence"])


def test_selector_typo_is_named_with_the_template_field(capsys) -> None:
    with start("diagnose-verification-selector-typo") as sim:
        run(cli, ["diagnose", "--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--output", "json", "--stage",
                  "monitoring"])
        pod_lists = [r for r in sim.requests if r["method"] == "GET" and r["path"].endswith(
            "/namespaces/monitoring/pods")]
    doc = json.loads(capsys.readouterr().out)
    d = stage(doc, "monitoring")["root_cause"]
    assert d["rule"] == "verification-selector-typo" and "grafna" in d["root_cause"]
    assert pod_lists, "the near miss is judged against the pods really there"


def test_pod_check_that_matches_not_ready_pods_is_no_typo(capsys) -> None:
    code, doc = diagnose("diagnose-verification-pod-failed", capsys, "--stage", "monitoring")
    d = stage(doc, "monitoring")["root_cause"]
    assert d["rule"] == "verification-pod-failed" and "the pods exist, the workload is not ready" in d["root_cause"]
    assert not any("<" in f for f in d["fix"]), d["fix"]
