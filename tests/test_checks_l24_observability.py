"""`prometheus_targets`, `prometheus_query` against Debian's prometheus scraping a local exporter (one
target up, one down); `alertmanager` against Debian's alertmanager; `loki_query` against a server that
answers in Loki's documented shape."""

from __future__ import annotations

import pytest
from gate.checks.alertmanager import Alertmanager
from gate.checks.base import Clients
from gate.checks.loki_query import LokiQuery
from gate.checks.prometheus_query import PrometheusQuery
from gate.checks.prometheus_targets import PrometheusTargets
from servers.stub import loki_streams

from gate.errors import ConfigError, EvaluationError, TransientError
from gate.httpclient import HttpClient


@pytest.fixture(scope="module")
def clients() -> Clients:
    return Clients(http=HttpClient(in_cluster=False))


def test_targets_min_up_passes(prometheus_server, clients):
    obs = PrometheusTargets({"url": prometheus_server.url, "job": "exporter", "min_up": 1}).observe(clients)
    assert obs.ok, obs
    assert obs.observed == "1 of 2 target(s) up"
    down = f"DOWN {prometheus_server.down_target} (job exporter)"
    assert any(line.startswith(down) for line in obs.evidence)


def test_targets_none_down_fails_naming_the_down_target(prometheus_server, clients):
    check = PrometheusTargets({"url": prometheus_server.url, "job": "exporter", "none_down": True})
    obs = check.observe(clients)
    assert not obs.ok
    assert obs.observed.startswith(f"1 down ({prometheus_server.down_target} (job exporter) down: ")
    assert "connection refused" in obs.observed
    assert obs.expected == "at least 1 target(s) up for job=exporter, none down"
    too_many = PrometheusTargets({"url": prometheus_server.url, "selector": "job=exporter",
                                  "min_up": 2}).observe(clients)
    assert too_many.observed.startswith("1 of 2 target(s) up (")


def test_targets_none_for_job(prometheus_server, clients):
    obs = PrometheusTargets({"url": prometheus_server.url, "job": "loki"}).observe(clients)
    assert not obs.ok
    assert obs.observed == "no active targets match (2 active in all)"
    assert "ServiceMonitor" in obs.hint


def test_query_value_and_count(prometheus_server, clients):
    up = PrometheusQuery({"url": prometheus_server.url,
                          "query": f'up{{instance="{prometheus_server.up_target}"}}', "expect": "== 1"})
    assert up.observe(clients).ok
    down = PrometheusQuery({"url": prometheus_server.url, "query": 'up{job="exporter"}', "expect": ">= 1"})
    obs = down.observe(clients)
    assert not obs.ok
    assert obs.observed == f'up{{instance="{prometheus_server.down_target}",job="exporter"}} = 0'
    assert obs.expected == "value >= 1"
    count = PrometheusQuery({"url": prometheus_server.url, "query": 'up{job="exporter"}',
                             "expect_count": "== 2"}).observe(clients)
    assert count.ok and count.observed == "2 series"


def test_query_empty_result_is_explained(prometheus_server, clients):
    obs = PrometheusQuery({"url": prometheus_server.url, "query": 'count(up{job="loki"} == 1)',
                           "expect": ">= 1"}).observe(clients)
    assert not obs.ok
    assert obs.observed == "empty result: no series matched, so there is no value to compare"
    assert "count()" in obs.hint
    zero = PrometheusQuery({"url": prometheus_server.url, "query": 'count(up{job="loki"} == 1)',
                            "expect": "== 0", "empty_as_zero": True}).observe(clients)
    assert zero.ok


def test_bad_promql_cannot_be_evaluated(prometheus_server, clients):
    with pytest.raises(EvaluationError, match="bad_data"):
        PrometheusQuery({"url": prometheus_server.url, "query": "up{"}).observe(clients)
    with pytest.raises(ConfigError):
        PrometheusQuery({"url": prometheus_server.url, "query": "up", "expect": "about 3"})


def test_prometheus_unreachable_is_transient(clients):
    from servers.common import closed_port

    with pytest.raises(TransientError, match="Connection refused"):
        PrometheusTargets({"url": f"http://127.0.0.1:{closed_port()}"}).observe(clients)


def test_alertmanager_ready_and_test_alert_listed(alertmanager_server, clients):
    ready = Alertmanager({"url": alertmanager_server.url}).observe(clients)
    assert ready.ok, ready
    assert ready.observed.startswith("cluster status disabled, version 0.25")
    check = Alertmanager({"url": alertmanager_server.url, "test_alert": {"labels": {"team": "platform"}}})
    obs = check.observe(clients)
    assert obs.ok, obs
    assert obs.observed.endswith("; test alert listed (active)")
    assert any(f"gate_run {check.run_id}): HTTP 200" in line for line in obs.evidence)


def test_alertmanager_settling_fails(stub_server, clients):
    stub_server.route("/api/v2/status", body={"cluster": {"status": "settling", "peers": []},
                                              "versionInfo": {"version": "0.27.0"}, "uptime": "now"})
    obs = Alertmanager({"url": stub_server.url}).observe(clients)
    assert not obs.ok
    assert obs.observed == "cluster status settling"
    assert obs.expected == "cluster status ready"


def test_loki_lines_pattern_and_empty(stub_server, clients):
    stub_server.route("/loki/api/v1/query_range", body=loki_streams(
        ['level=info msg="ready"', 'level=error msg="boom"', 'level=info msg="served"']))
    ok = LokiQuery({"url": stub_server.url, "query": '{namespace="monitoring"}', "since": "5m",
                    "min_lines": 2}).observe(clients)
    assert ok.ok and ok.observed == "3 line(s) in the last 5m"
    asked = stub_server.seen[-1]
    assert asked.query["query"] == ['{namespace="monitoring"}'] and asked.query["direction"] == ["backward"]
    start, end = int(asked.query["start"][0]), int(asked.query["end"][0])
    assert abs((end - start) / 1e9 - 300) < 1
    errors = LokiQuery({"url": stub_server.url, "query": "{app=\"grafana\"}", "pattern": "level=error",
                        "min_lines": 2}).observe(clients)
    assert not errors.ok and errors.observed == "1 line(s) matching level=error in the last 5m (3 in all)"
    assert errors.expected == "at least 2 lines matching level=error in the last 5m"
    stub_server.route("/loki/api/v1/query_range", body=loki_streams([]))
    empty = LokiQuery({"url": stub_server.url, "query": "{app=\"x\"}", "since": "10m"}).observe(clients)
    assert not empty.ok and empty.observed == "no log lines in the last 10m"


def test_loki_tenant_header_and_errors(stub_server, clients):
    stub_server.route("/loki/api/v1/query_range", body=loki_streams(["a"]))
    LokiQuery({"url": stub_server.url, "query": "{a=\"b\"}", "tenant": "team-a"}).observe(clients)
    assert stub_server.seen[-1].headers["x-scope-orgid"] == "team-a"
    stub_server.route("/loki/api/v1/query_range", status=400,
                      body={"status": "error", "errorType": "bad_data", "error": "parse error at line 1"})
    with pytest.raises(EvaluationError, match="parse error"):
        LokiQuery({"url": stub_server.url, "query": "{"}).observe(clients)
    stub_server.route("/loki/api/v1/query_range", status=503, body="overloaded", headers={"Retry-After": "0"})
    before = len(stub_server.seen)
    with pytest.raises(TransientError, match="HTTP 503"):
        LokiQuery({"url": stub_server.url, "query": "{a=\"b\"}"}).observe(clients)
    assert len(stub_server.seen) - before == 3  # retried in the client (Retry-After: 0), then raised
