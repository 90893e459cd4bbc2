"""Benchmark: one level of 20 `http` checks against endpoints that each take 0.5 s.

Runs the real level runner (gate.engine.runner.Runner) with the shared HTTP client against a local server on
127.0.0.1 that sleeps 0.5 s per request, and prints the wall time, and its ratio to one check alone.
The goal: under 2 s for the level. Usage: python benchmarks/bench_http_level.py [--workers N ...]
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gate.checks.base import Clients  # noqa: E402
from gate.checks.http import Http  # noqa: E402

from gate.engine.plan import PlannedCheck  # noqa: E402
from gate.engine.runner import Runner  # noqa: E402
from gate.httpclient import HttpClient  # noqa: E402
from gate.model import Status  # noqa: E402

DELAY = 0.5
CHECKS = 20


class _Slow(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def do_GET(self) -> None:  # noqa: N802
        time.sleep(DELAY)
        body = b'{"status":"ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def run_level(url: str, count: int, workers: int) -> tuple[float, list[Status]]:
    clients = Clients(http=HttpClient(in_cluster=False))
    planned = [PlannedCheck(Http({"url": f"{url}/health/{i}", "expect": {"json": {"status": "ok"}}}), 2,
                            f"L2.http.{i}", timeout=10, interval=0.5) for i in range(count)]
    runner = Runner(clients, None, max_workers=workers)
    start = time.perf_counter()
    level = runner.run_level(2, planned)
    return time.perf_counter() - start, [c.status for c in level.checks]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, nargs="*", default=[32, 16])
    parser.add_argument("--checks", type=int, default=CHECKS)
    args = parser.parse_args()
    server = _Server(("127.0.0.1", 0), _Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        one, _ = run_level(url, 1, 1)
        print(f"one check alone: {one:.3f}s")
        worst = 0.0
        for workers in args.workers:
            wall, statuses = run_level(url, args.checks, workers)
            passed = sum(s == Status.PASS for s in statuses)
            print(f"{args.checks} checks x {DELAY}s, pool {workers}: {wall:.3f}s wall, "
                  f"{wall / one:.2f}x one check, {passed}/{args.checks} PASS")
            worst = max(worst, wall) if workers == args.workers[0] else worst
        ok = worst < 2.0
        print(f"default pool ({args.workers[0]}): {'under' if ok else 'OVER'} 2s")
        return 0 if ok else 1
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    sys.exit(main())
