"""The spec loader: substitution, secrets, lazy discovery, planning, and every malformed case naming
file, line and key path. Check kinds here are small real Check subclasses, so these tests do not depend
on the check modules other people are writing."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest
from gate.checks.base import Check

from gate import redact
from gate.errors import EXIT_USAGE, ConfigError
from gate.spec.load import load_spec
from gate.spec.settings import Settings, load_settings


class Pods(Check):
    kind = "pods"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object", "additionalProperties": False, "required": ["namespace"],
        "properties": {"namespace": {"type": "string"}, "selector": {"type": "string"},
                       "min_ready": {"type": "integer", "minimum": 0}}}

    def ident(self) -> str:
        return self.params["namespace"]


class Crds(Check):
    kind = "crds"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object", "additionalProperties": False,
        "properties": {"names": {"type": "array", "items": {"type": "string"}}}}
    shorthand: ClassVar[dict[str, Any] | None] = {"type": "array", "items": {"type": "string"}}

    @classmethod
    def normalize(cls, raw: Any) -> dict[str, Any]:
        return {"names": list(raw)} if isinstance(raw, list) else dict(raw or {})


class Secret(Check):
    kind = "secret"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object", "additionalProperties": False,
        "properties": {"name": {"type": "string"}, "token": {"type": "string"}}}


class KargoStage(Check):
    kind = "kargo_stage"
    schema: ClassVar[dict[str, Any]] = {"type": "object", "additionalProperties": False,
                                        "properties": {"stage": {"type": "string"}}}


KINDS = {c.kind: c for c in (Pods, Crds, Secret, KargoStage)}

GOOD = """\
defaults: {timeout: 5m, interval: 2s}
stages:
  monitoring:
    defaults: {interval: 3s}
    levels:
      1:
        - pods: {namespace: "${MONITORING_NS}", min_ready: 3, timeout: 30s, name: Prometheus pods}
        - crds: [prometheuses.monitoring.coreos.com]
        - crds: [alertmanagers.monitoring.coreos.com]
        - kargo_stage: {}
      "2":
        - secret: {name: grafana-admin, token: "${env:GRAFANA_TOKEN}"}
        - pods: {namespace: "literal-$${not-a-var}"}
"""


def spec_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gate.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def settings(**values: str) -> Settings:
    return load_settings(None, values, env={})


def load(path: str, s: Settings | None = None, env: dict[str, str] | None = None, **kw: Any):
    return load_spec(path, s or settings(monitoring_namespace="monitoring"), kinds=KINDS,
                     env=env if env is not None else {"GRAFANA_TOKEN": "s3cr3t-token-value"}, **kw)


def error_of(path: str, **kw: Any) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        load(path, **kw)
    assert err.value.exit_code == EXIT_USAGE
    return err.value


# -- a good spec ---------------------------------------------------------------------------------
def test_plan_substitutes_and_applies_timing(tmp_path: Path) -> None:
    plan = load(spec_file(tmp_path, GOOD)).plan("monitoring")
    assert sorted(plan.levels) == [1, 2]
    first, crds_a, crds_b, stage = plan.levels[1]
    assert first.check.params == {"namespace": "monitoring", "min_ready": 3}
    assert first.check.name == "Prometheus pods"
    assert (first.timeout, first.interval) == (30.0, 3.0)  # check > stage defaults > spec defaults
    assert crds_a.timeout == 300.0
    assert crds_a.check.params == {"names": ["prometheuses.monitoring.coreos.com"]}
    assert [c.id for c in plan.levels[1]] == ["L1.pods.monitoring", "L1.crds.crds", "L1.crds.crds-2",
                                              "L1.kargo_stage.kargo_stage"]
    assert stage.check.params == {"stage": "monitoring"}  # filled in for kinds that take a stage
    secret, literal = plan.levels[2]
    assert secret.check.params["name"] == "grafana-admin"  # the check's own `name` stays a parameter
    assert literal.check.params["namespace"] == "literal-${not-a-var}"


def test_env_values_are_registered_as_secrets(tmp_path: Path) -> None:
    redact.clear()
    load(spec_file(tmp_path, GOOD))
    assert redact.redact("token=s3cr3t-token-value") == "token=***"


def test_levels_filter(tmp_path: Path) -> None:
    spec = load(spec_file(tmp_path, GOOD))
    assert list(spec.plan("monitoring", {2}).levels) == [2]
    with pytest.raises(ConfigError, match=r"has no level 4 \(its levels: 1, 2\)"):
        spec.plan("monitoring", {4})


def test_unknown_stage_lists_the_stages_and_names_the_file(tmp_path: Path) -> None:
    path = spec_file(tmp_path, GOOD)
    with pytest.raises(ConfigError) as err:
        load(path).plan("monitorin")
    assert err.value.file == path
    assert "unknown stage 'monitorin' (did you mean 'monitoring'?); stages in this spec: monitoring" \
        in str(err.value)


# -- variables -----------------------------------------------------------------------------------
def test_missing_setting_is_discovered_lazily_once(tmp_path: Path) -> None:
    asked: list[set[str]] = []

    def resolve(keys: set[str]) -> Settings:
        asked.append(keys)
        return settings(monitoring_namespace="found-ns")

    spec = load(spec_file(tmp_path, GOOD), settings(), resolve_missing=resolve)
    assert asked == [{"monitoring_namespace"}]
    assert spec.plan("monitoring").levels[1][0].check.params["namespace"] == "found-ns"
    assert spec.settings.monitoring_namespace == "found-ns"


def test_nothing_discovered_when_nothing_is_missing(tmp_path: Path) -> None:
    def resolve(keys: set[str]) -> Settings:
        raise AssertionError("no discovery expected")

    load(spec_file(tmp_path, GOOD), resolve_missing=resolve)


def test_setting_still_missing_names_use_site_key_and_how_to_set(tmp_path: Path) -> None:
    path = spec_file(tmp_path, GOOD)
    err = error_of(path, s=settings(), resolve_missing=lambda keys: settings())
    assert str(err) == (f"${{MONITORING_NS}} is used at {path}:7 "
                        "(stages.monitoring.levels.1[1].pods.namespace) but monitoring_namespace is not set "
                        "and could not be discovered: set it in "
                        ".gitops-config.yaml or GATE_MONITORING_NAMESPACE")
    assert (err.line, err.key) == (7, "stages.monitoring.levels.1[1].pods.namespace")


def test_unknown_variable(tmp_path: Path) -> None:
    path = spec_file(tmp_path, """\
        stages:
          s:
            levels:
              1:
                - pods: {namespace: "${MONITORING_NAMESPACE}"}
        """)
    err = error_of(path)
    assert (err.file, err.line, err.key) == (path, 5, "stages.s.levels.1[1].pods.namespace")
    assert "unknown variable ${MONITORING_NAMESPACE}" in str(err) and "MONITORING_NS" in str(err)


def test_missing_env_variable_names_the_variable(tmp_path: Path) -> None:
    err = error_of(spec_file(tmp_path, GOOD), env={})
    assert "environment variable GRAFANA_TOKEN is not set" in str(err)
    assert (err.line, err.key) == (12, "stages.monitoring.levels.2[1].secret.token")


def test_unterminated_reference(tmp_path: Path) -> None:
    path = spec_file(tmp_path, """\
        stages:
          s:
            levels:
              1: [{pods: {namespace: "${APP_NS"}}]
        """)
    err = error_of(path)
    assert err.line == 4 and "unterminated" in str(err)


# -- malformed -----------------------------------------------------------------------------------
def test_wrong_type_reports_every_error_first_one_first(tmp_path: Path) -> None:
    path = spec_file(tmp_path, """\
        stages:
          monitoring:
            levels:
              1:
                - crds: [a.b]
                - pods: {namespace: m, min_ready: three}
                - podz: {}
        """)
    err = error_of(path)
    assert (err.line, err.key) == (6, "stages.monitoring.levels.1[2].pods.min_ready")
    lines = str(err).splitlines()  # both problems, in file order, in one run
    assert lines[0] == f"2 problems in {path}:"
    assert lines[1] == f"  {path}:6 at stages.monitoring.levels.1[2].pods.min_ready: expected integer, got 'three'"
    assert lines[2].startswith(f"  {path}:7 at stages.monitoring.levels.1[3].podz: unknown check kind 'podz'")


def test_unknown_kind_lists_known_kinds_and_suggests(tmp_path: Path) -> None:
    path = spec_file(tmp_path, """\
        stages:
          monitoring:
            levels:
              1:
                - crds: [a.b]
                - podz: {namespace: m}
        """)
    err = error_of(path)
    assert (err.line, err.key) == (6, "stages.monitoring.levels.1[2].podz")
    assert "unknown check kind 'podz' (known: crds, kargo_stage, pods, secret) (did you mean 'pods'?)" \
        in str(err)


def test_unknown_parameter_names_its_own_line(tmp_path: Path) -> None:
    path = spec_file(tmp_path, """\
        stages:
          monitoring:
            levels:
              1:
                - pods:
                    namespace: m
                    min_redy: 2
        """)
    err = error_of(path)
    assert (err.line, err.key) == (7, "stages.monitoring.levels.1[1].pods.min_redy")
    assert "unknown key 'min_redy' (did you mean 'min_ready'?)" in str(err)


@pytest.mark.parametrize(("body", "line", "key", "message"), [
    ("stages:\n  s:\n    levels:\n      5: []\n", 4, "stages.s.levels.5", "levels are 1 to 4, got '5'"),
    ("stages:\n  s:\n    levels:\n      1:\n        - {pods: {namespace: a}, crds: [x.y]}\n", 5,
     "stages.s.levels.1[1]", "each check is a one-key mapping"),
    ("defaults: {timeout: soon}\nstages:\n  s:\n    levels: {1: []}\n", 1, "defaults.timeout",
     "expected a duration like 30s, 5m or 1h30m, got 'soon'"),
    ("stages:\n  s:\n    levels:\n      1:\n        - crds: 3\n", 5, "stages.s.levels.1[1].crds",
     "expected a list or a mapping, got 3"),
    ("stages:\n  s:\n    levels:\n      1:\n        - pods: {selector: x}\n", 5, "stages.s.levels.1[1].pods",
     "missing required key 'namespace'"),
    ("stages:\n  s:\n    level:\n      1: []\n", 3, "stages.s.level",
     "unknown key 'level' (did you mean 'levels'?)"),
    ("- just a list\n", 1, None, "expected a mapping, got a list"),
])
def test_malformed_specs(tmp_path: Path, body: str, line: int, key: str | None, message: str) -> None:
    err = error_of(spec_file(tmp_path, body))
    assert (err.line, err.key) == (line, key)
    assert message in str(err)


def test_bad_yaml_and_duplicate_keys(tmp_path: Path) -> None:
    err = error_of(spec_file(tmp_path, "stages:\n  s:\n    levels: {1: [\n"))
    assert "not valid YAML" in str(err) and err.line is not None
    err = error_of(spec_file(tmp_path, "stages:\n  s:\n    levels: {}\n  s:\n    levels: {}\n"))
    assert err.line == 4 and "first at line 2, again at line 4" in str(err)


def test_schema_errors_come_before_any_discovery(tmp_path: Path) -> None:
    path = spec_file(tmp_path, """\
        stages:
          s:
            levels:
              1:
                - pods: {namespace: "${MONITORING_NS}", min_ready: -1}
        """)

    def resolve(keys: set[str]) -> Settings:
        raise AssertionError("a malformed spec must not reach the cluster")

    err = error_of(path, s=settings(), resolve_missing=resolve)
    assert err.key == "stages.s.levels.1[1].pods.min_ready" and "expected a number >= 0, got -1" in str(err)


def test_missing_spec_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="gate.yaml: spec file not found"):
        load_spec(None, settings(), kinds=KINDS)
