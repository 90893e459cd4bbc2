"""An in-memory stand-in for gate.cluster.kube.ClusterView, for unit tests of check kinds.

Objects are plain dicts shaped like `kubectl get -o json` output. Label selectors support the forms
checks use (`a=b`, `a==b`, `a!=b`, `a`, `!a`, `a in (x,y)`, `a notin (x,y)`); field selectors support
`metadata.name`, `metadata.namespace` and `status.phase`. Every call is recorded in `calls`.
"""

from __future__ import annotations

import re
from typing import Any

from gate.cluster.kube import Permission
from gate.cluster.resources import Resource
from gate.errors import PermissionDenied

_SET_RE = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _split_selector(selector: str) -> list[str]:
    terms, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def label_match(labels: dict[str, str], selector: str | None) -> bool:
    for term in _split_selector(selector or ""):
        m = _SET_RE.match(term)
        if m:
            key, op, values = m.group(1), m.group(2), {v.strip() for v in m.group(3).split(",")}
            inside = key in labels and labels[key] in values
            if (op == "in") != inside:
                return False
        elif "!=" in term:
            key, value = (s.strip() for s in term.split("!=", 1))
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = (s.strip() for s in term.replace("==", "=").split("=", 1))
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


def _field(obj: dict, path: str) -> Any:
    value: Any = obj
    for part in path.split("."):
        value = (value or {}).get(part) if isinstance(value, dict) else None
    return value


def field_match(obj: dict, selector: str | None) -> bool:
    for term in _split_selector(selector or ""):
        negate = "!=" in term
        key, value = (s.strip() for s in term.replace("==", "=").replace("!=", "=").split("=", 1))
        if (str(_field(obj, key) or "") == value) == negate:
            return False
    return True


class FakeView:
    """Holds objects per Resource; list/get behave like ClusterView (get returns None when absent)."""

    def __init__(self, objects: dict[Resource, list[dict]] | None = None,
                 forbidden: set[Resource] | None = None) -> None:
        self.objects: dict[Resource, list[dict]] = {k: list(v) for k, v in (objects or {}).items()}
        self.forbidden = forbidden or set()
        self.calls: list[tuple] = []

    def add(self, res: Resource, *objs: dict) -> FakeView:
        self.objects.setdefault(res, []).extend(objs)
        return self

    def _deny(self, verb: str, res: Resource, namespace: str | None) -> None:
        if res in self.forbidden:
            perm = Permission(verb, res.plural, res.group, namespace)
            raise PermissionDenied(f"forbidden: the gate may not {perm.describe()}", permission=perm)

    def list(self, res: Resource, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict]:
        self.calls.append(("list", res.plural, namespace, label_selector, field_selector))
        self._deny("list", res, namespace)
        out = []
        for obj in self.objects.get(res, []):
            meta = obj.get("metadata") or {}
            if res.namespaced and namespace and meta.get("namespace") != namespace:
                continue
            if label_match(meta.get("labels") or {}, label_selector) and field_match(obj, field_selector):
                out.append(obj)
        return out

    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict | None:
        self.calls.append(("get", res.plural, namespace, name))
        self._deny("get", res, namespace)
        for obj in self.objects.get(res, []):
            meta = obj.get("metadata") or {}
            if meta.get("name") == name and (not res.namespaced or meta.get("namespace") == namespace):
                return obj
        return None

    def named(self, res: Resource, names: list[str], namespace: str | None = None) -> dict[str, dict | None]:
        """As ClusterView.named: GETs, or one list from gate.cluster.named.LIST_FROM names on."""
        from gate.cluster import named

        return named.read(names, lambda name: self.get(res, name, namespace), lambda: self.list(res, namespace))


# -- object builders: shaped like `kubectl get -o json` ------------------------------------------------
PART_OF = "app.kubernetes.io/part-of"


def meta(name: str, namespace: str | None = None, labels: dict[str, str] | None = None,
         **extra: Any) -> dict:
    out: dict[str, Any] = {"name": name, "labels": dict(labels or {}), **extra}
    if namespace:
        out["namespace"] = namespace
    return out


def pod(name: str, namespace: str = "monitoring", labels: dict[str, str] | None = None, *,
        ready: bool = True, phase: str = "Running", containers: list[dict] | None = None,
        conditions: list[dict] | None = None) -> dict:
    """A pod; `containers` are containerStatuses (default: one ready container named `main`)."""
    if containers is None:
        containers = [{"name": "main", "image": "example/main:1", "ready": ready, "restartCount": 0,
                       "state": {"running": {"startedAt": "2026-08-20T10:00:00Z"}}}]
    if conditions is None:
        conditions = [{"type": "PodScheduled", "status": "True"},
                      {"type": "Ready", "status": "True" if ready else "False",
                       **({} if ready else {"reason": "ContainersNotReady",
                                             "message": "containers with unready status: [main]"})}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": meta(name, namespace, labels or {PART_OF: "kube-prometheus-stack"}),
            "spec": {"restartPolicy": "Always"},
            "status": {"phase": phase, "conditions": conditions, "containerStatuses": containers}}
