"""Process entry: turn every GateError into its exit code and a one-line message, and signals into
130/143. A user mistake never shows a traceback."""

from __future__ import annotations

import io
import os
import signal
import sys
import traceback
from typing import Any

import click

from gate.errors import EXIT_SIGINT, EXIT_SIGTERM, EXIT_UNEVALUATED, GateError
from gate.redact import redact


class Interrupted(BaseException):
    """Raised in the main thread on SIGINT/SIGTERM so reports can be finished and marked incomplete."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(code)


def _on_signal(signum: int, frame: Any) -> None:
    raise Interrupted(EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT)


_debug = False  # set by `gate --debug` for the current run


def set_debug(on: bool = True) -> None:
    global _debug
    _debug = on


def debug_enabled() -> bool:
    """`gate --debug` or GATE_DEBUG=1: print the traceback of an internal error, for a bug report."""
    return _debug or os.environ.get("GATE_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def _internal_error(exc: BaseException) -> None:
    """A bug, not a user mistake: one line, and the (redacted) traceback only when debugging."""
    if debug_enabled():
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        click.echo(redact(text.rstrip()), err=True)
    click.echo(f"gate: internal error: {type(exc).__name__}: {redact(str(exc))}", err=True)
    if not debug_enabled():
        click.echo("gate: this is a bug in the gate; run again with --debug (or GATE_DEBUG=1) for the "
                   "traceback to report", err=True)


def _show_click_error(exc: click.ClickException) -> None:
    """click's usage message, redacted (a bad value echoed back may be a secret from a GATE_* variable)."""
    buffer = io.StringIO()
    exc.show(file=buffer)
    sys.stderr.write(redact(buffer.getvalue()))
    sys.stderr.flush()


def run(cli: click.Group, args: list[str] | None = None) -> int:
    set_debug(False)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        code = cli.main(args=args, prog_name="gate", standalone_mode=False)
        return code if isinstance(code, int) else 0  # click returns Exit codes when not standalone
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        _show_click_error(exc)
        return 2 if isinstance(exc, click.UsageError) or exc.exit_code == 2 else exc.exit_code
    except click.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_SIGINT
    except GateError as exc:
        click.echo(f"gate: {redact(str(exc))}", err=True)
        return exc.exit_code
    except Interrupted as exc:
        click.echo("gate: interrupted", err=True)
        return exc.code
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except Exception as exc:  # a bug: still never a pass, and never 1 ("gate closed")
        _internal_error(exc)
        return EXIT_UNEVALUATED
    finally:
        sys.stdout.flush()
