"""Check kinds, one module each. `registry()` maps a kind name to its class."""

from __future__ import annotations

import importlib
from functools import cache

from gate.checks.base import Check

# Module names; each defines exactly one Check subclass whose `kind` is the spec key.
MODULES = (
    # Level 1: infrastructure
    "pods", "workloads", "crds", "secret", "pvcs", "argocd_apps", "kargo_stage",
    # Levels 2-4: service health, ingress and auth, functional
    "http", "sso_redirect", "tls", "tcp", "prometheus_targets", "prometheus_query", "loki_query",
    "alertmanager", "command",
)


@cache
def registry() -> dict[str, type[Check]]:
    kinds: dict[str, type[Check]] = {}
    for module_name in MODULES:
        module = importlib.import_module(f"gate.checks.{module_name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Check) and value.kind and value is not Check \
                    and value.__module__ == module.__name__:
                kinds[value.kind] = value
    return kinds
