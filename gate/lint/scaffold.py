"""`gate scaffold stage`: the guide's S2 checklist as manifests.

A Stage (requestedFreight from its upstream Stages, an argocd-update step per app with the S4 retry row
for the app's weight, verification by the gate's AnalysisTemplate), the gate's AnalysisTemplate and
least-privilege RBAC from the spec (`gate render analysis-template`), and the authorized-stage annotation
each Application needs, as a command and a snippet (a comment, not a document: the Application itself
lives in Argo CD's repository).
"""

from __future__ import annotations

from dataclasses import dataclass

from gate.lint.rules_argocd import _WEIGHT_PATTERNS, AUTHORIZED_STAGE, RETRY_BY_WEIGHT


@dataclass
class StagePlan:
    name: str
    namespace: str
    warehouse: str
    upstreams: list[str]
    apps: list[str]
    argocd_namespace: str
    weight: str | None  # None: from each app's name
    template: str


def weight_for(app: str) -> str:
    return next((w for w, pattern in _WEIGHT_PATTERNS if pattern.search(app.lower())), "simple")


def stage_document(plan: StagePlan) -> dict:
    sources: dict = {"stages": plan.upstreams} if plan.upstreams else {"direct": True}
    steps = []
    for app in plan.apps:
        timeout, threshold = RETRY_BY_WEIGHT[plan.weight or weight_for(app)]
        steps.append({"uses": "argocd-update",
                      "config": {"apps": [{"name": app, "namespace": plan.argocd_namespace}]},
                      "retry": {"timeout": timeout, "errorThreshold": threshold}})
    return {
        "apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
        "metadata": {"name": plan.name, "namespace": plan.namespace},
        "spec": {
            "requestedFreight": [{"origin": {"kind": "Warehouse", "name": plan.warehouse}, "sources": sources}],
            "promotionTemplate": {"spec": {"steps": steps}},
            "verification": {"analysisTemplates": [{"name": plan.template}]},
        },
    }


def annotation_comment(plan: StagePlan) -> str:
    value = f"{plan.namespace}:{plan.name}"
    lines = [f"# Stage {plan.name!r}: the guide's S2 checklist as manifests (gate scaffold).",
             "#",
             "# Each Application this Stage promotes must authorize it (else Kargo refuses to update it), and",
             "# must not auto-sync (Kargo syncs it). In the Application (or the ApplicationSet's template):",
             "#",
             "#   metadata:",
             "#     annotations:",
             f"#       {AUTHORIZED_STAGE}: {value}",
             "#",
             "# or on the live objects:"]
    lines += [f"#   kubectl -n {plan.argocd_namespace} annotate application {app} {AUTHORIZED_STAGE}={value}"
              for app in plan.apps]
    lines += ["#", "# Then test with a single app first, and lint before applying: gate lint DIR", ""]
    return "\n".join(lines)
