"""Label and field selectors, as the apiserver parses them (`=`, `==`, `!=`, `in`, `notin`, `k`, `!k`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class SelectorError(ValueError):
    """Bad selector syntax: the apiserver answers 400 BadRequest."""


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        has = self.key in labels
        val = labels.get(self.key)
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op == "=":
            return has and val == self.values[0]
        if self.op == "!=":
            return not has or val != self.values[0]
        if self.op == "in":
            return has and val in self.values
        return not has or val not in self.values  # notin


_KEY = r"[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_BIN = re.compile(rf"^\s*({_KEY})\s*(==|!=|=)\s*({_VALUE})\s*$")
_EXISTS = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")


def _split(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def parse_labels(text: str | None) -> list[Requirement]:
    if not text or not text.strip():
        return []
    reqs = []
    for part in _split(text):
        if m := _SET.match(part):
            values = tuple(v.strip() for v in m.group(4).split(",") if v.strip())
            if not values:
                raise SelectorError(
                    f"unable to parse requirement: found ')', expected: identifier in {part!r}"
                )
            reqs.append(Requirement(m.group(1), m.group(3), values))
        elif m := _BIN.match(part):
            op = "=" if m.group(3) in ("=", "==") else "!="
            reqs.append(Requirement(m.group(1), op, (m.group(4),)))
        elif m := _EXISTS.match(part):
            reqs.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        else:
            raise SelectorError(f"unable to parse requirement: {part.strip()!r}")
    return reqs


def label_matcher(text: str | None) -> Callable[[dict], bool]:
    reqs = parse_labels(text)

    def match(obj: dict) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in reqs)

    return match


# Field labels the apiserver supports, per kind (metadata.name/namespace work everywhere).
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "Pod": (
        "status.phase",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    "Event": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "Secret": ("type",),
    "Namespace": ("status.phase",),
    "Node": ("spec.unschedulable",),
    "Job": ("status.successful",),
    "ReplicaSet": ("status.replicas",),
    "PersistentVolumeClaim": ("status.phase",),
}


def _dig(obj: Any, path: str) -> str:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    if obj is None:
        return ""
    return str(obj).lower() if isinstance(obj, bool) else str(obj)


def field_matcher(text: str | None, kind: str, extra_fields: tuple[str, ...] = ()) -> Callable[[dict], bool]:
    """`metadata.name=x,status.phase!=Running`; unsupported fields raise SelectorError like the apiserver."""
    terms: list[tuple[str, bool, str]] = []
    if text and text.strip():
        allowed = ("metadata.name", "metadata.namespace", *FIELD_LABELS.get(kind, ()), *extra_fields)
        for part in text.split(","):
            m = re.match(r"^\s*([^=!\s]+)\s*(==|!=|=)\s*(.*?)\s*$", part)
            if not m:
                raise SelectorError(f"invalid selector: '{text}'; can't understand '{part}'")
            key, op, value = m.groups()
            if key not in allowed:
                raise SelectorError(f"field label not supported: {key}")
            terms.append((key, op != "!=", value))

    def match(obj: dict) -> bool:
        return all((_dig(obj, key) == value) == equal for key, equal, value in terms)

    return match
