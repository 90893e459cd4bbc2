"""A tiny HTTP server whose answers the tests set per path: the Loki stand-in, the slow endpoint of the
benchmark, and whatever shape a test needs (an Alertmanager that is still settling, a flaky backend)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any, dict[str, str]]  # status, body (JSON-able or str), headers
Route = Callable[["Seen"], Answer]


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""


@dataclass
class Stub:
    server: ThreadingHTTPServer
    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def route(self, path: str, status: int = 200, body: Any = None, headers: dict[str, str] | None = None,
              delay: float = 0.0) -> None:
        def answer(_: Seen) -> Answer:
            if delay:
                time.sleep(delay)
            return status, body, headers or {}
        self.routes[path] = answer

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the listen backlog: many checks connect at once


def start_stub() -> Stub:
    stub: Stub

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body_in = self.rfile.read(length) if length else b""
            seen = Seen(self.command, parts.path, parse_qs(parts.query),
                        {k.lower(): v for k, v in self.headers.items()}, body_in)
            stub.seen.append(seen)
            route = stub.routes.get(parts.path)
            status, body, headers = route(seen) if route else (404, {"error": "no route"}, {})
            text = body if isinstance(body, str) else "" if body is None else json.dumps(body)
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

    server = _Server(("127.0.0.1", 0), Handler)
    stub = Stub(server)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    return stub


def loki_streams(lines: list[str], labels: dict[str, str] | None = None) -> dict[str, Any]:
    """Loki's documented /loki/api/v1/query_range answer for a log query."""
    now = time.time_ns()
    values = [[str(now - i * 1_000_000_000), line] for i, line in enumerate(lines)]
    stream = labels or {"namespace": "monitoring", "app": "grafana"}
    result = [{"stream": stream, "values": values}] if lines else []
    return {"status": "success", "data": {"resultType": "streams", "result": result,
                                          "stats": {"summary": {"totalLinesProcessed": len(lines)}}}}
