"""The lint rules: one declarative entry each, in the order a reader meets them in the guide.

Each entry: a stable id, a severity (`error` fails the lint; `warning` only with --strict, where a few
become errors; `info` never fails), what it checks, where the rule comes from (the guide's SETUP mode,
or Kargo/Argo CD behaviour cited in docs/semantics.md), and a function from the pipeline to findings. A
finding names the object, the key path (so the file and line), what is wrong and the fix as YAML. The
checks live by branch: rules_input (the files), rules_stages (Kargo), rules_argocd (Argo CD side).
"""

from __future__ import annotations

from gate.lint import rules_argocd as A
from gate.lint import rules_input as I
from gate.lint import rules_stages as S
from gate.lint.findings import Finding, LintOptions, Rule
from gate.lint.pipeline import Pipeline
from gate.lint.rules_argocd import AUTHORIZED_STAGE, FOUNDATION, RETRY_BY_WEIGHT

__all__ = ["AUTHORIZED_STAGE", "FOUNDATION", "RETRY_BY_WEIGHT", "RULES", "RULES_BY_ID", "Finding", "LintOptions",
           "Rule", "run"]

RULES: tuple[Rule, ...] = (
    Rule("yaml-invalid", "error", "every file parses as YAML (the run goes on past one that does not)",
         "kubectl / sigs.k8s.io/yaml", I.check_invalid),
    Rule("input-refused", "error", "inputs are regular files within 8 MiB, links inside the linted tree",
         "README input limits", I.check_refused),
    Rule("yaml-duplicate-key", "warning", "no duplicate keys (kubectl keeps the last one)",
         "sigs.k8s.io/yaml, go-yaml v2", I.check_duplicate_key),
    Rule("helm-chart-template", "info", "Helm chart templates are linted as `helm template` output, not as files",
         "Helm chart layout", I.check_helm),
    Rule("cluster-not-read", "info", "with --cluster, every kind the rules need could be listed",
         "RBAC of the linting identity", I.check_cluster),
    Rule("gate-spec", "error", "a gate spec met among the manifests is valid (schema, ${VAR}s, URL-safe names)",
         "DESIGN.md spec", I.check_spec),
    Rule("crd-schema", "error", "Kargo, Argo CD and Argo Rollouts objects validate against their CRDs",
         "Kargo v1.11.2, Argo CD and Argo Rollouts CRDs (gate/sim/crds)", S.check_schema),
    Rule("promotion-in-git", "error", "no Promotion manifests in git", "guide D5 Gotcha 1", S.check_promotions),
    Rule("freight-source-undefined", "error", "every requestedFreight origin and source Stage is defined",
         "guide S2 checklist 1", S.check_sources),
    Rule("stage-cycle", "error", "the stage graph of each project has no cycle", "guide S1", S.check_cycles),
    Rule("argocd-update-retry", "warning", "argocd-update steps set a retry errorThreshold (Kargo's default is 1)",
         "guide S2 checklist 3, S4; Kargo argocd_updater.go:45, registry.go:30", A.check_retry,
         strict_severity="error"),
    Rule("app-authorized-stage", "error", "promoted Applications carry kargo.akuity.io/authorized-stage "
         "<project>:<stage>", "guide S2 checklist 5; Kargo pkg/api/stage.go AuthorizedStages", A.check_authorized),
    Rule("app-auto-sync", "error", "Applications a Stage promotes do not auto-sync (foundation stages excepted)",
         "guide S2 checklist 4, anti-patterns", A.check_auto_sync),
    Rule("appset-authorized-project", "error", "ApplicationSet templates authorize the promoting Stage's project",
         "guide S2 checklist 5; Kargo pkg/api/stage.go AuthorizedStages", A.check_appset_project),
    Rule("verification-template-undefined", "error", "every verification AnalysisTemplate is defined",
         "guide S3", S.check_templates),
    Rule("stage-no-deploy", "warning", "regular Stages have a deploy step (argocd-update, git-push, PR, OCI, http)",
         "guide S2 checklist 2", S.check_no_deploy),
    Rule("stage-no-verification", "warning", "regular Stages have verification", "guide S2 checklist 6",
         S.check_no_verification),
    Rule("verification-service-account", "warning", "verification Jobs run as a dedicated ServiceAccount",
         "guide S2 checklist 7, S3", S.check_service_account),
    Rule("verification-service-account-missing", "warning", "the verification ServiceAccount is defined and bound",
         "guide S2 checklist 7, S3", S.check_service_account_missing),
    Rule("verification-rbac-broad", "warning", "verification RBAC only reads", "guide S3, D5 Gotcha 4",
         S.check_rbac_breadth),
    Rule("error-threshold-one", "warning", "argocd-update retry errorThreshold above 1", "guide S4",
         A.check_threshold_one),
    Rule("heavy-chart-timeout", "warning", "heavy charts have step timeouts of 10m or more",
         "guide S4, D5 Gotcha 7", A.check_heavy_timeout),
    Rule("appset-authorized-stage", "warning", "ApplicationSets generating promoted apps annotate their template",
         "guide S2 checklist 5", A.check_appset_annotation),
    Rule("argocd-update-selector", "warning", "argocd-update app selectors match an Application",
         "Kargo argocd_updater.go:796-870", A.check_selector),
    Rule("expression-not-checked", "info", "app names in argocd-update steps resolve before promotion",
         "Kargo pkg/expressions, pkg/promotion (docs/semantics.md)", A.check_expressions),
)
RULES_BY_ID = {r.id: r for r in RULES}


def run(pipeline: Pipeline, opts: LintOptions | None = None) -> list[Finding]:
    opts = opts or LintOptions()
    findings: list[Finding] = []
    for rule in RULES:
        severity = rule.strict_severity if opts.strict and rule.strict_severity else rule.severity
        for f in rule.check(pipeline, opts):
            f.severity = severity
            findings.append(f)
    return findings
