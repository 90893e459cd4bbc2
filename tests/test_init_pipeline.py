"""`gate init` reads the pipeline as Kargo runs it: PromotionTask steps expanded, expressions it cannot
evaluate left for the user, remote destinations and unreadable namespaces named in the starter spec."""

from __future__ import annotations

from pathlib import Path

import yaml
from fakeview import FakeView

from gate.cluster.resources import APPLICATIONS, DEPLOYMENTS, PODS, STAGES
from gate.init import TASKS, read_cluster, spec_text
from gate.spec.load import load_spec
from gate.spec.settings import Settings

SETTINGS = Settings(kargo_namespace="platform", kargo_project="platform", argocd_namespace="argocd",
                    app_namespace="apps")


def stage(name: str, steps: list[dict], upstream: str | None = None) -> dict:
    req = {"origin": {"kind": "Warehouse", "name": "w"},
           "sources": {"stages": [upstream]} if upstream else {"direct": True}}
    return {"metadata": {"name": name, "namespace": "platform"},
            "spec": {"requestedFreight": [req], "promotionTemplate": {"spec": {"steps": steps}}}}


def app(name: str, namespace: str, server: str = "https://kubernetes.default.svc") -> dict:
    return {"metadata": {"name": name, "namespace": "argocd"},
            "spec": {"destination": {"server": server, "namespace": namespace}}}


def world() -> FakeView:
    task = {"metadata": {"name": "deploy", "namespace": "platform"},
            "spec": {"vars": [{"name": "app", "value": "unused-default"}],
                     "steps": [{"uses": "argocd-update", "config": {"apps": [{"name": "${{ vars.app }}"}]}}]}}
    return FakeView({
        STAGES: [
            stage("prod", [{"task": {"name": "deploy"}, "vars": [{"name": "app", "value": "api-prod"}]}],
                  upstream="edge"),
            stage("edge", [{"uses": "argocd-update", "config": {"apps": [
                {"name": "${{ ctx.targetFreight.name }}-api"}, {"name": "edge-proxy"}]}}]),
        ],
        TASKS[0]: [task],
        APPLICATIONS: [app("api-prod", "apps"), app("edge-proxy", "proxy", server="https://edge.example:6443")],
        PODS: [{"metadata": {"name": "api-1", "namespace": "apps"}}],
    }, forbidden={DEPLOYMENTS})


def test_promotion_task_steps_are_expanded_and_the_rest_named(tmp_path: Path) -> None:
    drafts, notes = read_cluster(world(), SETTINGS)
    assert [d.name for d in drafts] == ["edge", "prod"]  # upstream first
    edge, prod = drafts
    assert prod.apps == {"argocd": ["api-prod"]}  # the task's step, with the Stage's value for vars.app
    assert [ns.name for ns in prod.namespaces] == ["apps"]
    assert prod.namespaces[0].workloads is None and prod.namespaces[0].pods == 1
    assert edge.unresolved == ["${{ ctx.targetFreight.name }}-api"]
    assert edge.namespaces[0].remote == "https://edge.example:6443"
    assert any("deployments.apps" in n for n in notes)  # the refusal is reported, not fatal

    text = spec_text(drafts, SETTINGS, "in a test")
    assert "# - argocd_apps: {names: [${{ ctx.targetFreight.name }}-api]}" in text
    assert "proxy is on another cluster (https://edge.example:6443)" in text
    assert '- workloads: {namespace: "${APP_NS}"}      # Deployments/StatefulSets/DaemonSets ready (init could' in text
    assert '- pods: {namespace: "${APP_NS}"}      # 1 pods when init ran; all must be ready' in text
    path = tmp_path / "gate.yaml"
    path.write_text(text)
    spec = load_spec(str(path), SETTINGS)
    level1 = yaml.safe_load(text)["stages"]["edge"]["levels"][1]
    assert level1 == [{"argocd_apps": {"names": ["edge-proxy"]}}, {"kargo_stage": {}}]
    assert [pc.check.kind for pc in spec.plan("prod").levels[1]] == ["argocd_apps", "workloads", "pods",
                                                                      "kargo_stage"]
