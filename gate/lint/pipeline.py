"""The pipeline a set of manifests describes (the guide's S1, architecture detection).

Warehouses -> Stages by `spec.requestedFreight[].origin` and `.sources.stages`; Stage -> Argo CD
Applications by its `argocd-update` steps, PromotionTask / ClusterPromotionTask steps expanded
(Kargo inflates task steps into the Promotion, notes/kargo.md §3.1); Stage -> AnalysisTemplates by
`spec.verification.analysisTemplates`; ServiceAccounts and the RBAC bound to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gate.lint import expressions
from gate.lint.expressions import Unknown
from gate.lint.manifests import Manifest, Problem

ARGOCD_NAMESPACE = "argocd"  # argocd-update's default when an app names no namespace
TEMPLATE = ("spec", "promotionTemplate", "spec")
STEPS = (*TEMPLATE, "steps")
KARGO_NAMESPACED = ("Stage", "Warehouse", "PromotionTask", "AnalysisTemplate")


@dataclass
class Step:
    """A promotion step as written: in a Stage, or in a PromotionTask the Stage references, with the
    expression environment Kargo gives it for this Stage (ctx and vars in Kargo's order)."""

    stage: Manifest
    owner: Manifest  # where the step is written (the Stage or the task)
    path: tuple[str | int, ...]  # of the step inside owner.obj
    body: dict
    env: dict[str, Any] = field(default_factory=dict)

    @property
    def uses(self) -> str:
        return str(self.body.get("uses") or "")

    @property
    def variables(self) -> dict[str, Any]:
        return self.env.get("vars") or {}

    @property
    def enabled(self) -> bool | None:
        """The step's `if:` for this Stage: False when it is known to be skipped, None when unknown."""
        condition = self.body.get("if")
        if condition is None:
            return True
        value = expressions.evaluate_template(str(condition), self.env)
        return None if isinstance(value, Unknown) else bool(value)


@dataclass
class AppRef:
    """An Argo CD Application (or a label selector of them) an argocd-update step updates."""

    step: Step
    index: int  # in the step's config.apps
    name: str  # resolved; unknown parts shown as placeholders
    namespace: str
    unknown: list[Unknown] = field(default_factory=list)  # expressions lint could not evaluate
    selector: dict | None = None

    @property
    def resolved(self) -> bool:
        return not self.unknown and bool(self.name) and self.selector is None

    @property
    def path(self) -> tuple[str | int, ...]:
        return (*self.step.path, "config", "apps", self.index)


@dataclass
class Source:
    """One upstream of a Stage: a Warehouse origin or an upstream Stage."""

    stage: Manifest
    kind: str  # Warehouse | Stage
    name: str
    path: tuple[str | int, ...]
    direct: bool = True  # a Warehouse origin the Stage takes Freight from directly (sources.direct)


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _var_entries(entries: object) -> list[tuple[str, str]]:
    return [(str(v["name"]), "" if v.get("value") is None else str(v.get("value")))
            for v in _list(entries) if isinstance(v, dict) and "name" in v]


def _evaluate_vars(entries: list[tuple[str, str]], stage: str, project: str | None,
                   into: dict[str, Any]) -> dict[str, Any]:
    """Each var evaluated in order, seeing the ones before it (evaluator.go Vars, 168-216)."""
    for name, value in entries:
        into[name] = expressions.evaluate_template(value, expressions.environment(stage, project, into))
    return into


def matches_selector(labels: dict, selector: dict) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against an object's labels."""
    labels = {str(k): str(v) for k, v in labels.items()}
    for key, value in _dict(selector.get("matchLabels")).items():
        if labels.get(str(key)) != str(value):
            return False
    for expr in _list(selector.get("matchExpressions")):
        expr = _dict(expr)
        key, op = str(expr.get("key") or ""), str(expr.get("operator") or "")
        values = [str(v) for v in _list(expr.get("values"))]
        ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}.get(op, False)
        if not ok:
            return False
    return True


class Pipeline:
    def __init__(self, manifests: list[Manifest], roots: list[str] | None = None,
                 problems: list[Problem] | None = None, specs: list[tuple[str, str]] | None = None) -> None:
        from gate.lint import appsets

        self.manifests = manifests
        self.problems = problems or []  # what reading the input found (input rules report them)
        self.specs = specs or []  # gate specs met among the files
        self.unread = {p.kind for p in self.problems if p.kind}  # kinds --cluster could not list
        self._by_kind: dict[str, list[Manifest]] = {}
        self._by_name: dict[tuple[str, str], list[Manifest]] = {}
        for m in manifests:
            self._by_kind.setdefault(m.kind, []).append(m)
            self._by_name.setdefault((m.kind, m.name), []).append(m)
        # id(ApplicationSet) -> its Applications; `applications` holds them and those written
        self.generated: dict[int, list[Manifest]] = {}
        for appset in self.of("ApplicationSet"):
            apps = appsets.expand(appset, roots or [])
            if apps is not None:
                self.generated[id(appset)] = apps
        self._steps: dict[int, list[Step]] = {}
        self._apps: dict[int, list[AppRef]] = {}
        self.applications = [*self.of("Application"), *(a for apps in self.generated.values() for a in apps)]
        self._apps_by_name: dict[str, list[Manifest]] = {}
        for application in self.applications:
            self._apps_by_name.setdefault(application.name, []).append(application)

    def of(self, kind: str) -> list[Manifest]:
        return self._by_kind.get(kind, [])

    def find(self, kind: str, name: str, namespace: str | None = None) -> Manifest | None:
        for m in self._by_name.get((kind, name), []):
            if namespace is None or m.namespace == namespace:
                return m
        return None

    @property
    def stages(self) -> list[Manifest]:
        return self.of("Stage")

    def project_of(self, stage: Manifest) -> str | None:
        """The Stage's project: its namespace, or (when kustomize, Helm or `kargo apply -n` sets it at
        apply time) the one Project / the one namespace the other Kargo objects name."""
        if stage.namespace:
            return stage.namespace
        projects = {p.name for p in self.of("Project") if p.name}
        if len(projects) == 1:
            return projects.pop()
        spaces = {m.namespace for kind in KARGO_NAMESPACED for m in self.of(kind) if m.namespace}
        return spaces.pop() if len(spaces) == 1 else None

    # -- freight sources ------------------------------------------------------------------------
    def sources(self, stage: Manifest) -> Iterator[Source]:
        for i, req in enumerate(_list(stage.spec.get("requestedFreight"))):
            req = _dict(req)
            origin = _dict(req.get("origin"))
            sources = _dict(req.get("sources"))
            if origin.get("name"):
                yield Source(stage, str(origin.get("kind") or "Warehouse"), str(origin["name"]),
                             ("spec", "requestedFreight", i, "origin", "name"), sources.get("direct") is True)
            for j, up in enumerate(_list(sources.get("stages"))):
                yield Source(stage, "Stage", str(up), ("spec", "requestedFreight", i, "sources", "stages", j))

    def upstream_stages(self, stage: Manifest) -> list[str]:
        return list(dict.fromkeys(s.name for s in self.sources(stage) if s.kind == "Stage"))

    # -- promotion steps --------------------------------------------------------------------------
    def task_of(self, stage: Manifest, ref: dict) -> Manifest | None:
        kind = str(ref.get("kind") or "PromotionTask")
        if kind == "ClusterPromotionTask":
            return self.find(kind, str(ref.get("name") or ""))
        return self.find(kind, str(ref.get("name") or ""), stage.namespace or None)

    def steps(self, stage: Manifest) -> list[Step]:
        """The Stage's steps as Kargo inflates them into a Promotion (pkg/api/promotion.go InflateSteps,
        264-335): a task step becomes the task's steps; vars are the Stage's and its template's
        (webhook.go 250-258), then the task's defaults not set there, the task step's own, then each
        inner step's (promotionTaskVarsToStepVars, 380-431)."""
        known = self._steps.get(id(stage))
        if known is not None:
            return known
        project = self.project_of(stage)
        template = _dict(_dict(stage.spec.get("promotionTemplate")).get("spec"))
        promo = [*_var_entries(stage.spec.get("vars")), *_var_entries(template.get("vars"))]
        promo_vars = _evaluate_vars(promo, stage.name, project, {})
        promo_set = {name for name, value in promo if value != ""}
        out: list[Step] = []
        for i, body in enumerate(_list(template.get("steps"))):
            body = _dict(body)
            ref = _dict(body.get("task"))
            task = self.task_of(stage, ref) if ref else None
            if task is None:
                env_vars = _evaluate_vars(_var_entries(body.get("vars")), stage.name, project, dict(promo_vars))
                env = expressions.environment(stage.name, project, env_vars)
                out.append(Step(stage, stage, (*STEPS, i), body, env))
                continue
            defaults = [(n, v) for n, v in _var_entries(task.spec.get("vars")) if n not in promo_set and v != ""]
            task_vars = [*defaults, *_var_entries(body.get("vars"))]
            for j, inner in enumerate(_list(task.spec.get("steps"))):
                inner = _dict(inner)
                entries = [*task_vars, *_var_entries(inner.get("vars"))]
                env_vars = _evaluate_vars(entries, stage.name, project, dict(promo_vars))
                out.append(Step(stage, task, ("spec", "steps", j), inner,
                                expressions.environment(stage.name, project, env_vars)))
        self._steps[id(stage)] = out
        return out

    def is_control_flow(self, stage: Manifest) -> bool:
        """No promotion steps: Kargo moves Freight through it without promoting (notes/kargo.md §1.1)."""
        return not _list(_dict(_dict(stage.spec.get("promotionTemplate")).get("spec")).get("steps"))

    def apps(self, stage: Manifest) -> list[AppRef]:
        """The apps of the Stage's argocd-update steps (those known to run for it), names resolved."""
        known = self._apps.get(id(stage))
        if known is None:
            known = self._apps[id(stage)] = list(self._resolve_apps(stage))
        return known

    def _resolve_apps(self, stage: Manifest) -> Iterator[AppRef]:
        for step in self.steps(stage):
            if step.uses != "argocd-update" or step.enabled is False:
                continue
            for k, app in enumerate(_list(_dict(step.body.get("config")).get("apps"))):
                app = _dict(app)
                ns, ns_unknown = expressions.render(str(app.get("namespace") or ARGOCD_NAMESPACE), step.env)
                if isinstance(app.get("selector"), dict):
                    yield AppRef(step, k, "", ns, ns_unknown, app["selector"])
                    continue
                name, unknown = expressions.render(str(app.get("name") or ""), step.env)
                yield AppRef(step, k, name, ns, unknown + ns_unknown)

    def application(self, ref: AppRef) -> Manifest | None:
        if not ref.resolved:
            return None
        for app in self._apps_by_name.get(ref.name, []):
            if app.namespace in (ref.namespace, ""):
                return app
        return None

    def selected(self, ref: AppRef) -> list[Manifest]:
        """Applications a selector entry matches (written or generated) in its namespace."""
        if ref.selector is None or ref.unknown:
            return []
        return [a for a in self.applications if a.namespace in (ref.namespace, "")
                and matches_selector(a.labels, ref.selector)]

    def appset_for(self, ref: AppRef) -> Manifest | None:
        """The ApplicationSet (not expanded) whose template name could generate the app (`{{…}}`
        matches anything)."""
        if not ref.resolved:
            return None
        for appset in self.of("ApplicationSet"):
            if id(appset) in self.generated or (appset.namespace and appset.namespace != ref.namespace):
                continue
            pattern = str(_dict(_dict(appset.spec.get("template")).get("metadata")).get("name") or "")
            if pattern and template_matches(pattern, ref.name):
                return appset
        return None

    # -- verification ------------------------------------------------------------------------------
    def verification(self, stage: Manifest) -> list[tuple[str, str, tuple[str | int, ...]]]:
        """(kind, name, path) of every AnalysisTemplate the Stage's verification names."""
        out = []
        for i, t in enumerate(_list(_dict(stage.spec.get("verification")).get("analysisTemplates"))):
            t = _dict(t)
            out.append((str(t.get("kind") or "AnalysisTemplate"), str(t.get("name") or ""),
                        ("spec", "verification", "analysisTemplates", i, "name")))
        return out

    def template(self, stage: Manifest, kind: str, name: str) -> Manifest | None:
        if kind == "ClusterAnalysisTemplate":
            return self.find(kind, name)
        return self.find("AnalysisTemplate", name, stage.namespace or None)

    # -- RBAC ---------------------------------------------------------------------------------------
    def roles_of(self, namespace: str, service_account: str) -> list[Manifest]:
        """Roles and ClusterRoles bound to a ServiceAccount by the bindings in the manifests."""
        out: list[Manifest] = []
        for binding in self.bindings_of(namespace, service_account):
            ref = _dict(binding.obj.get("roleRef"))
            kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
            role = self.find(kind, name) if kind == "ClusterRole" else self.find(kind, name, binding.namespace)
            if role is not None and role not in out:
                out.append(role)
        return out

    def bindings_of(self, namespace: str, service_account: str) -> list[Manifest]:
        """RoleBindings and ClusterRoleBindings whose subjects include the ServiceAccount."""
        out = []
        for binding in [*self.of("RoleBinding"), *self.of("ClusterRoleBinding")]:
            subjects = [_dict(s) for s in _list(binding.obj.get("subjects"))]
            if any(s.get("kind") == "ServiceAccount" and s.get("name") == service_account
                   and (s.get("namespace") or binding.namespace) == namespace for s in subjects):
                out.append(binding)
        return out


def template_matches(pattern: str, name: str) -> bool:
    """Does an ApplicationSet template name (with `{{ … }}` parameters) match an Application name?"""
    parts = re.split(r"\{\{.*?\}\}", pattern)
    regex = ".+".join(re.escape(p) for p in parts)
    return re.fullmatch(regex, name) is not None


def job_pod_specs(template: Manifest) -> Iterator[tuple[tuple[str | int, ...], dict]]:
    """(path, pod spec) of every job-provider metric of an AnalysisTemplate."""
    for i, metric in enumerate(_list(template.spec.get("metrics"))):
        job = _dict(_dict(_dict(metric).get("provider")).get("job"))
        pod = _dict(_dict(_dict(job.get("spec")).get("template")).get("spec"))
        if job:
            yield ("spec", "metrics", i, "provider", "job", "spec", "template", "spec"), pod
