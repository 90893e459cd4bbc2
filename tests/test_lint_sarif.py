"""SARIF from `gate lint` as GitHub code scanning reads it: file URIs relative to %SRCROOT% and
percent-encoded (a space, a `#`), standard input an artifact without a file URI, a file outside the
working directory an absolute file URI (never `../` under %SRCROOT%), and each rule's helpUri pointing
at its row of the README."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
from test_lint import CLEAN, FLAWED, ROOT, SARIF_SCHEMA

from gate.lint.rules import RULES


def sarif(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> dict:
    proc = subprocess.run([sys.executable, "-m", "gate", "lint", "--format", "sarif", *args], capture_output=True,
                          text=True, cwd=cwd, input=stdin, timeout=60)
    assert proc.returncode in (0, 1), proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(doc)
    return doc


def locations(doc: dict) -> list[dict]:
    return [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in doc["runs"][0]["results"]]


def test_uris_are_relative_and_percent_encoded(tmp_path: Path) -> None:
    odd = tmp_path / "my pipeline #2"
    odd.mkdir()
    shutil.copytree(CLEAN, odd / "kargo")
    shutil.copy(FLAWED / "stage-cycle.yaml", odd / "kargo" / "cycle 100%.yaml")
    doc = sarif("my pipeline #2", cwd=tmp_path)
    (where,) = locations(doc)
    assert where == {"uri": "my%20pipeline%20%232/kargo/cycle%20100%25.yaml", "uriBaseId": "%SRCROOT%"}


def test_stdin_is_an_artifact_without_a_file_uri() -> None:
    doc = sarif("-", stdin=(FLAWED / "promotion-in-git.yaml").read_text())
    (where,) = locations(doc)
    assert where == {"index": 0}
    (artifact,) = doc["runs"][0]["artifacts"]
    assert "location" not in artifact and "standard input" in artifact["description"]["text"]
    assert "<stdin>" not in json.dumps(locations(doc))


def test_a_file_outside_the_working_directory_is_an_absolute_file_uri(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(FLAWED / "promotion-in-git.yaml", tmp_path / "promo.yaml")
    (where,) = locations(sarif("../promo.yaml", cwd=work))
    assert where == {"uri": (tmp_path / "promo.yaml").as_uri()}


def test_help_uri_is_the_rules_row_in_the_readme() -> None:
    doc = sarif(str(CLEAN))
    rules = {r["id"]: r for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert set(rules) == {r.id for r in RULES}
    readme = (ROOT / "README.md").read_text()
    for rule_id, rule in rules.items():
        assert rule["helpUri"] == f"README.md#lint-rule-{rule_id}"
        assert f'<a id="lint-rule-{rule_id}"></a>' in readme
    assert rules["expression-not-checked"]["defaultConfiguration"]["level"] == "note"
