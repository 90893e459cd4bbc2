"""The lint rules: one declarative entry each, in the order a reader meets them in the guide.

Each entry: a stable id, a severity (`error` fails the lint, `warning` only with --strict), what it
checks, where the rule comes from (the guide's SETUP mode, or Kargo/Argo CD behaviour in shared notes),
and a function from the pipeline to findings. A finding names the object, the key path (so the file
and line), what is wrong and the fix as a YAML snippet.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import yaml

from gate.engine import durations
from gate.lint.manifests import Manifest
from gate.lint.pipeline import AppRef, Pipeline, Step, job_pod_specs

AUTHORIZED_STAGE = "kargo.akuity.io/authorized-stage"
FOUNDATION = "promotion-gate/foundation"  # Stage annotation: "true" exempts its apps from app-auto-sync

# The guide's S4 table: (timeout, errorThreshold) by app weight.
RETRY_BY_WEIGHT = {"simple": ("3m", 2), "medium": ("5m", 2), "heavy": ("10m", 3), "very-heavy": ("10m", 3)}
_WEIGHT_PATTERNS = (
    ("very-heavy", re.compile(r"loki|tempo|elasticsearch|opensearch")),
    ("heavy", re.compile(r"kube-prometheus-stack|prometheus|thanos|mimir|grafana")),
    ("medium", re.compile(r"external-secrets|\beso\b|crossplane|cert-manager|istio")),
)
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate", "*"}


@dataclass
class Finding:
    rule: str
    severity: str
    manifest: Manifest
    path: tuple[str | int, ...]
    message: str
    fix: str = ""

    @property
    def file(self) -> str:
        return self.manifest.file

    @property
    def line(self) -> int:
        return self.manifest.line(*self.path)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    summary: str
    source: str
    check: Callable[[Pipeline, LintOptions], Iterable[Finding]]


@dataclass
class LintOptions:
    foundation: set[str] = field(default_factory=set)  # Stage names whose apps may auto-sync


def snippet(obj: object) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).rstrip()


def _find(rule: str, m: Manifest, path: tuple[str | int, ...], message: str, fix: object = "") -> Finding:
    severity = RULES_BY_ID[rule].severity
    return Finding(rule, severity, m, path, message, fix if isinstance(fix, str) else snippet(fix))


def weight_of(pipeline: Pipeline, ref: AppRef) -> str:
    """The app's weight class for S4: by its name and its chart name."""
    app = pipeline.application(ref)
    names = [ref.name]
    if app is not None:
        sources = [app.spec.get("source") or {}, *(app.spec.get("sources") or [])]
        names += [str(s.get("chart") or "") for s in sources if isinstance(s, dict)]
    text = " ".join(names).lower()
    return next((w for w, pattern in _WEIGHT_PATTERNS if pattern.search(text)), "simple")


def _update_steps(p: Pipeline) -> Iterator[tuple[Step, list[AppRef]]]:
    """Each argocd-update step once (a PromotionTask used by two Stages is reported once)."""
    seen: set[tuple[int, tuple]] = set()
    for stage in p.stages:
        by_step: dict[tuple[int, tuple], tuple[Step, list[AppRef]]] = {}
        for ref in p.apps(stage):
            key = (id(ref.step.owner), ref.step.path)
            by_step.setdefault(key, (ref.step, []))[1].append(ref)
        for step in p.steps(stage):
            key = (id(step.owner), step.path)
            if step.uses == "argocd-update" and key not in seen:
                seen.add(key)
                yield by_step.get(key, (step, []))


def _heaviest(p: Pipeline, refs: list[AppRef]) -> str:
    order = list(RETRY_BY_WEIGHT)
    return max((weight_of(p, r) for r in refs), key=order.index, default="simple")


# -- the rules ----------------------------------------------------------------------------------
def check_retry(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for step, refs in _update_steps(p):
        retry = step.body.get("retry") if isinstance(step.body.get("retry"), dict) else {}
        missing = [k for k in ("timeout", "errorThreshold") if k not in retry]
        if missing:
            weight = _heaviest(p, refs)
            timeout, threshold = RETRY_BY_WEIGHT[weight]
            apps = ", ".join(r.name for r in refs) or "its apps"
            yield _find("argocd-update-retry", step.owner, step.path,
                        f"argocd-update step for {apps} has no retry {' and '.join(missing)}: the first transient "
                        "repo-server error fails the Promotion",
                        f"# {weight} app (S4 table)\n" + snippet({"retry": {
                            "timeout": retry.get("timeout", timeout),
                            "errorThreshold": retry.get("errorThreshold", threshold)}}))


def check_threshold_one(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for step, refs in _update_steps(p):
        retry = step.body.get("retry")
        if isinstance(retry, dict) and retry.get("errorThreshold") == 1:
            _, threshold = RETRY_BY_WEIGHT[_heaviest(p, refs)]
            yield _find("error-threshold-one", step.owner, (*step.path, "retry", "errorThreshold"),
                        "errorThreshold 1 fails the Promotion on the first error (same as no retry)",
                        {"retry": {"errorThreshold": threshold}})


def check_heavy_timeout(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for step, refs in _update_steps(p):
        retry = step.body.get("retry")
        weight = _heaviest(p, refs)
        if weight not in ("heavy", "very-heavy") or not isinstance(retry, dict) or "timeout" not in retry:
            continue
        try:
            seconds = durations.parse(retry["timeout"])
        except ValueError:
            continue
        if seconds < 600:
            apps = ", ".join(r.name for r in refs)
            yield _find("heavy-chart-timeout", step.owner, (*step.path, "retry", "timeout"),
                        f"{apps} is a {weight} chart; step timeout {retry['timeout']} is under 10m "
                        "(the guide's S4: huge charts time out on the first attempt)",
                        {"retry": {"timeout": "10m"}})


def _annotation_fix(stage: Manifest) -> dict:
    return {"metadata": {"annotations": {AUTHORIZED_STAGE: f"{stage.namespace}:{stage.name}"}}}


def check_authorized(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for stage in p.stages:
        for ref in p.apps(stage):
            app = p.application(ref)
            if app is None:
                continue
            want = f"{stage.namespace}:{stage.name}"
            have = app.annotations.get(AUTHORIZED_STAGE)
            if have == want:
                continue
            if have is None:
                why = f"has no {AUTHORIZED_STAGE} annotation"
            elif "*" in str(have):
                why = f"uses a glob in {AUTHORIZED_STAGE} ({have!r}): Kargo rejects globs"
            else:
                why = f"authorizes {have!r}, not {want!r}"
            path = ("metadata", "annotations", AUTHORIZED_STAGE) if have is not None else ("metadata",)
            yield _find("app-authorized-stage", app, path,
                        f"Application {app.name} is promoted by Stage {stage.name} but {why}: Kargo will refuse "
                        "to update it", _annotation_fix(stage))


def _automated(spec: dict) -> bool:
    policy = spec.get("syncPolicy")
    return isinstance(policy, dict) and policy.get("automated") is not None and policy.get("automated") is not False


def _is_foundation(stage: Manifest, opts: LintOptions) -> bool:
    return stage.name in opts.foundation or str(stage.annotations.get(FOUNDATION, "")).lower() == "true"


def check_auto_sync(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    seen: set[int] = set()
    for stage in p.stages:
        if _is_foundation(stage, opts):
            continue
        for ref in p.apps(stage):
            app = p.application(ref)
            target, spec, path = None, {}, ()
            if app is not None:
                target, spec, path = app, app.spec, ("spec", "syncPolicy", "automated")
            else:
                appset = p.appset_for(ref)
                if appset is not None:
                    spec = (appset.spec.get("template") or {}).get("spec") or {}
                    target, path = appset, ("spec", "template", "spec", "syncPolicy", "automated")
            if target is None or id(target) in seen or not _automated(spec):
                continue
            seen.add(id(target))
            yield _find("app-auto-sync", target, path,
                        f"{target.kind} {target.name} auto-syncs but Stage {stage.name} promotes it: the two fight "
                        f"(mark a foundation stage with the annotation {FOUNDATION}: \"true\" or --foundation)",
                        {"spec": {"syncPolicy": {"automated": None}}})


def check_appset_annotation(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    seen: set[int] = set()
    for stage in p.stages:
        for ref in p.apps(stage):
            if p.application(ref) is not None:
                continue
            appset = p.appset_for(ref)
            if appset is None or id(appset) in seen:
                continue
            seen.add(id(appset))
            annotations = ((appset.spec.get("template") or {}).get("metadata") or {}).get("annotations") or {}
            if AUTHORIZED_STAGE not in annotations:
                yield _find("appset-authorized-stage", appset, ("spec", "template", "metadata"),
                            f"ApplicationSet {appset.name} generates {ref.name}, promoted by Stage {stage.name}, "
                            f"without {AUTHORIZED_STAGE} in its template",
                            {"spec": {"template": _annotation_fix(stage)}})


def check_sources(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for stage in p.stages:
        for src in p.sources(stage):
            namespace = stage.namespace or None
            if p.find(src.kind, src.name, namespace) is None:
                yield _find("freight-source-undefined", stage, src.path,
                            f"Stage {stage.name} requests Freight from {src.kind} {src.name}, which is not defined")


def check_cycles(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    graph = {s.name: p.upstream_stages(s) for s in p.stages}
    reported: set[frozenset[str]] = set()
    for start in graph:
        stack: list[tuple[str, list[str]]] = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for up in graph.get(node, []):
                if up == start:
                    cycle = frozenset(trail)
                    if cycle not in reported:
                        reported.add(cycle)
                        stage = p.find("Stage", start)
                        assert stage is not None
                        loop = " <- ".join([*trail, start])
                        yield _find("stage-cycle", stage, ("spec", "requestedFreight"),
                                    f"the stage graph has a cycle: {loop}")
                elif up not in trail:
                    stack.append((up, [*trail, up]))


def check_templates(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for stage in p.stages:
        for kind, name, path in p.verification(stage):
            if p.template(stage, kind, name) is None:
                yield _find("verification-template-undefined", stage, path,
                            f"Stage {stage.name} verifies with {kind} {name}, which is not defined: verification "
                            "will never start")


def check_promotions(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for promo in p.of("Promotion"):
        yield _find("promotion-in-git", promo, ("kind",),
                    f"Promotion {promo.name} is a manifest: Promotions are made by Kargo (auto-promotion, UI, "
                    "`kargo promote`, `gate promote`), never applied with kubectl or GitOps (the guide's Gotcha 1)",
                    "# delete this document; promote with:\n# kargo promote --project P --stage S --freight F")


def check_no_verification(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for stage in p.stages:
        if not p.is_control_flow(stage) and not p.verification(stage):
            yield _find("stage-no-verification", stage, ("spec",),
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
                yield _find("verification-service-account", template, path,
                            f"{template.kind} {template.name} runs its Job as the default ServiceAccount: give "
                            "verification a dedicated one with only the rights its checks need (the guide's S3)",
                            {"serviceAccountName": f"{template.name}-verification"})


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
                        yield _find("verification-rbac-broad", role, ("rules", i),
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
            yield _find("crd-schema", m, path, f"not valid against the {m.kind} CRD: {message}")


RULES: tuple[Rule, ...] = (
    Rule("crd-schema", "error", "Kargo, Argo CD and Argo Rollouts objects validate against their CRDs",
         "Kargo v1.11.2, Argo CD and Argo Rollouts CRDs (gate/sim/crds)", check_schema),
    Rule("promotion-in-git", "error", "no Promotion manifests in git", "guide D5 Gotcha 1", check_promotions),
    Rule("freight-source-undefined", "error", "every requestedFreight origin and source Stage is defined",
         "guide S2 checklist 1", check_sources),
    Rule("stage-cycle", "error", "the stage graph has no cycle", "guide S1", check_cycles),
    Rule("argocd-update-retry", "error", "argocd-update steps have retry timeout and errorThreshold",
         "guide S2 checklist 3, S4", check_retry),
    Rule("app-authorized-stage", "error", "promoted Applications carry kargo.akuity.io/authorized-stage "
         "<project>:<stage>", "guide S2 checklist 5; notes/argo.md §5", check_authorized),
    Rule("app-auto-sync", "error", "Applications a Stage promotes do not auto-sync (foundation stages excepted)",
         "guide S2 checklist 4, anti-patterns", check_auto_sync),
    Rule("verification-template-undefined", "error", "every verification AnalysisTemplate is defined",
         "guide S3", check_templates),
    Rule("stage-no-verification", "warning", "regular Stages have verification", "guide S2 checklist 6",
         check_no_verification),
    Rule("verification-service-account", "warning", "verification Jobs run as a dedicated ServiceAccount",
         "guide S2 checklist 7, S3", check_service_account),
    Rule("verification-rbac-broad", "warning", "verification RBAC only reads", "guide S3, D5 Gotcha 4",
         check_rbac_breadth),
    Rule("error-threshold-one", "warning", "argocd-update retry errorThreshold above 1", "guide S4",
         check_threshold_one),
    Rule("heavy-chart-timeout", "warning", "heavy charts have step timeouts of 10m or more",
         "guide S4, D5 Gotcha 7", check_heavy_timeout),
    Rule("appset-authorized-stage", "warning", "ApplicationSets generating promoted apps annotate their template",
         "guide S2 checklist 5", check_appset_annotation),
)
RULES_BY_ID = {r.id: r for r in RULES}


def run(pipeline: Pipeline, opts: LintOptions | None = None) -> list[Finding]:
    opts = opts or LintOptions()
    findings: list[Finding] = []
    for rule in RULES:
        findings += rule.check(pipeline, opts)
    return findings
