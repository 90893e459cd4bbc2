"""Discovery: the guide's Step 2 queries fill only missing keys, lazily; ambiguity names the key.
`gate discover` runs end to end against the simulator when it is available."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from fakeview import FakeView

from gate.cluster.resources import APPLICATIONS, INGRESSES, NAMESPACES, PODS, PROJECTS, STAGES, WAREHOUSES
from gate.errors import ConfigError
from gate.spec.discovery import discover
from gate.spec.settings import load_settings


def obj(name: str, namespace: str | None = None, **extra: object) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"metadata": meta, **extra}


def ingress(name: str, namespace: str, *hosts: str) -> dict:
    return obj(name, namespace, spec={"rules": [{"host": h} for h in hosts]})


def cluster() -> FakeView:
    return FakeView({
        PROJECTS: [obj("platform")],
        STAGES: [obj("monitoring", "platform"), obj("apps", "platform")],
        APPLICATIONS: [obj("loki", "argocd"), obj("kube-prometheus-stack", "argocd"), obj("x", "infra")],
        INGRESSES: [ingress("grafana", "monitoring", "grafana.demo.example"),
                    ingress("auth", "auth", "auth.demo.example", "*.demo.example"),
                    ingress("other", "x", "thing.elsewhere.io")],
        WAREHOUSES: [obj("platform-apps", "platform")],
        NAMESPACES: [obj("monitoring")],
    })


def test_fills_every_missing_key_with_its_source() -> None:
    s = discover(load_settings(None, {}, env={}), cluster())
    assert (s.kargo_project, s.kargo_namespace) == ("platform", "platform")
    assert s.argocd_namespace == "argocd" and "2/3 Argo CD Applications" in s.source("argocd_namespace")
    assert s.domain == "demo.example" and s.source("domain").startswith("discovered:")
    assert s.warehouse_name == "platform-apps"
    assert s.monitoring_namespace == "monitoring"
    assert s.app_namespace is None and s.notes["app_namespace"]


def test_lazy_only_asks_for_what_is_missing_and_wanted(tmp_path: Path) -> None:
    view = cluster()
    cfg = tmp_path / "c.yaml"
    cfg.write_text("argocd_namespace: infra\n")
    s = discover(load_settings(str(cfg), {}, env={}), view, {"domain", "argocd_namespace"})
    assert s.argocd_namespace == "infra" and s.domain == "demo.example"
    assert [c[1] for c in view.calls] == ["ingresses"]


def test_warehouse_discovers_the_project_first() -> None:
    view = cluster()
    s = discover(load_settings(None, {}, env={}), view, {"warehouse_name"})
    assert s.warehouse_name == "platform-apps"
    assert ("list", "warehouses", "platform", None, None) in view.calls


def test_two_projects_is_an_error_listing_them_and_naming_the_key() -> None:
    view = cluster().add(PROJECTS, obj("shop"))
    with pytest.raises(ConfigError) as err:
        discover(load_settings(None, {}, env={}), view, {"kargo_namespace"})
    text = str(err.value)
    assert err.value.key == "kargo_project" and "platform, shop" in text
    assert "GATE_KARGO_PROJECT" in text and "--project" in text


def test_a_chosen_project_is_not_rediscovered() -> None:
    view = cluster().add(PROJECTS, obj("shop"))
    s = discover(load_settings(None, {"project": "shop"}, env={}), view, {"kargo_namespace"})
    assert s.kargo_namespace == "shop" and view.calls == []


def test_forbidden_leaves_the_key_unset_with_the_reason() -> None:
    view = FakeView({PODS: []}, forbidden={INGRESSES})
    s = discover(load_settings(None, {}, env={}), view, {"domain"})
    assert s.domain is None and "forbidden" in s.notes["domain"]


def test_monitoring_from_prometheus_stack_pods() -> None:
    labels = {"app.kubernetes.io/part-of": "kube-prometheus-stack"}
    view = FakeView({NAMESPACES: [], PODS: [{"metadata": {"name": "p", "namespace": "observability",
                                                          "labels": labels}}]})
    s = discover(load_settings(None, {}, env={}), view, {"monitoring_namespace"})
    assert s.monitoring_namespace == "observability"


SIM_OBJECTS = [
    {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Project", "metadata": {"name": "platform"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "platform"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}},
    {"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Warehouse",
     "metadata": {"name": "platform-apps", "namespace": "platform"},
     "spec": {"interval": "5m", "subscriptions": [{"image": {"repoURL": "ghcr.io/x/y"}}]}},
    {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
     "metadata": {"name": "loki", "namespace": "argocd"}, "spec": {"destination": {}, "project": "default"}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
     "metadata": {"name": "grafana", "namespace": "monitoring"},
     "spec": {"rules": [{"host": "grafana.demo.example"}]}},
]
SIM = {"name": "discover", "crds": ["kargo", "argocd"], "objects": SIM_OBJECTS,
       "tokens": {"gate-token": {"user": "gate"}},  # a read-only identity, as the gate runs with
       "rbac": {"gate": [{"verbs": ["get", "list"], "apiGroups": ["*"], "resources": ["*"]}]}}


def test_gate_discover_command_against_the_simulator(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from gate.cli import cli
    from gate.entry import run
    from gate.sim import server

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".gitops-config.yaml").write_text("# mine\nargocd_namespace: argocd\n")
    with server.start(SIM) as sim:
        code = run(cli, ["discover", "--kubeconfig", sim.kubeconfig, "--write"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "discovered: Kargo Project platform" in out
    assert "file .gitops-config.yaml:2" in out  # the file's own value, not rediscovered
    assert "wrote .gitops-config.yaml" in out
    text = (tmp_path / ".gitops-config.yaml").read_text()
    written = yaml.safe_load(text)
    assert written["argocd_namespace"] == "argocd" and written["domain"] == "demo.example"
    assert written["warehouse_name"] == "platform-apps" and written["kargo_namespace"] == "platform"
    assert written["monitoring_namespace"] == "monitoring"
    assert text.startswith("# mine\nargocd_namespace: argocd\n") and text.count("argocd_namespace") == 1


def test_gate_discover_with_a_malformed_config_exits_2_without_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gate.cli import cli
    from gate.entry import run

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text("domain: a\nkargo_projct: x\n")
    code = run(cli, ["discover", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{cfg}:2 at kargo_projct: unknown key" in err and "Traceback" not in err
