"""Which Argo CD Applications a Stage's Promotion would sync, read the way Kargo v1.11.2 builds it.

- The webhook copies the Stage's `promotionTemplate.spec.steps` into the Promotion, with vars
  `stage.spec.vars + promotionTemplate.spec.vars` (pkg/webhook/kubernetes/promotion/webhook.go:250-258),
  then inflates every `task:` step into the (Cluster)PromotionTask's steps (pkg/api/promotion.go:264-335):
  task var defaults (unless the Promotion sets them), then the task step's vars, then the task step's own
  vars (promotion.go:313, 329, 380-430). Aliases as PromotionStep.GetAlias gives them (`task-N`,
  `step-N`, 1-based: api/v1alpha1/promotion_types.go:317-325), joined by `::`. A missing task, or a
  task var with no value, makes the webhook refuse the Promotion.
- Step config is evaluated with `vars` and `ctx` (pkg/promotion/evaluator.go:102-127, 168-217). The gate
  evaluates only what is known before promoting: `${{ vars.NAME }}`, `${{ ctx.project }}`,
  `${{ ctx.stage }}`, `${{ ctx.targetFreight.name|alias|origin.name }}` and quoted literals. Anything
  else (outputs, functions, operators) is reported as "could not determine", never guessed.
- argocd-update apps are `{name, namespace}` (namespace defaults to Argo CD's) or `{selector,
  namespace}` (pkg/promotion/runner/builtin/argocd_common.go:14-54).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

TASK_KINDS = ("PromotionTask", "ClusterPromotionTask")
_EXPR = re.compile(r"\$\{\{((?:(?!\}\}).)*)\}\}", re.S)  # one `${{ … }}`, never spanning two
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_QUOTED = re.compile(r"""^(?:'([^'\\]*)'|"([^"\\]*)")$""")


class Undetermined(Exception):
    """A value the gate cannot know before the Promotion runs; the message says which and why."""


@dataclass(frozen=True)
class AppRef:
    namespace: str
    name: str = ""
    selector: tuple[tuple[str, str, tuple[str, ...]], ...] = ()  # (key, operator, values), ANDed
    where: str = ""  # which step named it, for the report

    def matches(self, app: dict) -> bool:
        if self.name:
            return app["metadata"]["name"] == self.name
        labels = app["metadata"].get("labels") or {}
        return all(_requirement(labels, key, op, values) for key, op, values in self.selector)

    def describe(self) -> str:
        if self.name:
            return self.name
        return "selector " + ",".join(f"{k} {op} {list(v)}" if v else f"{k} {op}" for k, op, v in self.selector)


@dataclass
class AppRefs:
    refs: list[AppRef] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # what could not be determined, and why
    tasks: list[str] = field(default_factory=list)  # the tasks expanded, for the report

    def namespaces(self) -> list[str]:
        return list(dict.fromkeys(ref.namespace for ref in self.refs))


def _requirement(labels: dict, key: str, op: str, values: tuple[str, ...]) -> bool:
    if op == "In":
        return labels.get(key) in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    return key not in labels  # DoesNotExist


def template(stage: dict) -> dict:
    return (((stage.get("spec") or {}).get("promotionTemplate") or {}).get("spec")) or {}


def template_steps(stage: dict) -> list[dict]:
    return template(stage).get("steps") or []


def is_control_flow(stage: dict) -> bool:
    """No promotion steps (api/v1alpha1/stage_types.go:151-158)."""
    return not template_steps(stage)


def task_refs(stage: dict) -> list[tuple[str, str]]:
    """(kind, name) of every task the Stage's steps reference; kind "" means PromotionTask."""
    out = []
    for step in template_steps(stage):
        task = step.get("task")
        if task:
            ref = (task.get("kind") or "PromotionTask", task.get("name", ""))
            if ref not in out:
                out.append(ref)
    return out


def context(readings: Any) -> dict:
    """The parts of the expression environment's `ctx` known before promoting (evaluator.go:102-127)."""
    freight = readings.freight
    return {
        "project": readings.project,
        "stage": readings.stage,
        "targetFreight": {
            "name": readings.freight_name,
            "alias": readings.selection.alias,
            "origin": {"name": (freight.get("origin") or {}).get("name", "")},
        },
    }


# -- expressions ------------------------------------------------------------------------------------


def _lookup(expr: str, env: dict) -> Any:
    quoted = _QUOTED.match(expr)
    if quoted:
        return quoted.group(1) if quoted.group(1) is not None else quoted.group(2)
    if not _PATH.match(expr) or expr.split(".")[0] not in ("vars", "ctx"):
        raise Undetermined(f"`${{{{ {expr} }}}}` is only known while the Promotion runs")
    value: Any = env
    for part in expr.split("."):
        if not isinstance(value, dict) or part not in value:
            raise Undetermined(f"`${{{{ {expr} }}}}` names nothing known before promoting")
        value = value[part]
    if isinstance(value, Undetermined):
        raise Undetermined(f"`${{{{ {expr} }}}}`: {value}")
    return value


def evaluate(template_text: Any, env: dict) -> Any:
    """Kargo's EvaluateTemplate for the subset above: one whole `${{ }}` yields its value, otherwise
    each expression is interpolated into the string."""
    if not isinstance(template_text, str) or ("${{" not in template_text and "${%" not in template_text):
        return template_text  # no delimiter: taken as is (pkg/expressions/json_templates.go:116-130)
    if "${%" in template_text:
        raise Undetermined(f"`{template_text}` uses a `${{% %}}` block, only evaluated while the Promotion runs")
    whole = _EXPR.fullmatch(template_text)
    if whole:
        return _lookup(whole.group(1).strip(), env)
    out = _EXPR.sub(lambda m: str(_lookup(m.group(1).strip(), env)), template_text)
    if "${{" in _EXPR.sub("", template_text):
        raise Undetermined(f"`{template_text}` has an unterminated `${{{{`")
    return out


def _resolve_vars(var_lists: list[list[dict]], env: dict) -> dict:
    """Vars evaluated in order, each seeing those before it (evaluator.go:168-217). A var that cannot be
    evaluated is kept as Undetermined: it only matters if a config uses it."""
    out: dict[str, Any] = {}
    for items in var_lists:
        for var in items:
            try:
                out[var["name"]] = evaluate(var.get("value", ""), {**env, "vars": out})
            except Undetermined as exc:
                out[var["name"]] = exc
    return out


# -- inflating task steps ---------------------------------------------------------------------------


def inflate(stage: dict, tasks: dict[tuple[str, str], dict | None]) -> tuple[list[dict], list[str]]:
    """The Promotion's steps as the webhook would build them: (steps, problems). Each step gets
    `_where` (for the report) and `_vars` (its var lists, in evaluation order)."""
    tmpl = template(stage)
    promo_vars = [*((stage.get("spec") or {}).get("vars") or []), *(tmpl.get("vars") or [])]
    steps: list[dict] = []
    problems: list[str] = []
    for i, step in enumerate(tmpl.get("steps") or []):
        task = step.get("task")
        alias = step.get("as") or (f"task-{i + 1}" if task else f"step-{i + 1}")  # PromotionStep.GetAlias
        if not task:
            where = f"step {alias}"
            steps.append({**step, "_where": where, "_vars": [promo_vars, step.get("vars") or []]})
            continue
        kind, name = task.get("kind") or "PromotionTask", task.get("name", "")
        spec = ((tasks.get((kind, name)) or {}).get("spec")) if (kind, name) in tasks else None
        if spec is None:
            problems.append(f'{kind} "{name}" not found (step {alias}): Kargo would refuse the Promotion')
            continue
        task_vars, missing = _task_vars(spec.get("vars") or [], promo_vars, step.get("vars") or [])
        problems += [f'{kind} "{name}" needs a value for var "{v}" (step {alias})' for v in missing]
        for j, inner in enumerate(spec.get("steps") or []):
            inner_alias = f"{alias}::{inner.get('as') or f'step-{j + 1}'}"  # promotion.go:371-375
            steps.append(
                {
                    **inner,
                    "_where": f"step {inner_alias}, task {name}",
                    "_vars": [promo_vars, task_vars + (inner.get("vars") or [])],
                }
            )
    return steps, problems


def _task_vars(task_vars: list[dict], promo_vars: list[dict], step_vars: list[dict]) -> tuple[list, list]:
    """pkg/api/promotion.go:380-430: task defaults unless the Promotion sets the var, then the step's."""
    promo_set = {v["name"] for v in promo_vars if v.get("value")}
    step_set = {v["name"] for v in step_vars if v.get("value")}
    out, missing = [], []
    for var in task_vars:
        if var["name"] in promo_set:
            continue
        if var.get("value"):
            out.append(var)
        elif var["name"] not in step_set:
            missing.append(var["name"])
    return out + list(step_vars), missing


# -- argocd-update apps -----------------------------------------------------------------------------


def argocd_app_refs(
    stage: dict, tasks: dict[tuple[str, str], dict | None], ctx: dict, default_namespace: str = "argocd"
) -> AppRefs:
    steps, problems = inflate(stage, tasks)
    out = AppRefs(unresolved=problems, tasks=[name for _, name in task_refs(stage)])
    for step in steps:
        if step.get("uses") != "argocd-update":
            continue
        where = step["_where"]
        env = {"ctx": ctx}
        env["vars"] = _resolve_vars(step["_vars"], env)
        try:
            apps = evaluate((step.get("config") or {}).get("apps"), env) or []
            if not isinstance(apps, list):
                raise Undetermined("`apps` is not a list")
            for app in apps:
                out.refs.append(_app_ref(app, env, default_namespace, where))
        except Undetermined as exc:
            out.unresolved.append(f"{where}: {exc}")
    return out


def _app_ref(app: Any, env: dict, default_namespace: str, where: str) -> AppRef:
    if not isinstance(app, dict):
        raise Undetermined("an `apps` entry is not a mapping")
    namespace = str(evaluate(app.get("namespace"), env) or default_namespace)
    if app.get("name"):
        return AppRef(namespace, str(evaluate(app["name"], env)), where=where)
    selector = evaluate(app.get("selector"), env) or {}
    reqs = [(str(k), "In", (str(evaluate(v, env)),)) for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        values = tuple(str(evaluate(v, env)) for v in expr.get("values") or [])
        reqs.append((str(expr.get("key")), str(expr.get("operator")), values))
    if not reqs:
        raise Undetermined("an `apps` entry has neither a name nor a selector")
    return AppRef(namespace, selector=tuple(reqs), where=where)
