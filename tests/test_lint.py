"""`gate lint`: every rule fires exactly where its flawed manifest says (file and line) and nowhere else;
the clean pipeline passes; the outputs validate (SARIF 2.1.0, strict JUnit); bad input exits 2."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import xmlschema
from refdata import JUNIT_XSD as XSD

from gate.lint.rules import RULES
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests/data/lint"
CLEAN, FLAWED = DATA / "clean", DATA / "flawed"
SARIF_SCHEMA = ROOT / "tests/data/sarif/sarif-schema-2.1.0.json"
EXPECT = re.compile(r"#\s*expect:\s*([a-z0-9-]+)")


def gate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True, cwd=ROOT,
                          input=stdin, timeout=60)


def expected(path: Path) -> set[tuple[str, int, str]]:
    out = set()
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        for rule in EXPECT.findall(line):
            out.add((str(path.relative_to(ROOT)), number, rule))
    return out


def findings(*paths: Path, extra: tuple[str, ...] = ()) -> tuple[int, list[dict]]:
    proc = gate("lint", "--format", "json", *extra, *(str(p.relative_to(ROOT)) for p in paths))
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["findings"]


def test_clean_pipeline_has_no_finding() -> None:
    proc = gate("lint", "tests/data/lint/clean")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "11 objects in 3 files: 0 errors, 0 warnings"


# Rules about the input or the cluster that a manifest file cannot show: each has its own test in
# tests/test_lint_input.py (FIFOs, sizes, symlinks, chart templates, refused lists).
NOT_A_FILE = {"input-refused", "helm-chart-template", "cluster-not-read"}


@pytest.mark.parametrize("rule", [r.id for r in RULES if r.id not in NOT_A_FILE])
def test_rule_fires_exactly_where_marked(rule: str) -> None:
    flawed = FLAWED / f"{rule}.yaml"
    want = expected(flawed)
    assert want and {r for _, _, r in want} == {rule}, f"{flawed.name} must mark only {rule}"
    code, found = findings(CLEAN, flawed)
    got = {(f["file"], f["line"], f["rule"]) for f in found}
    assert got == want
    severity = next(r.severity for r in RULES if r.id == rule)
    assert code == (1 if severity == "error" else 0)
    strict = 1 if severity in ("error", "warning") else 0  # info never fails, even with --strict
    assert findings(CLEAN, flawed, extra=("--strict",))[0] == strict
    assert all(f["severity"] == severity and f["message"] for f in found)


def test_fix_is_an_applicable_yaml_snippet() -> None:
    _, found = findings(CLEAN, FLAWED / "argocd-update-retry.yaml")
    # the S4 row for a simple app, never a timeout below Kargo's own 5m default
    assert "retry:\n  timeout: 5m\n  errorThreshold: 2" in found[0]["fix"]
    _, found = findings(CLEAN, FLAWED / "app-authorized-stage.yaml")
    assert "kargo.akuity.io/authorized-stage: platform:stage-w" in found[0]["fix"]


def test_heavy_app_gets_the_heavy_retry_row(tmp_path: Path) -> None:
    text = (FLAWED / "heavy-chart-timeout.yaml").read_text()
    text = re.sub(r"          retry:\n.*\n.*\n", "", text)
    (tmp_path / "heavy.yaml").write_text(text)
    proc = gate("lint", "--format", "json", str(CLEAN), str(tmp_path / "heavy.yaml"))
    fix = json.loads(proc.stdout)["findings"][0]
    assert fix["rule"] == "argocd-update-retry"
    assert "# very-heavy app" in fix["fix"] and "timeout: 10m" in fix["fix"] and "errorThreshold: 3" in fix["fix"]


def test_strict_fails_on_warnings() -> None:
    flawed = str((FLAWED / "stage-no-verification.yaml").relative_to(ROOT))
    assert gate("lint", "tests/data/lint/clean", flawed).returncode == 0
    assert gate("lint", "--strict", "tests/data/lint/clean", flawed).returncode == 1


def test_missing_retry_is_a_warning_that_strict_makes_an_error() -> None:
    """Kargo works without retry (argocd-update: 5m, errorThreshold 1), so the guide's advice warns;
    --strict holds a team to the guide."""
    flawed = str((FLAWED / "argocd-update-retry.yaml").relative_to(ROOT))
    code, found = findings(CLEAN, FLAWED / "argocd-update-retry.yaml")
    assert code == 0 and [f["severity"] for f in found] == ["warning"]
    assert "Kargo's default is 1 (timeout 5m)" in found[0]["message"]
    assert "the guide asks for a threshold of 2" in found[0]["message"]
    strict = gate("lint", "--strict", "--format", "json", "tests/data/lint/clean", flawed)
    assert strict.returncode == 1
    assert [f["severity"] for f in json.loads(strict.stdout)["findings"]] == ["error"]


def test_error_threshold_alone_satisfies_the_retry_rule(tmp_path: Path) -> None:
    text = (FLAWED / "argocd-update-retry.yaml").read_text()
    assert "retry:" not in text
    app = "              - name: web-b\n"
    text = text.replace(app, app + "          retry: {errorThreshold: 2}\n")
    (tmp_path / "stage.yaml").write_text(text)
    proc = gate("lint", "--format", "json", str(CLEAN), str(tmp_path / "stage.yaml"))
    assert proc.returncode == 0 and json.loads(proc.stdout)["findings"] == []


def test_foundation_flag_exempts_auto_sync() -> None:
    code, found = findings(CLEAN, FLAWED / "app-auto-sync.yaml", extra=("--foundation", "stage-s"))
    assert code == 0 and found == []


def test_stdin_is_read_as_a_stream() -> None:
    stream = "\n---\n".join(p.read_text() for p in sorted(CLEAN.glob("*.yaml")))
    stream += "\n---\n" + (FLAWED / "promotion-in-git.yaml").read_text()
    proc = gate("lint", "-", stdin=stream)
    assert proc.returncode == 1
    assert re.search(r"^<stdin>:\d+: error \[promotion-in-git\]", proc.stdout, re.M)


def test_sarif_validates_and_points_at_the_line() -> None:
    proc = gate("lint", "--format", "sarif", "tests/data/lint/clean", "tests/data/lint/flawed")
    assert proc.returncode == 1
    doc = json.loads(proc.stdout)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(doc)
    results = doc["runs"][0]["results"]
    rules = {r["ruleId"] for r in results}
    assert rules == {r.id for r in RULES} - NOT_A_FILE
    stage_cycle = next(r for r in results if r["ruleId"] == "stage-cycle")
    location = stage_cycle["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "tests/data/lint/flawed/stage-cycle.yaml"
    assert location["region"]["startLine"] == 7


def test_junit_validates_against_the_strict_schema() -> None:
    proc = gate("lint", "--format", "junit", "tests/data/lint/clean", "tests/data/lint/flawed")
    xmlschema.XMLSchema(str(XSD)).validate(proc.stdout)
    assert proc.stdout.count("<failure") == sum(
        len(expected(p)) for p in FLAWED.glob("*.yaml")
        if next(r.severity for r in RULES if r.id == p.stem) == "error")


def test_graph_mermaid_and_dot() -> None:
    proc = gate("lint", "tests/data/lint/clean", "--graph")
    assert proc.returncode == 0
    assert proc.stdout.startswith("flowchart LR\n")
    assert "s_dev --> s_uat" in proc.stdout and "s_uat --> s_prod" in proc.stdout
    assert "apps: monitoring-prod" in proc.stdout  # resolved through the PromotionTask and its vars
    dot = gate("lint", "--graph", "dot", "tests/data/lint/clean").stdout
    assert dot.startswith("digraph pipeline {") and "s_dev -> s_uat;" in dot


@pytest.mark.parametrize("content, message, line", [
    ("kind: Stage\n  bad: [\n", "not valid YAML", 2),
    ("a: 1\n\x00\n", "NUL byte", 2),
    ("apiVersion: v1\nkind: ConfigMap\ndata: {n: " + "9" * 4301 + "}\n", "a value cannot be read", 1),  # fuzz
    ("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join([f'*{p}'] * 10)}]\n" for p, n in zip("abcdef", "bcdefg", strict=True)),
     "aliases are expanded", 6),  # the anchor whose expansion goes past the limit
    ("a: " + "[" * 150 + "]" * 150 + "\n", "levels deep", 1),
    (b"kind: \xff\xfe\n", "not UTF-8", 1),
], ids=["bad-yaml", "nul", "long-integer", "alias-bomb", "too-deep", "binary"])
def test_bad_file_is_an_error_finding_and_the_run_goes_on(tmp_path: Path, content: str | bytes, message: str,
                                                           line: int) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    proc = gate("lint", "--format", "json", str(path), "tests/data/lint/clean",
                "tests/data/lint/flawed/stage-cycle.yaml")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr
    found = json.loads(proc.stdout)["findings"]
    bad = [f for f in found if f["file"] == str(path)]
    assert [(f["rule"], f["severity"], f["line"]) for f in bad] == [("yaml-invalid", "error", line)]
    assert message in bad[0]["message"]
    assert "stage-cycle" in {f["rule"] for f in found}  # the other files were still read and checked


def test_missing_path_and_no_input_exit_2() -> None:
    assert gate("lint", "does/not/exist.yaml").returncode == 2
    assert gate("lint").returncode == 2


def test_cluster_reads_live_objects_read_only(tmp_path: Path) -> None:
    log = tmp_path / "requests.jsonl"
    with start("healthy", request_log=str(log)) as sim:
        proc = gate("lint", "--cluster", "--project", "platform", "--kubeconfig", sim.admin_kubeconfig,
                    "--format", "json")
        denied = gate("lint", "--cluster", "--project", "platform", "--kubeconfig", sim.kubeconfig)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    kinds = {f["object"].split("/")[0] for f in doc["findings"]}
    assert doc["objects"] > 0 and "Stage" in kinds
    assert all(f["file"].startswith("cluster:") for f in doc["findings"])
    methods = {json.loads(line)["method"] for line in log.read_text().splitlines()}
    assert methods == {"GET"}
    # an identity that may not list some kinds: those are skipped, said on stderr and as info findings
    # naming the rules left unchecked, and no rule reports what it could not see
    assert denied.returncode in (0, 1), denied.stderr
    assert "may not list applicationsets.argoproj.io in argocd: skipped" in denied.stderr
    assert "Traceback" not in denied.stderr
    assert "info [cluster-not-read] may not list serviceaccounts in platform: skipped" in denied.stdout
    assert "verification-service-account-missing" not in denied.stdout


# -- gate scaffold stage ---------------------------------------------------------------------------
CANARY_SPEC = """
defaults: {timeout: 30s}
stages:
  canary:
    levels:
      1:
        - pods: {namespace: monitoring, selector: "app=grafana"}
        - argocd_apps: {names: [canary-web]}
"""


def scaffold(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    spec = tmp_path / "gate.yaml"
    spec.write_text(CANARY_SPEC)
    return gate("scaffold", "stage", "canary", "--upstream", "monitoring", "--app", "canary-web",
                "--image", "ghcr.io/promotion-gate/promotion-gate:0.1.0", "--spec", str(spec),
                "--config", "gate/demo/config.yaml", *extra)


def test_scaffold_writes_the_s2_checklist(tmp_path: Path) -> None:
    proc = scaffold(tmp_path)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in __import__("yaml").safe_load_all(proc.stdout) if d]
    stage = docs[0]
    assert stage["kind"] == "Stage" and stage["metadata"] == {"name": "canary", "namespace": "platform"}
    step = stage["spec"]["promotionTemplate"]["spec"]["steps"][0]
    assert step["retry"] == {"timeout": "5m", "errorThreshold": 2}  # S4: a simple app, at Kargo's default
    assert stage["spec"]["requestedFreight"][0]["sources"] == {"stages": ["monitoring"]}
    template = stage["spec"]["verification"]["analysisTemplates"][0]["name"]
    assert {"AnalysisTemplate", "ServiceAccount", "ConfigMap"} <= {d["kind"] for d in docs}
    assert any(d["kind"] == "AnalysisTemplate" and d["metadata"]["name"] == template for d in docs)
    assert "kubectl -n argocd annotate application canary-web kargo.akuity.io/authorized-stage=platform:canary" \
        in proc.stdout
    heavy = [d for d in __import__("yaml").safe_load_all(scaffold(tmp_path, "--weight", "heavy").stdout) if d][0]
    assert heavy["spec"]["promotionTemplate"]["spec"]["steps"][0]["retry"] == {"timeout": "10m", "errorThreshold": 3}


def test_scaffold_output_validates_and_lints_clean_in_its_pipeline(tmp_path: Path) -> None:
    """Alone, only its sources are undefined (they live elsewhere); applied to a cluster that has them,
    nothing the scaffold wrote has a finding, and the new Stage is served."""
    from kubernetes import config, dynamic
    from kubernetes.client import api_client

    out = scaffold(tmp_path).stdout
    alone = gate("lint", "--format", "json", "-", stdin=out)
    assert {f["rule"] for f in json.loads(alone.stdout)["findings"]} == {"freight-source-undefined"}
    with start("healthy") as sim:
        client = dynamic.DynamicClient(api_client.ApiClient(config.load_kube_config(sim.admin_kubeconfig)))
        for doc in [d for d in __import__("yaml").safe_load_all(out) if d]:
            res = client.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])
            res.create(body=doc, namespace=doc["metadata"].get("namespace"))
        proc = gate("lint", "--cluster", "--project", "platform", "--kubeconfig", sim.admin_kubeconfig,
                    "--format", "json")
        status = gate("status", "--project", "platform", "--kubeconfig", sim.admin_kubeconfig,
                      "--config", "gate/demo/config.yaml", "--output", "json")
    ours = [f for f in json.loads(proc.stdout)["findings"] if "canary" in f["object"]]
    assert ours == []
    assert status.returncode == 0, status.stderr
    rows = {row["stage"]: row for row in json.loads(status.stdout)["stages"]}
    assert list(rows) == ["operators", "monitoring", "canary", "services"]  # in the pipeline, after monitoring
    assert rows["canary"]["blocks_next_promotion"]["rule"] == "no-freight-not-promoted"  # gate.status/v2


def test_readme_lists_every_rule_with_the_anchor_sarif_links_to() -> None:
    from gate.lint.output import help_uri

    text = (ROOT / "README.md").read_text()
    for rule in RULES:
        assert f"| `{rule.id}` | {rule.severity} | {rule.summary} |" in text
        page, anchor = help_uri(rule.id).split("#")
        assert page == "README.md" and f'<a id="{anchor}"></a> |' in text


def test_scaffold_needs_the_stage_in_the_spec(tmp_path: Path) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text(CANARY_SPEC)
    proc = gate("scaffold", "stage", "other", "--app", "web", "--image", "i", "--spec", str(spec),
                "--config", "gate/demo/config.yaml")
    assert proc.returncode == 2
    assert "add a stage 'other' with its levels to the spec" in proc.stderr and "Traceback" not in proc.stderr


def test_readme_example_is_what_lint_prints() -> None:
    proc = gate("lint", "tests/data/lint/clean", "tests/data/lint/flawed/app-auto-sync.yaml")
    example = "\n".join(proc.stdout.splitlines()[:5])
    assert example in (ROOT / "README.md").read_text()
