"""`prometheus_targets`: Prometheus scrapes the expected targets, and they are up."""

from __future__ import annotations

from typing import Any, ClassVar

from gate.checks.base import Check, Clients

from gate import redact
from gate.cluster import answers
from gate.cluster.kube import Permission
from gate.errors import EvaluationError
from gate.httpclient import TARGET_ONE_OF, Target, client_for, target_schema
from gate.model import Observation

MAX_LISTED = 10


def api_data(resp: Any, what: str, types: frozenset[str] | None = answers.PROM_RESULT_TYPES) -> dict:
    """`data` of a Prometheus-style API answer (Prometheus, Loki), judged readable by gate.cluster.answers.

    The server's own refusal (`"status": "error"`, or an error status) is an evaluation error that
    will not change by asking again (bad_data, a 4xx); a 2xx that cannot be read (no data, data null,
    an unknown resultType, cut short) is UnreadableAnswer: transient, ERROR at the deadline."""
    try:
        body = resp.json()
    except ValueError:
        if resp.status < 300:
            raise answers.unreadable(what, "not JSON (cut short or malformed)", resp.excerpt(200)) from None
        raise EvaluationError(f"{what}: HTTP {resp.status}, not a Prometheus API answer: "
                              f"{resp.excerpt(200)}") from None
    if (isinstance(body, dict) and body.get("status") == "error") or resp.status >= 300:
        kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
        message = body.get("error", "") if isinstance(body, dict) else ""
        raise EvaluationError(redact.redact(f"{what}: HTTP {resp.status} {kind}: {message}".strip()))
    return answers.prometheus_data(body, what, types)


def parse_selector(selector: str | dict[str, str] | None) -> dict[str, str]:
    if not selector:
        return {}
    if isinstance(selector, dict):
        return {str(k): str(v) for k, v in selector.items()}
    pairs = {}
    for part in str(selector).split(","):
        key, sep, value = part.partition("=")
        if sep:
            pairs[key.strip()] = value.strip().strip('"')
    return pairs


def describe_target(target: dict[str, Any]) -> str:
    labels = target.get("labels") or {}
    instance = labels.get("instance") or target.get("scrapeUrl", "?")
    job = labels.get("job") or target.get("scrapePool", "?")
    return f"{instance} (job {job})"


class PrometheusTargets(Check):
    kind: ClassVar[str] = "prometheus_targets"
    summary: ClassVar[str] = "Prometheus' active targets for a job or label selector are up."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **target_schema(),
            "job": {"type": "string", "description": "Only targets with this job label."},
            "selector": {"anyOf": [{"type": "string"}, {"type": "object", "additionalProperties":
                                                        {"type": "string"}}],
                         "description": "Target labels that must match, e.g. namespace=monitoring,app=x."},
            "min_up": {"type": "integer", "minimum": 0, "default": 1},
            "none_down": {"type": "boolean", "default": False},
        },
        "oneOf": TARGET_ONE_OF,
    }

    def __init__(self, params: dict[str, Any], name: str | None = None) -> None:
        self.labels = parse_selector(params.get("selector"))
        if params.get("job"):
            self.labels["job"] = str(params["job"])
        super().__init__(params, name)
        self.target = Target.from_params(params)

    def action(self, obs: Observation) -> str:
        if obs.hint:
            return obs.hint
        return ("Open Prometheus' Status > Targets page: fix the targets that are down (their pods and "
                "/metrics endpoints) or the ServiceMonitor/PodMonitor that should select them")

    def default_name(self) -> str:
        scope = ",".join(f"{k}={v}" for k, v in self.labels.items())
        return "Prometheus targets" + (f" {scope}" if scope else "")

    def ident(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.labels.items()) or "all"

    def permissions(self) -> list[Permission]:
        return self.target.permissions()

    def expected_text(self) -> str:
        scope = ", ".join(f"{k}={v}" for k, v in self.labels.items()) or "any job"
        text = f"at least {self.params.get('min_up', 1)} target(s) up for {scope}"
        return text + (", none down" if self.params.get("none_down") else "")

    def matches(self, target: dict[str, Any]) -> bool:
        labels = dict(target.get("labels") or {})
        labels.setdefault("job", target.get("scrapePool", ""))
        return all(labels.get(k) == v for k, v in self.labels.items())

    def observe(self, clients: Clients) -> Observation:
        client = client_for(clients)
        resp = self.target.call(client, "GET", "/api/v1/targets", query={"state": "active"})
        what = f"GET {self.target.where(client, '/api/v1/targets')}"
        active = answers.prometheus_targets(api_data(resp, what, types=None), what)
        targets = [t for t in active if self.matches(t)]
        up = [t for t in targets if t.get("health") == "up"]
        down = [t for t in targets if t.get("health") == "down"]
        unknown = [t for t in targets if t.get("health") not in ("up", "down")]
        evidence = [f"{len(targets)} active target(s) match; {len(up)} up, {len(down)} down, "
                    f"{len(unknown)} not scraped yet"]
        for target in (down + unknown)[:MAX_LISTED]:
            error = target.get("lastError") or ""
            evidence.append(f"{str(target.get('health', 'unknown')).upper()} {describe_target(target)} "
                            f"{target.get('scrapeUrl', '')}" + (f": {error}" if error else ""))
        for target in up[:MAX_LISTED]:
            evidence.append(f"UP {describe_target(target)} last scrape {target.get('lastScrape', '?')}")
        evidence = [redact.redact(line) for line in evidence]
        expected = self.expected_text()
        min_up = int(self.params.get("min_up", 1))
        if not targets:
            total = len(active)
            return Observation(False, f"no active targets match ({total} active in all)", expected, evidence,
                               hint="Check the ServiceMonitor/PodMonitor selectors and Prometheus' "
                                    "serviceMonitorSelector.")
        problems = []
        if len(up) < min_up:
            problems.append(f"{len(up)} of {len(targets)} target(s) up")
        if self.params.get("none_down") and down:
            problems.append(f"{len(down)} down")
        if problems:
            named = "; ".join(f"{describe_target(t)} down: {t.get('lastError') or 'no error given'}"
                              for t in down[:3])
            observed = ", ".join(problems) + (f" ({named})" if named else "")
            return Observation(False, redact.redact(observed), expected, evidence)
        return Observation(True, f"{len(up)} of {len(targets)} target(s) up", expected, evidence)
