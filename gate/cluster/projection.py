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

Equal parts are shared: the objects of one list (`projector()`) that project to equal values below their
metadata (the pods of one ReplicaSet: same labels, owner, Ready condition, container statuses; every
Argo CD app's {"status": "Healthy"}) hold one dict or list for them, not one each, so a projected pod
costs its own metadata and little more (bench_scale.py: 2.6 kB -> 0.5 kB a pod). The shared values
are read-only: no reader changes a listed object (they never did; a projection is a view).
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
    """A list spec: the elements `test` accepts, each kept by `spec`. Made by field_in(), it also says
    what its test reads (`key`, `values`), so a reader that decodes elements one field at a time
    (gate.cluster.protobody) can drop the others before decoding them."""

    test: Callable[[Any], bool]
    spec: Spec = True
    key: str | None = None
    values: tuple = ()

    @classmethod
    def field_in(cls, key: str, values: tuple, spec: Spec = True) -> Where:
        """The elements whose `key` is one of `values`."""
        return cls(lambda v: v.get(key) in values, spec, key, tuple(values))


def either(a: Callable[[Any], bool], b: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: a(v) or b(v)


_registry: dict[tuple[str, str], Spec] = {}
_skips: set[tuple[str, str]] = set()  # kinds whose only key named managedFields is metadata's


def merge(a: Spec, b: Spec) -> Spec:
    """The union of two keep specs."""
    if a is True or b is True:
        return True
    if isinstance(a, Where) and isinstance(b, Where):
        if a.key is not None and a.key == b.key:
            return Where.field_in(a.key, (*a.values, *b.values), merge(a.spec, b.spec))
        return Where(either(a.test, b.test), merge(a.spec, b.spec))
    if isinstance(a, Where) or isinstance(b, Where):  # one reader wants every element
        return merge(a.spec if isinstance(a, Where) else a, b.spec if isinstance(b, Where) else b)
    return {k: merge(a[k], b[k]) if k in a and k in b else a.get(k, b.get(k)) for k in {*a, *b}}


def declare(res: Resource, spec: dict[str, Spec], *, skip_managed_fields: bool = False) -> None:
    """A reader of `res` lists needs these fields (metadata's common fields are always kept).

    `skip_managed_fields`: the kind's only key named managedFields is metadata's (a built-in kind:
    typed fields, no free-form object that could hold such a key), so a list reader may skip every
    `"managedFields":[…]` unparsed (gate.cluster.listbody) while no reader keeps it."""
    key = (res.group, res.plural)
    if skip_managed_fields:
        _skips.add(key)
    full = merge({"apiVersion": True, "kind": True, "metadata": METADATA}, spec)
    _registry[key] = merge(_registry[key], full) if key in _registry else full


def spec_for(res: Resource) -> Spec:
    """The keep spec for a kind: True (keep whole) when no reader declared one."""
    return _registry.get((res.group, res.plural), True)


def keep(value: Any, spec: Spec) -> Any:
    """`value` cut down to `spec`."""
    return _compiled(spec, root=False)(value, {})


def project(res: Resource, obj: dict) -> dict:
    """The projection of one listed object of kind `res`."""
    spec = _registry.get((res.group, res.plural), True)
    return _compiled(spec)(obj, {}) if spec is not True else obj


def projector(res: Resource) -> Callable[[dict], dict] | None:
    """project() for the objects of one list (or one watch): equal parts of its objects are one object.
    None when nobody declared the kind (objects are kept whole)."""
    spec = _registry.get((res.group, res.plural), True)
    if spec is True:
        return None
    fn = _compiled(spec)
    memo: dict[tuple, Any] = {}

    def one(obj: dict) -> dict:
        if len(memo) > MEMO_MAX:  # a long watch of ever-new values: start again rather than grow
            memo.clear()
        return fn(obj, memo)
    one.unread = unread(res)  # type: ignore[attr-defined]  # gate.cluster.listbody skips these unparsed
    one.spec = spec  # type: ignore[attr-defined]  # gate.cluster.protobody projects by it as it converts
    return one


def unread(res: Resource) -> frozenset[str]:
    """The keys a list reader may skip without parsing them wherever they occur in an object of kind
    `res` (gate.cluster.listbody): managedFields (46 % of a real pod's bytes) when the kind was
    declared with `skip_managed_fields` and no reader keeps metadata.managedFields."""
    spec = _registry.get((res.group, res.plural), True)
    metadata = spec.get("metadata") if isinstance(spec, dict) else None
    if (res.group, res.plural) in _skips and isinstance(metadata, dict) and "managedFields" not in metadata:
        return frozenset({"managedFields"})
    return frozenset()


UNIQUE = ("name", "resourceVersion", "uid")  # metadata every object has its own of: not interned
Memo = dict  # canonical key (see _shared) -> the one projected value with that content
MEMO_MAX = 20_000  # ~2.5 MB of keys at most (an app of unique sources: ~4 entries)
_LIST = object()  # leads a list's key, so a list never has a dict's key
_ABSENT = object()  # a key the value does not have, in a generated dict spec's memo key (_fields)
_cache: dict[tuple[int, bool], tuple[Spec, Callable[[Any, Memo], Any]]] = {}


def _compiled(spec: Spec, root: bool = True) -> Callable[[Any, Memo], Any]:
    """`spec` as a function, built once: a dict spec walks its own (few) keys, not the object's.
    `root`: the spec of a whole object, whose top level and metadata are its own (never shared)."""
    hit = _cache.get((id(spec), root))
    if hit is not None and hit[0] is spec:
        return hit[1]
    fn = _compile(spec, role="object" if root else "")
    _cache[(id(spec), root)] = (spec, fn)
    return fn


def _compile(spec: Spec, role: str = "") -> Callable[[Any, Memo], Any]:
    """`role` "object" (a listed object) or "metadata" (its metadata): never shared, unique to the
    object (a memo entry would only cost); anything below them is."""
    if spec is True:
        return _whole
    if isinstance(spec, Where):
        inner, test = _compile(spec.spec), spec.test

        def where(value: Any, memo: Memo) -> Any:
            if not isinstance(value, list):
                return inner(value, memo)
            out = [inner(v, memo) for v in value if not isinstance(v, dict) or test(v)]
            return _shared_list(out, memo)
        return where
    return _fields(spec, role)


def _fields(spec: dict, role: str) -> Callable[[Any, Memo], Any]:
    """A dict spec as one generated function: a few lines per key of the spec, a kept string interned in
    place and the memo key built as the fields are, so a pod costs no call per kept field (the 20,000 pods
    of benchmarks/load.py as kube-apiserver v1.36 serves them, managedFields cut: 0.78 s -> 0.46-0.51 s
    of CPU). The values are those of keeping each key by its own spec: {key: keep(value[key],
    spec[key]) for the spec's keys that value has}, in the spec's order; a list of dicts is each kept;
    any other value is kept as a scalar. The memo key: this function's own marker, then each key's token
    or ABSENT, so only its own equal outputs are one."""
    env: dict[str, Any] = {"_shared_list": _shared_list, "_whole": _whole, "_interned": _interned,
                           "_intern": sys.intern, "_token": _token, "_dict": dict, "_list": list, "_str": str,
                           "ABSENT": _ABSENT, "NODE": object()}
    lines = ["def fields(value, memo):",
             "    if type(value) is _dict or isinstance(value, _dict):",
             "        out = {}"]
    for i, (key, sub) in enumerate(spec.items()):
        lines += [f"        if {key!r} in value:", f"            v = value[{key!r}]"]
        if sub is True and role == "metadata" and key in UNIQUE:
            lines.append(f"            out[{key!r}] = v")
            continue
        if sub is True:  # _whole(v), its commonest cases inline
            lines += ["            t = type(v)",
                      "            if t is _str:",
                      f"                v = _intern(v) if len(v) <= {INTERN_MAX} else v",
                      "            elif t is not bool and t is not int and v is not None:",
                      "                v = _whole(v, memo)"]
        else:
            env[f"f{i}"] = _part(role, key, sub)
            lines.append(f"            v = f{i}(v, memo)")
        lines.append(f"            out[{key!r}] = v")
        if not role:  # _token(v), its commonest cases inline
            lines += [f"            t{i} = v if type(v) is _str else id(v) if type(v) is _dict or type(v) is _list "
                      "else _token(v)", "        else:", f"            t{i} = ABSENT"]
    if role:
        lines.append("        return out")
    else:
        tokens = "".join(f", t{i}" for i in range(len(spec)))
        lines.append(f"        return memo.setdefault((NODE{tokens}), out)")
    lines += ["    if isinstance(value, _list):",
              "        return _shared_list([fields(v, memo) for v in value], memo)",
              "    return _interned(value)"]
    exec(compile("\n".join(lines), f"<projection {role or 'part'}>", "exec"), env)  # noqa: S102 - our own text
    return env["fields"]


def _part(role: str, key: str, spec: Spec) -> Callable[[Any, Memo], Any]:
    if role == "object" and key == "metadata":
        return _compile(spec, role="metadata")
    if role == "metadata" and key in UNIQUE and spec is True:
        return _as_is
    return _compile(spec)


def _as_is(value: Any, memo: Memo) -> Any:
    return value


def _token(value: Any) -> Any:
    """What stands for a projected value in its parent's key: a string itself, a dict or list its
    identity (it is already the shared one, held by the memo entry whose key names it), other scalars
    with their type (True, 1 and 1.0 are equal keys, not equal JSON), a float by its text (0.0, -0.0)."""
    kind = type(value)
    if kind is str:
        return value
    if kind is dict or kind is list or isinstance(value, (dict, list)):
        return id(value)
    return kind, repr(value) if kind is float else value


def _shared(out: dict, memo: Memo) -> dict:
    """The memo's dict equal to `out` (its keys in order, its values the same objects), else `out`."""
    key = (*out, *map(_token, out.values()))
    return memo.setdefault(key, out)


def _shared_list(out: list, memo: Memo) -> list:
    key = (_LIST, *map(_token, out))
    return memo.setdefault(key, out)


def _whole(value: Any, memo: Memo) -> Any:
    """A value kept whole: short strings interned, equal dicts and lists shared."""
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= INTERN_MAX else value
    if isinstance(value, dict):  # a string value interned here, not in a call of its own (labels)
        return _shared({k: (sys.intern(v) if len(v) <= INTERN_MAX else v) if type(v) is str else _whole(v, memo)
                        for k, v in value.items()}, memo)
    if isinstance(value, list):
        return _shared_list([_whole(v, memo) for v in value], memo)
    return value


def _interned(value: Any) -> Any:
    """A scalar kept where the spec expected a dict or list: short strings interned."""
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= INTERN_MAX else value
    return value
