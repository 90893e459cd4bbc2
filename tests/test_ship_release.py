"""The release path: one version, a CHANGELOG section per release, a major tag for `uses:` (the action's
install step is tested in test_ship_action.py)."""

from __future__ import annotations

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
    # the README's `uses: …@v0` exists: the release moves the major tag, after the release is out
    major = jobs["major-tag"]
    assert "github-release" in major["needs"] and major["permissions"] == {"contents": "write"}
    assert 'major="v${VERSION%%.*}"' in major["steps"][-1]["run"]
    for path in (ROOT / ".github/workflows").glob("*.yml"):
        for line in path.read_text().splitlines():
            uses = re.search(r"uses: ([^\s#]+)", line)
            if uses and not uses.group(1).startswith(("./", "promotion-gate/")):
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", uses.group(1)), f"{path.name}: {line}"
                assert re.search(r"# v\d", line), f"{path.name}: the tag in a comment: {line}"
