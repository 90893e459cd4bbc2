"""Kargo expressions resolved per Stage as Kargo would before a Promotion exists (pkg/expressions
EvaluateTemplate, pkg/promotion Vars, pkg/api InflateSteps; docs/semantics.md), and ApplicationSets
expanded from the values in the repository: what the app rules then see, through `gate lint`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_lint import gate

from gate.lint import expressions as E

STAGE = """apiVersion: kargo.akuity.io/v1alpha1
kind: Stage
metadata: {{name: {name}, namespace: shop}}
spec:
  vars: {stage_vars}
  requestedFreight:
    - origin: {{kind: Warehouse, name: shop}}
      sources: {{direct: true}}
  promotionTemplate:
    spec:
      vars: {template_vars}
      steps:
        - task: {{name: deploy}}
          vars: {step_vars}
  verification:
    analysisTemplates: [{{name: shop-health}}]
---
"""
COMMON = """apiVersion: kargo.akuity.io/v1alpha1
kind: Warehouse
metadata: {name: shop, namespace: shop}
spec:
  subscriptions: [{image: {repoURL: ghcr.io/example/shop}}]
---
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: shop-health, namespace: shop}
spec:
  metrics: [{name: up, provider: {web: {url: "https://shop.example.com/healthz"}}}]
---
apiVersion: kargo.akuity.io/v1alpha1
kind: PromotionTask
metadata: {name: deploy, namespace: shop}
spec:
  vars:
    - name: prefix
      value: web
    - name: region
  steps:
    - uses: argocd-update
      vars:
        - name: app
          value: ${{ vars.prefix }}-${{ ctx.stage }}-${{ vars.region }}
      config:
        apps:
          - name: ${{ quote(vars.app) }}
      retry: {errorThreshold: 2}
"""


def app_names(tmp_path: Path, **stage: str) -> list[str]:
    fields = {"name": "dev", "stage_vars": "[]", "template_vars": "[]", "step_vars": "[{name: region, value: eu}]"}
    fields.update(stage)
    (tmp_path / "p.yaml").write_text(STAGE.format(**fields) + COMMON)
    proc = gate("lint", "--graph", "dot", str(tmp_path / "p.yaml"))
    assert proc.returncode == 0, proc.stderr
    return [line.split("apps: ")[1].split("\\n")[0] for line in proc.stdout.splitlines() if "apps: " in line]


def test_task_defaults_step_vars_and_ctx_in_kargos_order(tmp_path: Path) -> None:
    assert app_names(tmp_path) == ["web-dev-eu"]  # task default, step var for the required one, ctx.stage
    assert app_names(tmp_path, step_vars="[{name: region, value: us}, {name: prefix, value: api}]") == ["api-dev-us"]


def test_promotion_vars_replace_task_defaults_and_step_vars_win_over_them(tmp_path: Path) -> None:
    # Stage and template vars are the Promotion's vars (webhook.go 250-258): a task default they set is not
    # inflated (promotionTaskVarsToStepVars), and the Stage's come first, the template's after
    assert app_names(tmp_path, stage_vars="[{name: prefix, value: shop}]") == ["shop-dev-eu"]
    assert app_names(tmp_path, stage_vars="[{name: prefix, value: shop}]",
                     template_vars="[{name: prefix, value: cart}]") == ["cart-dev-eu"]
    assert app_names(tmp_path, template_vars="[{name: region, value: ap}]",
                     step_vars="[{name: region, value: us}]") == ["web-dev-us"]


def test_a_part_known_only_at_promotion_is_an_info_naming_the_rules(tmp_path: Path) -> None:
    assert app_names(tmp_path, step_vars="[{name: region, value: '${{ ctx.promotion }}'}]") == \
        ["web-dev-<promotion>"]
    proc = gate("lint", "--format", "json", str(tmp_path / "p.yaml"))
    (note,) = json.loads(proc.stdout)["findings"]
    assert proc.returncode == 0 and note["rule"] == "expression-not-checked" and note["severity"] == "info"
    assert note["message"].startswith("not checked: expression ${{ quote(vars.app) }}")
    assert "(ctx.promotion is known only at promotion)" in note["message"]
    assert "rules app-authorized-stage, app-auto-sync, appset-authorized-stage could not run" in note["message"]


@pytest.mark.parametrize("template, want", [
    ("guestbook-${{ ctx.stage }}", "guestbook-dev"),
    ("${{ ctx.project }}-${{ vars.app }}", "kargo-advanced-guestbook"),
    ("${{ quote(vars.app) }}", "guestbook"),  # a quoted whole result is unquoted (json_templates.go 181-187)
    ("x-${{ quote(vars.app) }}", 'x-"guestbook"'),
    ("${{ upper(ctx.stage) + '-' + trimPrefix(vars.app, 'guest') }}", "DEV-book"),
    ("${{ vars.openpr == 'true' ? 'pr' : 'push' }}", "pr"),
    ("${{ vars.n }}", "1"),
])
def test_expressions_kargo_can_evaluate_before_promotion(template: str, want: str) -> None:
    env = E.environment("dev", "kargo-advanced", {"app": "guestbook", "openpr": "true", "n": 1.0})
    assert E.render(template, env) == (want, [])


@pytest.mark.parametrize("template", [
    "${{ imageFrom(vars.image).Tag }}", "${{ task.outputs['commit'].commit }}", "${{ vars.nope }}",
    "${{ ctx.targetFreight.origin.name }}", "${{ outputs.push.branch }}", "${{ secret('x').token }}",
])
def test_expressions_known_only_at_promotion_are_unknown(template: str) -> None:
    text, unknown = E.render(template, E.environment("dev", "p", {"image": "ghcr.io/x"}))
    assert len(unknown) == 1 and text == "${{ " + unknown[0].expression + " }}"


def test_step_if_known_false_drops_the_step_for_that_stage(tmp_path: Path) -> None:
    """kargo-simple's openpr pattern: `if: ${{ vars.openpr == 'true' }}` per Stage."""
    text = STAGE.format(name="prod", stage_vars="[]", template_vars="[{name: openpr, value: 'false'}]",
                        step_vars="[{name: region, value: eu}]") + COMMON.replace(
        "    - uses: argocd-update\n", "    - uses: argocd-update\n      if: ${{ vars.openpr == 'true' }}\n")
    (tmp_path / "p.yaml").write_text(text)
    proc = gate("lint", "--format", "json", str(tmp_path / "p.yaml"))
    found = json.loads(proc.stdout)["findings"]
    # the one deploy step is skipped for this Stage: nothing deploys
    assert [f["rule"] for f in found] == ["stage-no-deploy"]


APPSET_GO = """apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: shop, namespace: argocd}
spec:
  goTemplate: true
  generators:
    - list:
        elements:
          - {stage: dev, team: web}
  template:
    metadata:
      name: '{{.team}}-{{.stage}}-eu'
      labels: {team: '{{.team}}'}
      annotations:
        kargo.akuity.io/authorized-stage: 'shop:{{.stage}}'
    spec:
      project: default
      destination: {server: https://kubernetes.default.svc, namespace: shop}
      source: {repoURL: https://git.example.com/shop.git, path: 'env/{{.stage}}', targetRevision: main}
"""


def test_go_template_list_generator_is_expanded_and_checked(tmp_path: Path) -> None:
    base = STAGE.format(name="dev", stage_vars="[]", template_vars="[]", step_vars="[{name: region, value: eu}]")
    (tmp_path / "p.yaml").write_text(base + COMMON + "---\n" + APPSET_GO)
    proc = gate("lint", "--format", "json", str(tmp_path / "p.yaml"))
    assert proc.returncode == 0 and json.loads(proc.stdout)["findings"] == []
    (tmp_path / "p.yaml").write_text(base + COMMON + "---\n" + APPSET_GO.replace("'shop:{{.stage}}'", "'shop:qa'"))
    proc = gate("lint", "--format", "json", str(tmp_path / "p.yaml"))
    (found,) = json.loads(proc.stdout)["findings"]
    assert found["rule"] == "app-authorized-stage" and "authorizes 'shop:qa', not shop:dev" in found["message"]
    assert found["object"] == "ApplicationSet/argocd/shop" and "generates web-dev-eu (Stage dev)" in found["message"]


def test_selector_apps_are_checked_like_named_ones(tmp_path: Path) -> None:
    base = STAGE.format(name="dev", stage_vars="[]", template_vars="[]", step_vars="[{name: region, value: eu}]")
    common = COMMON.replace("          - name: ${{ quote(vars.app) }}",
                            "          - selector: {matchLabels: {team: web}}")
    appset = APPSET_GO.replace("kargo.akuity.io/authorized-stage: 'shop:{{.stage}}'", "other: x")
    (tmp_path / "p.yaml").write_text(base + common + "---\n" + appset)
    proc = gate("lint", "--format", "json", str(tmp_path / "p.yaml"))
    (found,) = json.loads(proc.stdout)["findings"]
    assert found["rule"] == "app-authorized-stage" and "web-dev-eu (Stage dev)" in found["message"]


def test_evaluation_is_bounded() -> None:
    """Vars that double each other, deep nesting and a growing replace end as Unknown, quickly."""
    from gate.lint.pipeline import _evaluate_vars

    entries = [("v0", "x" * 1000)] + [(f"v{i}", f"${{{{ vars.v{i - 1} + vars.v{i - 1} }}}}") for i in range(1, 60)]
    assert isinstance(_evaluate_vars(entries, "dev", "p", {})["v59"], E.Unknown)
    env = E.environment("dev", "p", {"big": "a" * 100_000})
    assert E.render("${{ " + "(" * 5000 + "1" + ")" * 5000 + " }}", env)[1]
    assert E.render("${{ replace(vars.big, '', '" + "b" * 60 + "') }}", env)[1]
