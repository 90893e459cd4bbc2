"""The composite action's gate step, run as the runner would run it, against the simulator.

The runner evaluates each `${{ inputs.* }}` in the step's `env:` (the scripts themselves contain no
expressions), then runs the script with bash. Here the inputs are filled the same way, with defaults
from action.yml, and `gate` is this tree's CLI.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import sys
from pathlib import Path
from subprocess import CompletedProcess, run

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = str(importlib.resources.files("gate.demo").joinpath("l1.yaml"))
CONFIG = str(importlib.resources.files("gate.demo").joinpath("config.yaml"))


def _run_step(inputs: dict[str, str], tmp_path: Path,
              extra_env: dict[str, str] | None = None) -> tuple[CompletedProcess[str], dict[str, str], str]:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    values = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    values.update(inputs)
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "gate"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GATE_", "KARGO_", "GITHUB_")) and k != "KUBECONFIG"}
    for name, expr in step["env"].items():
        key = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", expr)
        assert key, f"{name} is not a plain input reference: {expr}"
        env[name] = values[key.group(1)]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = 'import sys; from gate.cli import main; sys.argv[0] = \'gate\'; main()'
    (bindir / "gate").write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{shim}" "$@"\n')
    (bindir / "gate").chmod(0o755)
    output, summary = tmp_path / "github_output", tmp_path / "step_summary"
    output.touch()
    summary.touch()
    env.update({"PATH": f"{bindir}:{env.get('PATH', '')}", "PYTHONPATH": str(ROOT), "GITHUB_ACTIONS": "true",
                "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary), **(extra_env or {})})
    proc = run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True,
               timeout=120)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return proc, outputs, summary.read_text()


def test_action_verify_step_passes_and_sets_outputs(tmp_path: Path) -> None:
    from gate.sim.server import start

    junit = tmp_path / "gate.xml"
    with start("healthy") as sim:
        proc, outputs, summary = _run_step({"stage": "monitoring", "spec": SPEC, "config": CONFIG,
                                            "kubeconfig": sim.kubeconfig, "junit-path": str(junit)}, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["result"] == "passed"
    assert outputs["junit-path"] == str(junit) and junit.exists()
    assert outputs.get("failed-level", "") == ""
    assert summary.strip(), "the step summary was written"


def test_action_failing_verify_fails_the_step_with_failed_level(tmp_path: Path) -> None:
    from gate.sim.server import start

    with start("crashloop") as sim:
        proc, outputs, _ = _run_step({"stage": "monitoring", "spec": SPEC, "config": CONFIG,
                                      "kubeconfig": sim.kubeconfig}, tmp_path,
                                     {"GATE_TIMEOUT": "3s"})  # the job's env: fail fast
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert outputs["result"] == "failed" and outputs["failed-level"] == "1"
    assert "::error" in proc.stdout
    assert (tmp_path / "promotion-gate-junit.xml").exists()  # the junit-path default


def test_action_rejects_an_unknown_command(tmp_path: Path) -> None:
    proc, _, _ = _run_step({"stage": "monitoring", "command": "deploy"}, tmp_path)
    assert proc.returncode == 2
    assert "::error title=promotion-gate::unknown command 'deploy'" in proc.stdout


def test_action_lint_step_writes_sarif_and_fails_on_errors(tmp_path: Path) -> None:
    import json

    clean = str(ROOT / "tests/data/lint/clean")
    flawed = str(ROOT / "tests/data/lint/flawed/stage-cycle.yaml")
    proc, outputs, _ = _run_step({"command": "lint", "lint-paths": clean}, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sarif = tmp_path / outputs["sarif-path"]
    assert json.loads(sarif.read_text())["runs"][0]["results"] == []
    (tmp_path / "again").mkdir()
    proc, outputs, _ = _run_step({"command": "lint", "lint-paths": f"{clean} {flawed}"}, tmp_path / "again")
    assert proc.returncode == 1
    results = json.loads((tmp_path / "again" / outputs["sarif-path"]).read_text())["runs"][0]["results"]
    assert [r["ruleId"] for r in results] == ["stage-cycle"]
    assert "[stage-cycle]" in proc.stdout
