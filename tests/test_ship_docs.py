"""The snippets in the README's "Running it" section are real: they lint, validate, and match what the product does."""

from __future__ import annotations

import importlib.resources
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gate.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "README.md"
SPEC = str(importlib.resources.files("gate.demo").joinpath("l1.yaml"))
CONFIG = str(importlib.resources.files("gate.demo").joinpath("config.yaml"))


def snippets() -> dict[str, str]:
    text = DOC.read_text()
    found = re.findall(r"<!-- snippet: ([\w-]+) -->\n```\w*\n(.*?)```", text, flags=re.S)
    return dict(found)


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not on PATH: pip install the package's test extra"
    return path


def _validate(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    extra = ["--data-transform", "gitlab-ci", "--regex-variant", "nonunicode"] if "gitlab" in schema else []
    return subprocess.run([_tool("check-jsonschema"), "--builtin-schema", schema, *extra, str(path)],
                          capture_output=True, text=True, timeout=60)


def test_every_way_to_run_has_its_snippet() -> None:
    assert set(snippets()) >= {"docker-build", "docker-run", "render", "kargo-stage", "rbac-check",
                               "github-workflow", "gitlab-job"}


def test_gitlab_snippet_is_valid_and_overrides_the_entrypoint(tmp_path: Path) -> None:
    text = snippets()["gitlab-job"]
    path = tmp_path / ".gitlab-ci.yml"
    path.write_text(text)
    proc = _validate("vendor.gitlab-ci", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = yaml.safe_load(text)["verify"]
    assert job["image"]["entrypoint"] == [""]
    assert job["artifacts"]["when"] == "always"
    assert job["artifacts"]["reports"]["junit"] in job["script"][0]


def test_github_snippet_is_valid_and_uses_only_the_action_inputs(tmp_path: Path) -> None:
    text = snippets()["github-workflow"]
    wf = tmp_path / ".github" / "workflows" / "verify.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(text)
    proc = _validate("vendor.github-workflows", wf)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = subprocess.run([_tool("actionlint"), "-no-color", str(wf)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    inputs = set(yaml.safe_load((ROOT / "action.yml").read_text())["inputs"])
    steps = yaml.safe_load(text)["jobs"]["verify"]["steps"]
    (gate_step,) = [s for s in steps if "promotion-gate/promotion-gate" in s.get("uses", "")]
    assert set(gate_step["with"]) <= inputs


def test_docker_run_snippet_matches_the_image_contract() -> None:
    run = snippets()["docker-run"]
    assert "--read-only" in run and "--user 10001:10001" in run and "--tmpfs /tmp" in run
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "USER 10001:10001" in dockerfile
    build = snippets()["docker-build"]
    for arg in re.findall(r"--build-arg (\w+)=", build):
        assert re.search(rf"(?m)^ARG {arg}=", dockerfile), f"the Dockerfile has no ARG {arg}"


def test_kargo_stage_snippet_matches_what_render_prints() -> None:
    snippet = yaml.safe_load(snippets()["kargo-stage"])
    stage = snippet["spec"]["verification"]["args"][0]["value"]
    assert stage == "uat"
    args = shlex.split(snippets()["render"].splitlines()[0].rstrip("\\"))
    assert args[:4] == ["gate", "render", "analysis-template", "--stage"]
    # Render for the demo spec's stage and compare the comment it prints with the documented snippet.
    result = CliRunner().invoke(cli, ["render", "analysis-template", "--stage", "monitoring", "--image", "x",
                                      "--namespace", "kargo-demo", "--spec", SPEC, "--config", CONFIG])
    assert result.exit_code == 0, result.output
    comment = [line[4:] for line in result.stdout.splitlines() if line.startswith("#   ")]
    printed = yaml.safe_load("\n".join(comment))
    assert printed == yaml.safe_load(snippets()["kargo-stage"].replace("uat", "monitoring"))


@pytest.mark.parametrize("name", ["rbac-check", "render"])
def test_command_snippets_name_real_options(name: str) -> None:
    line = " ".join(s.rstrip("\\").strip() for s in snippets()[name].splitlines()
                    if s.strip() and not s.startswith("kubectl"))
    words = shlex.split(line.split(">")[0], comments=True)
    sub = words[1:3] if words[2:3] and not words[2].startswith("-") else words[1:2]
    result = CliRunner().invoke(cli, [*sub, "--help"])
    assert result.exit_code == 0, result.output
    for option in (w for w in words if w.startswith("--")):
        assert option in result.output, f"{' '.join(sub)} has no {option}"
