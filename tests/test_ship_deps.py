"""Dependencies a user gets: the kubernetes client is bounded on both sides, the bounds are tested in CI
(the newest in range by .ci/run, the lowest by its own job), and the README says why it is there."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent


def _kubernetes() -> Requirement:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (req,) = [Requirement(d) for d in deps if Requirement(d).name == "kubernetes"]
    return req


def test_kubernetes_has_a_lower_and_an_upper_bound_and_this_run_is_inside() -> None:
    spec = _kubernetes().specifier
    assert {s.operator for s in spec} == {">=", "<"}, str(spec)
    assert Version(version("kubernetes")) in spec, f"tested with {version('kubernetes')}, outside {spec}"


def test_ci_runs_the_client_tests_with_the_lowest_supported_kubernetes() -> None:
    wf = yaml.safe_load((ROOT / ".github/workflows/ci.yml").read_text())
    job = wf["jobs"]["lowest-deps"]
    script = "\n".join(s.get("run", "") for s in job["steps"])
    lowest = next(s.version for s in _kubernetes().specifier if s.operator == ">=")
    # the job reads the bound from pyproject.toml the way this does, and pins exactly it
    found = re.search(r"\"kubernetes>=([0-9.]+),", (ROOT / "pyproject.toml").read_text())
    assert found and found[1] == lowest
    assert '"kubernetes==$lowest.0.0"' in script and "pytest" in script and "test_lightclient.py" in script


def test_readme_says_why_the_kubernetes_library_is_used() -> None:
    text = (ROOT / "README.md").read_text()
    why = text.split("Why the `kubernetes` library:", 1)[1].split("\n\n", 1)[0]
    assert "exec credential" in why and "in-cluster service account" in why
    assert all(s.version in why for s in _kubernetes().specifier)
