"""`gate diagnose` against the simulator with the real kubernetes client: one test per decision-tree rule
(root cause, fix command, risk), exit codes, read-only from the request log, JUnit, masking."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gate import redact
from gate.cli import cli
from gate.diagnose.tree import CAUSES, GOTCHAS, RULES
from gate.entry import run
from gate.sim.scenario import SCENARIOS
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
XSD = Path(__file__).resolve().parents[2] / "shared/reference/junit/jenkins-xunit-junit-10.xsd"
WRITES = {"POST", "PUT", "PATCH", "DELETE"}

# rule id -> (risk, a phrase of the root cause, a phrase of one fix command). A new rule without an entry
# here, or without its scenario gate/sim/scenarios/diagnose-<world>.yaml, fails test_rule.
EXPECT: dict[str, tuple[str, str, str]] = {
    "kargo-controller-unavailable": ("MEDIUM", "Kargo controller is not running",
                                     "kubectl rollout restart deployment/kargo-controller -n kargo"),
    "kargo-controller-oomkilled": ("MEDIUM", "OOMKilled at its limit 512Mi",
                                   "--set controller.resources.limits.memory=1Gi"),
    "promotion-errored-manual": ("MEDIUM", "lastPromotion 'monitoring-hotfix-by-hand' was created by hand",
                                 "kubectl delete stage monitoring -n platform"),
    "promotion-errored-refused": ("LOW", "connection refused :8081",
                                  "retry: {timeout: 10m, errorThreshold: 3}"),
    "argocd-repo-server-unavailable": ("LOW", "repo-server did not answer for loki",
                                       "kubectl logs -n argocd deploy/argocd-repo-server --previous --tail=100"),
    "argocd-comparison-error": ("LOW", "open values-monitoring.yaml: no such file or directory",
                                "argocd app manifests loki --source git"),
    "argocd-crd-order": ("MEDIUM", "uses kind ServiceMonitor (monitoring.coreos.com/v1)",
                         "move kube-prometheus-stack to a later Stage"),
    "argocd-crd-sync-error": ("LOW", "prometheuses.monitoring.coreos.com", "syncOptions: [ServerSideApply=true]"),
    "argocd-outofsync-after-sync": ("LOW", "OutOfSync right after a Succeeded sync", "argocd app diff loki"),
    "argocd-health-unknown": ("LOW", "LokiStack monitoring/loki", "resource.customizations.health"),
    "promotion-errored-sync-failed": ("MEDIUM", "operationState says which resource",
                                      "argocd app get loki --show-operation"),
    "promotion-errored-step-timeout": ("LOW", "ran out of time", "retry: {timeout: 10m, errorThreshold: 3}"),
    "promotion-errored-other": ("LOW", "repository not accessible",
                                "kargo promote --project platform --stage monitoring --freight-alias calm-crane"),
    "no-freight-stale-history": ("MEDIUM", "freightHistory is stale",
                                 "kargo promote --project platform --stage monitoring --freight-alias calm-crane"),
    "no-freight-warehouse-empty": ("LOW", "no Freight exists for Warehouse platform-apps",
                                   "kargo refresh warehouse platform-apps --project platform --wait"),
    "no-freight-warehouse-auth": ("LOW", "cannot read ghcr.io/acme/platform-bundle",
                                  "kargo create repo-credentials --project=platform ghcr-io-acme-platform-bundle "
                                  "--image --repo-url=ghcr.io/acme/platform-bundle"),
    "no-freight-not-promoted": ("LOW", "auto-promotion is off",
                                "kargo promote --project platform --stage monitoring --freight-alias calm-crane"),
    "no-freight-none-available": ("LOW", "none of the 3 Freight is available to monitoring",
                                  "kargo approve --project platform --freight e3f1c2a9e0b7"),
    "control-flow-not-routing": ("LOW", "control-flow Stage gate cannot mark Freight verified",
                                 "kargo refresh stage gate --project platform --wait"),
    "verification-run-deleted": ("LOW", "ran and ended Failed (metric 'smoke' failed)",
                                 "kargo verify stage monitoring --project platform"),
    "verification-no-analysisrun": ("LOW", "Error before any AnalysisRun was created: error getting AnalysisTemplate",
                                    "create AnalysisTemplate monitoring-health in platform"),
    "verification-rbac-forbidden": ("LOW", "system:serviceaccount:platform:gate may not list pods in monitoring",
                                    "kubectl create role gate-verification-pods -n monitoring --verb=list "
                                    "--resource=pods"),
    "verification-http-failed": ("LOW", "HTTP check", "kargo verify stage monitoring --project platform"),
    "verification-selector-typo": ("LOW", "pods there are labelled app.kubernetes.io/name=grafana: a typo",
                                   "AnalysisTemplate monitoring-health spec.args[1].value: "
                                   "'app.kubernetes.io/name=grafna' -> 'app.kubernetes.io/name=grafana'"),
    "verification-pod-failed": ("LOW", "0 of 1 pods matching app.kubernetes.io/name=grafana in monitoring",
                                "kubectl get pods -n monitoring -l app.kubernetes.io/name=grafana"),
    "verification-failed-other": ("LOW", "assessed Failed", "kubectl get analysisrun "
                                  "monitoring.01k40a1b2c3d4e5f6g7h8j9k0m.6d30631 -n platform -o yaml"),
    "reconcile-error": ("LOW", "etcdserver: request timed out", "kargo refresh stage monitoring --project platform"),
    "promotion-stuck-app-operation": ("MEDIUM", "for Application argocd/loki, whose own sync is stuck",
                                      "kubectl patch app loki -n argocd --type merge -p '{\"operation\": null}'"),
    "promotion-stuck": ("MEDIUM", "running 40 min (step 'argocd-update')",
                        "kargo promote --project platform --abort --name "
                        "monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2"),
    "promotion-running": ("LOW", "is running (step 'argocd-update'",
                          "kargo get promotion monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2 --project platform"),
    "log-promotion-exists": ("LOW", "anti-loop", "kargo promote --project platform --stage monitoring "
                             "--freight-alias calm-crane"),
    "log-needs-verification": ("LOW", "must finish verification first",
                               "kargo verify stage monitoring --project platform"),
    "health-checks-not-passed": ("LOW", "not Healthy (loki)", "argocd app get loki"),
    "controller-rbac-forbidden": ("LOW", "may not patch freights/status (kargo.akuity.io) in platform",
                                  'missing rule: {apiGroups: ["kargo.akuity.io"], resources: ["freights/status"], '
                                  'verbs: ["patch"]} in namespace platform'),
    "log-reconcile-error": ("LOW", "etcdserver: leader changed",
                            "kargo refresh stage monitoring --project platform"),
    "verification-job-failed": ("LOW", "failed for good (BackoffLimitExceeded, 1 attempt(s) of 1)",
                                "kubectl logs job/6f1c2a9e-0b7d-4c5e-8f70-8192a3b4c5d6.gate.1 -n platform"),
    "verification-job-retrying": ("LOW", "attempt 1 of 3 failed, the Job is retrying",
                                  "kubectl get job 6f1c2a9e-0b7d-4c5e-8f70-8192a3b4c5d6.gate.1 -n platform -w"),
    "verification-in-progress": ("LOW", "is Running: wait", "kubectl get analysisruns -n platform"),
    "nuclear": ("HIGH", "no branch of the tree explains", "kubectl delete promotions -n platform "
                "-l kargo.akuity.io/stage=monitoring"),
    "gotcha-manual-promotion-name": ("LOW", "monitoring-hotfix-by-hand", "never kubectl create/apply a Promotion"),
    "gotcha-stale-operationstate": ("LOW", "old Argo CD error", "ignore that operationState message"),
    "gotcha-health-delay": ("LOW", "does not trust the health of loki", "argocd app get loki --hard-refresh"),
    "gotcha-silent-verification-rbac": ("LOW", "the Job's log does (forbidden)",
                                        "kubectl logs job/6f1c2a9e-0b7d-4c5e-8f70-8192a3b4c5d6.gate.1 -n platform"),
    "gotcha-empty-commit": ("LOW", "freightCreationCriteria.expression", "kargo refresh warehouse platform-apps "
                            "--project platform"),
    "gotcha-selfheal-delay": ("LOW", "selfHeal on", "argocd app sync loki"),
    "gotcha-selfheal-not-healing": ("LOW", "did not heal it; waiting will not help", "argocd app diff loki"),
    "gotcha-heavy-chart": ("LOW", "OOM while rendering large charts", "retry: {timeout: 10m, errorThreshold: 3}"),
    "gotcha-foundation-chicken-egg": ("MEDIUM", "Kargo cannot promote itself", "syncPolicy.automated"),
}


def diagnose(world: str | dict, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str, list]:
    """Run `gate diagnose` in-process against a simulated world: (exit code, stdout, stderr, requests)."""
    with start(world) as sim:
        code = run(cli, ["diagnose", "--config", CONFIG, "--kubeconfig", sim.kubeconfig, *args])
        requests = list(sim.requests)
    out = capsys.readouterr()
    return code, out.out, out.err, requests


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_rule(rule, capsys: pytest.CaptureFixture[str]) -> None:
    """Each rule of the tree, on its own simulated world: its root cause, a fix command, its risk level."""
    assert (SCENARIOS / f"diagnose-{rule.world}.yaml").exists(), f"rule {rule.id} has no scenario"
    risk, cause, fix = EXPECT[rule.id]
    code, out, err, requests = diagnose(f"diagnose-{rule.world}", "--output", "json", capsys=capsys)
    doc = json.loads(out)
    found = [d for s in doc["stages"] for d in s["diagnoses"] if d["rule"] == rule.id]
    seen = [(s["stage"], [d["rule"] for d in s["diagnoses"]]) for s in doc["stages"]]
    assert found, f"{rule.id} not diagnosed: {seen}"
    d = found[0]
    assert d["kind"] == ("root-cause" if rule in CAUSES else "gotcha")
    assert d["risk"] == risk == rule.risk
    assert cause in d["root_cause"]
    assert any(fix in step for step in d["fix"]), d["fix"]
    assert d["verify"] and d["evidence"]
    assert code == (1 if any(x["problem"] for s in doc["stages"] for x in s["diagnoses"]) else 0)
    assert not [r for r in requests if r["method"] in WRITES], "diagnose must not write"


def test_every_rule_has_its_expectation() -> None:
    assert set(EXPECT) == {r.id for r in RULES}
    assert len({r.id for r in RULES}) == len(RULES)
    assert [r.id for r in CAUSES][-1] == "nuclear", "the nuclear option is the last resort"
    assert all(r.risk == "HIGH" for r in CAUSES if r.id == "nuclear") and all(
        r.risk != "HIGH" for r in RULES if r.id != "nuclear")
    assert GOTCHAS


def test_diagnosis_block_for_an_errored_promotion(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err, requests = diagnose("diagnose-promote-errored", "--stage", "monitoring", capsys=capsys)
    assert code == 1
    lines = out.splitlines()
    assert lines[:5] == ["DIAGNOSIS", "=========", "Stage: monitoring",
                         'Phase: Ready=False (LastPromotionErrored): step "argocd-update" errored: error syncing '
                         'Argo CD Application "argocd/loki": ComparisonError  [Ready condition; Kargo v1.5+ '
                         'has no status.phase]',
                         "Health: Unknown, Healthy=Unknown/LastPromotionErrored"]
    for heading in ("Root Cause: ", "Evidence:", "Recommended Fix:", "Risk Level: LOW"):
        assert any(ln.startswith(heading) for ln in lines), heading
    assert "status.stepExecutionMetadata[0]: step 'argocd-update' Errored" in out
    assert "  6. Verify: kargo get promotions --project platform --stage monitoring" in out
    assert "argocd repo add https://github.com/acme/platform-gitops.git" in out  # the step says: credentials
    assert "Event PromotionErrored on Promotion monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2" in out
    assert not [r for r in requests if r["method"] in WRITES]


def test_all_stages_unhealthy_first_and_healthy_world_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _, _ = diagnose("diagnose-promote-errored", capsys=capsys)
    assert code == 1 and out.startswith("DIAGNOSIS\n=========\nStage: monitoring\n")
    assert out.rstrip().splitlines()[-1].startswith("Fine (Ready, nothing detected): operators")
    code, out, _, requests = diagnose("diagnose-healthy", capsys=capsys)
    assert code == 0 and "Fine (Ready, nothing detected): monitoring" in out
    assert not [r for r in requests if r["method"] in WRITES]


def test_legacy_phase_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _, _ = diagnose("legacy-stage", "--stage", "monitoring", capsys=capsys)
    assert code == 0
    assert "Phase: Steady (status.phase, Kargo <= v1.4)" in out


def test_legacy_failed_phase_is_a_root_cause(capsys: pytest.CaptureFixture[str]) -> None:
    world = {"name": "legacy-failed", "extends": "legacy-stage", "patches": [{
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
        "metadata": {"name": "monitoring", "namespace": "platform"},
        "status": {"phase": "Failed", "message": "error reconciling: lost the Argo CD connection",
                   "conditions": None}}]}
    code, out, _, _ = diagnose(world, "--stage", "monitoring", capsys=capsys)
    assert code == 1, out
    assert "Phase: Failed (status.phase, Kargo <= v1.4)" in out
    assert "Rule: reconcile-error" in out and "lost the Argo CD connection" in out


def test_cannot_list_stages_exits_3_naming_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    world = {"name": "no-stages", "extends": "diagnose-healthy", "rbac": {"system:serviceaccount:platform:gate": [
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]}}
    code, out, err, requests = diagnose(world, capsys=capsys)
    assert code == 3
    assert "list stages.kargo.akuity.io in namespace platform" in err
    assert "resources:\n  - stages" in err or "- stages" in err
    assert not [r for r in requests if r["method"] in WRITES]


def test_unreadable_sources_are_named_not_silent(capsys: pytest.CaptureFixture[str]) -> None:
    rules = [{"apiGroups": ["kargo.akuity.io"], "resources": ["stages", "promotions", "freights", "warehouses"],
              "verbs": ["get", "list"]}]
    world = {"name": "partial", "extends": "diagnose-promote-errored",
             "rbac": {"system:serviceaccount:platform:gate": rules}}
    code, out, _, _ = diagnose(world, "--stage", "monitoring", capsys=capsys)
    assert code == 1  # the root cause needs only the Stage and its Promotion
    assert "Rule: promotion-errored-other" in out
    assert "Could not read:" in out
    assert "  - applications: forbidden: the gate may not get applications.argoproj.io" in out, out
    assert "  - pods/kargo-controller: forbidden" in out


def test_nothing_found_but_promotions_unreadable_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    rules = [{"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "verbs": ["list"]}]
    world = {"name": "blind", "extends": "diagnose-healthy", "rbac": {"system:serviceaccount:platform:gate": rules}}
    code, out, _, _ = diagnose(world, "--stage", "monitoring", capsys=capsys)
    assert code == 3
    assert "Root Cause: undetermined" in out and "  - promotions: forbidden" in out


def test_unknown_stage_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err, _ = diagnose("diagnose-healthy", "--stage", "nope", capsys=capsys)
    assert code == 2
    assert "no Stage 'nope' in namespace platform (Stages: monitoring, operators, services)" in err


def test_junit_and_json_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junit, result = tmp_path / "d.xml", tmp_path / "d.json"
    code, _, err, _ = diagnose("diagnose-verification-rbac-forbidden", "--junit", str(junit), "--json",
                               str(result), capsys=capsys)
    assert code == 1 and f"JUnit report: {junit}" in err
    import xmlschema

    if XSD.exists():
        xmlschema.XMLSchema(str(XSD)).validate(str(junit))
    xml = junit.read_text()
    assert 'failures="1"' in xml and "verification-rbac-forbidden: the verification Job" in xml
    assert "kubectl create role gate-verification-pods -n monitoring" in xml
    doc = json.loads(result.read_text())
    assert doc["schema"] == "gate.diagnose/v1" and doc["exit_code"] == 1
    assert doc["stages"][0]["root_cause"]["rule"] == "verification-rbac-forbidden"


def test_secrets_in_logs_are_masked(capsys: pytest.CaptureFixture[str]) -> None:
    secret = "canary-diagnose-token-5e1f"
    redact.register(secret)
    try:
        world = {"name": "leaky", "extends": "diagnose-verification-failed-other", "logs": {
            "platform/6f1c2a9e-0b7d-4c5e-8f70-8192a3b4c5d6.gate.1-x7k2p":
                f"calling https://grafana/api with token {secret}\nresult: FAIL\n"}}
        code, out, _, _ = diagnose(world, "--stage", "monitoring", capsys=capsys)
    finally:
        redact.clear()
    assert code == 1
    assert secret not in out and "with token ***" in out


def _gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT)


def test_demo_diagnose_promote_errored(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    proc = _gate("demo", "--diagnose", "--scenario", "promote-errored", "--junit", str(junit))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert out.startswith("DIAGNOSIS\n=========\nStage: monitoring\n")
    assert "Root Cause: Promotion monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2 ended Errored at step " \
           "'argocd-update': error syncing Argo CD Application \"argocd/loki\"" in out
    assert "step 'argocd-update' Errored, errorCount 1: error syncing Argo CD Application" in out
    assert "kargo promote --project platform --stage monitoring --freight-alias calm-crane" in out
    assert "Risk Level: LOW" in out
    if XSD.exists():
        import xmlschema

        xmlschema.XMLSchema(str(XSD)).validate(str(junit))


def test_demo_diagnose_healthy_exits_0() -> None:
    proc = _gate("demo", "--diagnose")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("Fine (Ready, nothing detected): ")
    proc = _gate("demo", "--scenario", "nuclear")
    assert proc.returncode == 2 and "add --diagnose" in proc.stderr


def test_semantics_and_readme_document_every_rule() -> None:
    doc = (ROOT / "docs/semantics.md").read_text().split("## Diagnose rules", 1)[1]
    for rule in RULES:
        assert f"| `{rule.id}` |" in doc, rule.id
    readme = (ROOT / "README.md").read_text()
    assert "| `gate diagnose [--stage S]` |" in readme and "| `gate status [--watch]` |" in readme
    assert "## Diagnose" in readme


def test_gather_reads_in_parallel(capsys: pytest.CaptureFixture[str]) -> None:
    """With 300 ms on every API call, the dozen reads take about three rounds, not a dozen in a row."""
    import time

    world = {"name": "slow", "extends": "diagnose-healthy", "faults": [{"path": "^/api", "latency": 0.3}]}
    with start(world) as sim:
        began = time.monotonic()
        code = run(cli, ["diagnose", "--config", CONFIG, "--kubeconfig", sim.kubeconfig])
        elapsed = time.monotonic() - began
        reads = [r for r in sim.requests if r["method"] == "GET"]
    capsys.readouterr()
    assert code == 0
    assert len(reads) >= 10
    assert elapsed < 0.3 * len(reads) / 2, f"{len(reads)} reads took {elapsed:.2f}s"


def test_gaps_are_named_even_when_nothing_is_wrong(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _, _ = diagnose("crashloop", capsys=capsys)  # a world without Kargo controller pods
    assert code == 0
    assert "Could not read:\n  - log/kargo-controller: no Kargo controller pod found in namespace kargo" in out


def test_sticky_verified_stage_whose_latest_verification_failed_is_diagnosed(
        capsys: pytest.CaptureFixture[str]) -> None:
    """Kargo keeps Verified (and Ready) True after a failed re-verification (regular_stages.go:1103-1121,
    ~2389-2395): the latest verificationHistory entry tells the truth. Before: "the Stage is Ready;
    nothing to fix", exit 0."""
    code, out, _, requests = diagnose("upstream-unverified", "--stage", "operators", "--output", "json",
                                      capsys=capsys)
    doc = json.loads(out)
    (stage,) = doc["stages"]
    causes = [d for d in stage["diagnoses"] if d["kind"] == "root-cause"]
    assert code == 1 and causes and causes[0]["rule"] == "verification-failed-other", stage
    assert 'Metric "cert-manager-webhook" assessed Failed' in causes[0]["root_cause"]
    assert any("kargo verify stage operators --project platform" in step for step in causes[0]["fix"])
    assert not [r for r in requests if r["method"] in WRITES]
