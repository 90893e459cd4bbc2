"""`gate render analysis-template --offline`: no cluster, no secrets set; and render offers no report flags."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SPEC = """\
stages:
  monitoring:
    levels:
      1:
        - argocd_apps: {names: [grafana]}
        - pods: {namespace: "${MONITORING_NS}"}
        - kargo_stage: {}
      2:
        - http:
            url: "https://grafana.${DOMAIN}/api/health"
            headers: {Authorization: "Bearer ${env:GRAFANA_TOKEN}"}
            expect: {status: 200}
"""
SECRET = "s3cr3t-grafana-token-value"


def gate(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GATE_", "KUBECONFIG", "GRAFANA"))}
    environ.update(PYTHONPATH=str(ROOT), KUBECONFIG=str(cwd / "no-such-kubeconfig"), **env)
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=60, env=environ)


def _render(tmp_path: Path, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "gate.yaml").write_text(SPEC)
    return gate("render", "analysis-template", "--stage", "monitoring", "--image", "gate:1", *extra,
                cwd=tmp_path, **env)


GIVEN = ("--set", "MONITORING_NS=monitoring", "--set", "ARGOCD_NS=argocd", "--set", "domain=example.com")


def test_offline_needs_no_cluster_and_no_secret(tmp_path: Path) -> None:
    proc = _render(tmp_path, "--offline", "--namespace", "platform")
    # settings nobody gave are named (a `${VAR}` left in a manifest would not apply)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "monitoring_namespace (${MONITORING_NS})" in proc.stderr and "argocd_namespace" in proc.stderr
    proc = _render(tmp_path, "--offline", "--namespace", "platform", *GIVEN)
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    roles = {d["metadata"].get("namespace") for d in docs if d["kind"] == "Role"}
    assert {"monitoring", "argocd", "platform"} <= roles
    (template,) = [d for d in docs if d["kind"] == "AnalysisTemplate"]
    container = template["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"]["containers"][0]
    (token,) = [e for e in container["env"] if e["name"] == "GRAFANA_TOKEN"]
    assert token["valueFrom"]["secretKeyRef"]["key"] == "GRAFANA_TOKEN"  # referenced, never resolved
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert "${env:GRAFANA_TOKEN}" in cm["data"]["gate.yaml"]


def test_offline_never_reads_a_secret_that_is_set(tmp_path: Path) -> None:
    proc = _render(tmp_path, "--offline", "--namespace", "platform", *GIVEN, GRAFANA_TOKEN=SECRET)
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr


def test_offline_uses_the_settings_it_has(tmp_path: Path) -> None:
    (tmp_path / ".gitops-config.yaml").write_text("monitoring_namespace: monitoring\nkargo_project: platform\n"
                                                  "argocd_namespace: argocd\ndomain: example.com\n")
    proc = _render(tmp_path, "--offline")
    assert proc.returncode == 0, proc.stderr
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] == "Role"}
    assert "monitoring" in namespaces and "${MONITORING_NS}" not in namespaces
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert cm["data"]["gitops-config.yaml"] == (tmp_path / ".gitops-config.yaml").read_text()  # as it is
    assert {d["metadata"]["namespace"] for d in docs if d["kind"] == "AnalysisTemplate"} == {"platform"}


def test_without_offline_a_missing_value_is_still_an_error_that_names_offline(tmp_path: Path) -> None:
    proc = _render(tmp_path, "--namespace", "platform")
    assert proc.returncode == 2
    assert "GRAFANA_TOKEN" in proc.stderr and "--offline" in proc.stderr
    proc = _render(tmp_path, "--namespace", "platform", GRAFANA_TOKEN=SECRET)
    assert proc.returncode == 2
    assert "monitoring_namespace is not set" in proc.stderr and "--offline" in proc.stderr
    assert SECRET not in proc.stderr


def test_render_offers_no_report_options(tmp_path: Path) -> None:
    proc = _render(tmp_path, "--offline", "--namespace", "platform", "--junit", "x.xml")
    assert proc.returncode == 2 and "No such option '--junit'" in proc.stderr
    help_text = gate("render", "analysis-template", "--help", cwd=tmp_path).stdout
    for flag in ("--junit", "--json", "--output"):
        assert flag not in help_text
    for flag in ("--config", "--spec", "--kubeconfig", "--context", "--project", "--timeout", "--offline"):
        assert flag in help_text
