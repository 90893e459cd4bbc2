"""The README's spec example loads and plans, and its table names every check kind."""

from __future__ import annotations

import re
from pathlib import Path

from gate.checks import registry

from gate.spec.load import load_spec
from gate.spec.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_readme_spec_example_plans(tmp_path: Path) -> None:
    block = README.split("## The spec", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = tmp_path / "gate.yaml"
    spec.write_text(block)
    settings = load_settings(str(ROOT / "gate/demo/config.yaml"), {}, env={})
    plan = load_spec(str(spec), settings, env={"GRAFANA_TOKEN": "t0ken-for-the-readme"}).plan("monitoring")
    assert sorted(plan.levels) == [1, 2, 3, 4]
    assert sum(len(c) for c in plan.levels.values()) == 15


def test_readme_lists_every_check_kind() -> None:
    listed = set(re.findall(r"^\| `(\w+)` \|", README, flags=re.M))
    assert set(registry()) <= listed


def test_readme_setup_commands_are_the_ones_ci_runs() -> None:
    ci = (ROOT / ".ci/run").read_text()
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/gate demo" in README
    assert "bash .ci/run" in README
    assert "`.venv/bin/python -m pytest -q`" in README and "\n.venv/bin/python -m pytest -q\n" in ci
    assert "python3-venv" in ci
