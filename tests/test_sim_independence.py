"""The simulator is an independent reading of Kargo and Argo CD: no gate/sim module may import the gate's
own semantics (gate.kargo, checks), or a bug in them would be mirrored by the simulator and never caught."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SIM = Path(__file__).resolve().parents[1] / "gate" / "sim"
FORBIDDEN = ("gate.kargo", "gate.checks")


def imported_modules(path: Path) -> list[str]:
    """Every module a file imports, at any depth (functions too), absolute or relative."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = "gate.sim"
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base]) if base else ".".join(parts)
            out.append(base)
            out += [f"{base}.{alias.name}" for alias in node.names]
    return out


def forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


@pytest.mark.parametrize("path", sorted(SIM.glob("*.py")), ids=lambda p: p.name)
def test_sim_module_does_not_import_gate_semantics(path: Path) -> None:
    bad = [m for m in imported_modules(path) if forbidden(m)]
    assert not bad, f"{path.name} imports {bad}: write the rule from upstream in gate/sim instead"


def test_the_walk_sees_nested_and_from_imports(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from gate.kargo.freight import is_available\n    import gate.checks.kargo_stage\n")
    assert [m for m in imported_modules(probe) if forbidden(m)] == [
        "gate.kargo.freight", "gate.kargo.freight.is_available", "gate.checks.kargo_stage"
    ]
