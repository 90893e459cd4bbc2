"""Every --help shows one example, and each example parses with the command's own options (a renamed or
removed option breaks it here, not in a reader's terminal)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gate.cli import cli
from gate.helpexamples import EXAMPLES


def _all_paths(group: click.Group, ctx: click.Context, prefix: str = "") -> list[str]:
    paths = []
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        path = f"{prefix} {name}".strip()
        paths.append(path)
        if isinstance(cmd, click.Group):
            paths += _all_paths(cmd, ctx, path)
    return paths


PATHS = _all_paths(cli, click.Context(cli))


@pytest.mark.parametrize("path", ["", *PATHS])
def test_every_help_has_one_example(path: str) -> None:
    result = CliRunner().invoke(cli, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.count("Example:") == 1, result.output


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_the_example_parses(path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # report paths in examples are checked for writability
    argv = shlex.split(EXAMPLES[path])
    assert argv[0] == "gate" and " ".join(argv[1:]).startswith(path)
    ctx = click.Context(cli)
    cmd: click.Command = cli
    args = argv[1:]
    while isinstance(cmd, click.Group):
        name, args = args[0], args[1:]
        sub = cmd.get_command(ctx, name)
        assert sub is not None, f"{path}: no command {name!r}"
        cmd = sub
    cmd.make_context(name, args)  # raises on an unknown option or a bad value
