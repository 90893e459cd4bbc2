"""The `gate` command. Subcommands load lazily, so `gate --help` and `gate --version` stay fast and
never import the kubernetes client."""

from __future__ import annotations

import importlib
import importlib.util
import sys

import click

from gate import __version__

# name -> "module:attribute" of a click command; a module not built yet leaves its command absent.
COMMANDS = {
    "verify": "gate.commands.verify:verify",
    "precheck": "gate.kargo.commands:precheck",
    "promote": "gate.kargo.commands:promote",
    "discover": "gate.discovery:discover_command",
    "render": "gate.render:render",
    "rbac": "gate.rbac:rbac",
    "demo": "gate.commands.demo:demo",
    "diagnose": "gate.commands.diagnose:diagnose",
    "status": "gate.commands.status:status",
    "sim": "gate.sim.cli:sim",
}


def _available(target: str) -> bool:
    module = target.split(":", 1)[0]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, target in COMMANDS.items() if _available(target)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None or not _available(target):
            return None
        module, attr = target.split(":", 1)
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gate")
def cli() -> None:
    """Promotion Gate: verify a Kargo stage level by level, and promote through the Kargo API.

    Exit codes: 0 gate open, 1 gate closed, 2 usage or configuration error, 3 could not evaluate,
    130/143 interrupted.
    """


def main() -> None:
    from gate.entry import run

    sys.exit(run(cli))
