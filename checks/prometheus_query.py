"""`prometheus_query`: an instant PromQL query returns what it should (a value or a number of series)."""

from __future__ import annotations

import math
import operator
import re
from typing import Any, ClassVar

from gate.checks.base import Check, Clients
from gate.checks.prometheus_targets import api_data

from gate import redact
from gate.cluster import answers
from gate.cluster.kube import Permission
from gate.errors import ConfigError
from gate.httpclient import TARGET_ONE_OF, Target, client_for, target_schema
from gate.model import Observation

_COMPARISON = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*(-?[0-9.]+(?:e-?\d+)?|NaN|[+-]?Inf)\s*$")
_OPS = {"==": operator.eq, "!=": operator.ne, ">=": operator.ge, "<=": operator.le, ">": operator.gt,
        "<": operator.lt}
MAX_LISTED = 10


class Comparison:
    """`>= 1`, `== 0`, `< 0.5`: one side of a comparison, applied to numbers."""

    def __init__(self, text: str | int | float, key: str) -> None:
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            text = f"== {text}"
        match = _COMPARISON.match(str(text))
        if not match:
            raise ConfigError(f"{text!r} is not a comparison like '>= 1' or '== 0'", key=key)
        self.op, self.number = match.group(1), float(match.group(2))
        self.text = f"{self.op} {match.group(2)}"

    def holds(self, value: float) -> bool:
        """NaN (0/0, a stale series) compares true only to `== NaN`: it is no number, so `!= 0` or
        `< 1` do not hold for it (a gate fails closed), though PromQL's own `NaN != 0` is true."""
        if math.isnan(value) or math.isnan(self.number):
            return self.op == "==" and math.isnan(value) and math.isnan(self.number)
        return _OPS[self.op](value, self.number)


def _metric(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    rest = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "__name__")
    return f"{name}{{{rest}}}" if rest or not name else name


class PrometheusQuery(Check):
    kind: ClassVar[str] = "prometheus_query"
    summary: ClassVar[str] = "An instant PromQL query: each value (or the series count) compares as expected."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["query"],
        "properties": {
            **target_schema(),
            "query": {"type": "string", "minLength": 1},
            "expect": {"type": ["string", "number"], "description": "Every value must compare, e.g. '>= 1'."},
            "expect_count": {"type": ["string", "integer"], "description": "Number of series, e.g. '>= 1'."},
            "empty_as_zero": {"type": "boolean", "default": False,
                              "description": "Treat an empty result as one value 0."},
        },
        "oneOf": TARGET_ONE_OF,
    }

    def __init__(self, params: dict[str, Any], name: str | None = None) -> None:
        super().__init__(params, name)
        self.target = Target.from_params(params)
        self.value = Comparison(params["expect"], "expect") if params.get("expect") is not None else None
        count = params.get("expect_count")
        if count is None and self.value is None:
            count = ">= 1"
        self.count = Comparison(count, "expect_count") if count is not None else None

    def action(self, obs: Observation) -> str:
        if obs.hint:
            return obs.hint
        return (f"Run the query in Prometheus ({self.params.get('query')!r}) and fix what it measures, or the "
                f"`expect:` of this check if the new value is right")

    def default_name(self) -> str:
        return f"PromQL {self.params['query']}"

    def ident(self) -> str:
        return str(self.params["query"])

    def permissions(self) -> list[Permission]:
        return self.target.permissions()

    def expected_text(self) -> str:
        parts = []
        if self.value is not None:
            parts.append(f"value {self.value.text}")
        if self.count is not None:
            parts.append(f"series count {self.count.text}")
        return " and ".join(parts)

    def observe(self, clients: Clients) -> Observation:
        client = client_for(clients)
        query = str(self.params["query"])
        resp = self.target.call(client, "GET", "/api/v1/query", query={"query": query})
        what = f"query {query!r} at {self.target.where(client, '/api/v1/query')}"
        data = api_data(resp, what)
        kind = data["resultType"]
        series = answers.prometheus_series(data, what)
        evidence = [f"query: {query}", f"result: {kind}, {len(series)} series"]
        evidence += [f"{_metric(labels)} = {value:g}" for labels, value in series[:MAX_LISTED]]
        evidence = [redact.redact(line) for line in evidence]
        expected = self.expected_text()
        if self.count is not None and not self.count.holds(len(series)):
            return Observation(False, f"{len(series)} series", expected, evidence,
                               hint=_empty_hint() if not series else "")
        if self.value is not None:
            values = series or ([({}, 0.0)] if self.params.get("empty_as_zero") else [])
            if not values:
                return Observation(False, "empty result: no series matched, so there is no value to compare",
                                   expected, evidence, hint=_empty_hint())
            failing = [(labels, v) for labels, v in values if not self.value.holds(v)]
            if failing:
                shown = ", ".join(f"{_metric(labels) if labels else 'value'} = {v:g}"
                                  for labels, v in failing[:3])
                more = f" (+{len(failing) - 3} more)" if len(failing) > 3 else ""
                return Observation(False, redact.redact(shown + more), expected, evidence)
            shown = ", ".join(f"{v:g}" for _, v in values[:3]) + (" …" if len(values) > 3 else "")
            return Observation(True, f"value {shown}", expected, evidence)
        return Observation(True, f"{len(series)} series", expected, evidence)


def _empty_hint() -> str:
    return ("An empty result means no series matched: the metric is not scraped (yet), a label does not "
            "match, or an aggregation like count() had nothing to count; set empty_as_zero if empty means 0.")
