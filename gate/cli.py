"""The `gate` command. Subcommands load lazily, so `gate --help` and `gate --version` stay fast and
never import the kubernetes client."""

from __future__ import annotations

import _signal  # the C module: `signal` itself takes a while to import (enums)
import os
import sys


def _quiet_interrupt(signum: int, frame: object) -> None:
    os.write(2, b"gate: interrupted\n")
    os._exit(143 if signum == _signal.SIGTERM else 130)


if os.path.basename(sys.argv[0] if sys.argv else "") == "gate":  # the console script, before any import
    _signal.signal(_signal.SIGINT, _quiet_interrupt)
    _signal.signal(_signal.SIGTERM, _quiet_interrupt)

import contextlib  # noqa: E402 - after the handlers above, on purpose
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import logging  # noqa: E402
import warnings  # noqa: E402
from typing import TextIO  # noqa: E402

import click  # noqa: E402

from gate import __version__  # noqa: E402

# name -> "module:attribute" of a click command; a module not built yet leaves its command absent.
COMMANDS = {
    "verify": "gate.commands.verify:verify",
    "precheck": "gate.kargo.commands:precheck",
    "promote": "gate.kargo.commands:promote",
    "discover": "gate.spec.discovery:discover_command",
    "render": "gate.render:render",
    "rbac": "gate.cluster.rbac:rbac",
    "demo": "gate.commands.demo:demo",
    "diagnose": "gate.commands.diagnose:diagnose",
    "status": "gate.commands.status:status",
    "sim": "gate.sim.cli:sim",
    "lint": "gate.commands.lint:lint",
    "scaffold": "gate.commands.scaffold:scaffold",
    "init": "gate.commands.init:init",
    "completion": "gate.commands.completion:completion",
    "capture": "gate.commands.capture:capture",
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
        from gate.capture.options import attach as capture_options  # --replay, --capture-on-failure
        from gate.helpenv import attach

        return attach(capture_options(getattr(importlib.import_module(module), attr), cmd_name), cmd_name)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple:
        """As click's, with "did you mean" for a mistyped command, as for a mistyped option."""
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            import difflib

            close = difflib.get_close_matches(args[0], self.list_commands(ctx), n=1, cutoff=0.6)
            if close:
                ctx.fail(f"No such command {args[0]!r}. Did you mean {close[0]!r}?")
        return super().resolve_command(ctx, args)


def _debug_cb(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        from gate.entry import set_debug

        set_debug()  # read by gate.entry when a bug reaches the top
    return value


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gate")
@click.option("--debug", is_flag=True, expose_value=False, is_eager=True, callback=_debug_cb,
              help="On an internal error, print the traceback (for a bug report). Also GATE_DEBUG=1.")
def cli() -> None:
    """Promotion Gate: verify a Kargo stage level by level, and promote through the Kargo API.

    Exit codes: 0 gate open, 1 gate closed, 2 usage or configuration error, 3 could not evaluate,
    130/143 interrupted. Each command's --help ends with the environment variables it reads.

    \b
    Example:
      gate demo
    """
    from gate import redact

    # Before any command reads anything: credentials the CI system put in the environment are masked
    # in every output, whether or not the spec uses them.
    redact.register_environment(os.environ)
    for name, value in os.environ.items():  # a URL's userinfo and token=: KARGO_API_ADDRESS, proxies, …
        if name.upper() in URL_VARIABLES or redact.is_secret_name(name):
            redact.register_url(value)
    _redact_library_output()


# Variables that hold a URL the gate (or a library under it) uses: their userinfo is a credential. Only
# these, not every URL in the environment: `https://git@host/repo` elsewhere would make "git" a secret.
URL_VARIABLES = frozenset({"KARGO_API_ADDRESS", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"})


class _RedactingHandler(logging.Handler):
    """Library log records (urllib3, kubernetes) reach stderr masked; sys.stderr is looked up per record."""

    def emit(self, record: logging.LogRecord) -> None:
        from gate.redact import redact

        try:
            sys.stderr.write(redact(f"{record.name}: {record.levelname.lower()}: {record.getMessage()}") + "\n")
        except Exception:  # noqa: BLE001 - logging must never break the run
            self.handleError(record)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: TextIO | None = None, line: str | None = None) -> None:
    from gate.redact import redact

    text = warnings.formatwarning(message, category, filename, lineno, line)
    with contextlib.suppress(OSError):
        (file or sys.stderr).write(redact(text))


def _redact_library_output() -> None:
    """Log records and Python warnings are text leaving the process too: mask them like reports."""
    root = logging.getLogger()
    if not any(isinstance(h, _RedactingHandler) for h in root.handlers):
        handler = _RedactingHandler(logging.WARNING)
        root.addHandler(handler)
    warnings.showwarning = _show_warning


def main() -> None:
    """The console script. Signal handlers first, so an early Ctrl-C never shows a traceback; after a
    signal the process ends without waiting for worker threads (gate/entry.py explains the phases)."""
    from gate.entry import hard_exit, install_early, received, run

    install_early()
    code = run(cli)
    install_early()
    if received() is not None:
        hard_exit(code)
    sys.exit(code)
