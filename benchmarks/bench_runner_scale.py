"""The runner's cost in the number of checks (issue 19, item 4): the wall of one level of N `tcp` checks to a
closed port on 127.0.0.1 under `--timeout 3s`, for N = 1,000 / 5,000 / 20,000. Linear: every N ends at the
deadline plus the time to start and judge N attempts (it was quadratic: 20,000 checks ran ~240 s).

Run by hand: `python3 benchmarks/bench_runner_scale.py` (also part 6 of bench_engine.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gate.checks.base import Clients  # noqa: E402
from gate.checks.tcp import Tcp  # noqa: E402

from gate.engine import deadlines  # noqa: E402
from gate.engine.plan import Plan, PlannedCheck  # noqa: E402
from gate.engine.runner import Runner  # noqa: E402
from gate.model import LevelResult  # noqa: E402

SIZES = (1_000, 5_000, 20_000)


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, never listened, released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tcp_level(count: int, port: int) -> Plan:
    checks = [PlannedCheck(Tcp({"host": "127.0.0.1", "port": port}), 1, f"tcp-{i}", timeout=300.0, interval=0.5)
              for i in range(count)]
    return Plan("scale", {1: checks})


def timed_level(count: int, timeout: float = 3.0) -> tuple[float, LevelResult]:
    """Seconds one level of `count` checks takes under a run wall of `timeout`, and the level."""
    plan = tcp_level(count, closed_port())
    started = time.monotonic()
    deadlines.start_run(timeout)  # as a command's session does: the wall every request is held to
    try:
        level = Runner(Clients(), None, timeout=timeout).run(plan)[0]
    finally:
        deadlines.start_run(None)
    return time.monotonic() - started, level


def main() -> None:
    for count in SIZES:
        wall, level = timed_level(count)
        print(f"{count:>6} tcp checks, --timeout 3s: {wall:.2f} s, level {level.status.value}", flush=True)


if __name__ == "__main__":
    main()
