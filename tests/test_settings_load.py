"""Settings: precedence, sources, derived project/namespace, and malformed files naming file/line/key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.errors import EXIT_USAGE, ConfigError
from gate.spec.settings import load_settings


def write(tmp_path: Path, text: str, name: str = ".gitops-config.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    cfg = write(tmp_path, "argocd_namespace: infra\ndomain: file.example\nmonitoring_namespace: mon\n")
    env = {"GATE_DOMAIN": "env.example", "GATE_MONITORING_NAMESPACE": "mon-env"}
    s = load_settings(cfg, {"monitoring_namespace": "mon-flag", "project": None}, env=env)
    assert s.kargo_controller_namespace == "kargo" and s.source("kargo_controller_namespace") == "default"
    assert s.argocd_namespace == "infra" and s.source("argocd_namespace") == f"file {cfg}:1"
    assert s.domain == "env.example" and s.source("domain") == "env GATE_DOMAIN"
    assert s.monitoring_namespace == "mon-flag"
    assert s.source("app_namespace") == "not set" and s.app_namespace is None
    assert s.variables() == {"KARGO_CONTROLLER_NS": "kargo", "ARGOCD_CONTROLLER_NS": "argocd",
                             "ARGOCD_NS": "infra", "DOMAIN": "env.example", "MONITORING_NS": "mon-flag"}


def test_project_flag_sets_project_and_namespace(tmp_path: Path) -> None:
    s = load_settings(None, {"project": "shop"}, env={})
    assert (s.kargo_project, s.kargo_namespace) == ("shop", "shop")
    assert s.source("kargo_project") == "flag --project"
    assert s.variables()["KARGO_NS"] == "shop"


def test_namespace_alone_gives_the_project(tmp_path: Path) -> None:
    cfg = write(tmp_path, "kargo_namespace: platform\n")
    s = load_settings(cfg, {}, env={})
    assert s.kargo_project == "platform" and "derived" in s.source("kargo_project")


def test_project_flag_over_file_moves_the_namespace(tmp_path: Path) -> None:
    cfg = write(tmp_path, "kargo_project: a\nkargo_namespace: a\n")
    s = load_settings(cfg, {"project": "b"}, env={})
    assert (s.kargo_project, s.kargo_namespace) == ("b", "b")


def test_default_file_in_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings(None, {}, env={}).file is None
    write(tmp_path, "domain: here.example\n")
    s = load_settings(None, {}, env={})
    assert s.domain == "here.example" and s.source("domain") == "file .gitops-config.yaml:1"


def test_explicit_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(str(tmp_path / "nope.yaml"), {}, env={})
    assert err.value.exit_code == EXIT_USAGE
    assert "nope.yaml" in str(err.value) and "not found" in str(err.value)


def test_unknown_key_names_file_line_and_suggests(tmp_path: Path) -> None:
    cfg = write(tmp_path, "domain: x.example\n\nargocd_namespce: infra\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, {}, env={})
    e = err.value
    assert (e.file, e.line, e.key) == (cfg, 3, "argocd_namespce")
    assert "did you mean 'argocd_namespace'" in str(e)
    assert str(e).startswith(f"{cfg}:3 at argocd_namespce: unknown key")


def test_wrong_type_names_line_and_key(tmp_path: Path) -> None:
    cfg = write(tmp_path, "domain: x.example\nkargo_project: [a, b]\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, {}, env={})
    assert (err.value.line, err.value.key) == (2, "kargo_project")
    assert "expected a string, got a list" in str(err.value)


def test_not_a_mapping(tmp_path: Path) -> None:
    cfg = write(tmp_path, "- domain\n")
    with pytest.raises(ConfigError, match="expected a mapping of settings"):
        load_settings(cfg, {}, env={})


def test_bad_yaml_names_line_and_column(tmp_path: Path) -> None:
    cfg = write(tmp_path, "domain: x.example\nargocd_namespace: [infra\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, {}, env={})
    assert err.value.file == cfg and err.value.line == 3
    assert "not valid YAML" in str(err.value) and "column" in str(err.value)


def test_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    cfg = write(tmp_path, "domain: a.example\nargocd_namespace: infra\ndomain: b.example\n")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, {}, env={})
    assert err.value.line == 3 and err.value.key == "domain"
    assert "first at line 1, again at line 3" in str(err.value)


def test_empty_value_is_unset_and_empty_ssh_command_is_kept(tmp_path: Path) -> None:
    cfg = write(tmp_path, "domain:\nssh_command: ''\n")
    s = load_settings(cfg, {}, env={})
    assert s.domain is None and s.ssh_command == ""
    assert s.variables()["SSH_CMD"] == ""
