"""`gate completion bash|zsh|fish`: click's own completion script for the shell."""

from __future__ import annotations

import click

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
def completion(shell: str) -> None:
    """Print the shell completion script for SHELL (click's own: commands, options, choices).

    \b
    Example:
      gate completion bash > ~/.local/share/bash-completion/completions/gate
      gate completion zsh > "${fpath[1]}/_gate"
      gate completion fish > ~/.config/fish/completions/gate.fish
    """
    from click.shell_completion import get_completion_class

    from gate.cli import cli

    cls = get_completion_class(shell)
    assert cls is not None  # click ships all three
    click.echo(cls(cli, {}, "gate", "_GATE_COMPLETE").source(), nl=False)
