"""The shipped JSON Schema (gate/spec/gate.schema.json) against the real check registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from gate.errors import ConfigError
from gate.spec.load import load_spec
from gate.spec.schema import SCHEMA_FILE, build_schema, jsonable, missing_modules, render
from gate.spec.settings import load_settings


def test_every_check_module_of_the_registry_exists() -> None:
    assert missing_modules() == []


# The spec from DESIGN.md ("The spec"), with the "…" URLs filled in.
DESIGN_SPEC = r"""
defaults: {timeout: 5m, interval: 2s}
stages:
  monitoring:
    levels:
      1:
        - argocd_apps: {names: [kube-prometheus-stack, loki]}
        - pods: {namespace: "${MONITORING_NS}", selector: "app.kubernetes.io/part-of=kube-prometheus-stack",
                 min_ready: 3}
        - workloads: {namespace: "${MONITORING_NS}"}
        - crds: [prometheuses.monitoring.coreos.com]
        - secret: {namespace: "${MONITORING_NS}", name: grafana-admin, keys: [admin-user, admin-password]}
        - pvcs: {namespace: "${MONITORING_NS}"}
      2:
        - http: {service: "${MONITORING_NS}/grafana:3000", path: /api/health,
                 expect: {status: 200, json: {database: ok}}}
        - prometheus_targets: {url: "http://prometheus.${MONITORING_NS}:9090", min_up: 1, none_down: true}
      3:
        - http: {url: "https://grafana.${DOMAIN}/", follow_redirects: false,
                 expect: {status: 302, location: "^https://auth\\."}}
        - tls: {host: "grafana.${DOMAIN}", min_days_left: 14}
      4:
        - prometheus_query: {url: "http://prometheus.${MONITORING_NS}:9090",
                             query: 'count(up{job="loki"} == 1)', expect: ">= 1"}
        - loki_query: {url: "http://loki.${MONITORING_NS}:3100", query: '{namespace="monitoring"}',
                       since: 5m, min_lines: 1}
        - command: {run: [pytest, smoke/], timeout: 10m}
"""


def test_shipped_schema_is_the_generated_one() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(build_schema()), \
        "gate/spec/gate.schema.json is stale: run `python -m gate.spec.schema`"


def test_shipped_schema_is_a_valid_schema_that_accepts_the_design_spec() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    errors = list(Draft202012Validator(schema).iter_errors(jsonable(yaml.safe_load(DESIGN_SPEC))))
    assert errors == []


def test_design_spec_plans_with_the_real_check_kinds(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text(DESIGN_SPEC)
    settings = load_settings(None, {"monitoring_namespace": "monitoring", "domain": "demo.example"}, env={})
    plan = load_spec(str(path), settings).plan("monitoring")
    assert [len(plan.levels[n]) for n in (1, 2, 3, 4)] == [6, 2, 2, 3]
    command = plan.levels[4][2]
    assert command.timeout == 600.0 and "timeout" not in command.check.params
    ids = [c.id for lv in plan.levels.values() for c in lv]
    assert len(ids) == len(set(ids))


def test_unknown_kind_lists_every_real_kind(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("stages:\n  s:\n    levels:\n      1:\n        - htpp: {url: 'http://x'}\n")
    with pytest.raises(ConfigError) as err:
        load_spec(str(path), load_settings(None, {}, env={}))
    assert err.value.line == 5 and err.value.key == "stages.s.levels.1[1].htpp"
    assert "(known: alertmanager, argocd_apps, command, crds, http," in str(err.value)
    assert "did you mean 'http'?" in str(err.value)


def test_shorthand_item_error_points_at_the_item(tmp_path: Path) -> None:
    path = tmp_path / "gate.yaml"
    path.write_text("stages:\n  s:\n    levels:\n      1:\n        - crds:\n          - ok.example.com\n"
                    "          - NotACrd\n")
    with pytest.raises(ConfigError) as err:
        load_spec(str(path), load_settings(None, {}, env={}))
    assert (err.value.line, err.value.key) == (7, "stages.s.levels.1[1].crds[2]")
    assert "got 'NotACrd'" in str(err.value) and "$\\{" not in str(err.value)
