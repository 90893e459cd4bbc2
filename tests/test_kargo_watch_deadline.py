"""The SSE watch of a Promotion (KargoClient.watch_promotion, used while `gate promote` follows it) held to
the run's --timeout inside a line too, and to a bounded line size.

The Kargo API is the simulator's, reached through a plain-HTTP proxy on 127.0.0.1 that passes every
request through except the Promotion watch (`?watch=true`), which it answers itself: a line that trickles
in a byte at a time and never ends (a socket read timeout restarts with every byte), or one line of more
than a MiB."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from test_kargo_support import F2, Kit, kargo_sim

from gate.sim.watchproxy import WatchProxy
from gate.sim.watchproxy import trickle_forever as trickle_forever_phase

WATCH_LIMIT = 15.0  # seconds a stub watch lasts at most (the old code read it until then)

Watch = Callable[[BaseHTTPRequestHandler, threading.Event], None]


def trickle_forever(h: BaseHTTPRequestHandler, stop: threading.Event) -> None:
    """`data: {"type":...` a byte every 0.1 s, never a newline (for WATCH_LIMIT seconds)."""
    for byte in (b'data: {"type": "MODIFIED", "object": {' + b" " * 1000)[: int(WATCH_LIMIT * 10)]:
        if stop.wait(0.1):
            return
        h.wfile.write(bytes([byte]))
        h.wfile.flush()


def one_huge_line(h: BaseHTTPRequestHandler, stop: threading.Event) -> None:
    """2 MiB of a data line at once, no newline, then silence (the connection stays open)."""
    h.wfile.write(b"data: " + b"x" * (2 << 20))
    h.wfile.flush()
    stop.wait(WATCH_LIMIT)


@contextmanager
def kargo_proxy(kit: Kit, watch: Watch) -> Iterator[dict[str, Any]]:
    """http://127.0.0.1:PORT in front of the simulator's Kargo API; the Promotion watch answered by `watch`."""
    with WatchProxy(kit.sim.url, kit.sim.ca_file, watch) as proxy:
        yield {"url": proxy.url, "seen": proxy.seen}


def _promote(kit: Kit, proxy: dict, capsys: Any, *extra: str) -> tuple[int, str, float]:
    kit.sim.kargo.controller.promo_cfg["running"] = 600.0  # the Promotion stays Running: only the watch answers
    began = time.monotonic()
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, *extra, capsys=capsys,
                         env={"KARGO_API_ADDRESS": proxy["url"]})
    return code, out, time.monotonic() - began


def test_a_watch_line_that_trickles_in_ends_promote_at_the_run_timeout(tmp_path: Path, capsys) -> None:
    """Old code: requests' iter_lines waited for a newline (and a 512-byte chunk) with a socket timeout that
    restarts with every byte, so the follow outlived --timeout 4s until the server gave up (15 s)."""
    with kargo_sim("promote-ok", tmp_path) as kit, kargo_proxy(kit, trickle_forever) as proxy:
        code, out, took = _promote(kit, proxy, capsys, "--timeout", "4s")
        watched = [s for s in proxy["seen"] if "watch=true" in s[2]]
    assert watched, "the gate never opened the Promotion watch"
    assert took < 4 + 1.5, f"took {took:.1f}s under --timeout 4s"
    assert code == 3, out
    assert "deadline" in out and "Promotion" in out
    assert "Traceback" not in out and "Overall: PASS" not in out


def test_a_watch_line_over_a_mib_is_unreadable_and_the_follow_polls(tmp_path: Path, capsys) -> None:
    """A line of 2 MiB (then silence) is an unreadable answer at once, not memory growing until the stream
    ends: the follow says so and polls the Promotion instead. Old code: kept the 2 MiB, then waited out the
    silence."""
    with kargo_sim("promote-ok", tmp_path) as kit, kargo_proxy(kit, one_huge_line) as proxy:
        code, out, took = _promote(kit, proxy, capsys, "--timeout", "4s")
        seen = list(proxy["seen"])
    watch_at = next(t for t, _, path in seen if "watch=true" in path)
    polls = [t for t, method, path in seen
             if method == "GET" and "/promotions/" in path and "watch" not in path and t > watch_at]
    assert polls and polls[0] - watch_at < 1.0, "the follow did not turn to polling at once"
    assert "polling instead" in out and "longer than 1 MiB" in out, out
    assert code == 3, out  # the Promotion never ends: the run's deadline, an error, never a pass
    assert took < 4 + 1.5 and "Traceback" not in out


def test_a_trickling_watch_ends_at_the_promotion_timeout_and_a_get_reads_the_outcome(tmp_path: Path,
                                                                                      capsys) -> None:
    """`--promotion-timeout 8s` (the run's --timeout is far longer) ends the follow near 8 s although the
    watch never completes a line, and the gate reads the Promotion (GET) before giving up: the Promotion
    Succeeded in Kargo at ~4 s, so the gate reports it Succeeded. Old code: the watch was held only to the
    run's --timeout (60 s here) and the Promotion was reported timed out or the run ended with exit 3."""
    with kargo_sim("promote-ok", tmp_path) as kit, kargo_proxy(kit, trickle_forever_phase) as proxy:
        began = time.monotonic()
        code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-verify",
                             "--promotion-timeout", "8s", "--timeout", "60s", capsys=capsys,
                             env={"KARGO_API_ADDRESS": proxy["url"]})
        took = time.monotonic() - began
        seen = list(proxy["seen"])
    watch_at = next(t for t, _, path in seen if "watch=true" in path)
    gets = [t for t, method, path in seen
            if method == "GET" and "/promotions/" in path and "watch" not in path and t > watch_at]
    assert gets, "the gate gave up without reading the Promotion"
    assert took < 8 + 2.5, f"took {took:.1f}s under --promotion-timeout 8s"
    assert code == 0, out
    assert "Succeeded" in out and "Traceback" not in out
