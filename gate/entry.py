"""Process entry: turn every GateError into its exit code and a one-line message, and signals into
130/143. A user mistake never shows a traceback.

Signals, in three phases. Before `run()` takes over (interpreter start, imports), `install_early()` makes
SIGINT/SIGTERM end the process at once with 130/143 and one line: nothing has run, so there is no report
to finish and no traceback to show. While a command runs, the first signal raises `Interrupted` in the
main thread (the command finishes and writes its reports, marked interrupted), runs the `on_interrupt`
hooks (the `command` check SIGTERMs its process groups) and arms a watchdog that ends the process
`FINISH_WITHIN` seconds later whatever happens; further signals are ignored while reports are written.
After `run()` returns, `hard_exit()` ends the process without waiting for worker threads still blocked
in a request or a command: their answers can no longer change the verdict.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import click

from gate.errors import EXIT_SIGINT, EXIT_SIGTERM, EXIT_UNEVALUATED, GateError
from gate.redact import redact


class Interrupted(BaseException):
    """Raised in the main thread on SIGINT/SIGTERM so reports can be finished and marked incomplete."""

    def __init__(self, code: int) -> None:
        self.code = code
        super().__init__(code)


FINISH_WITHIN = 1.8  # seconds from the first signal to the process's end, reports or not
_received: list[int] = []  # exit code of the first signal received
_hooks: list[Callable[[bool], None]] = []
_pending: list[Callable[[int], object]] = []  # writes the run's reports, until the run has written them


def reports_pending(write: Callable[[int], object] | None) -> None:
    """While set, an interrupt that reaches run() before the command wrote its reports (start-up, imports,
    options) calls `write(exit_code)` so the reports asked for exist and say "interrupted". None: written."""
    _pending[:] = [write] if write else []


def _code(signum: int) -> int:
    return EXIT_SIGTERM if signum == signal.SIGTERM else EXIT_SIGINT


def received() -> int | None:
    """130/143 once SIGINT/SIGTERM arrived, else None."""
    return _received[0] if _received else None


def on_interrupt(hook: Callable[[bool], None]) -> None:
    """Call `hook(final)` when a signal arrives (final=False) and just before the process ends after one
    (final=True). Hooks must be quick and never raise."""
    _hooks.append(hook)


def _run_hooks(final: bool) -> None:
    for hook in list(_hooks):
        with contextlib.suppress(Exception):
            hook(final)


def _early(signum: int, frame: Any) -> None:
    with contextlib.suppress(OSError):
        os.write(2, b"gate: interrupted\n")
    _run_hooks(True)
    os._exit(received() or _code(signum))


def install_early() -> None:
    """SIGINT/SIGTERM end the process at once, quietly (for the time before `run()`)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(ValueError):  # not the main thread: leave the handlers alone
            signal.signal(sig, _early)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while C code that cannot take a Python exception runs, then handle a signal
    that came meanwhile. orjson's module init crashed the process (SIGSEGV) when `Interrupted` was raised
    inside it: 2 runs in 300 with a Ctrl-C 0.1 s into `gate verify`."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, frame: held.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if held:
            handler = previous[held[0]]
            if callable(handler):
                handler(held[0], None)
            else:
                signal.raise_signal(held[0])


def _on_signal(signum: int, frame: Any) -> None:
    if _received:
        return  # already finishing: the watchdog bounds it
    code = _code(signum)
    _received.append(code)
    _run_hooks(False)
    watchdog = threading.Timer(FINISH_WITHIN, hard_exit, args=(code,))
    watchdog.daemon = True
    watchdog.start()
    raise Interrupted(code)


def hard_exit(code: int) -> None:
    """Flush, stop whatever child processes are left, and end the process without joining threads."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    _run_hooks(True)
    os._exit(code)


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


WITHHELD = (b"gate: internal error; its details were withheld because they could not be shown safely "
            b"(masking secrets failed). Nothing was decided: exit 3.\n")


def run(cli: click.Group, args: list[str] | None = None) -> int:
    """Run the CLI and return its exit code. The last line of defence: whatever fails while an error is
    being handled (redaction included) still ends in exit 3 and one fixed line that carries no secret,
    never a traceback and never 1, which a Kargo verification Job would read as a failed verification."""
    try:
        return _run(cli, args)
    except Interrupted as exc:
        return exc.code
    except KeyboardInterrupt:
        return EXIT_SIGINT
    except BaseException:  # noqa: BLE001 - nothing may escape: the message itself may be what failed
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        with contextlib.suppress(OSError):
            os.write(2, WITHHELD)
        return EXIT_UNEVALUATED


def _run(cli: click.Group, args: list[str] | None) -> int:
    from gate.engine import gcpause

    gcpause.start_up()  # rare collections until the session is open (gate.session) or the command ends
    set_debug(False)
    reports_pending(None)
    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        from gate.pipes import closed_stdout_tolerated

        with closed_stdout_tolerated():
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
        if _pending:
            with contextlib.suppress(Exception):
                _pending.pop()(exc.code)
        click.echo("gate: interrupted", err=True)
        return exc.code
    except KeyboardInterrupt:  # a SIGINT handler replaced under us: still no traceback
        click.echo("gate: interrupted", err=True)
        return EXIT_SIGINT
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    except Exception as exc:  # a bug: still never a pass, and never 1 ("gate closed")
        _internal_error(exc)
        return EXIT_UNEVALUATED
    finally:
        gcpause.end_start_up()
        sys.stdout.flush()
        from gate.engine import deadlines

        deadlines.start_run(None)  # the run is over (in-process callers run again)
        if _received:  # reports are written: a further signal ends the process at once
            install_early()
        else:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
