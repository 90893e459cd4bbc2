"""The Argo CD Applications a Stage's promotion steps would sync (argocd-update steps)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AppRef:
    namespace: str
    name: str
    where: str  # which step named it, for the report


@dataclass
class AppRefs:
    refs: list[AppRef] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # what could not be determined, and why

    def namespaces(self) -> list[str]:
        return list(dict.fromkeys(ref.namespace for ref in self.refs))


def template_steps(stage: dict) -> list[dict]:
    return ((((stage.get("spec") or {}).get("promotionTemplate") or {}).get("spec") or {}).get("steps")) or []


def task_refs(stage: dict) -> list[tuple[str, str]]:
    return []


def context(readings: Any) -> dict:
    return {}


def argocd_app_refs(stage: dict, tasks: dict, ctx: dict, default_namespace: str = "argocd") -> AppRefs:
    out = AppRefs()
    for i, step in enumerate(template_steps(stage)):
        if step.get("uses") != "argocd-update":
            continue
        for app in (step.get("config") or {}).get("apps") or []:
            if app.get("name") and "${{" not in app["name"]:
                out.refs.append(AppRef(app.get("namespace") or default_namespace, app["name"], f"step {i}"))
    return out
