"""Slim per-kind projections of listed objects: only the fields the gate's readers use.

A 20,000-pod list is held as projections, not as the objects the API server sent (managedFields, the
pod spec, annotations such as last-applied-configuration are most of a pod's bytes), so the memory a
list costs grows with what the checks read, not with what the cluster stores. `project(resource, obj)`
is a pure function; the list reader (gate.cluster.kube) applies it to each page after the page has
been judged readable (gate.cluster.answers), and drops the full objects with the page.

A projection is declared next to the code that reads the kind (`declare()` in checks/*.py), as a keep
spec: `True` keeps a value whole; a dict keeps those keys, each by its own spec; a dict spec applied to
a list keeps those keys of each element; `Only(field, values, spec)` applied to a list keeps the
elements whose `field` is one of `values` (e.g. the two pod conditions the checks read), each by `spec`.
Specs declared twice for a kind are merged (union), so every reader gets every field any reader
declared. A kind nobody declared is kept whole. Short strings are interned: 20,000 pods say "True" and
"Running" once.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from gate.cluster.resources import Resource

Spec = Any  # True | dict[str, Spec] | Only
INTERN_MAX = 64

METADATA: dict[str, Spec] = {
    **{k: True for k in ("name", "namespace", "resourceVersion", "labels", "generation", "deletionTimestamp")},
    "ownerReferences": {"apiVersion": True, "kind": True, "name": True, "uid": True, "controller": True},
}


@dataclass(frozen=True)
class Only:
    """A list spec: the elements whose `field` is one of `values`, each kept by `spec`."""

    field: str
    values: frozenset[str]
    spec: Spec = True

_registry: dict[tuple[str, str], Spec] = {}


def merge(a: Spec, b: Spec) -> Spec:
    """The union of two keep specs."""
    if a is True or b is True:
        return True
    if isinstance(a, Only) or isinstance(b, Only):
        if isinstance(a, Only) and isinstance(b, Only) and a.field == b.field:
            return Only(a.field, a.values | b.values, merge(a.spec, b.spec))
        return merge(a.spec if isinstance(a, Only) else a, b.spec if isinstance(b, Only) else b)
    return {k: merge(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {*a, *b}}


def declare(res: Resource, spec: dict[str, Spec]) -> None:
    """A reader of `res` lists needs these fields (metadata's common fields are always kept)."""
    key = (res.group, res.plural)
    full = merge({"apiVersion": True, "kind": True, "metadata": METADATA}, spec)
    _registry[key] = merge(_registry[key], full) if key in _registry else full


def spec_for(res: Resource) -> Spec:
    """The keep spec for a kind: True (keep whole) when no reader declared one."""
    return _registry.get((res.group, res.plural), True)


def keep(value: Any, spec: Spec) -> Any:
    """`value` cut down to `spec`."""
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= INTERN_MAX else value
    if spec is True:
        return value if not isinstance(value, (dict, list)) else _interned(value)
    if isinstance(spec, Only):
        if not isinstance(value, list):
            return keep(value, spec.spec)
        return [keep(v, spec.spec) for v in value
                if not isinstance(v, dict) or v.get(spec.field) in spec.values]
    if isinstance(value, dict):
        return {sys.intern(k): keep(v, spec[k]) for k, v in value.items() if k in spec}
    if isinstance(value, list):
        return [keep(v, spec) for v in value]
    return value


def _interned(value: Any) -> Any:
    """A kept-whole value with its short strings interned."""
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= INTERN_MAX else value
    if isinstance(value, dict):
        return {sys.intern(k) if isinstance(k, str) else k: _interned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned(v) for v in value]
    return value


def project(res: Resource, obj: dict) -> dict:
    """The projection of one listed object of kind `res`."""
    return keep(obj, spec_for(res))
