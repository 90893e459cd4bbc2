"""`command`: a program (smoke tests, a CLI probe) exits 0. No shell unless `shell: true`; at its
`run_timeout` or the check's deadline (whichever is first, gate/engine/deadlines.py) the whole process group is
killed, and so is it when the gate is interrupted. The output tails go to the report (JUnit system-out),
redacted.

The program gets a clean environment, not the gate's: PATH, HOME, the locale (LANG, LANGUAGE, LC_*), TZ,
the variables the spec names in `env:`, and only those of the gate's own that the spec names in
`inherit_env:`. A CI job's tokens (GITHUB_TOKEN, KARGO_API_TOKEN, …) therefore never reach a smoke test
that prints its environment unless the spec asks for them by name."""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from typing import IO, Any, ClassVar

from gate.checks.base import Check, Clients

from gate import entry, redact
from gate.engine import deadlines
from gate.engine.durations import format as format_duration
from gate.engine.durations import parse as parse_duration
from gate.httpclient import DURATION_SCHEMA, resolve_env
from gate.model import Observation

TAIL_LINES = 50
TAIL_CHARS = 8000
GRACE = 1.0  # seconds between SIGTERM and SIGKILL
BASE_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "TZ")  # always passed on (LC_* too)
_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
_SECRET_NAME = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|AUTH|CREDENTIAL", re.I)
_running: set[int] = set()  # process groups still alive, killed if the gate exits first
_running_lock = threading.Lock()


def kill_group(pgid: int, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after a short grace."""
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, 1.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        if proc is not None:
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                continue
            try:  # the leader is gone; children of the group may remain
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return


def _signal_all(sig: int) -> None:
    with _running_lock:
        groups = list(_running)
    for pgid in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)


@atexit.register
def _kill_leftovers() -> None:
    _signal_all(signal.SIGKILL)


def _on_interrupt(final: bool) -> None:
    """SIGTERM every running command's group when the gate is interrupted, SIGKILL as it exits."""
    _signal_all(signal.SIGKILL if final else signal.SIGTERM)


entry.on_interrupt(_on_interrupt)


def tail(stream: IO[bytes], lines: int = TAIL_LINES) -> str:
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    # Masked before it is cut: read a secret's width more, so one straddling the start is whole.
    start = max(0, size - TAIL_CHARS * 2 - redact.longest())
    stream.seek(start)
    text = redact.tail(stream.read().decode("utf-8", "replace"), TAIL_CHARS * 2, partial_start=start > 0)
    kept = text.splitlines()[-lines:]
    return "\n".join(kept)[-TAIL_CHARS:]


class Command(Check):
    kind: ClassVar[str] = "command"
    summary: ClassVar[str] = "A command exits 0 (argv without a shell unless shell: true)."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["run"],
        "properties": {
            "run": {"anyOf": [{"type": "array", "items": {"type": "string"}, "minItems": 1},
                              {"type": "string", "minLength": 1}],
                    "description": "argv; a string is split like a shell would (or run by sh)."},
            "shell": {"type": "boolean", "default": False},
            "env": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Variables for the program; values may use ${env:NAME} (masked)."},
            "inherit_env": {"type": "array", "items": {"type": "string", "pattern": _NAME},
                            "description": "Names of the gate's own environment variables to pass on "
                                           "(the program otherwise gets only PATH, HOME, locale, TZ and env)."},
            "cwd": {"type": "string"},
            "run_timeout": {**DURATION_SCHEMA, "description": "Kill the group after this (10m)."},
            "retry": {"type": "boolean", "default": False,
                      "description": "Run again until the check's deadline when it fails (default: once)."},
        },
    }

    def action(self, obs: Observation) -> str:
        if obs.hint:
            return obs.hint
        run = self.params["run"]
        shown = run if isinstance(run, str) else " ".join(str(p) for p in run)
        return f"Run `{shown}` by hand and fix what it reports (its output is in the JUnit/JSON report)"

    def default_name(self) -> str:
        run = self.params["run"]
        text = run if isinstance(run, str) else shlex.join(run)
        return "command " + redact.cut(text, 60)  # masked first: a cut never leaves part of a secret

    def ident(self) -> str:
        run = self.params["run"]
        return redact.cut(run if isinstance(run, str) else " ".join(run), 80, marker="")

    def argv(self) -> list[str]:
        run = self.params["run"]
        if self.params.get("shell"):
            return ["/bin/sh", "-c", run if isinstance(run, str) else shlex.join(run)]
        return shlex.split(run) if isinstance(run, str) else [str(a) for a in run]

    def environment(self) -> dict[str, str]:
        """The clean environment (module docstring): base variables, inherit_env, then env."""
        inherit = set(BASE_ENV) | {str(n) for n in self.params.get("inherit_env") or []}
        env = {k: v for k, v in os.environ.items() if k in inherit or k.startswith("LC_")}
        for name in inherit & set(env):
            if _SECRET_NAME.search(name):
                redact.register(env[name])  # passed on by request: still never printed
        for name, value in (self.params.get("env") or {}).items():
            resolved = resolve_env(str(value))
            if _SECRET_NAME.search(name) or resolved != value:
                redact.register(resolved)
            env[str(name)] = resolved
        return env

    def timeout(self) -> float:
        value = self.params.get("run_timeout", self.params.get("timeout", "10m"))
        return parse_duration(value)

    def observe(self, clients: Clients) -> Observation:
        argv = self.argv()
        shown = redact.redact(shlex.join(argv))
        limit = self.timeout()
        expected = "exit 0" + f" within {format_duration(limit)}"
        left = deadlines.remaining()
        if left is not None and left < deadlines.MIN_REQUEST:
            raise deadlines.DeadlineExceeded(f"the deadline passed before {argv[0]} could start")
        cut = left is not None and left < limit  # the check's deadline comes before run_timeout
        wait = left if cut else limit
        final = not self.params.get("retry", False)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            start = time.monotonic()
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                        env=self.environment(), cwd=self.params.get("cwd"),
                                        start_new_session=True)
            except OSError as exc:
                return Observation(False, f"cannot start {argv[0]}: {exc.strerror or exc}", expected,
                                   [f"$ {shown}"], final=True)
            with _running_lock:
                _running.add(proc.pid)
            timed_out = False
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                timed_out = True
                kill_group(proc.pid, proc)
            finally:
                with _running_lock:
                    _running.discard(proc.pid)
            took = time.monotonic() - start
            stdout, stderr = tail(out), tail(err)
        output = f"$ {shown}\n"
        output += f"--- stdout (last {TAIL_LINES} lines) ---\n{stdout}\n" if stdout else "--- no stdout ---\n"
        output += f"--- stderr (last {TAIL_LINES} lines) ---\n{stderr}\n" if stderr else "--- no stderr ---\n"
        evidence = [f"$ {shown}", f"took {took:.1f}s"]
        last = (stderr or stdout).splitlines()[-5:]
        evidence += [f"| {line}" for line in last]
        if timed_out:
            observed = (f"still running at the check's deadline (after {took:.1f}s); process group killed"
                        if cut else f"still running after {format_duration(limit)}; process group killed")
            return Observation(False, observed, expected, evidence, final=True, output=output)
        code = proc.returncode
        if code != 0:
            how = f"killed by signal {-code}" if code < 0 else f"exit {code}"
            return Observation(False, f"{how} after {took:.1f}s", expected, evidence, final=final,
                               output=output)
        return Observation(True, f"exit 0 after {took:.1f}s", expected, evidence, output=output)
