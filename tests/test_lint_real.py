"""`gate lint` on small real-shaped copies of Akuity's example pipelines (tests/data/lint_real, see
tests/data/README.md): they lint without an error, and a defect planted behind templated names
(`guestbook-${{ ctx.stage }}` promoted, the ApplicationSet's annotation removed and auto-sync added)
is found at the ApplicationSet template's lines."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from test_lint import ROOT, gate

REAL = ROOT / "tests/data/lint_real"
ANNOTATION = re.compile(r"      annotations:\n        kargo\.akuity\.io/authorized-stage: [^\n]*\n")


def lint_json(*args: str) -> tuple[int, list[dict]]:
    proc = gate("lint", "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)["findings"]


@pytest.mark.parametrize("repo", ["advanced", "simple", "helm"])
def test_example_pipelines_lint_without_errors(repo: str) -> None:
    code, found = lint_json(str(REAL / repo))
    assert code == 0
    assert [f for f in found if f["severity"] == "error"] == []
    # what remains is what the guide asks beyond Kargo's defaults, and nothing lint could not read
    assert {f["rule"] for f in found} <= {"stage-no-verification", "argocd-update-retry", "yaml-duplicate-key",
                                          "helm-chart-template"}


def test_helm_example_reports_the_duplicate_key_and_skips_the_chart_templates() -> None:
    _, found = lint_json(str(REAL / "helm"))
    dup = [f for f in found if f["rule"] == "yaml-duplicate-key"]
    assert [(Path(f["file"]).name, f["line"], f["severity"]) for f in dup] == [("stages.yaml", 55, "warning")]
    (helm,) = [f for f in found if f["rule"] == "helm-chart-template"]
    assert helm["severity"] == "info" and "helm template" in helm["message"] and "| gate lint -" in helm["message"]


def test_templated_names_resolve_per_stage_through_the_promotion_task() -> None:
    _, found = lint_json(str(REAL / "advanced"))
    (retry,) = [f for f in found if f["rule"] == "argocd-update-retry"]
    assert "guestbook-dev, guestbook-staging, guestbook-ab-test-a, guestbook-ab-test-b, guestbook-prod-west" \
        in retry["message"]
    assert retry["severity"] == "warning" and "Kargo's default is 1 (timeout 5m)" in retry["message"]


def _planted(tmp_path: Path, repo: str) -> Path:
    copy = tmp_path / repo
    shutil.copytree(REAL / repo, copy)
    appset = copy / "argocd/appset.yaml"
    text, removed = ANNOTATION.subn("", appset.read_text())
    assert removed == 1
    text = text.replace("    spec:\n      destination:", "    spec:\n      syncPolicy:\n        automated: {}\n"
                        "      destination:", 1)
    appset.write_text(text)
    return copy


@pytest.mark.parametrize("repo, apps", [
    ("advanced", ["guestbook-dev", "guestbook-staging", "guestbook-ab-test-a", "guestbook-ab-test-b",
                  "guestbook-prod-west"]),
    ("helm", ["kargo-helm-dev", "kargo-helm-staging", "kargo-helm-prod-us", "kargo-helm-prod-eu"]),
])
def test_planted_defect_behind_templated_names_is_found(tmp_path: Path, repo: str, apps: list[str]) -> None:
    code, found = lint_json(str(_planted(tmp_path, repo)))
    assert code == 1
    by_rule = {f["rule"]: f for f in found if f["severity"] == "error"}
    assert set(by_rule) == {"app-authorized-stage", "app-auto-sync"}
    authorized, auto = by_rule["app-authorized-stage"], by_rule["app-auto-sync"]
    assert authorized["file"].endswith("argocd/appset.yaml") and auto["file"].endswith("argocd/appset.yaml")
    for app in apps:
        assert app in authorized["message"]
    assert "without kargo.akuity.io/authorized-stage in its template: Kargo will refuse to update them" \
        in authorized["message"]
    assert "template auto-syncs the Applications it generates, and Stages dev, staging" in auto["message"]
    assert "template:\n    spec:\n      syncPolicy:\n        automated: null" in auto["fix"]
    project = "kargo-advanced" if repo == "advanced" else "kargo-helm"
    assert f"kargo.akuity.io/authorized-stage: {project}:{{{{path.basename}}}}" in authorized["fix"]
    lines = (tmp_path / repo / "argocd/appset.yaml").read_text().splitlines()
    assert lines[authorized["line"] - 1].strip() == "metadata:"
    assert lines[auto["line"] - 1].strip() == "automated: {}"


def test_planted_defect_when_the_generator_values_are_not_in_the_tree(tmp_path: Path) -> None:
    """Only kargo/ and argocd/ copied (no env/ directories): the set cannot be expanded, its template name
    matches with {{ }} as wildcards, and the appset rules still speak."""
    copy = _planted(tmp_path, "advanced")
    shutil.rmtree(copy / "env")
    code, found = lint_json(str(copy))
    rules = {f["rule"]: f["severity"] for f in found}
    assert code == 1
    assert rules["app-auto-sync"] == "error" and rules["appset-authorized-stage"] == "warning"


def test_graph_shows_resolved_names_and_warehouse_edges_only_for_direct_sources() -> None:
    proc = gate("lint", str(REAL / "advanced"), "--graph")
    assert proc.returncode == 0
    out = proc.stdout
    assert "apps: guestbook-dev" in out and "apps: guestbook-ab-test-b" in out and "${{" not in out
    assert re.findall(r"^  w_guestbook --> (\S+)$", out, re.M) == ["s_dev"]  # only dev takes it directly
    assert "s_staging --> s_ab_test_a" in out and "s_ab_test_b --> s_prod" in out
    assert "s_prod[\"Stage prod<br/>(control flow)\"]" in out
