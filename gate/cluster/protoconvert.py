"""Decoded protobuf messages as the dicts json.loads gives for the same fields (gate.cluster.protoschema's
rules), by functions generated once per message and projection spec: a line or two per field."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from gate.cluster import projection, protoschema
from gate.cluster.projection import Spec, Where
from gate.cluster.protoschema import ALWAYS, BOOL, INT32, INT64, MAP, MESSAGES, POINTER, STRING, STRUCT, TIME, Field

_KEYWORDS = frozenset({"continue"})


_generated: dict[tuple[str, str, int], tuple[Spec, Callable]] = {}


def _function(kind: str, message: str, spec: Spec, source: Any, role: str | None = None) -> Callable:
    """The generated function for (message, spec), built once: `source` (a _Source or _Projected) writes
    its text, which runs with the helpers and the source's constants."""
    hit = _generated.get((kind, message, id(spec)))
    if hit is not None and hit[0] is spec:
        return hit[1]
    name = source.function(message, spec) if role is None else source.function(message, spec, role)
    env: dict[str, Any] = {"_time": _time, "_map": _map, "_text": _text, "_bytes": bytes, **source.helpers,
                           **source.constants}
    exec(compile("\n".join(source.lines), f"<protobody {kind} {message}>", "exec"), env)  # noqa: S102 - our text
    _generated[(kind, message, id(spec))] = (spec, env[name])
    return env[name]


def converter(message: str) -> Callable[[Any], dict]:
    """The generated function that converts a message: every declared field, as json.loads gives it."""
    return _function("converter", message, True, _Source())


class _Source:
    """The text of the functions that convert one message (and those of its message fields)."""

    helpers: dict[str, Any] = {}

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.names: set[str] = set()

    def function(self, message: str, spec: Spec = True) -> str:
        name = f"f_{message}"
        if name in self.names:
            return name
        self.names.add(name)
        if message == "TypeMeta":
            self.lines += [f"def {name}(m):",
                           "    return {'apiVersion': _text(m.apiVersion), 'kind': _text(m.kind)}", ""]
            return name
        body = [line for field in MESSAGES[message].fields for line in self._field(field)]
        self.lines += [f"def {name}(m):", "    d = {}", *body, "    return d", ""]
        return name

    def _field(self, field: Field) -> list[str]:
        """A line or two: whether encoding/json writes the field (protoschema's rules), and its value."""
        name = field.name
        get = f"getattr(m, {name!r})" if name in _KEYWORDS else f"m.{name}"
        if field.type in MESSAGES:
            convert = self.function(field.type)
            value = f"[{convert}(e) for e in v]" if field.repeated else f"{convert}(v)"
        elif field.type == TIME:
            value = "_time(v)"
        elif field.type == MAP:
            value = "_map(v)"
        elif field.type == STRING:  # upb hands a proto2 string that is not UTF-8 over as bytes
            value = "(_text(v) if v.__class__ is _bytes else v)"
        else:
            value = "v"
        if field.rule == POINTER:
            return [f"    if m.HasField({name!r}):", f"        v = {get}", f"        d[{name!r}] = {value}"]
        if field.rule in (STRUCT, ALWAYS):
            return [f"    v = {get}", f"    d[{name!r}] = {value}"]
        return [f"    v = {get}", "    if v:", f"        d[{name!r}] = {value}"]  # omitempty


def _text(value: str | bytes) -> str:
    """A string as JSON gives it: Go writes a string's bytes as they are in protobuf, and in JSON with
    each invalid UTF-8 byte as U+FFFD (a container's termination message can hold any bytes)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _map(value: Any) -> dict[str, str]:
    """A map<string, string> (labels): upb hands a value that is not UTF-8 over as bytes (and raises for
    such a key: the answer is then unreadable)."""
    out = dict(value)
    for text in out.values():
        if text.__class__ is not str:
            return {k: _text(v) for k, v in out.items()}
    return out


_times: dict[int, str] = {}
TIMES_MAX = 4096  # the pods of one rollout share their few times: formatted once each


def _time(value: Any) -> str | None:
    """A metav1.Time: None (JSON's null) for the zero time, which is written as an empty message."""
    if not value.HasField("seconds"):
        return None
    seconds = value.seconds
    text = _times.get(seconds)
    if text is None:
        if len(_times) >= TIMES_MAX:
            _times.clear()
        text = _times[seconds] = protoschema.rfc3339(seconds)
    return text


# -- converted and projected in one pass ------------------------------------------------------------------

def _labels(value: Any, memo: dict) -> dict[str, str]:
    """projection._whole(_map(value)) in one pass: a map<string, string> with its short values interned,
    shared with an equal one (a value that is not UTF-8 comes as bytes: read as JSON gives it)."""
    out = {}
    for key, text in value.items():
        if text.__class__ is not str:
            text = _text(text)
        out[key] = sys.intern(text) if len(text) <= projection.INTERN_MAX else text
    return memo.setdefault((*out, *out.values()), out)  # projection._shared's key: a string is its own token


def _dicts(out: list[dict], memo: dict) -> list[dict]:
    """projection._shared_list for a list of projected messages: each a (shared) dict, whose token is its
    identity."""
    return memo.setdefault((projection._LIST, *map(id, out)), out)


def projector(message: str, spec: Spec) -> Callable[[Any, dict], dict]:
    """The generated function that gives, for a decoded item and a list's memo, what
    gate.cluster.projection's projector gives for the item's JSON twin: the same values, short strings
    interned and equal parts shared as it shares them (its own helpers, its memo keys' rule), without
    building the converted dict first (20,000 pods: the projection was ~45 % of reading them)."""
    return _function("projector", message, spec, _Projected(), "object")


class _Projected:
    """The text of projection._fields' generated functions, reading a message instead of a dict."""

    helpers = {"_str": str, "_bool": bool, "_int": int, "_intern": sys.intern, "_whole": projection._whole,
               "_dicts": _dicts, "_token": projection._token, "ABSENT": projection._ABSENT, "_labels": _labels}

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.functions = 0

    def _constant(self, value: Any) -> str:
        name = f"K{len(self.constants)}"
        self.constants[name] = value
        return name

    def function(self, message: str, spec: dict, role: str) -> str:
        """`role` as projection._fields': "object" and "metadata" are never shared, "" is."""
        self.functions += 1
        name = f"p{self.functions}_{message}"
        fields = [f for f in MESSAGES[message].fields if f.name in spec]
        lines = [f"def {name}(m, memo):", "    d = {}"]
        for i, field in enumerate(fields):
            get = f"getattr(m, {field.name!r})" if field.name in _KEYWORDS else f"m.{field.name}"
            value = self._value(field, spec[field.name], role)
            token = [f"t{i} = {_token_of(field)}"] if not role else []
            absent = ["    else:", f"        t{i} = ABSENT"] if not role else []
            store = [*value, f"d[{field.name!r}] = v", *token]
            if field.rule == POINTER:
                lines += [f"    if m.HasField({field.name!r}):", f"        v = {get}", *_indent(store, 8), *absent]
            elif field.rule in (STRUCT, ALWAYS):
                lines += [f"    v = {get}", *_indent(store, 4)]
            else:
                lines += [f"    v = {get}", "    if v:", *_indent(store, 8), *absent]
        if role:
            lines.append("    return d")
        else:
            node = self._constant(object())
            lines.append(f"    return memo.setdefault(({node}, {''.join(f't{i}, ' for i in range(len(fields)))}), d)")
        self.lines += [*lines, ""]
        return name

    def _value(self, field: Field, spec: Spec, role: str) -> list[str]:
        """Lines that turn the field's value `v` into what the projection keeps (indented by the caller);
        `role`: the message's that holds the field."""
        if field.type in MESSAGES:
            return [f"v = {self._message(field, spec, role)}"]
        if role == "metadata" and field.name in projection.UNIQUE:
            return ["v = _text(v) if v.__class__ is _bytes else v"]
        if field.type == MAP:
            return ["v = _labels(v, memo)"]
        if field.type == STRING:  # a short string interned, as projection._whole
            return ["v = _text(v) if v.__class__ is _bytes else v", f"if len(v) <= {projection.INTERN_MAX}:",
                    "    v = _intern(v)"]
        if field.type == TIME:  # a string, or None for the zero time
            return ["v = _time(v)", f"if v.__class__ is _str and len(v) <= {projection.INTERN_MAX}:",
                    "    v = _intern(v)"]
        return []

    def _message(self, field: Field, spec: Spec, role: str) -> str:
        """The expression for a message field `v` (a repeated one: a list of messages) of a message whose
        role is `role`. As projection._part: an object's metadata is its own (never shared); every other
        part is shared with its equals (a pod's spec and status too)."""
        child = "metadata" if role == "object" and field.name == "metadata" else ""
        whole = self._constant(converter(field.type))  # every declared field, kept whole
        if isinstance(spec, Where) and spec.key is not None and field.repeated:
            test = next(f for f in MESSAGES[field.type].fields if f.name == spec.key)
            read = f"e.{test.name}" if test.rule == ALWAYS else f"(e.{test.name} or None)"  # JSON's get()
            inner = self._each(field.type, spec.spec, whole, "e", "")
            return f"_dicts([{inner} for e in v if {read} in {self._constant(spec.values)}], memo)"
        if isinstance(spec, Where):  # another filter: projection's own, over the converted elements
            keep = self._constant(projection._compiled(spec, root=False))
            return f"{keep}({f'[{whole}(e) for e in v]' if field.repeated else f'{whole}(v)'}, memo)"
        if field.repeated:
            return f"_dicts([{self._each(field.type, spec, whole, 'e', '')} for e in v], memo)"
        return self._each(field.type, spec, whole, "v", child)

    def _each(self, message: str, spec: Spec, whole: str, var: str, role: str) -> str:
        """One message `var` kept by a dict spec or whole (True)."""
        if isinstance(spec, dict):
            return f"{self.function(message, spec, role)}({var}, memo)"
        return f"_whole({whole}({var}), memo)"


def _token_of(field: Field) -> str:
    """projection._token(v) for the field's projected value, as its type already says it: a string
    itself, a (shared) dict or list its identity, a bool or integer with its type."""
    if field.type == STRING:
        return "v"
    if field.type in MESSAGES or field.type == MAP:
        return "id(v)"
    if field.type == BOOL:
        return "(_bool, v)"
    if field.type in (INT32, INT64):
        return "(_int, v)"
    return "_token(v)"


def _indent(lines: list[str], by: int) -> list[str]:
    return [" " * by + line for line in lines]
