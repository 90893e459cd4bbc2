"""Decoded protobuf messages as the dicts json.loads gives for the same fields (gate.cluster.protoschema's
rules), by functions generated once per message and projection spec: a line or two per field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gate.cluster import protoschema
from gate.cluster.projection import Spec, Where
from gate.cluster.protoschema import ALWAYS, MAP, MESSAGES, POINTER, STRING, STRUCT, TIME, Field

_KEYWORDS = frozenset({"continue"})


_converters: dict[tuple[str, int], tuple[Spec, Callable[[Any], dict]]] = {}


def converter(message: str, spec: Spec = True) -> Callable[[Any], dict]:
    """The generated function that converts a message, cut to a projection `spec` (True: every declared
    field). Cut or not, the projection of what it gives is the same (a projection reads only its spec's
    keys; a Where.field_in drops here the elements its test would drop), so a spec only saves work."""
    hit = _converters.get((message, id(spec)))
    if hit is not None and hit[0] is spec:
        return hit[1]
    source = _Source()
    name = source.function(message, spec)
    env: dict[str, Any] = {"_time": _time, "_map": _map, "_text": _text, "_bytes": bytes, **source.constants}
    exec(compile("\n".join(source.lines), f"<protobody {message}>", "exec"), env)  # noqa: S102 - our own text
    _converters[(message, id(spec))] = (spec, env[name])
    return env[name]


class _Source:
    """The text of the functions that convert one message cut to one spec (and those it calls)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self.names: dict[tuple[str, int], str] = {}

    def function(self, message: str, spec: Spec) -> str:
        if message == "TypeMeta":
            self.lines += ["def f_TypeMeta(m):",
                           "    return {'apiVersion': _text(m.apiVersion), 'kind': _text(m.kind)}"]
            return "f_TypeMeta"
        spec = True if spec is True or not isinstance(spec, dict) else spec
        key = (message, id(spec))
        if key in self.names:
            return self.names[key]
        name = self.names[key] = f"f{len(self.names)}_{message}"
        fields = MESSAGES[message].fields if spec is True else \
            [f for f in MESSAGES[message].fields if f.name in spec]
        body = [line for field in fields
                for line in self._field(field, True if spec is True else spec[field.name])]
        self.lines += [f"def {name}(m):", "    d = {}", *body, "    return d", ""]
        return name

    def _field(self, field: Field, spec: Spec) -> list[str]:
        """A line or two: whether encoding/json writes the field (protoschema's rules), and its value."""
        name = field.name
        get = f"getattr(m, {name!r})" if name in _KEYWORDS else f"m.{name}"
        if field.type in MESSAGES:
            value = self._message_value(field, spec)
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

    def _message_value(self, field: Field, spec: Spec) -> str:
        if isinstance(spec, Where) and spec.key is not None and field.repeated:
            convert = self.function(field.type, spec.spec)
            test = next(f for f in MESSAGES[field.type].fields if f.name == spec.key)
            read = f"e.{test.name}" if test.rule == ALWAYS else f"(e.{test.name} or None)"  # JSON's get()
            values = f"V{len(self.constants)}"
            self.constants[values] = spec.values
            return f"[{convert}(e) for e in v if {read} in {values}]"
        convert = self.function(field.type, True if isinstance(spec, Where) else spec)
        return f"[{convert}(e) for e in v]" if field.repeated else f"{convert}(v)"


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


