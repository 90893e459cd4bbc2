"""Kargo's `${{ … }}` expressions, evaluated for what is knowable before a Promotion exists.

Kargo evaluates step config and vars with expr-lang (akuity/kargo v1.11.2 pkg/expressions/
json_templates.go): each `${{ expr }}` in a string is replaced by its value (a string as is, anything
else as JSON), and a whole result that is quoted is unquoted, a number or a boolean becomes one
(EvaluateTemplate, lines 116-211). The environment (pkg/promotion/evaluator.go BuildCtxMap, lines
102-127) holds `ctx.project`, `ctx.stage`, `ctx.promotion` and Freight/step data; `vars` are added by
Vars (lines 168-216).

Lint knows `ctx.stage`, `ctx.project` (when the Stage's namespace is known) and every var; the
Promotion's name is a placeholder, and Freight, outputs and the Freight/secret functions are unknown.
The grammar is the expr-lang subset pipelines use: literals, member and index access, `+`, comparisons,
`and`/`or`/`not`, `? :`, `??`, and the string functions (expr-lang builtins plus Kargo's quote()).
Anything else evaluates to `Unknown`, naming the expression, so a rule can say what it could not check.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DELIMITERS = (("${{", "}}"), ("${%", "%}"))


@dataclass(frozen=True)
class Unknown:
    """A value lint cannot know before the Promotion runs; `label` is shown in its place."""

    expression: str
    label: str = ""
    cause: str = ""  # the innermost expression that is unknown (ctx.promotion behind vars.app)

    @property
    def root(self) -> str:
        return self.cause or self.expression

    def shown(self) -> str:
        return self.label or "${{ " + self.expression.strip() + " }}"


class _Unsupported(Exception):
    pass


_TOKEN = re.compile(r"""\s*(?:
    (?P<num>\d+(?:\.\d+)?)
  | (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<op>\?\?|\?\.|==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]])
)""", re.X)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise _Unsupported(text[pos:])
        pos = m.end()
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
    return out


def _go_quote(text: str) -> str:
    """Go's %q for a string (the common cases: JSON escaping agrees with Go for printable text)."""
    return json.dumps(text, ensure_ascii=False)


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return json.dumps(value, separators=(",", ":"))


def _need_str(*values: Any) -> None:
    if not all(isinstance(v, str) for v in values):
        raise _Unsupported("string function on a non-string")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "quote": lambda v: _go_quote(v) if isinstance(v, str) else f'"{json.dumps(v)}"',
    "lower": lambda s: (_need_str(s), s.lower())[1],
    "upper": lambda s: (_need_str(s), s.upper())[1],
    "trim": lambda s, cut=None: (_need_str(s), s.strip(cut))[1],
    "trimPrefix": lambda s, p: (_need_str(s, p), s.removeprefix(p))[1],
    "trimSuffix": lambda s, p: (_need_str(s, p), s.removesuffix(p))[1],
    "replace": lambda s, old, new: (_need_str(s, old, new), s.replace(old, new))[1],
    "split": lambda s, sep: (_need_str(s, sep), s.split(sep))[1],
    "join": lambda items, sep="": sep.join(map(_json, items)),
    "hasPrefix": lambda s, p: (_need_str(s, p), s.startswith(p))[1],
    "hasSuffix": lambda s, p: (_need_str(s, p), s.endswith(p))[1],
    "len": lambda v: float(len(v)),
    "string": _json,
}
MAX_TEXT = 1 << 20  # vars may build on each other (b = a + a, c = b + b, …): no value grows past 1 MiB


class _Parser:
    """Recursive descent over the token list; evaluates while parsing (short expressions only)."""

    def __init__(self, text: str, env: dict[str, Any]) -> None:
        self.text, self.env, self.toks, self.i = text, env, _tokens(text), 0

    def peek(self, value: str | None = None) -> bool:
        return self.i < len(self.toks) and (value is None or self.toks[self.i][1] == value)

    def take(self, value: str | None = None) -> tuple[str, str]:
        if not self.peek(value):
            raise _Unsupported(self.text)
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.ternary()
        if self.i != len(self.toks):
            raise _Unsupported(self.text)
        return value

    def ternary(self) -> Any:
        cond = self.coalesce()
        if not self.peek("?"):
            return cond
        self.take("?")
        yes = self.ternary()
        self.take(":")
        no = self.ternary()
        if isinstance(cond, Unknown):
            return cond
        return yes if cond else no

    def coalesce(self) -> Any:
        left = self.logic_or()
        while self.peek("??"):
            self.take()
            right = self.logic_or()
            left = right if left is None else left
        return left

    def logic_or(self) -> Any:
        left = self.logic_and()
        while self.peek("or") or self.peek("||"):
            self.take()
            right = self.logic_and()
            left = _unknown(left, right) or (bool(left) or bool(right))
        return left

    def logic_and(self) -> Any:
        left = self.compare()
        while self.peek("and") or self.peek("&&"):
            self.take()
            right = self.compare()
            left = _unknown(left, right) or (bool(left) and bool(right))
        return left

    _COMPARE: dict[str, Callable[[Any, Any], Any]] = {
        "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
        ">": lambda a, b: a > b, "<=": lambda a, b: a <= b, ">=": lambda a, b: a >= b,
        "contains": lambda a, b: b in a, "startsWith": lambda a, b: a.startswith(b),
        "endsWith": lambda a, b: a.endswith(b), "in": lambda a, b: a in b,
    }

    def compare(self) -> Any:
        left = self.additive()
        while self.i < len(self.toks) and self.toks[self.i][1] in self._COMPARE:
            op = self.take()[1]
            right = self.additive()
            left = _unknown(left, right) or self._COMPARE[op](left, right)
        return left

    def additive(self) -> Any:
        left = self.unary()
        while self.peek("+") or self.peek("-"):
            op = self.take()[1]
            right = self.unary()
            known = _unknown(left, right)
            if known:
                left = known
            elif op == "+" and isinstance(left, str) and isinstance(right, str):
                left = _bounded(left + right) if len(left) + len(right) <= MAX_TEXT else _bounded(None)
            elif isinstance(left, float) and isinstance(right, float):
                left = left + right if op == "+" else left - right
            else:
                raise _Unsupported(self.text)
        return left

    def unary(self) -> Any:
        if self.peek("not") or self.peek("!"):
            self.take()
            value = self.unary()
            return value if isinstance(value, Unknown) else not value
        return self.postfix()

    def postfix(self) -> Any:
        value, label = self.primary()
        while self.peek(".") or self.peek("?.") or self.peek("["):
            if self.take()[1] == "[":
                key = self.ternary()
                self.take("]")
            else:
                key = self.take()[1]
                label += "." + str(key)
            value = _member(value, key, label)
        return value

    def primary(self) -> tuple[Any, str]:
        kind, tok = self.take()
        if kind == "num":
            return float(tok), tok
        if kind == "str":
            return json.loads('"' + tok[1:-1].replace('"', '\\"').replace("\\'", "'") + '"') \
                if tok[0] == "'" else json.loads(tok), tok
        if tok == "(":
            value = self.ternary()
            self.take(")")
            return value, "(…)"
        if kind != "name":
            raise _Unsupported(self.text)
        if tok in ("true", "false"):
            return tok == "true", tok
        if tok == "nil":
            return None, tok
        if self.peek("("):
            return self.call(tok), tok + "(…)"
        if tok not in self.env:
            raise _Unsupported(tok)
        return self.env[tok], tok

    def call(self, name: str) -> Any:
        self.take("(")
        args = []
        while not self.peek(")"):
            args.append(self.ternary())
            if not self.peek(")"):
                self.take(",")
        self.take(")")
        unknown = _unknown(*args)
        if name not in FUNCTIONS:
            return Unknown(f"{name}(…)")  # Freight, secret and data functions: known only at promotion
        if unknown:
            return unknown
        try:
            return _bounded(FUNCTIONS[name](*args))
        except (TypeError, ValueError, AttributeError, OverflowError) as exc:
            raise _Unsupported(name) from exc


def _bounded(value: Any) -> Any:
    if value is None or (isinstance(value, (str, list)) and len(value) > MAX_TEXT):
        raise _Unsupported("a value larger than lint evaluates")
    return value


def _unknown(*values: Any) -> Unknown | None:
    return next((v for v in values if isinstance(v, Unknown)), None)


def _member(value: Any, key: Any, label: str) -> Any:
    if isinstance(value, Unknown):
        return value
    if isinstance(value, dict):
        if key in value:
            return value[key]
        raise _Unsupported(label)
    if isinstance(value, list) and isinstance(key, float) and key.is_integer() and -len(value) <= key < len(value):
        return value[int(key)]
    raise _Unsupported(label)


def evaluate(expression: str, env: dict[str, Any]) -> Any:
    """One expression's value, or Unknown naming it."""
    try:
        value = _Parser(expression, env).parse()
    except (_Unsupported, RecursionError, TypeError, ZeroDivisionError):
        return Unknown(expression.strip())
    if isinstance(value, Unknown):
        return Unknown(expression.strip(), value.label, value.root)
    return value


def _segments(template: str) -> list[tuple[str, str | None]]:
    """(text before, expression or None) pieces, as nextExpression splits them (json_templates.go 251)."""
    out: list[tuple[str, str | None]] = []
    while True:
        starts = [(template.find(a), a, b) for a, b in DELIMITERS if a in template]
        if not starts:
            out.append((template, None))
            return out
        index, start, end = min(starts)
        close = template.find(end, index + len(start))
        if close < 0:
            out.append((template, None))  # Kargo: "unclosed expression"; left as text
            return out
        out.append((template[:index], template[index + len(start):close]))
        template = template[close + len(end):]


def evaluate_template(template: str, env: dict[str, Any]) -> Any:
    """EvaluateTemplate: the typed result of a string with expressions (Unknown if any part is)."""
    if not any(a in template for a, _ in DELIMITERS):
        return template
    text, unknown = render(template, env)
    if unknown:  # shown as the text with placeholders where it is used
        return Unknown(template, text, unknown[0].root)
    if len(text) > 1 and text.startswith('"') and text.endswith('"'):
        return text[1:-1]
    try:
        return float(text)
    except ValueError:
        pass
    if text in ("true", "false"):
        return text == "true"
    try:
        return json.loads(text)
    except ValueError:
        return text


def render(template: str, env: dict[str, Any]) -> tuple[str, list[Unknown]]:
    """The template as text with every known expression replaced; unknown ones are shown as
    placeholders and returned."""
    out: list[str] = []
    unknown: list[Unknown] = []
    for before, expression in _segments(template):
        out.append(before)
        if expression is None:
            continue
        value = evaluate(expression, env)
        if isinstance(value, Unknown):
            unknown.append(value)
            out.append(value.shown())
        else:
            out.append(_json(value))
    text = "".join(out)
    if not unknown and len(text) > 1 and text.startswith('"') and text.endswith('"') and \
            any(a in template for a, _ in DELIMITERS):
        text = text[1:-1]  # EvaluateTemplate unquotes a quoted whole result
    return text, unknown


def context(stage: str, project: str | None) -> dict[str, Any]:
    """The `ctx` of BuildCtxMap as far as lint knows it."""
    return {
        "stage": stage,
        "project": project if project else Unknown("ctx.project", "<project>"),
        "promotion": Unknown("ctx.promotion", "<promotion>"),
        "targetFreight": Unknown("ctx.targetFreight"),
        "meta": Unknown("ctx.meta"),
        "uiBaseUrl": Unknown("ctx.uiBaseUrl"),
    }


def environment(stage: str, project: str | None, variables: dict[str, Any]) -> dict[str, Any]:
    return {"ctx": context(stage, project), "vars": variables, "outputs": Unknown("outputs"),
            "task": Unknown("task.outputs"), "stepMetas": Unknown("stepMetas")}
