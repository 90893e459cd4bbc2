"""`loki_query`: logs are flowing: a LogQL query over the last `since` returns enough lines."""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar

from gate.checks.base import Check, Clients
from gate.checks.prometheus_targets import api_data

from gate import redact
from gate.cluster import answers
from gate.cluster.kube import Permission
from gate.engine.durations import parse as parse_duration
from gate.errors import ConfigError, EvaluationError
from gate.httpclient import DURATION_SCHEMA, TARGET_ONE_OF, Target, client_for, excerpt, target_schema
from gate.model import Observation

SHOWN_LINES = 5


class LokiQuery(Check):
    kind: ClassVar[str] = "loki_query"
    summary: ClassVar[str] = "A LogQL range query over the last `since` returns at least `min_lines` lines."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["query"],
        "properties": {
            **target_schema(),
            "query": {"type": "string", "minLength": 1, "description": "A LogQL log query."},
            "since": {**DURATION_SCHEMA, "description": "How far back to look (default 5m)."},
            "min_lines": {"type": "integer", "minimum": 0, "default": 1},
            "pattern": {"type": "string", "description": "Count only lines matching this regex."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 5000, "default": 1000},
            "tenant": {"type": "string", "description": "X-Scope-OrgID for multi-tenant Loki."},
        },
        "oneOf": TARGET_ONE_OF,
    }

    def __init__(self, params: dict[str, Any], name: str | None = None) -> None:
        super().__init__(params, name)
        self.target = Target.from_params(params)
        self.since = parse_duration(params.get("since", "5m"))
        self.pattern = None
        if params.get("pattern"):
            try:
                self.pattern = re.compile(params["pattern"])
            except re.error as exc:
                raise ConfigError(f"invalid regular expression: {exc}", key="pattern") from None

    def action(self, obs: Observation) -> str:
        if obs.hint:
            return obs.hint
        return (f"Check that the logs are shipped (the log agent's pods, and the query {self.params['query']!r} "
                f"in Grafana Explore), or widen `since:` / lower `min_lines:`")

    def default_name(self) -> str:
        return f"Loki {self.params['query']}"

    def ident(self) -> str:
        return str(self.params["query"])

    def permissions(self) -> list[Permission]:
        return self.target.permissions()

    def expected_text(self) -> str:
        what = f"lines matching {self.params['pattern']}" if self.pattern else "lines"
        since = self.params.get("since", "5m")
        return f"at least {self.params.get('min_lines', 1)} {what} in the last {since}"

    def observe(self, clients: Clients) -> Observation:
        client = client_for(clients)
        end = time.time_ns()
        start = end - int(self.since * 1e9)
        query = {"query": self.params["query"], "start": start, "end": end, "direction": "backward",
                 "limit": int(self.params.get("limit", 1000))}
        headers = {"X-Scope-OrgID": str(self.params["tenant"])} if self.params.get("tenant") else None
        path = "/loki/api/v1/query_range"
        resp = self.target.call(client, "GET", path, query=query, headers=headers)
        what = f"LogQL {self.params['query']!r} at {self.target.where(client, path)}"
        data = api_data(resp, what, answers.LOKI_RESULT_TYPES)
        if data["resultType"] != "streams":
            raise EvaluationError(f"LogQL {self.params['query']!r} is a metric query (result "
                                  f"{data['resultType']}); loki_query needs a log query")
        lines: list[tuple[str, str]] = []
        streams = answers.loki_streams(data, what)
        for _labels, values in streams:
            for _ts, line in values:
                if self.pattern is None or self.pattern.search(line):
                    lines.append((_ts, line))
        lines.sort(reverse=True)
        total = sum(len(values) for _, values in streams)
        evidence = [f"query: {self.params['query']}", f"{total} line(s) in {len(streams)} stream(s)"
                    + (f", {len(lines)} matching {self.params['pattern']}" if self.pattern else "")]
        evidence += [f"latest: {excerpt(line, 200)}" for _, line in lines[:SHOWN_LINES]]
        evidence = [redact.redact(line) for line in evidence]
        expected = self.expected_text()
        min_lines = int(self.params.get("min_lines", 1))
        limited = " (the query limit)" if total >= int(self.params.get("limit", 1000)) else ""
        since = self.params.get("since", "5m")
        if len(lines) < min_lines:
            matching = f" matching {self.params['pattern']}" if self.pattern else ""
            observed = f"no log lines{matching} in the last {since}" if not lines else \
                f"{len(lines)} line(s){matching} in the last {since}"
            if self.pattern:
                observed += f" ({total} in all)"
            return Observation(False, redact.redact(observed), expected, evidence)
        return Observation(True, f"{len(lines)} line(s) in the last {since}{limited}", expected, evidence)
