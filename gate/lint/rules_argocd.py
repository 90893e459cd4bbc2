"""Rules on the Argo CD side of promotion: argocd-update steps, and the Applications / ApplicationSets
the Stages promote (authorized-stage annotation, auto-sync, selectors)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from gate.engine import durations
from gate.lint.findings import Finding, LintOptions, finding, snippet
from gate.lint.manifests import Manifest
from gate.lint.pipeline import AppRef, Pipeline, Step

AUTHORIZED_STAGE = "kargo.akuity.io/authorized-stage"
FOUNDATION = "promotion-gate/foundation"  # Stage annotation: "true" exempts its apps from app-auto-sync

# Kargo v1.11 argocd-update defaults when a step sets no retry: 5m timeout (argocd_updater.go:45) and
# errorThreshold 1 (registry.go:30-31).
KARGO_TIMEOUT, KARGO_THRESHOLD = "5m", 1
# The guide's S4 table: (timeout, errorThreshold) by app weight; no timeout below Kargo's default.
RETRY_BY_WEIGHT = {"simple": ("5m", 2), "medium": ("5m", 2), "heavy": ("10m", 3), "very-heavy": ("10m", 3)}
_WEIGHT_PATTERNS = (
    ("very-heavy", re.compile(r"loki|tempo|elasticsearch|opensearch")),
    ("heavy", re.compile(r"kube-prometheus-stack|prometheus|thanos|mimir|grafana")),
    ("medium", re.compile(r"external-secrets|\beso\b|crossplane|cert-manager|istio")),
)
APP_RULES = "app-authorized-stage, app-auto-sync, appset-authorized-stage"


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


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
    """Each argocd-update step once, with its apps for every Stage that runs it (a PromotionTask used by
    several Stages is reported once)."""
    steps: dict[tuple[int, tuple], tuple[Step, list[AppRef]]] = {}
    for stage in p.stages:
        for step in p.steps(stage):
            if step.uses == "argocd-update":
                steps.setdefault((id(step.owner), step.path), (step, []))
        for ref in p.apps(stage):
            steps[(id(ref.step.owner), ref.step.path)][1].append(ref)
    yield from steps.values()


def _heaviest(p: Pipeline, refs: list[AppRef]) -> str:
    order = list(RETRY_BY_WEIGHT)
    return max((weight_of(p, r) for r in refs), key=order.index, default="simple")


def _names(refs: list[AppRef]) -> str:
    return ", ".join(dict.fromkeys(r.name or "(selector)" for r in refs)) or "its apps"


# -- retry --------------------------------------------------------------------------------------
def check_retry(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for step, refs in _update_steps(p):
        retry = _dict(step.body.get("retry"))
        if "errorThreshold" in retry:
            continue  # the threshold half is set; its value is error-threshold-one's business
        weight = _heaviest(p, refs)
        timeout, threshold = RETRY_BY_WEIGHT[weight]
        yield finding("argocd-update-retry", step.owner, step.path,
                      f"argocd-update step for {_names(refs)} sets no retry errorThreshold: Kargo's default is "
                      f"{KARGO_THRESHOLD} (timeout {KARGO_TIMEOUT}), so one transient error (a repo-server "
                      "timeout, a sync already running) fails the Promotion; the guide asks for a threshold of "
                      f"{threshold} so such an error is retried",
                      f"# {weight} app (S4 table; never a timeout below Kargo's {KARGO_TIMEOUT} default)\n"
                      + snippet({"retry": {"timeout": retry.get("timeout", timeout), "errorThreshold": threshold}}))


def check_threshold_one(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for step, refs in _update_steps(p):
        retry = step.body.get("retry")
        # 0 is unset to Kargo: GetErrorThreshold falls back to the default, 1 (promotion_types.go 271-276)
        if isinstance(retry, dict) and retry.get("errorThreshold") in (0, 1) and \
                not isinstance(retry.get("errorThreshold"), bool):
            _, threshold = RETRY_BY_WEIGHT[_heaviest(p, refs)]
            given = retry["errorThreshold"]
            yield finding("error-threshold-one", step.owner, (*step.path, "retry", "errorThreshold"),
                          f"errorThreshold {given} fails the Promotion on the first error "
                          f"({'0 means Kargo’s default, 1' if given == 0 else 'Kargo’s default'})",
                          {"retry": {"errorThreshold": threshold}})


def check_heavy_timeout(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for step, refs in _update_steps(p):
        retry = _dict(step.body.get("retry"))
        weight = _heaviest(p, refs)
        if weight not in ("heavy", "very-heavy") or "errorThreshold" not in retry and "timeout" not in retry:
            continue  # no retry at all: argocd-update-retry's fix carries the 10m
        given = retry.get("timeout", KARGO_TIMEOUT)
        try:
            seconds = durations.parse(given)
        except ValueError:
            continue
        if seconds < 600:
            what = f"step timeout {given}" if "timeout" in retry else f"Kargo's default timeout {KARGO_TIMEOUT}"
            yield finding("heavy-chart-timeout", step.owner, (*step.path, "retry", "timeout") if "timeout" in retry
                          else (*step.path, "retry"),
                          f"{_names(refs)} is a {weight} chart; {what} is under 10m "
                          "(the guide's S4: huge charts time out on the first attempt)",
                          {"retry": {"timeout": "10m"}})


# -- the Applications a Stage promotes -----------------------------------------------------------
def promoted(p: Pipeline, stage: Manifest) -> Iterator[tuple[AppRef, Manifest]]:
    """(reference, Application) for every app the Stage's argocd-update steps name or select."""
    for ref in p.apps(stage):
        if ref.selector is not None:
            yield from ((ref, app) for app in p.selected(ref))
        else:
            app = p.application(ref)
            if app is not None:
                yield ref, app


def authorized_stages(value: str) -> list[tuple[str, str]] | str:
    """Kargo's AuthorizedStages (pkg/api/stage.go:102-135): a comma-separated list of project:stage,
    whitespace ignored; globs and malformed entries are refused (the error is returned as text)."""
    out = []
    for entry in str(value).split(","):
        entry = entry.strip()
        if not entry:
            continue
        project, sep, stage = entry.partition(":")
        project, stage = project.strip(), stage.strip()
        if not sep or not project or not stage:
            return f"entry {entry!r} is not <project>:<stage>"
        if "*" in project or "*" in stage:
            return f"entry {entry!r} is a glob: Kargo no longer accepts globs"
        out.append((project, stage))
    return out or f"{value!r} names no Stage"


def _authorizes(value: object, project: str | None, stage: str) -> tuple[bool, str]:
    parsed = authorized_stages(str(value))
    if isinstance(parsed, str):
        return False, parsed
    if any(s == stage and (project is None or pr == project) for pr, s in parsed):
        return True, ""
    return False, f"authorizes {value!r}, not {(project or '<project>')}:{stage}"


def _wrong_project_literal(annotation: object, project: str | None) -> str | None:
    """The project an ApplicationSet template's annotation names literally, when it is not the Stage's."""
    if project is None or annotation is None:
        return None
    for entry in str(annotation).split(","):
        name = entry.partition(":")[0].strip()
        if name and "{{" not in name and name != project:
            return name
    return None


def _template_annotation(appset: Manifest) -> object:
    return _dict(_dict(_dict(appset.spec.get("template")).get("metadata")).get("annotations")).get(AUTHORIZED_STAGE)


def _param_fix(appset: Manifest, pairs: list[tuple[str, str]], project: str) -> str:
    """`<project>:{{param}}` when the template name puts the Stage's name through one parameter."""
    pattern = str(_dict(_dict(appset.spec.get("template")).get("metadata")).get("name") or "")
    params = re.findall(r"\{\{[^{}]*\}\}", pattern)
    if len(set(params)) == 1 and all(pattern.replace(params[0], stage) == app for app, stage in pairs):
        return f"{project}:{params[0]}"
    return f"{project}:{pairs[0][1]}"


def check_authorized(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    by_appset: dict[int, tuple[Manifest, list[tuple[str, str]], str, str]] = {}
    seen: set[tuple[int, str]] = set()
    for stage in p.stages:
        project = p.project_of(stage)
        for _, app in promoted(p, stage):
            have = app.annotations.get(AUTHORIZED_STAGE)
            ok, why = _authorizes(have, project, stage.name) if have is not None else \
                (False, f"has no {AUTHORIZED_STAGE} annotation")
            if ok or (id(app), stage.name) in seen:
                continue
            seen.add((id(app), stage.name))
            if app.origin is not None:
                if _wrong_project_literal(_template_annotation(app.origin), project):
                    continue  # appset-authorized-project names the cause
                entry = by_appset.setdefault(id(app.origin), (app.origin, [], project or "<project>", why))
                entry[1].append((app.name, stage.name))
                continue
            path = ("metadata", "annotations", AUTHORIZED_STAGE) if have is not None else ("metadata",)
            value = f"{project or '<project>'}:{stage.name}"
            yield finding("app-authorized-stage", app, path,
                          f"Application {app.name} is promoted by Stage {stage.name} but {why}: Kargo will refuse "
                          "to update it", {"metadata": {"annotations": {AUTHORIZED_STAGE: value}}})
    for appset, pairs, project, why in by_appset.values():
        has = _template_annotation(appset) is not None
        apps = ", ".join(f"{a} (Stage {s})" for a, s in pairs)
        them = "it" if len(pairs) == 1 else "them"
        what = f"whose annotation does not authorize the Stage that promotes {them} ({why})" if has else \
            f"without {AUTHORIZED_STAGE} in its template"
        yield finding("app-authorized-stage", appset,
                      ("spec", "template", "metadata", "annotations", AUTHORIZED_STAGE) if has
                      else ("spec", "template", "metadata"),
                      f"ApplicationSet {appset.name} generates {apps} {what}: Kargo will refuse to update {them}",
                      {"spec": {"template": {"metadata": {"annotations": {
                          AUTHORIZED_STAGE: _param_fix(appset, pairs, project)}}}}})


def _automated(spec: dict) -> bool:
    policy = spec.get("syncPolicy")
    return isinstance(policy, dict) and policy.get("automated") is not None and policy.get("automated") is not False


def _is_foundation(stage: Manifest, opts: LintOptions) -> bool:
    return stage.name in opts.foundation or str(stage.annotations.get(FOUNDATION, "")).lower() == "true"


def check_auto_sync(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    found: dict[int, tuple[Manifest, tuple, list[str]]] = {}  # target -> (target, path, promoting Stages)
    for stage in p.stages:
        if _is_foundation(stage, opts):
            continue
        targets: list[tuple[Manifest, dict, tuple]] = []
        for _, app in promoted(p, stage):
            targets.append((app.origin or app, app.spec, ("spec", "template", "spec", "syncPolicy", "automated")
                            if app.origin else ("spec", "syncPolicy", "automated")))
        for ref in p.apps(stage):
            appset = p.appset_for(ref) if p.application(ref) is None else None
            if appset is not None:
                targets.append((appset, _dict(_dict(appset.spec.get("template")).get("spec")),
                                ("spec", "template", "spec", "syncPolicy", "automated")))
        for target, spec, path in targets:
            if _automated(spec):
                stages = found.setdefault(id(target), (target, path, []))[2]
                if stage.name not in stages:
                    stages.append(stage.name)
    for target, path, stages in found.values():
        what = f"{target.kind} {target.name} auto-syncs" if target.kind == "Application" else \
            f"ApplicationSet {target.name}'s template auto-syncs the Applications it generates"
        by = f"Stage {stages[0]}" if len(stages) == 1 else f"Stages {', '.join(stages)}"
        yield finding("app-auto-sync", target, path,
                      f"{what}, and {by} promote{'s' if len(stages) == 1 else ''} "
                      f"{'it' if target.kind == 'Application' else 'them'}: the two fight (mark a foundation stage "
                      f"with the annotation {FOUNDATION}: \"true\" or --foundation)",
                      {"spec": {"syncPolicy": {"automated": None}}} if target.kind == "Application" else
                      {"spec": {"template": {"spec": {"syncPolicy": {"automated": None}}}}})


def _wildcard_appsets(p: Pipeline) -> Iterator[tuple[Manifest, Manifest, AppRef]]:
    """(stage, ApplicationSet, ref) once per set matched only by its template name's wildcards."""
    seen: set[int] = set()
    for stage in p.stages:
        for ref in p.apps(stage):
            if p.application(ref) is not None:
                continue
            appset = p.appset_for(ref)
            if appset is not None and id(appset) not in seen:
                seen.add(id(appset))
                yield stage, appset, ref


def check_appset_annotation(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for stage, appset, ref in _wildcard_appsets(p):
        if _template_annotation(appset) is None and AUTHORIZED_STAGE not in str(appset.spec.get("templatePatch")):
            project = p.project_of(stage) or "<project>"
            yield finding("appset-authorized-stage", appset, ("spec", "template", "metadata"),
                          f"ApplicationSet {appset.name} generates {ref.name}, promoted by Stage {stage.name}, "
                          f"without {AUTHORIZED_STAGE} in its template (its generator's values are not in the "
                          "linted tree, so the name was matched with {{ }} as wildcards)",
                          {"spec": {"template": {"metadata": {"annotations": {
                              AUTHORIZED_STAGE: f"{project}:{stage.name}"}}}}})


def _linked_appsets(p: Pipeline) -> Iterator[tuple[Manifest, Manifest]]:
    """(stage, ApplicationSet) for every set that generates an app a Stage promotes, expanded or not."""
    seen: set[int] = set()
    for stage in p.stages:
        sets = [app.origin for _, app in promoted(p, stage) if app.origin is not None]
        sets += [p.appset_for(ref) for ref in p.apps(stage)]
        for appset in sets:
            if appset is not None and id(appset) not in seen:
                seen.add(id(appset))
                yield stage, appset


def check_appset_project(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    for stage, appset in _linked_appsets(p):
        project = p.project_of(stage)
        annotation = _template_annotation(appset)
        wrong = _wrong_project_literal(annotation, project)
        if wrong:
            fixed = re.sub(rf"(^|,)\s*{re.escape(wrong)}\s*:", rf"\g<1>{project}:", str(annotation))
            yield finding("appset-authorized-project", appset,
                          ("spec", "template", "metadata", "annotations", AUTHORIZED_STAGE),
                          f"ApplicationSet {appset.name} authorizes project {wrong!r}, but Stage {stage.name} "
                          f"that promotes its apps is in project {project!r}: Kargo will refuse to update them",
                          {"spec": {"template": {"metadata": {"annotations": {AUTHORIZED_STAGE: fixed}}}}})


def _may_generate(appset: Manifest, selector: dict) -> bool:
    """Could the set's template labels (`{{ }}` values as wildcards) satisfy the selector's matchLabels?"""
    labels = _dict(_dict(_dict(appset.spec.get("template")).get("metadata")).get("labels"))
    wanted = _dict(selector.get("matchLabels"))
    return all(k in labels and (str(labels[k]) == str(v) or "{{" in str(labels[k])) for k, v in wanted.items())


def check_selector(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    if not p.of("Application") and not p.of("ApplicationSet") or {"Application", "ApplicationSet"} & p.unread:
        return  # the Argo CD side is not in the linted input: nothing to match against
    seen: set[tuple[int, tuple]] = set()
    for stage in p.stages:
        for ref in p.apps(stage):
            key = (id(ref.step.owner), ref.path)
            if ref.selector is None or ref.unknown or key in seen or p.selected(ref):
                continue
            if any(_may_generate(a, ref.selector) for a in p.of("ApplicationSet") if id(a) not in p.generated):
                continue  # an ApplicationSet lint could not expand may generate the match
            seen.add(key)
            yield finding("argocd-update-selector", ref.step.owner, (*ref.path, "selector"),
                          f"argocd-update selector {json.dumps(ref.selector)} of Stage "
                          f"{stage.name} matches no Application in namespace {ref.namespace}: Kargo fails the step "
                          "(\"no Argo CD Applications found matching selector\")")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def check_expressions(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    seen: set[tuple[int, tuple, str]] = set()
    for stage in p.stages:
        for ref in p.apps(stage):
            for unknown in ref.unknown:
                key = (id(ref.step.owner), ref.path, unknown.expression)
                if key in seen:
                    continue
                seen.add(key)
                if unknown.root == "ctx.project":
                    why = " (the Stage names no namespace and the linted objects name more than one project)"
                elif unknown.root != unknown.expression:
                    why = f" ({_short(unknown.root)} is known only at promotion)"
                else:
                    why = " (not evaluated before promotion)"
                shown = _short(unknown.expression)
                yield finding("expression-not-checked", ref.step.owner, ref.path,
                              f"not checked: expression ${{{{ {shown} }}}} in an argocd-update app of "
                              f"Stage {stage.name}{why}; rules {APP_RULES} could not run for this app")
