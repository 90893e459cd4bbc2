"""`gate lint` does not cry wolf where Kargo v1.11 and the API server accept a manifest: each case is a
real-shaped manifest that the lint before this change reported, and that must now lint clean."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_lint import CLEAN, ROOT, findings, gate

FP = ROOT / "tests/data/lint_fp"


@pytest.mark.parametrize("case", [
    "null-job-metadata.yaml",  # null pruned before validation (PruneNonNullableNullsWithoutDefaults)
    "unquoted-date.yaml",  # targetRevision: 2024-01-01 is a string to kubectl
    "authorized-list.yaml",  # "p:s, p:other": a comma list with spaces (AuthorizedStages)
    "no-namespace",  # Stages without metadata.namespace: the project is the one Project
    "cycles-by-project.yaml",  # a <- b in one project, b <- a in another: no cycle
])
def test_accepted_by_kargo_and_the_api_server_lints_clean(case: str) -> None:
    code, found = findings(CLEAN, FP / case)
    assert (code, found) == (0, [])


def test_stage_without_namespace_gets_a_fix_kargo_accepts(tmp_path: Path) -> None:
    """The annotation missing: the fix names the project (from the Project object), never `:dev`."""
    shutil.copytree(FP / "no-namespace", tmp_path / "shop")
    app = tmp_path / "shop/app.yaml"
    app.write_text(app.read_text().replace("    kargo.akuity.io/authorized-stage: shop:dev\n", "", 1))
    proc = gate("lint", "--format", "json", str(tmp_path / "shop"))
    assert proc.returncode == 1
    (found,) = json.loads(proc.stdout)["findings"]
    assert found["rule"] == "app-authorized-stage" and found["object"] == "Application/argocd/shop-dev"
    assert "kargo.akuity.io/authorized-stage: shop:dev" in found["fix"]
    assert ":dev'" not in found["message"].replace("shop:dev", "")


def test_authorized_list_still_catches_a_stage_it_does_not_name(tmp_path: Path) -> None:
    text = (FP / "authorized-list.yaml").read_text().replace("platform:stage-c, platform:other",
                                                             "platform:stage-x , platform:other")
    (tmp_path / "app.yaml").write_text(text)
    proc = gate("lint", "--format", "json", str(CLEAN), str(tmp_path / "app.yaml"))
    found = json.loads(proc.stdout)["findings"]
    assert proc.returncode == 1 and [f["rule"] for f in found] == ["app-authorized-stage"]
    assert "not platform:stage-c" in found[0]["message"]


def test_a_real_cycle_inside_one_project_is_still_found(tmp_path: Path) -> None:
    text = (FP / "cycles-by-project.yaml").read_text()
    # team-one's `a` takes Freight directly; make it take it from team-one's `b`, which takes it from `a`
    first_a = "metadata: {name: a, namespace: team-one}\nspec:\n  requestedFreight:\n    - origin: {kind: Warehouse, " \
              "name: apps}\n      sources: {direct: true}"
    assert first_a in text
    (tmp_path / "loop.yaml").write_text(text.replace(first_a, first_a.replace("{direct: true}", "{stages: [b]}")))
    proc = gate("lint", "--format", "json", str(tmp_path / "loop.yaml"))
    found = [f for f in json.loads(proc.stdout)["findings"] if f["rule"] == "stage-cycle"]
    assert len(found) == 1 and found[0]["object"].startswith("Stage/team-one/")
