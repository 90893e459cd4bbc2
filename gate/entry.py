"""Process entry: turn every GateError into its exit code and a one-line message, and signals into
130/143. A user mistake never shows a traceback."""

from __future__ import annotations

import signal
import sys
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


def run(cli: click.Group, args: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        code = cli.main(args=args, prog_name="gate", standalone_mode=False)
        return code if isinstance(code, int) else 0  # click returns Exit codes when not standalone
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
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
        click.echo(f"gate: internal error: {type(exc).__name__}: {redact(str(exc))}", err=True)
        return EXIT_UNEVALUATED
    finally:
        sys.stdout.flush()
