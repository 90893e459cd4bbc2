"""The composite action's gate step, run as the runner would run it, against the simulator.

The runner evaluates each `${{ inputs.* }}` in the step's `env:` (the scripts themselves contain no
expressions), then runs the script with bash. Here the inputs are filled the same way, with defaults
from action.yml, and `gate` is this tree's CLI.
"""

from __future__ import annotations

import importlib.resources
import os
import re
import shutil
import sys
from pathlib import Path
from subprocess import CompletedProcess, run

import pytest
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


def test_action_captures_the_world_only_when_the_verdict_is_not_pass(tmp_path: Path) -> None:
    from gate.sim.server import start

    passing, failing = tmp_path / "pass", tmp_path / "fail"
    passing.mkdir()
    failing.mkdir()
    with start("healthy") as sim:
        ok, ok_outputs, _ = _run_step({"stage": "monitoring", "spec": SPEC, "config": CONFIG,
                                       "kubeconfig": sim.kubeconfig}, passing)
    with start("crashloop") as sim:
        bad, bad_outputs, _ = _run_step({"stage": "monitoring", "spec": SPEC, "config": CONFIG,
                                         "kubeconfig": sim.kubeconfig}, failing, {"GATE_TIMEOUT": "3s"})
    assert ok.returncode == 0 and "capture" not in ok_outputs
    assert not (passing / "promotion-gate-capture.yaml").exists()  # the default path: nothing on a PASS
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert bad_outputs["capture"] == "promotion-gate-capture.yaml"  # the upload step's path
    capture = failing / "promotion-gate-capture.yaml"
    replay = run([sys.executable, "-m", "gate", "verify", "--replay", str(capture), "--stage", "monitoring"],
                 cwd=failing, capture_output=True, text=True, timeout=120,
                 env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert replay.returncode == 1, replay.stdout + replay.stderr
    assert "Replay" in replay.stdout and "FAIL at Level 1" in replay.stdout


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


# -- the install step: the published wheel when the index has this version, else the action's source ----
VERSION = re.search(r'__version__ = "(.+)"', (ROOT / "gate" / "__init__.py").read_text())[1]  # type: ignore[index]
_COPY_IGNORE = (".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis",
                ".ruff_cache", "out")


@pytest.fixture(scope="module")
def action_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The action as the runner checks it out: a copy of this tree."""
    path = tmp_path_factory.mktemp("action") / "promotion-gate"
    shutil.copytree(ROOT, path, ignore=shutil.ignore_patterns(*_COPY_IGNORE))
    return path


@pytest.fixture(scope="module")
def wheels(action_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this tree, and the build backend a source install needs (from the registry)."""
    out = tmp_path_factory.mktemp("wheels")
    for cmd in (["wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(action_path)],
                ["download", "--quiet", "--no-deps", "--only-binary", ":all:", "--dest", str(out),
                 "setuptools>=77", "wheel"]):
        proc = run([sys.executable, "-m", "pip", *cmd], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _index(tmp_path: Path, wheels: Path, published: str | None) -> Path:
    """A PEP 503 index: promotion-gate `published` (None: no release at all), setuptools and wheel."""
    index = tmp_path / "index"
    (ours,) = wheels.glob("promotion_gate-*.whl")
    files = {p.name: p for p in wheels.glob("*.whl") if p != ours}
    if published:
        files[f"promotion_gate-{published}-py3-none-any.whl"] = ours
    for name, src in files.items():
        project = re.sub(r"[-_.]+", "-", name.split("-")[0]).lower()
        (index / project).mkdir(parents=True, exist_ok=True)
        shutil.copy(src, index / project / name)
    for project in index.iterdir():
        links = "".join(f'<a href="{f.name}">{f.name}</a>\n' for f in project.glob("*.whl"))
        (project / "index.html").write_text(f"<html><body>\n{links}</body></html>\n")
    if not (index / "promotion-gate").exists():
        (index / "promotion-gate").mkdir()
        (index / "promotion-gate" / "index.html").write_text("<html><body></body></html>\n")
    return index


def _run_install(inputs: dict[str, str], tmp_path: Path, action_path: Path,
                 index: Path) -> tuple[CompletedProcess[str], dict[str, str], Path]:
    """The install step as the runner runs it, pip pointed at `index` only (no dependencies: the ones of the
    running interpreter are on PYTHONPATH, so the installed `gate` runs; pip ignores them as installed, as a
    runner's fresh venv has none)."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    values = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    values.update(inputs)
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "install"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "GITHUB_", "PIP_", "PYTHON"))}
    for name, expr in step["env"].items():
        key = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", expr)
        assert key, f"{name} is not a plain input reference: {expr}"
        env[name] = values[key.group(1)]
    temp, output, path_file = tmp_path / "runner-temp", tmp_path / "github_output", tmp_path / "github_path"
    temp.mkdir()
    output.touch()
    path_file.touch()
    deps = os.pathsep.join(p for p in sys.path if Path(p).name in ("site-packages", "dist-packages"))
    env.update({"RUNNER_TEMP": str(temp), "GITHUB_ACTION_PATH": str(action_path), "GITHUB_OUTPUT": str(output),
                "GITHUB_PATH": str(path_file), "PIP_CONFIG_FILE": os.devnull, "PIP_NO_DEPS": "1",
                "PIP_IGNORE_INSTALLED": "1", "PIP_INDEX_URL": index.as_uri(), "PIP_NO_CACHE_DIR": "1",
                "PYTHONPATH": deps,
                "PATH": f"{Path(sys.executable).parent}:{env.get('PATH', '')}"})
    proc = run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=env, capture_output=True, text=True,
               timeout=300)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return proc, outputs, temp / "promotion-gate"


def _installed_from(venv: Path) -> str:
    """"source" when pip recorded a local directory (direct_url.json), "index" for an index download."""
    (dist,) = venv.glob("lib/python3*/site-packages/promotion_gate-*.dist-info")
    assert dist.name == f"promotion_gate-{VERSION}.dist-info"
    return "source" if (dist / "direct_url.json").exists() else "index"


def test_install_auto_takes_the_published_wheel(tmp_path: Path, action_path: Path, wheels: Path) -> None:
    proc, outputs, venv = _run_install({}, tmp_path, action_path, _index(tmp_path, wheels, VERSION))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["installed"] == "wheel" and _installed_from(venv) == "index"
    assert f"installing the published wheel promotion-gate=={VERSION}" in proc.stdout
    assert f"version {VERSION}" in proc.stdout  # `gate --version` of what was installed, in the log


def test_install_auto_falls_back_to_the_action_source(tmp_path: Path, action_path: Path, wheels: Path) -> None:
    """An unreleased ref: the index has other versions, not this one."""
    proc, outputs, venv = _run_install({}, tmp_path, action_path, _index(tmp_path, wheels, "0.0.1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert outputs["installed"] == "source" and _installed_from(venv) == "source"
    assert f"::notice title=promotion-gate::promotion-gate {VERSION} is not on the package index" in proc.stdout
    assert f"installing this action's own source ({action_path}" in proc.stdout


def test_install_of_an_asked_version_or_from_source_false_never_falls_back(tmp_path: Path, action_path: Path,
                                                                          wheels: Path) -> None:
    index = _index(tmp_path, wheels, None)
    for inputs in ({"version": VERSION}, {"from-source": "false"}):
        proc, outputs, _ = _run_install_fresh(inputs, tmp_path, action_path, index)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "No matching distribution found for promotion-gate==" in proc.stderr
        assert "installed" not in outputs


def _run_install_fresh(inputs: dict[str, str], tmp_path: Path, action_path: Path,
                       index: Path) -> tuple[CompletedProcess[str], dict[str, str], Path]:
    where = tmp_path / "-".join(f"{k}-{v}" for k, v in inputs.items())
    where.mkdir()
    return _run_install(inputs, where, action_path, index)


def test_install_rejects_an_unknown_from_source(tmp_path: Path, action_path: Path, wheels: Path) -> None:
    proc, _, _ = _run_install({"from-source": "yes"}, tmp_path, action_path, _index(tmp_path, wheels, VERSION))
    assert proc.returncode == 2
    assert "from-source must be auto, true or false, not 'yes'" in proc.stdout


def test_action_sets_up_python_only_when_the_runner_has_none() -> None:
    steps = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["steps"]
    ids = [s.get("id") or s.get("uses", "").split("@")[0] for s in steps]
    assert ids.index("python") < ids.index("actions/setup-python") < ids.index("install")
    (setup,) = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
    assert setup["if"] == "${{ steps.python.outputs.found != 'true' }}"
    (cache,) = [s for s in steps if s.get("uses", "").startswith("actions/cache@")]
    assert ids.index("actions/cache") < ids.index("install")
    assert cache["with"]["path"] == "${{ steps.pip-cache.outputs.dir }}"
    (probe,) = [s for s in steps if s.get("id") == "python"]
    for python, found in ((sys.executable, "true"), ("/nonexistent/python3", "false")):
        proc = run(["bash", "-c", probe["run"].replace("python3 -c", f"{python} -c")], capture_output=True,
                   text=True, env={**os.environ, "GITHUB_OUTPUT": "/dev/stdout"}, timeout=60)
        assert f"found={found}" in proc.stdout, proc.stdout + proc.stderr


def test_action_steps_pass_actionlint(tmp_path: Path) -> None:
    """actionlint (with shellcheck when installed) reads workflows, not actions: the action's steps as one
    job of a workflow."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    inputs = {k: {"type": "string", "required": False, "default": str(v.get("default", ""))}
              for k, v in action["inputs"].items()}
    steps = [{k: v for k, v in s.items() if k != "shell"} | ({"shell": s["shell"]} if "shell" in s else {})
             for s in action["runs"]["steps"]]
    wf = tmp_path / ".github" / "workflows" / "action.yml"
    wf.parent.mkdir(parents=True)
    wf.write_text(yaml.safe_dump({"on": {"workflow_call": {"inputs": inputs}},
                                  "jobs": {"gate": {"runs-on": "ubuntu-latest", "steps": steps}}},
                                 sort_keys=False))
    proc = run([shutil.which("actionlint") or "actionlint", "-no-color", str(wf)], cwd=tmp_path,
               capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
