"""The cyclic collector's pauses (gate.engine.gcpause): off while lists are read, on again after the last;
rare during start-up, as before from the session on; a caller's own choice (off) kept."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from gate.cli import cli
from gate.engine import gcpause
from gate.entry import run
from gate.sim.server import start


@pytest.fixture(autouse=True)
def _collector_on():
    gc.enable()
    yield
    gcpause.end_start_up()
    gc.enable()


def test_concurrent_pauses_end_with_the_last():
    first_in, second_done = threading.Event(), threading.Event()
    seen: list[bool] = []

    def other() -> None:
        with gcpause.paused():
            first_in.wait(5)
        second_done.set()

    with gcpause.paused():
        thread = threading.Thread(target=other)
        thread.start()
        first_in.set()
        second_done.wait(5)
        seen.append(gc.isenabled())  # the other thread's pause ended: this one holds
    thread.join()
    assert seen == [False]
    assert gc.isenabled()


def test_the_start_up_collects_rarely_until_it_ends_once():
    before = gc.get_threshold()
    gcpause.start_up()
    gcpause.start_up()  # counted once
    assert gc.get_threshold()[0] == gcpause.START_UP_THRESHOLD and gc.isenabled()
    with gcpause.paused():  # a list read during start-up (discovery)
        assert not gc.isenabled()
    assert gc.isenabled() and gc.get_threshold()[0] == gcpause.START_UP_THRESHOLD
    made = [{"made": "during start-up"}]
    gcpause.end_start_up()
    assert gc.get_threshold() == before
    assert any(o is made for o in gc.get_objects(2))  # moved to the oldest generation, not walked
    gcpause.end_start_up()  # again: nothing to end
    assert gc.get_threshold() == before


def test_a_caller_that_turned_the_collector_off_keeps_it_off():
    before = gc.get_threshold()
    gc.set_threshold(0)  # automatic collection off, the other way
    try:
        gcpause.start_up()
        assert gc.get_threshold()[0] == 0
        gcpause.end_start_up()
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
    gc.disable()
    with gcpause.paused():
        pass
    assert not gc.isenabled()


def test_a_verify_run_collects_from_its_levels_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Start-up (imports, spec, plan) collects rarely; the levels, which may wait for many minutes, as
    usual; nothing is left changed after the command."""
    from gate.session import Session

    during: list[bool] = []
    before = gc.get_threshold()
    real = Session.run_levels

    def run_levels(self: Session, *args: object, **kwargs: object) -> object:
        during.append(gc.isenabled() and gc.get_threshold() == before)
        return real(self, *args, **kwargs)
    monkeypatch.setattr(Session, "run_levels", run_levels)
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  dev:\n    levels:\n      1:\n        - pods: {namespace: monitoring}\n")
    with start("crashloop") as sim:
        monkeypatch.setenv("KUBECONFIG", sim.kubeconfig)
        code = run(cli, ["verify", "--stage", "dev", "--spec", str(spec), "--no-preflight", "--timeout", "3s",
                         "--config", str(Path(__file__).parents[1] / "gate/demo/config.yaml")])
    assert code == 1  # the crash loop: the run really went through its level
    assert during == [True]
    assert gc.isenabled() and gc.get_threshold() == before


def test_a_command_that_ends_before_its_session_leaves_nothing_paused(tmp_path: Path):
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  dev:\n    levels:\n      1:\n        - pods: {namespace: 7}\n")
    before = gc.get_threshold()
    assert run(cli, ["verify", "--stage", "dev", "--spec", str(spec)]) == 2  # the spec is refused
    assert gc.isenabled() and gc.get_threshold() == before
