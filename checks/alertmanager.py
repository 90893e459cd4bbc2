"""`alertmanager`: Alertmanager is ready, and (optionally) accepts a test alert and lists it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from gate.checks.base import Check, Clients

from gate import redact
from gate.cluster import answers
from gate.cluster.kube import Permission
from gate.errors import EvaluationError
from gate.httpclient import TARGET_ONE_OF, HttpResponse, Target, client_for, target_schema
from gate.model import Observation

READY = ("ready", "disabled")  # "disabled": a single instance without clustering


def _json(resp: HttpResponse, what: str) -> Any:
    """The JSON of a 2xx answer (unreadable: gate.cluster.answers.UnreadableAnswer); an error status otherwise."""
    if resp.status >= 300:
        raise EvaluationError(f"{what}: HTTP {resp.status}: {resp.excerpt(200)}")
    return answers.parse_json(resp.text, what)


class Alertmanager(Check):
    kind: ClassVar[str] = "alertmanager"
    summary: ClassVar[str] = "Alertmanager is ready; optionally a posted test alert is then listed."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            **target_schema(),
            "test_alert": {"anyOf": [{"type": "boolean"}, {
                "type": "object", "additionalProperties": False,
                "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}},
                               "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
                               "duration": {"type": "string"}}}],
                "description": "Post a short-lived test alert and check Alertmanager lists it."},
        },
        "oneOf": TARGET_ONE_OF,
    }

    def __init__(self, params: dict[str, Any], name: str | None = None) -> None:
        super().__init__(params, name)
        self.target = Target.from_params(params)
        self.run_id = uuid.uuid4().hex[:12]  # one per check: retries re-post the same alert

    def action(self, obs: Observation) -> str:
        if obs.hint:
            return obs.hint
        return ("Check Alertmanager's pods and cluster peers (its /api/v2/status page, "
                "kubectl logs of the alertmanager pods)")

    def default_name(self) -> str:
        return "Alertmanager ready" + (" + test alert" if self.params.get("test_alert") else "")

    def ident(self) -> str:
        return str(self.params.get("url") or self.params.get("service"))

    def permissions(self) -> list[Permission]:
        return self.target.permissions("POST" if self.params.get("test_alert") else "GET")

    def expected_text(self) -> str:
        return "cluster status ready" + ("; the test alert listed" if self.params.get("test_alert") else "")

    def test_alert(self) -> dict[str, Any]:
        options = self.params["test_alert"] if isinstance(self.params["test_alert"], dict) else {}
        from gate.engine.durations import parse

        now = datetime.now(UTC)
        end = now + timedelta(seconds=parse(options.get("duration", "5m")))
        labels = {"alertname": "PromotionGateTest", "severity": "none", **(options.get("labels") or {}),
                  "gate_run": self.run_id}
        annotations = {"summary": "Test alert from the promotion gate; it resolves by itself.",
                       **(options.get("annotations") or {})}
        return {"labels": labels, "annotations": annotations, "startsAt": now.isoformat(),
                "endsAt": end.isoformat()}

    def observe(self, clients: Clients) -> Observation:
        client = client_for(clients)
        where = self.target.where(client, "/api/v2/status")
        status = answers.alertmanager_status(
            _json(self.target.call(client, "GET", "/api/v2/status"), f"GET {where}"), f"GET {where}")
        cluster = status["cluster"]
        state = cluster["status"]
        version = (status.get("versionInfo") or {}).get("version", "?") \
            if isinstance(status.get("versionInfo"), dict) else "?"
        peers = len(cluster.get("peers") or [])
        evidence = [f"GET {where}: cluster {state}, {peers} peer(s), version {version}",
                    f"uptime since {status.get('uptime', '?')}"]
        expected = self.expected_text()
        if state not in READY:
            return Observation(False, f"cluster status {state}", expected, evidence)
        observed = f"cluster status {state}, version {version}"
        if not self.params.get("test_alert"):
            return Observation(True, observed, expected, evidence)
        alert = self.test_alert()
        post = self.target.call(client, "POST", "/api/v2/alerts", body=[alert])
        evidence.append(f"POST /api/v2/alerts (alertname {alert['labels']['alertname']}, gate_run "
                        f"{self.run_id}): HTTP {post.status}")
        if post.status >= 300:
            return Observation(False, f"posting the test alert answered HTTP {post.status}: "
                               f"{post.excerpt(200)}", expected, evidence)
        alerts_at = f"GET {self.target.where(client, '/api/v2/alerts')}"
        listed = answers.alertmanager_alerts(
            _json(self.target.call(client, "GET", "/api/v2/alerts", query={"filter": f'gate_run="{self.run_id}"'}),
                  alerts_at), alerts_at)
        found = [a for a in listed if (a.get("labels") or {}).get("gate_run") == self.run_id]
        evidence.append(f"GET /api/v2/alerts?filter=gate_run: {len(found)} alert(s)")
        evidence = [redact.redact(line) for line in evidence]
        if not found:
            return Observation(False, "the test alert was accepted but is not listed", expected, evidence)
        state_of = (found[0].get("status") or {}).get("state", "?")
        return Observation(True, f"{observed}; test alert listed ({state_of})", expected, evidence)
