"""The pipeline a set of manifests describes (the guide's S1, architecture detection).

Warehouses -> Stages by `spec.requestedFreight[].origin` and `.sources.stages`; Stage -> Argo CD
Applications by its `argocd-update` steps, PromotionTask / ClusterPromotionTask steps expanded
(Kargo inflates task steps into the Promotion, notes/kargo.md §3.1); Stage -> AnalysisTemplates by
`spec.verification.analysisTemplates`; ServiceAccounts and the RBAC bound to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from gate.lint.manifests import Manifest

ARGOCD_NAMESPACE = "argocd"  # argocd-update's default when an app names no namespace
STEPS = ("spec", "promotionTemplate", "spec", "steps")
_EXPR = re.compile(r"\$\{\{\s*vars\.([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


@dataclass
class Step:
    """A promotion step as written: in a Stage, or in a PromotionTask the Stage references."""

    stage: Manifest
    owner: Manifest  # where the step is written (the Stage or the task)
    path: tuple[str | int, ...]  # of the step inside owner.obj
    body: dict
    variables: dict[str, str]

    @property
    def uses(self) -> str:
        return str(self.body.get("uses") or "")


@dataclass
class AppRef:
    """An Argo CD Application an argocd-update step updates."""

    step: Step
    index: int  # in the step's config.apps
    name: str
    namespace: str
    resolved: bool  # False: the name is an expression lint cannot evaluate

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


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _vars(entries: object) -> dict[str, str]:
    return {str(v["name"]): str(v.get("value", "")) for v in _list(entries) if isinstance(v, dict) and "name" in v}


def substitute(text: str, variables: dict[str, str]) -> tuple[str, bool]:
    """Resolve `${{ vars.x }}` from the step's variables; (text, fully resolved?)."""
    out = _EXPR.sub(lambda m: variables.get(m.group(1), m.group(0)), text)
    return out, "${{" not in out


class Pipeline:
    def __init__(self, manifests: list[Manifest]) -> None:
        self.manifests = manifests
        self._by_kind: dict[str, list[Manifest]] = {}
        for m in manifests:
            self._by_kind.setdefault(m.kind, []).append(m)

    def of(self, kind: str) -> list[Manifest]:
        return self._by_kind.get(kind, [])

    def find(self, kind: str, name: str, namespace: str | None = None) -> Manifest | None:
        for m in self.of(kind):
            if m.name == name and (namespace is None or m.namespace == namespace):
                return m
        return None

    @property
    def stages(self) -> list[Manifest]:
        return self.of("Stage")

    # -- freight sources ------------------------------------------------------------------------
    def sources(self, stage: Manifest) -> Iterator[Source]:
        for i, req in enumerate(_list(stage.spec.get("requestedFreight"))):
            req = _dict(req)
            origin = _dict(req.get("origin"))
            if origin.get("name"):
                yield Source(stage, str(origin.get("kind") or "Warehouse"), str(origin["name"]),
                             ("spec", "requestedFreight", i, "origin", "name"))
            for j, up in enumerate(_list(_dict(req.get("sources")).get("stages"))):
                yield Source(stage, "Stage", str(up), ("spec", "requestedFreight", i, "sources", "stages", j))

    def upstream_stages(self, stage: Manifest) -> list[str]:
        return list(dict.fromkeys(s.name for s in self.sources(stage) if s.kind == "Stage"))

    # -- promotion steps --------------------------------------------------------------------------
    def task_of(self, stage: Manifest, ref: dict) -> Manifest | None:
        kind = str(ref.get("kind") or "PromotionTask")
        if kind == "ClusterPromotionTask":
            return self.find(kind, str(ref.get("name") or ""))
        return self.find(kind, str(ref.get("name") or ""), stage.namespace or None)

    def steps(self, stage: Manifest) -> Iterator[Step]:
        """The Stage's steps, each task step replaced by the task's own steps (when the task is known)."""
        template_vars = _vars(_dict(_dict(stage.spec.get("promotionTemplate")).get("spec")).get("vars"))
        for i, body in enumerate(_list(_dict(_dict(stage.spec.get("promotionTemplate")).get("spec")).get("steps"))):
            body = _dict(body)
            path = (*STEPS, i)
            step_vars = {**template_vars, **_vars(body.get("vars"))}
            ref = _dict(body.get("task"))
            task = self.task_of(stage, ref) if ref else None
            if task is None:
                yield Step(stage, stage, path, body, step_vars)
                continue
            task_vars = {**_vars(task.spec.get("vars")), **step_vars}
            for j, inner in enumerate(_list(task.spec.get("steps"))):
                inner = _dict(inner)
                yield Step(stage, task, ("spec", "steps", j), inner, {**task_vars, **_vars(inner.get("vars"))})

    def is_control_flow(self, stage: Manifest) -> bool:
        """No promotion steps: Kargo moves Freight through it without promoting (notes/kargo.md §1.1)."""
        return not _list(_dict(_dict(stage.spec.get("promotionTemplate")).get("spec")).get("steps"))

    def apps(self, stage: Manifest) -> Iterator[AppRef]:
        for step in self.steps(stage):
            if step.uses != "argocd-update":
                continue
            for k, app in enumerate(_list(_dict(step.body.get("config")).get("apps"))):
                app = _dict(app)
                name, ok_name = substitute(str(app.get("name") or ""), step.variables)
                ns, ok_ns = substitute(str(app.get("namespace") or ARGOCD_NAMESPACE), step.variables)
                yield AppRef(step, k, name, ns, ok_name and ok_ns and bool(name))

    def application(self, ref: AppRef) -> Manifest | None:
        return self.find("Application", ref.name, ref.namespace) if ref.resolved else None

    def appset_for(self, ref: AppRef) -> Manifest | None:
        """The ApplicationSet whose template name could generate the app (`{{…}}` matches anything)."""
        if not ref.resolved:
            return None
        for appset in self.of("ApplicationSet"):
            if appset.namespace and appset.namespace != ref.namespace:
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
        for binding in [*self.of("RoleBinding"), *self.of("ClusterRoleBinding")]:
            subjects = [_dict(s) for s in _list(binding.obj.get("subjects"))]
            if not any(s.get("kind") == "ServiceAccount" and s.get("name") == service_account
                       and (s.get("namespace") or binding.namespace) == namespace for s in subjects):
                continue
            ref = _dict(binding.obj.get("roleRef"))
            kind, name = str(ref.get("kind") or ""), str(ref.get("name") or "")
            role = self.find(kind, name) if kind == "ClusterRole" else self.find(kind, name, binding.namespace)
            if role is not None and role not in out:
                out.append(role)
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
