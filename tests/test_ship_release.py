"""The release path: one version, a CHANGELOG section per release, the action installing the published
wheel of its own version (a local wheel stands in for the package index)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

import gate

ROOT = Path(__file__).resolve().parent.parent


def test_version_comes_from_one_place() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'version = {attr = "gate.__version__"}' in text
    assert not re.search(r'(?m)^version = "', text)
    proc = subprocess.run([sys.executable, "-m", "gate", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == f"gate, version {gate.__version__}"


def test_changelog_has_the_current_version_and_the_script_prints_it() -> None:
    script = ROOT / "scripts/changelog_section.py"
    proc = subprocess.run([sys.executable, str(script), gate.__version__], capture_output=True, text=True)
    assert proc.returncode == 0 and "### Added" in proc.stdout and "## [" not in proc.stdout
    missing = subprocess.run([sys.executable, str(script), "99.0.0"], capture_output=True, text=True)
    assert missing.returncode == 1 and "no [99.0.0] section" in missing.stderr


def test_release_workflow_builds_once_and_pins_actions() -> None:
    wf = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    jobs = wf["jobs"]
    assert jobs["pypi"]["permissions"] == {"id-token": "write"}  # trusted publishing, no stored token
    assert "secrets." not in str(jobs["pypi"]) and "password" not in str(jobs["pypi"])
    push = next(s for s in jobs["image"]["steps"] if s.get("id") == "push")
    assert push["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert push["with"]["sbom"] is True and push["with"]["provenance"] == "mode=max"
    assert any("cosign sign --yes" in s.get("run", "") for s in jobs["image"]["steps"])
    assert sum("python -m build" in s.get("run", "") for j in jobs.values() for s in j["steps"]) == 1
    for path in (ROOT / ".github/workflows").glob("*.yml"):
        for line in path.read_text().splitlines():
            uses = re.search(r"uses: ([^\s#]+)", line)
            if uses and not uses.group(1).startswith(("./", "promotion-gate/")):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses.group(1)), f"{path.name}: {line}"
                assert re.search(r"# v\d", line), f"{path.name}: the tag in a comment: {line}"


def _install_step(tmp_path: Path, inputs: dict[str, str], pip_env: dict[str, str]) -> Path:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    (step,) = [s for s in action["runs"]["steps"] if s["name"] == "Install promotion-gate"]
    values = {k: str(v.get("default", "")) for k, v in action["inputs"].items()} | inputs
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "GATE_"))}
    for name, expr in step["env"].items():
        env[name] = values[re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", expr).group(1)]
    github_path = tmp_path / "github_path"
    env.update({"RUNNER_TEMP": str(tmp_path), "GITHUB_ACTION_PATH": str(ROOT), "GITHUB_PATH": str(github_path),
                **pip_env})
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return Path(github_path.read_text().strip())


def test_action_installs_the_published_wheel_of_its_own_version(tmp_path: Path) -> None:
    index = tmp_path / "index"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(index),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = index.glob("*.whl")
    assert f"-{gate.__version__}-" in wheel.name
    # The index holds only the wheel (no sdist): --only-binary means no build on the runner.
    bindir = _install_step(tmp_path, {}, {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index), "PIP_NO_DEPS": "1"})
    listing = subprocess.run([str(bindir / "python"), "-m", "pip", "list", "--format", "freeze"],
                             capture_output=True, text=True).stdout
    assert f"promotion-gate=={gate.__version__}" in listing
    installed = subprocess.run([str(bindir / "python"), "-c", "import gate, os; print(gate.__file__)"],
                               capture_output=True, text=True, cwd=tmp_path).stdout
    assert str(bindir.parent) in installed  # from the wheel in the venv, not this tree
    # Only a wheel is taken by default (no build on the runner); building this tree is opt-in.
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["inputs"]["from-source"]["default"] == "false"
