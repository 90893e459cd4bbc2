"""A plain-HTTP proxy on 127.0.0.1 in front of the simulator's Kargo API that answers the Promotion watch
(`GET …/promotions/<name>?watch=true`) itself, with whatever stream a test or the fault campaign wants
(a line trickling in a byte at a time and never ending, one huge line, …); every other request passes
through to the simulator, its faults included. It records (time, method, path?query) of each request."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Watch = Callable[[BaseHTTPRequestHandler, threading.Event], None]


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up mid-answer (the gate at its deadline) is expected, not news."""


class WatchProxy:
    def __init__(self, upstream: str, ca_file: str, watch: Watch) -> None:
        import requests

        session, stop = requests.Session(), threading.Event()
        seen: list[tuple[float, str, str]] = []
        self.stop_event, self.seen, self._session = stop, seen, session

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _handle(self) -> None:
                seen.append((time.monotonic(), self.command, self.path))
                if "/promotions/" in self.path and "watch=true" in self.path:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.send_header("Cache-Control", "no-cache")
                    self.end_headers()
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        watch(self, stop)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type", "accept")}
                try:
                    resp = session.request(self.command, upstream + self.path, headers=headers, verify=ca_file,
                                           data=self.rfile.read(length) if length else None, timeout=30)
                except requests.RequestException:
                    self.close_connection = True  # the simulator dropped it (a fault): so does the proxy
                    return
                self.send_response(resp.status_code)
                for key in ("Content-Type", "Retry-After"):
                    if key in resp.headers:
                        self.send_header(key, resp.headers[key])
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_POST = _handle  # noqa: N815

        self.server = _Quiet(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.stop_event.set()
        self.server.shutdown()
        self.server.server_close()
        self._session.close()

    def __enter__(self) -> WatchProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def trickle_forever(h: BaseHTTPRequestHandler, stop: threading.Event, every: float = 0.3) -> None:
    """The issue's watch: the start of a MODIFIED event up to `"phase":"`, then a byte every `every`
    seconds, never a newline, until the proxy stops."""
    h.wfile.write(b'data: {"type":"MODIFIED","object":{"kind":"Promotion","status":{"phase":"')
    h.wfile.flush()
    while not stop.wait(every):
        h.wfile.write(b"R")
        h.wfile.flush()
