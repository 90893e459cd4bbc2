"""`tcp`: host:port accepts a connection (databases, queues, anything without an HTTP health endpoint)."""

from __future__ import annotations

import socket
import time
from typing import Any, ClassVar

from gate.checks.base import Check, Clients

from gate.engine import deadlines
from gate.engine.durations import parse as parse_duration
from gate.httpclient import DURATION_SCHEMA, PORT_SCHEMA
from gate.model import Observation


class Tcp(Check):
    kind: ClassVar[str] = "tcp"
    summary: ClassVar[str] = "host:port accepts a TCP connection."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["host", "port"],
        "properties": {
            "host": {"type": "string", "minLength": 1},
            "port": PORT_SCHEMA,
            "connect_timeout": {**DURATION_SCHEMA, "description": "Default 5s."},
        },
    }
    shorthand: ClassVar[dict[str, Any] | None] = {"type": "string", "pattern": r"^[^:\s]+:\d{1,5}$"}

    @classmethod
    def normalize(cls, raw: Any) -> dict[str, Any]:
        if isinstance(raw, str):
            host, _, port = raw.rpartition(":")
            return {"host": host, "port": int(port)}
        return dict(raw or {})

    def action(self, obs: Observation) -> str:
        if obs.hint:
            return obs.hint
        host, port = self.params["host"], self.params["port"]
        if "does not resolve" in obs.observed:
            return f"Fix the host name {host!r} in the spec, or its DNS record (getent hosts {host})"
        return (f"Start or expose the service listening on {host}:{port} (nc -vz {host} {port}), "
                f"or fix host/port in the spec")

    def default_name(self) -> str:
        return f"TCP {self.params['host']}:{self.params['port']}"

    def ident(self) -> str:
        return f"{self.params['host']}:{self.params['port']}"

    def observe(self, clients: Clients) -> Observation:
        host, port = str(self.params["host"]), int(self.params["port"])
        timeout = deadlines.clamp(parse_duration(self.params.get("connect_timeout", 5)), f"connecting to {host}")
        expected = f"{host}:{port} accepts a connection"
        start = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=timeout):
                pass
        except TimeoutError:
            return Observation(False, f"{host}:{port}: no answer within {timeout:g}s", expected)
        except socket.gaierror as exc:
            return Observation(False, f"{host}: name does not resolve ({exc.strerror})", expected)
        except OSError as exc:
            return Observation(False, f"{host}:{port}: {exc.strerror or exc}", expected)
        took = (time.monotonic() - start) * 1000
        return Observation(True, f"connected to {host}:{port} in {took:.0f} ms", expected)
