"""Every command's --help: lists the environment variables it reads, generated; no runbook jargon."""

from __future__ import annotations

import re

import click
import pytest
from click.testing import CliRunner

from gate.cli import cli


def _commands() -> list[tuple[str, click.Command]]:
    out: list[tuple[str, click.Command]] = []

    def walk(path: str, cmd: click.Command) -> None:
        out.append((path, cmd))
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(click.Context(cmd)):
                walk(f"{path} {name}".strip(), cmd.get_command(click.Context(cmd), name))

    walk("", cli)
    return out


COMMANDS = _commands()


def _help(path: str) -> str:
    result = CliRunner().invoke(cli, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def test_every_command_is_covered() -> None:
    paths = {p for p, _ in COMMANDS}
    assert {"verify", "promote", "precheck", "render analysis-template", "rbac check", "init", "demo",
            "sim serve", "discover"} <= paths


@pytest.mark.parametrize("path, cmd", COMMANDS, ids=[p or "gate" for p, _ in COMMANDS])
def test_help_lists_every_variable_the_options_read(path: str, cmd: click.Command) -> None:
    text = _help(path)
    envvars = [v for p in cmd.params if isinstance(p, click.Option) and p.envvar and not p.hidden
               for v in ([p.envvar] if isinstance(p.envvar, str) else p.envvar)]
    if envvars or "kubeconfig" in {p.name for p in cmd.params}:
        section = text.split("Environment:", 1)[1]
        for var in envvars:
            assert re.search(rf"^\s+{var}\s+--", section, re.M), f"{path}: {var} missing"
    assert not re.search(r"\b[PVDS][1-7]\b", text), f"{path}: runbook jargon (P1, S4, …) in --help"


@pytest.mark.parametrize("path, variables", [
    ("promote", ["GATE_KARGO_CA", "KARGO_API_ADDRESS", "KUBECONFIG", "GATE_<KEY>"]),
    ("precheck", ["GATE_KARGO_CA"]),
    ("verify", ["GATE_ANALYSISRUN_UID", "GATE_NAMESPACE", "GATE_PODINFO_LABELS", "GATE_STAGE"]),
    ("rbac check", ["GATE_NAMESPACE", "GATE_ANALYSISRUN_UID"]),
    ("init", ["GATE_KUBECONFIG", "GATE_<KEY>"]),
    ("demo", ["TMPDIR"]),
])
def test_help_names_the_variables_read_outside_the_options(path: str, variables: list[str]) -> None:
    section = _help(path).split("Environment:", 1)[1]
    for var in variables:
        assert re.search(rf"^\s+{re.escape(var)}\s", section, re.M), f"{path}: {var} missing"
