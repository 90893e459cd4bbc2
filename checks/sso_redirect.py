"""`sso_redirect`: unauthenticated requests are sent to the identity provider; credentials get through."""

from __future__ import annotations

import re
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

from gate.checks.base import Check, Clients
from gate.checks.http import evidence_for, unreachable

from gate import redact
from gate.errors import ConfigError
from gate.httpclient import (
    Target,
    TargetUnreachable,
    TlsFailure,
    client_for,
    headers_schema,
    protect_headers,
    resolve_env,
    target_schema,
)
from gate.model import Observation

_CREDENTIALS: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "description": "How an authenticated request proves itself: a bearer token, an API key header, "
                   "oauth2-proxy-style headers, or basic auth; values may use ${env:NAME}.",
    "properties": {
        "bearer": {"type": "string"},
        "api_key": {"type": "string"},
        "api_key_header": {"type": "string", "default": "X-Api-Key"},
        "headers": headers_schema(),
        "basic": {"type": "object", "additionalProperties": False, "required": ["username", "password"],
                  "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
    },
    "minProperties": 1,
}


class SsoRedirect(Check):
    kind: ClassVar[str] = "sso_redirect"
    summary: ClassVar[str] = ("An unauthenticated GET is redirected (302/303) to the identity provider; "
                              "with credentials the same URL answers 200.")
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["url", "idp_host"],
        "properties": {
            **{k: v for k, v in target_schema(path=False).items() if k not in ("service", "via")},
            "idp_host": {"type": "string", "description": "Regex the redirect target's host must match."},
            "client_id": {"type": "string", "description": "The client_id query parameter expected."},
            "redirect_uri": {"type": "string", "description": "Regex the redirect_uri parameter must match."},
            "status": {"type": "array", "items": {"type": "integer"}, "default": [302, 303]},
            "credentials": _CREDENTIALS,
            "authenticated_status": {"type": "integer", "default": 200},
        },
    }

    def __init__(self, params: dict[str, Any], name: str | None = None) -> None:
        super().__init__(params, name)
        self.target = Target.from_params(params)
        for key in ("idp_host", "redirect_uri"):
            if params.get(key):
                try:
                    re.compile(params[key])
                except re.error as exc:
                    raise ConfigError(f"invalid regular expression: {exc}", key=key) from None
        creds = params.get("credentials") or {}
        for value in (creds.get("bearer"), creds.get("api_key"), (creds.get("basic") or {}).get("password"),
                      *(creds.get("headers") or {}).values()):
            if value and "${env:" not in value:
                redact.register(value)

    def action(self, obs: Observation) -> str:
        if obs.hint:
            return obs.hint
        return ("Check the Ingress' auth annotations (auth-url/auth-signin) and the SSO proxy's pods, "
                "or fix the expected login URL in the spec")

    def default_name(self) -> str:
        return f"SSO redirect {redact.redact(str(self.params.get('url')))}"

    def ident(self) -> str:
        return redact.redact(str(self.params.get("url")))

    def statuses(self) -> list[int]:
        return list(self.params.get("status") or [302, 303])

    def expected_text(self) -> str:
        codes = " or ".join(str(s) for s in self.statuses())
        text = f"{codes} to a host matching {self.params['idp_host']}"
        if self.params.get("client_id"):
            text += f" with client_id={self.params['client_id']}"
        if self.params.get("redirect_uri"):
            text += f" and redirect_uri matching {self.params['redirect_uri']}"
        if self.params.get("credentials"):
            text += f"; with credentials HTTP {self.params.get('authenticated_status', 200)}"
        return redact.redact(text)

    def credential_headers(self) -> tuple[dict[str, str], tuple[str, str] | None]:
        creds = self.params.get("credentials") or {}
        headers = dict(creds.get("headers") or {})
        if creds.get("bearer"):
            headers["Authorization"] = "Bearer " + resolve_env(creds["bearer"])
        if creds.get("api_key"):
            headers[creds.get("api_key_header", "X-Api-Key")] = resolve_env(creds["api_key"])
        for name, value in list(headers.items()):
            headers[name] = resolve_env(value)
            redact.register(headers[name])
        auth = None
        if creds.get("basic"):
            auth = (resolve_env(creds["basic"]["username"]), resolve_env(creds["basic"]["password"]))
            redact.register(auth[1])
            redact.register(f"{auth[0]}:{auth[1]}")
        return protect_headers(headers), auth

    def judge_redirect(self, status: int, location: str) -> str | None:
        if status not in self.statuses():
            return f"HTTP {status}" + (f" to {location}" if location else "") + " without credentials"
        if not location:
            return f"{status} without a Location header"
        parts = urlsplit(location)
        if not re.search(self.params["idp_host"], parts.hostname or ""):
            return f"{status} to {location} (host {parts.hostname or 'none'})"
        query = parse_qs(parts.query)
        if self.params.get("client_id"):
            got = (query.get("client_id") or [None])[0]
            if got != self.params["client_id"]:
                return f"{status} to the identity provider with client_id={got}"
        if self.params.get("redirect_uri"):
            got = (query.get("redirect_uri") or [None])[0]
            if got is None or not re.search(self.params["redirect_uri"], got):
                return f"{status} to the identity provider with redirect_uri={got}"
        return None

    def observe(self, clients: Clients) -> Observation:
        client = client_for(clients)
        expected = self.expected_text()
        try:
            anon = self.target.call(client, "GET", follow_redirects=False, return_errors=True, attempts=1)
        except (TargetUnreachable, TlsFailure) as exc:
            return unreachable(exc, self.target.where(client), expected)
        location = anon.headers.get("location", "")
        evidence = ["without credentials:", *evidence_for(anon, "GET")]
        problem = self.judge_redirect(anon.status, location)
        if problem:
            return Observation(False, redact.redact(problem), expected, evidence)
        observed = f"{anon.status} to {urlsplit(location).hostname}"
        if not self.params.get("credentials"):
            return Observation(True, redact.redact(observed), expected, evidence)
        headers, auth = self.credential_headers()
        try:
            authed = self.target.call(client, "GET", headers=headers, auth=auth, follow_redirects=False,
                                      return_errors=True, attempts=1)
        except (TargetUnreachable, TlsFailure) as exc:
            return unreachable(exc, self.target.where(client), expected)
        evidence += ["with credentials:", *evidence_for(authed, "GET")]
        want = int(self.params.get("authenticated_status", 200))
        if authed.status != want:
            where = authed.headers.get("location", "")
            got = f"with credentials HTTP {authed.status}" + (f" to {where}" if where else "")
            return Observation(False, redact.redact(got), expected, evidence)
        observed += f"; with credentials HTTP {authed.status}"
        return Observation(True, redact.redact(observed), expected, evidence)
