"""What the precheck rules read, gathered once per run (and reusable by diagnose and lint).

`gather` reads the target Stage first (nothing can be judged without it: its errors propagate), then
every other input. An input that cannot be read is recorded in `Readings.errors` under its name, and
every rule that reads it becomes an ERROR row: a rule never passes on what it could not read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from gate.cluster import named
from gate.cluster.resources import APPLICATIONS, CLUSTERPROMOTIONTASKS, PROMOTIONTASKS
from gate.errors import GateError
from gate.kargo import stages as st
from gate.kargo import steps as steps_mod
from gate.kargo.freight import Selection

T = TypeVar("T")

# Input names a rule may declare in `Rule.reads`.
TARGET, FREIGHT, PROMOTIONS, UPSTREAMS, TASKS, APPS = (
    "target",
    "freight",
    "promotions",
    "upstream stages",
    "PromotionTasks",
    "Argo CD Applications",
)

PROMOTION_TASKS, CLUSTER_PROMOTION_TASKS = PROMOTIONTASKS, CLUSTERPROMOTIONTASKS


@dataclass
class Readings:
    project: str
    stage: str
    target: dict
    selection: Selection
    now: datetime
    argocd_namespace: str = "argocd"
    promotions: list[dict] = field(default_factory=list)  # on the target Stage
    upstreams: dict[str, dict] = field(default_factory=dict)  # upstream Stage name -> Stage
    tasks: dict[tuple[str, str], dict | None] = field(default_factory=dict)  # (kind, name) -> task
    app_refs: steps_mod.AppRefs = field(default_factory=steps_mod.AppRefs)
    applications: dict[str, list[dict]] = field(default_factory=dict)  # namespace -> Applications
    errors: dict[str, str] = field(default_factory=dict)  # input name -> why it could not be read

    @property
    def freight(self) -> dict:
        return self.selection.freight

    @property
    def freight_name(self) -> str:
        return self.selection.name

    def application(self, namespace: str, name: str) -> dict | None:
        return next(
            (a for a in self.applications.get(namespace) or [] if a["metadata"]["name"] == name), None
        )


def _read(readings: Readings, what: str, fn: Callable[[], T], default: T) -> T:
    """Call fn; on a gate error record why `what` could not be read (first error wins) and return default."""
    try:
        return fn()
    except GateError as exc:
        readings.errors.setdefault(what, str(exc))
        return default


def gather(
    reader: Any,
    project: str,
    stage: str,
    sel: Selection,
    *,
    kube: Any = None,
    argocd_namespace: str = "argocd",
    now: datetime | None = None,
) -> Readings:
    target = reader.get_stage(project, stage)
    r = Readings(project, stage, target, sel, now or datetime.now(UTC), argocd_namespace)
    r.promotions = _read(r, PROMOTIONS, lambda: reader.list_promotions(project, stage), [])
    for up in st.upstreams(target):
        got = _read(r, UPSTREAMS, lambda up=up: reader.get_stage(project, up), None)
        if got is not None:
            r.upstreams[up] = got
    _read_tasks(r, kube)
    r.app_refs = steps_mod.argocd_app_refs(r.target, r.tasks, steps_mod.context(r), argocd_namespace)
    _read_applications(r, kube)
    return r


def _read_tasks(r: Readings, kube: Any) -> None:
    """The (Cluster)PromotionTasks the target's steps reference (pkg/api/promotion.go:337-369)."""
    for kind, name in steps_mod.task_refs(r.target):
        if kube is None:
            r.errors.setdefault(TASKS, "no cluster access to read PromotionTasks")
            return
        if kind == "ClusterPromotionTask":
            r.tasks[(kind, name)] = _read(r, TASKS, lambda n=name: kube.get(CLUSTER_PROMOTION_TASKS, n), None)
        else:
            r.tasks[(kind, name)] = _read(
                r, TASKS, lambda n=name: kube.get(PROMOTION_TASKS, n, r.project), None
            )


def _read_applications(r: Readings, kube: Any) -> None:
    namespaces = r.app_refs.namespaces()
    if namespaces and kube is None:
        r.errors.setdefault(APPS, "no cluster access to read Argo CD Applications")
        return
    for ns in namespaces:
        refs = [ref for ref in r.app_refs.refs if ref.namespace == ns]
        if all(ref.name for ref in refs):  # named apps by name, never the namespace (gate.cluster.named)
            r.applications[ns] = _read(r, APPS, lambda ns=ns, refs=refs: [
                app for app in named.read_kube(kube, APPLICATIONS, [ref.name for ref in refs], ns).values()
                if app is not None], [])
        else:  # a step that selects apps by label: the namespace's list, matched by the refs
            r.applications[ns] = _read(r, APPS, lambda ns=ns: kube.list(APPLICATIONS, ns), [])
