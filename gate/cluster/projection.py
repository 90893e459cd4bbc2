"""Slim per-kind projections of listed objects: only the fields the gate's readers use.

A 20,000-pod list is held as projections, not as the objects the API server sent (managedFields, the
pod spec, annotations such as last-applied-configuration are most of a pod's bytes), so the memory a
list costs grows with what the checks read, not with what the cluster stores. `project(resource, obj)`
is a pure function; the list reader (gate.cluster.kube) applies it to each page after the page has
been judged readable (gate.cluster.answers), and drops the full objects with the page.

A projection is declared next to the code that reads the kind (`declare()` in checks/*.py), as a keep
spec: `True` keeps a value whole; a dict keeps those keys, each by its own spec; a dict spec applied to
a list keeps those keys of each element; `Where(test, spec)` applied to a list keeps the elements
`test` accepts (e.g. the two pod conditions the checks read), each by `spec`.
Specs declared twice for a kind are merged (union), so every reader gets every field any reader
declared. A kind nobody declared is kept whole. Short strings are interned: 20,000 pods say "True" and
"Running" once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gate.cluster.resources import Resource

Spec = Any  # True | dict[str, Spec] | Where
INTERN_MAX = 64

METADATA: dict[str, Spec] = {
    **{k: True for k in ("name", "namespace", "resourceVersion", "labels", "generation", "deletionTimestamp")},
    "ownerReferences": {"kind": True, "name": True, "controller": True},
}


@dataclass(frozen=True)
class Where:
    """A list spec: the elements `test` accepts, each kept by `spec`."""

    test: Callable[[Any], bool]
    spec: Spec = True


def either(a: Callable[[Any], bool], b: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: a(v) or b(v)


_registry: dict[tuple[str, str], Spec] = {}


def merge(a: Spec, b: Spec) -> Spec:
    """The union of two keep specs."""
    if a is True or b is True:
        return True
    if isinstance(a, Where) and isinstance(b, Where):
        return Where(either(a.test, b.test), merge(a.spec, b.spec))
    if isinstance(a, Where) or isinstance(b, Where):  # one reader wants every element
        return merge(a.spec if isinstance(a, Where) else a, b.spec if isinstance(b, Where) else b)
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
    return _compiled(spec)(value)


def project(res: Resource, obj: dict) -> dict:
    """The projection of one listed object of kind `res`."""
    spec = _registry.get((res.group, res.plural), True)
    return _compiled(spec)(obj) if spec is not True else obj


_cache: dict[int, tuple[Spec, Callable[[Any], Any]]] = {}


def _compiled(spec: Spec) -> Callable[[Any], Any]:
    """`spec` as a function, built once: a dict spec walks its own (few) keys, not the object's."""
    hit = _cache.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    fn = _compile(spec)
    _cache[id(spec)] = (spec, fn)
    return fn


def _compile(spec: Spec) -> Callable[[Any], Any]:
    if spec is True:
        return _interned
    if isinstance(spec, Where):
        inner, test = _compile(spec.spec), spec.test

        def where(value: Any) -> Any:
            if not isinstance(value, list):
                return inner(value)
            return [inner(v) for v in value if not isinstance(v, dict) or test(v)]
        return where
    parts = [(key, _compile(sub)) for key, sub in spec.items()]

    def fields(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: fn(value[key]) for key, fn in parts if key in value}
        if isinstance(value, list):
            return [fields(v) for v in value]
        return _interned(value)
    return fields


def _interned(value: Any) -> Any:
    """A kept value with its short strings interned."""
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= INTERN_MAX else value
    if isinstance(value, dict):
        return {k: _interned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_interned(v) for v in value]
    return value
