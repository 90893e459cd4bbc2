"""A signal that arrives while C code which cannot take a Python exception runs (orjson's module init)
is handled right after it, never inside: an exception raised inside orjson's init crashed the gate with
SIGSEGV (2 runs in 300 with a Ctrl-C 0.1 s into `gate verify`)."""

from __future__ import annotations

import os
import signal

import pytest

from gate.entry import signals_held


class Raised(Exception):
    pass


def _raise(signum: int, frame: object) -> None:
    raise Raised(signum)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_inside_the_block_is_handled_after_it_not_inside(sig: int) -> None:
    previous = signal.signal(sig, _raise)
    reached_end = False
    try:
        with pytest.raises(Raised), signals_held():
            os.kill(os.getpid(), sig)
            for _ in range(1000):  # bytecodes run: an unheld handler would raise here
                pass
            reached_end = True
        assert reached_end
        assert signal.getsignal(sig) is _raise  # the handler is back
    finally:
        signal.signal(sig, previous)


def test_without_a_signal_the_block_changes_nothing() -> None:
    previous = signal.signal(signal.SIGINT, _raise)
    try:
        with signals_held():
            value = 1
        assert value == 1 and signal.getsignal(signal.SIGINT) is _raise
    finally:
        signal.signal(signal.SIGINT, previous)


def test_the_orjson_import_of_the_kubernetes_client_is_held() -> None:
    """The module that imports orjson does it inside signals_held (read from its source)."""
    from pathlib import Path

    for module in ("gate/cluster/kube.py", "gate/sim/api.py"):
        text = (Path(__file__).resolve().parents[1] / module).read_text()
        held = text.index("with signals_held():")
        assert held < text.index("import orjson"), module
