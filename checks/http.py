"""`http`: a URL or in-cluster Service answers as expected (status, headers, body, JSON, redirect)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any, ClassVar

from gate.checks.base import Check, Clients

from gate import redact
from gate.cluster.kube import Permission
from gate.errors import ConfigError
from gate.httpclient import (
    TARGET_ONE_OF,
    HttpResponse,
    Target,
    TargetUnreachable,
    TlsFailure,
    client_for,
    headers_schema,
    resolve_env,
    show_header,
    target_schema,
)
from gate.model import Observation

# Response headers worth showing whatever the expectation (credentials are masked by show_header).
SHOWN_HEADERS = ("location", "content-type", "www-authenticate", "retry-after", "server")
_STATUS = {"type": "integer", "minimum": 100, "maximum": 599}

EXPECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "status": {"anyOf": [_STATUS, {"type": "array", "items": _STATUS, "minItems": 1}]},
        "headers": headers_schema("Header name → regex its value must match.", values=".*"),
        "body_contains": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
        "body_regex": {"type": "string"},
        "json": {"type": "object", "description": "JSON path (a.b[0].c) → the value it must equal, type "
                 "included: false is not \"false\", null is not \"None\", 1 is not \"1\"; 1 equals 1.0."},
        "json_exists": {"type": "array", "items": {"type": "string"}},
        "location": {"type": "string", "description": "Regex the redirect's Location must match."},
    },
}


def json_path(data: Any, path: str) -> tuple[bool, Any]:
    """Walk `a.b[0].c` (or `$.a.b.0.c`) through parsed JSON: (found, value)."""
    path = path.strip().removeprefix("$").lstrip(".")
    parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
    node = data
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
            node = node[int(part)]
        else:
            return False, None
    return True, node


def same_value(actual: Any, expected: Any) -> bool:
    """JSON equality by JSON's types: a string equals only a string, null only null, a boolean only a
    boolean (`false` != "False", `true` != 1), and numbers by value (JSON has one number type, so
    1 == 1.0; NaN equals nothing). Objects and arrays compare member by member. A YAML date in the spec
    (`2024-01-01` unquoted) is compared as the ISO string it was written as."""
    if isinstance(expected, (datetime, date)):
        expected = expected.isoformat()
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return actual == expected
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(same_value(actual[k], expected[k]) for k in actual)
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same_value, actual, expected))
    if isinstance(actual, str) and isinstance(expected, str):
        return actual == expected
    return actual is None and expected is None


def show(value: Any) -> str:
    return redact.redact(json.dumps(value) if not isinstance(value, str) else repr(value))


def evidence_for(resp: HttpResponse, method: str, extra_headers: tuple[str, ...] = ()) -> list[str]:
    """Status line, the headers that matter, redirects followed, and a bounded body excerpt."""
    lines = [f"{method} {redact.redact(resp.url)} → HTTP {resp.status} in {resp.elapsed:.3f}s"
             + (" (through the API server's service proxy)" if resp.via == "proxy" else "")]
    for status, location in resp.history:
        lines.append(f"redirected: {status} to {redact.redact(location)}")
    wanted = [h.lower() for h in (*SHOWN_HEADERS, *extra_headers)]
    for name in dict.fromkeys(wanted):
        if name in resp.headers:
            lines.append(show_header(name.title(), resp.headers[name]))
    if "set-cookie" in resp.headers:
        lines.append(show_header("Set-Cookie", ""))
    if resp.text:
        lines.append(f"body: {resp.excerpt()}")
    return lines


def unreachable(exc: Exception, where: str, expected: str) -> Observation:
    """The target did not answer (or its certificate was refused): a wrong answer, polled again."""
    what = "TLS failure" if isinstance(exc, TlsFailure) else "no answer"
    return Observation(ok=False, observed=f"{what}: {redact.redact(str(exc))}", expected=expected,
                       evidence=[f"target: {where}"])


class Http(Check):
    kind: ClassVar[str] = "http"
    summary: ClassVar[str] = "A URL or Service answers with the expected status, headers, body or JSON."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **target_schema(),
            "method": {"enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]},
            "body": {"description": "Request body: a string, or an object sent as JSON."},
            "basic_auth": {"type": "object", "additionalProperties": False,
                           "required": ["username", "password"],
                           "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
            "follow_redirects": {"type": "boolean",
                                 "description": "Default: true, or false when expect.location is set."},
            "expect": EXPECT_SCHEMA,
        },
        "oneOf": TARGET_ONE_OF,
    }

    def __init__(self, params: dict[str, Any], name: str | None = None) -> None:
        super().__init__(params, name)
        self.target = Target.from_params(params)
        self.expect: dict[str, Any] = dict(params.get("expect") or {})
        self.method = str(params.get("method", "GET")).upper()
        for pattern_key in ("body_regex", "location"):
            if self.expect.get(pattern_key):
                _compile(self.expect[pattern_key], f"expect.{pattern_key}")
        for header, pattern in (self.expect.get("headers") or {}).items():
            _compile(pattern, f"expect.headers.{header}")
        auth = params.get("basic_auth")
        if auth:
            redact.register(auth["password"])
            if "${env:" not in auth["password"] and "${env:" not in auth["username"]:
                redact.register(f"{auth['username']}:{auth['password']}")

    def action(self, obs: Observation) -> str:
        if obs.hint:
            return obs.hint
        url = self.params.get("url")
        if url:
            probe = f"curl -sSi {url}"
        else:
            ns, _, svc = str(self.params.get("service")).partition("/")
            probe = f"kubectl get --raw /api/v1/namespaces/{ns}/services/{svc}/proxy{self.params.get('path') or '/'}"
        return (f"Look at what the endpoint answers ({probe}) and fix the service behind it, or the `expect:` "
                f"of this check if the new answer is right")

    def default_name(self) -> str:
        where = self.params.get("url") or f"{self.params.get('service')}{self.params.get('path') or '/'}"
        return f"http {redact.redact(str(where))}"

    def ident(self) -> str:
        return redact.redact(str(self.params.get("url") or self.params.get("service")))

    def permissions(self) -> list[Permission]:
        return self.target.permissions(self.method)

    # -- expectations ------------------------------------------------------------------------------
    def statuses(self) -> list[int]:
        status = self.expect.get("status")
        if status is None:
            return [302, 303, 301, 307, 308] if self.expect.get("location") else [200]
        return [status] if isinstance(status, int) else list(status)

    def follow(self) -> bool:
        return bool(self.params.get("follow_redirects", not self.expect.get("location")))

    def expected_text(self) -> str:
        statuses = self.statuses()
        parts = [f"status {statuses[0]}" if len(statuses) == 1
                 else "status in " + ", ".join(str(s) for s in statuses)]
        if self.expect.get("location"):
            parts.append(f"Location matching {self.expect['location']}")
        for header, pattern in (self.expect.get("headers") or {}).items():
            parts.append(f"header {header} matching {pattern}")
        contains = self.expect.get("body_contains")
        for text in [contains] if isinstance(contains, str) else contains or []:
            parts.append(f"body containing {text!r}")
        if self.expect.get("body_regex"):
            parts.append(f"body matching {self.expect['body_regex']}")
        for path, value in (self.expect.get("json") or {}).items():
            parts.append(f"JSON {path} == {show(value)}")
        for path in self.expect.get("json_exists") or []:
            parts.append(f"JSON {path} present")
        return redact.redact("; ".join(parts))

    def judge(self, resp: HttpResponse) -> str | None:
        """The first expectation the response breaks, said as what was observed; None when all hold."""
        location = resp.headers.get("location", "")
        if resp.status not in self.statuses():
            text = f"HTTP {resp.status}"
            if location and 300 <= resp.status < 400:
                text = f"{resp.status} to {location}"
            return text
        if self.expect.get("location"):
            if not location:
                return f"{resp.status} without a Location header"
            if not re.search(self.expect["location"], location):
                return f"{resp.status} to {location}"
        for header, pattern in (self.expect.get("headers") or {}).items():
            value = resp.headers.get(header.lower())
            if value is None:
                return f"HTTP {resp.status} without header {header}"
            if not re.search(pattern, value):
                return f"HTTP {resp.status} with {show_header(header, value)}"
        contains = self.expect.get("body_contains")
        for text in [contains] if isinstance(contains, str) else contains or []:
            if text not in resp.text:
                return f"HTTP {resp.status}, body does not contain {text!r}"
        if self.expect.get("body_regex") and not re.search(self.expect["body_regex"], resp.text):
            return f"HTTP {resp.status}, body does not match {self.expect['body_regex']}"
        if self.expect.get("json") or self.expect.get("json_exists"):
            try:
                data = json.loads(resp.text)
            except ValueError:
                return f"HTTP {resp.status}, body is not JSON"
            for path, value in (self.expect.get("json") or {}).items():
                found, actual = json_path(data, path)
                if not found:
                    return f"HTTP {resp.status}, JSON has no {path}"
                if not same_value(actual, value):
                    return f"HTTP {resp.status}, JSON {path} is {show(actual)}"
            for path in self.expect.get("json_exists") or []:
                if not json_path(data, path)[0]:
                    return f"HTTP {resp.status}, JSON has no {path}"
        return None

    # -- observing ---------------------------------------------------------------------------------
    def request_auth(self) -> tuple[str, str] | None:
        auth = self.params.get("basic_auth")
        if not auth:
            return None
        username, password = resolve_env(auth["username"]), resolve_env(auth["password"])
        redact.register(password)
        redact.register(f"{username}:{password}")
        return username, password

    def observe(self, clients: Clients) -> Observation:
        client = client_for(clients)
        expected = self.expected_text()
        body = self.params.get("body")
        if isinstance(body, str):
            body = resolve_env(body)
        try:
            resp = self.target.call(client, self.method, follow_redirects=self.follow(), body=body,
                                    auth=self.request_auth(), return_errors=True, attempts=1)
        except (TargetUnreachable, TlsFailure) as exc:
            return unreachable(exc, self.target.where(client), expected)
        problem = self.judge(resp)
        headers = tuple(self.expect.get("headers") or ())
        evidence = evidence_for(resp, self.method, headers)
        if problem is None:
            return Observation(ok=True, observed=redact.redact(f"HTTP {resp.status}"), expected=expected,
                               evidence=evidence)
        return Observation(ok=False, observed=redact.redact(problem), expected=expected, evidence=evidence)


def _compile(pattern: str, key: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"invalid regular expression {pattern!r}: {exc}", key=key) from None


__all__ = ["Http", "evidence_for", "json_path", "same_value", "unreachable"]
