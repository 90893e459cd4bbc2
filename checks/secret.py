"""`secret`: a Secret exists and holds each expected key with a non-empty value.

The check reads one Secret by name (RBAC `get` on that resourceName only). Values are never put in an
observation; each value read is still registered with gate.redact as a guard, so no report can carry
it even by accident.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar

from gate.checks.base import Check, Clients

from gate import redact
from gate.cluster.kube import Permission
from gate.cluster.resources import SECRETS
from gate.model import Observation


def _register(data: dict[str, Any], encoded: bool) -> dict[str, bool]:
    """Register every value with gate.redact; return key -> value is non-empty."""
    filled: dict[str, bool] = {}
    for key, value in data.items():
        raw = "" if value is None else str(value)
        text = raw
        if encoded and raw:
            redact.register(raw)
            try:
                decoded = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                decoded = raw.encode()
            text = decoded.decode("utf-8", "replace")
            filled[key] = bool(decoded)
        else:
            filled[key] = bool(raw)
        redact.register(text)
        redact.register(text.strip())
    return filled


class SecretCheck(Check):
    kind = "secret"
    summary = "A Secret exists and each listed key is present and non-empty (values are never shown)."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["namespace", "name"],
        "properties": {
            "namespace": {"type": "string", "minLength": 1},
            "name": {"type": "string", "minLength": 1},
            "keys": {"type": "array", "uniqueItems": True, "items": {"type": "string", "minLength": 1},
                     "description": "keys that must be present and non-empty (default: existence only)"},
        },
    }

    segments: ClassVar[dict[str, str]] = {"namespace": "label", "name": "subdomain"}

    @property
    def namespace(self) -> str:
        return self.params["namespace"]

    @property
    def secret_name(self) -> str:
        return self.params["name"]

    def default_name(self) -> str:
        keys = self.params.get("keys") or []
        base = f"Secret {self.params.get('namespace')}/{self.params.get('name')}"
        return base + (f" has {', '.join(keys)}" if keys else " exists")

    def ident(self) -> str:
        return f"{self.namespace}.{self.secret_name}"

    def permissions(self) -> list[Permission]:
        return [Permission("get", "secrets", "", self.namespace, self.secret_name)]

    def observe(self, clients: Clients) -> Observation:
        view = clients.need_view()
        keys: list[str] = list(self.params.get("keys") or [])
        where = f"{self.namespace}/{self.secret_name}"
        expected = f"exists with {len(keys)} non-empty keys" if keys else "exists"
        secret = view.get(SECRETS, self.secret_name, self.namespace)
        if secret is None:
            return Observation(ok=False, observed="Secret not found", expected=expected,
                               evidence=[f"{where}: not found"],
                               hint=f"Create or sync the Secret: kubectl get secret -n {self.namespace}")
        filled = _register(secret.get("data") or {}, encoded=True)
        filled.update(_register(secret.get("stringData") or {}, encoded=False))
        evidence = [f"{where}: key {key}: missing" for key in keys if key not in filled]
        evidence += [f"{where}: key {key}: empty" for key in keys if key in filled and not filled[key]]
        present = len(keys) - len(evidence)
        observed = f"{present}/{len(keys)} keys present and non-empty" if keys else "Secret exists"
        hint = "" if not evidence else (f"Fix the Secret's source (ExternalSecret, sealed secret or chart "
                                        f"values) for {where}")
        return Observation(ok=not evidence, observed=observed, expected=expected, evidence=evidence,
                           hint=hint)
