"""Rules on the Kargo side: Freight sources, the stage graph, deploy steps, Promotions, verification
(templates, ServiceAccount, RBAC) and CRD schemas."""

from __future__ import annotations

from collections.abc import Iterator

from gate.lint.findings import Finding, LintOptions, finding
from gate.lint.manifests import Manifest
from gate.lint.pipeline import Pipeline, job_pod_specs

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate", "*"}
# Kargo v1.11 built-in steps (pkg/promotion/runner/builtin, stepKind* constants) that put a change where it
# gets deployed: an Argo CD sync, a push Argo CD or Flux picks up, a PR merge, an OCI push, a webhook.
DEPLOY_STEPS = {"argocd-update", "git-push", "github-push", "git-merge-pr", "git-open-pr", "oci-push", "http"}
BUILTIN_STEPS = DEPLOY_STEPS | {
    "argocd-wait", "compose-output", "copy", "delete", "fail", "file-write", "git-clear", "git-clone",
    "git-commit", "git-tag", "git-wait-for-pr", "helm-template", "helm-update-chart", "http-download",
    "json-parse", "json-update", "kustomize-build", "kustomize-set-image", "oci-download", "set-freight-alias",
    "set-metadata", "toml-parse", "toml-update", "untar", "yaml-merge", "yaml-parse", "yaml-update",
}


def check_sources(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for stage in p.stages:
        for src in p.sources(stage):
            if src.kind in p.unread:
                continue
            if p.find(src.kind, src.name, stage.namespace or None) is None:
                yield finding("freight-source-undefined", stage, src.path,
                              f"Stage {stage.name} requests Freight from {src.kind} {src.name}, which is not defined")


def check_cycles(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    """Cycles in the upstream graph of each project (two projects may reuse Stage names)."""
    by_key = {(p.project_of(s) or "", s.name): s for s in p.stages}
    graph = {key: [(key[0], up) for up in p.upstream_stages(s)] for key, s in by_key.items()}
    reported: set[frozenset] = set()
    for start in graph:
        stack: list[tuple[tuple[str, str], list[tuple[str, str]]]] = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for up in graph.get(node, []):
                if up == start:
                    cycle = frozenset(trail)
                    if cycle not in reported:
                        reported.add(cycle)
                        loop = " <- ".join(name for _, name in [*trail, start])
                        yield finding("stage-cycle", by_key[start], ("spec", "requestedFreight"),
                                      f"the stage graph has a cycle: {loop}")
                elif up not in trail:
                    stack.append((up, [*trail, up]))


def check_no_deploy(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for stage in p.stages:
        if p.is_control_flow(stage):
            continue
        steps = [s for s in p.steps(stage) if s.enabled is not False]
        if any(s.uses not in BUILTIN_STEPS for s in steps):
            continue  # a custom step or a task lint cannot see may deploy
        if not any(s.uses in DEPLOY_STEPS for s in steps):
            kinds = ", ".join(dict.fromkeys(s.uses for s in steps)) or "none"
            yield finding("stage-no-deploy", stage, ("spec", "promotionTemplate", "spec", "steps"),
                          f"Stage {stage.name} promotes with steps ({kinds}) none of which deploys (no "
                          "argocd-update, git-push, PR merge, OCI push or http step): its Freight is marked "
                          "promoted and verified while the old version keeps running",
                          {"uses": "argocd-update", "config": {"apps": [{"name": f"<app of {stage.name}>"}]},
                           "retry": {"timeout": "5m", "errorThreshold": 2}})


def check_templates(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for stage in p.stages:
        for kind, name, path in p.verification(stage):
            if kind not in p.unread and p.template(stage, kind, name) is None:
                yield finding("verification-template-undefined", stage, path,
                              f"Stage {stage.name} verifies with {kind} {name}, which is not defined: verification "
                              "will never start")


def check_promotions(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for promo in p.of("Promotion"):
        yield finding("promotion-in-git", promo, ("kind",),
                      f"Promotion {promo.name} is a manifest: Promotions are made by Kargo (auto-promotion, UI, "
                      "`kargo promote`, `gate promote`), never applied with kubectl or GitOps (the guide's Gotcha 1)",
                      "# delete this document; promote with:\n# kargo promote --project P --stage S --freight F")


def check_no_verification(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for stage in p.stages:
        if not p.is_control_flow(stage) and not p.verification(stage):
            yield finding("stage-no-verification", stage, ("spec",),
                          f"Stage {stage.name} has no verification: its Freight is verified the moment it is "
                          "promoted",
                          {"spec": {"verification": {"analysisTemplates": [{"name": f"{stage.name}-health"}]}}})


def _verification_templates(p: Pipeline) -> Iterator[Manifest]:
    seen: set[int] = set()
    for stage in p.stages:
        for kind, name, _ in p.verification(stage):
            template = p.template(stage, kind, name)
            if template is not None and id(template) not in seen:
                seen.add(id(template))
                yield template


def check_service_account(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for template in _verification_templates(p):
        for path, pod in job_pod_specs(template):
            if pod.get("serviceAccountName") in (None, "", "default"):
                yield finding("verification-service-account", template, path,
                              f"{template.kind} {template.name} runs its Job as the default ServiceAccount: give "
                              "verification a dedicated one with only the rights its checks need (the guide's S3)",
                              {"serviceAccountName": f"{template.name}-verification"})


def check_service_account_missing(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for template in _verification_templates(p):
        for path, pod in job_pod_specs(template):
            sa = str(pod.get("serviceAccountName") or "")
            if sa in ("", "default"):
                continue
            namespace = template.namespace
            defined = p.find("ServiceAccount", sa, namespace or None)
            if defined is None and "ServiceAccount" in p.unread or \
                    defined is not None and {"RoleBinding", "ClusterRoleBinding"} & p.unread:
                continue  # --cluster could not list what would show it
            if defined is None:
                why = f"is not defined in namespace {namespace or '(the template’s)'}: the Job's Pod is never created"
                fix: object = {"apiVersion": "v1", "kind": "ServiceAccount",
                               "metadata": {"name": sa, "namespace": namespace or "<namespace>"}}
            elif not p.bindings_of(namespace or defined.namespace, sa):
                why = "is bound to no Role: every read the verification makes is forbidden"
                fix = "# bind it to read-only rules: gate render analysis-template prints them"
            else:
                continue
            yield finding("verification-service-account-missing", template, (*path, "serviceAccountName"),
                          f"{template.kind} {template.name} runs its Job as ServiceAccount {sa}, which {why} "
                          "(the guide's S2 checklist 7)", fix)


def check_rbac_breadth(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for template in _verification_templates(p):
        for _, pod in job_pod_specs(template):
            sa = str(pod.get("serviceAccountName") or "")
            if not sa or sa == "default":
                continue
            for role in p.roles_of(template.namespace, sa):
                for i, rule in enumerate(role.obj.get("rules") or []):
                    if not isinstance(rule, dict):
                        continue
                    verbs = set(rule.get("verbs") or [])
                    wild = "*" in (rule.get("resources") or []) or "*" in (rule.get("apiGroups") or [])
                    writes = sorted(verbs & WRITE_VERBS - ({"create"} if _reviews_only(rule) else set()))
                    if writes or wild:
                        what = f"verbs {', '.join(writes)}" if writes else "every resource (*)"
                        yield finding("verification-rbac-broad", role, ("rules", i),
                                      f"{role.kind} {role.name} (bound to verification ServiceAccount {sa}) grants "
                                      f"{what}: verification only reads; `gate render analysis-template` prints the "
                                      "least-privilege rules",
                                      {"verbs": ["get", "list", "watch"]})


def _reviews_only(rule: dict) -> bool:
    return set(rule.get("resources") or []) <= {"selfsubjectaccessreviews", "selfsubjectrulesreviews"}


def check_schema(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    from gate.lint import schemas

    for m in p.manifests:
        for path, message in schemas.errors(m):
            yield finding("crd-schema", m, path, f"not valid against the {m.kind} CRD: {message}")
