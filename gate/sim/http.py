"""Request/response values passed to route handlers mounted with `SimHandle.add_route()`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SimRequest:
    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # keys lower-cased
    body: bytes = b""
    identity: str | None = None  # token identity when the bearer token is known to the scenario
    client_cert: tuple[str, list[str]] | None = None  # a verified client certificate's (CN, [O, ...])

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def arg(self, name: str, default: str | None = None) -> str | None:
        """The first value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else default

    @property
    def bearer(self) -> str | None:
        auth = self.headers.get("authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None


def compact(value: Any) -> bytes:
    """JSON as Go's encoding/json writes it (kube-apiserver, Prometheus): no spaces, so the gate's readers
    meet the text a real server sends (gate.cluster.listbody's fast path reads `,{` between items)."""
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass
class SimResponse:
    status: int = 200
    body: dict | list | str | bytes | Iterator[bytes] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes | None, dict[str, str]]:
        """Body bytes and headers; None bytes means a streaming body (see `body`)."""
        headers = dict(self.headers)
        body = self.body
        if body is None:
            return b"", headers
        if isinstance(body, (dict, list)):
            headers.setdefault("Content-Type", "application/json")
            return compact(body), headers
        if isinstance(body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return body.encode(), headers
        if isinstance(body, bytes):
            headers.setdefault("Content-Type", "application/octet-stream")
            return body, headers
        headers.setdefault("Content-Type", "text/event-stream")
        return None, headers


def status_body(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    """A metav1.Status, the error shape every Kubernetes client understands."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details is not None:
        body["details"] = details
    return body


def status_response(
    code: int, reason: str, message: str, details: dict | None = None, headers: dict[str, str] | None = None
) -> SimResponse:
    return SimResponse(code, status_body(code, reason, message, details), dict(headers or {}))
