"""The release path: one version, a CHANGELOG section per release, a major tag for `uses:` (the action's
install step is tested in test_ship_action.py)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml
from packaging.version import Version

import gate

ROOT = Path(__file__).resolve().parent.parent


def test_version_comes_from_one_place() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'version = {attr = "gate.__version__"}' in text
    assert not re.search(r'(?m)^version = "', text)
    proc = subprocess.run([sys.executable, "-m", "gate", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == f"gate, version {gate.__version__}"


def _released(changelog: str) -> list[Version]:
    return [Version(v) for v in re.findall(r"(?m)^## \[(\d[^\]]*)\] - \d{4}-\d\d-\d\d$", changelog)]


def test_the_version_says_whether_it_is_released() -> None:
    """A version with a CHANGELOG section is a release, and nothing is left under [Unreleased]; with
    entries under [Unreleased], the version is a .dev of one newer than every release (never a published
    one, so the action installs its own source)."""
    text = (ROOT / "CHANGELOG.md").read_text()
    version = Version(gate.__version__)
    unreleased = text.split("## [Unreleased]", 1)[1].split("\n## [", 1)[0] if "## [Unreleased]" in text else ""
    if re.search(r"(?m)^- ", unreleased):
        assert version.is_devrelease, f"{version}: [Unreleased] has entries, so this is not {version}"
        assert all(Version(version.base_version) > v for v in _released(text))
    else:
        assert not version.is_devrelease and version in _released(text)


def test_the_script_prints_a_release_section() -> None:
    script = ROOT / "scripts/changelog_section.py"
    latest = str(max(_released((ROOT / "CHANGELOG.md").read_text())))
    proc = subprocess.run([sys.executable, str(script), latest], capture_output=True, text=True)
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
