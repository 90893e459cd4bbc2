"""Every failing `verify`, `precheck` and `promote` carries its diagnosis (issue 10, item 3).

When a run's verdict is FAIL, `attach()` reads what a person would fetch by hand and runs the same rules
as `gate diagnose`: the Stage's decision tree (gate/diagnose/tree.py and rules/, on a full D1 gather of the Stage) and,
for a failing `pods`/`workloads` check, the pod leaves (gate/diagnose/workload.py) on the check's pods that
are not Ready, their last log lines (`--previous` when the container died before) and their Warning events.

What it never does: change the verdict or the exit code (a failure to diagnose is a note), write to the
cluster (reads only: lists, gets, pods/log), or outlive the run's deadline (it runs before `finish()` lifts
the wall, inside its own smaller budget). Every text is masked before it is cut.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from gate import redact
from gate.cluster.resources import EVENTS, PODS
from gate.diagnose.gather import Namespaces, gather_views
from gate.diagnose.report import StageReport, block, stage_report
from gate.diagnose.view import View
from gate.diagnose.workload import diagnose_failure
from gate.engine import deadlines
from gate.errors import GateError
from gate.model import CheckResult, RunResult

BUDGET = 20.0  # seconds the diagnosis may take at most (and never past the run's wall)
MIN_LEFT = 0.25  # less than this left before the deadline: skip, say so
MAX_PODS = 2  # failing pods whose logs are read
LOG_LINES = 20  # tailLines asked for
LOG_BYTES = 4000  # kept per log, after masking
EVENTS_KEPT = 5  # Warning events per pod
POD_KINDS = ("pods", "workloads")


@dataclass
class FailureDiagnosis:
    """What a report shows: the DIAGNOSIS block, and the failing row it belongs to (JUnit system-out)."""

    report: StageReport
    check_id: str
    check_name: str

    @property
    def text(self) -> str:
        return block(self.report)


def failing_row(result: RunResult) -> CheckResult | None:
    """The row the diagnosis explains: the first FAIL (a verdict), in report order."""
    return result.failed_row()


def attach(result: RunResult, kube: Any, settings: Any, stage: str, *, plan: Any = None,
           project: str | None = None, clusters: Any = None) -> None:
    """Diagnose a failed run in place: set `result.diagnosis`, or add a note saying why there is none.
    `clusters`: the session's destinations (gate/cluster/destinations.py): a failing check's pods are read
    in its own cluster, never in the control plane instead."""
    row = failing_row(result)
    if row is None or result.interrupted or kube is None:
        return
    left = deadlines.remaining()
    if left is not None and left < MIN_LEFT:
        result.notes.append("no diagnosis: the run's deadline had passed (raise --timeout to get one)")
        return
    budget = BUDGET if left is None else min(BUDGET, left)
    ns = namespaces(settings, project)
    stage, ns = kargo_target(row, plan, stage, ns)
    try:
        with deadlines.scope(time.monotonic() + budget):
            view = build_view(kube, ns, stage, row, plan, clusters)
            report = stage_report(view, diagnose_failure(view))
    except Exception as exc:  # noqa: BLE001 - a failure to diagnose is a note, never a verdict
        result.notes.append(f"no diagnosis: {redact.cut(f'{type(exc).__name__}: {exc}', 300)}")
        return
    if not report.diagnoses:
        why = report.unread.get("stages")
        result.notes.append("no diagnosis: no rule explains this failure"
                            + (f" (Stage {stage}: {why})" if why else "")
                            + (f" (could not read: {', '.join(sorted(report.unread))})" if report.unread and not why
                               else ""))
        return
    result.diagnosis = FailureDiagnosis(report, row.id, row.name)  # type: ignore[attr-defined]


def kargo_target(row: CheckResult, plan: Any, stage: str, ns: Namespaces | None) -> tuple[str, Namespaces | None]:
    """The Kargo Stage to diagnose: the one a failing `kargo_stage` check names (its `stage`, and its
    `namespace`/`project` when set), not the spec's stage key (`uat-verify` may check Kargo Stage `uat`)."""
    if row.kind != "kargo_stage" or plan is None:
        return stage, ns
    check = next((c.check for checks in plan.levels.values() for c in checks if c.id == row.id), None)
    params = getattr(check, "params", None) or {}
    named = getattr(check, "stage", None) or params.get("stage") or stage
    where = params.get("namespace") or params.get("project")
    if where and ns is not None:
        ns = Namespaces(project=where, project_name=params.get("project") or where, argocd=ns.argocd,
                        kargo_controller=ns.kargo_controller, argocd_controller=ns.argocd_controller)
    return named, ns


def namespaces(settings: Any, project: str | None = None) -> Namespaces | None:
    get = getattr(settings, "get", None) or (lambda key, default=None: getattr(settings, key, default))
    namespace = get("kargo_namespace") or project or get("kargo_project")
    if not namespace:
        return None
    argocd = get("argocd_namespace") or "argocd"
    return Namespaces(project=namespace, project_name=project or get("kargo_project") or namespace, argocd=argocd,
                      kargo_controller=get("kargo_controller_namespace") or "kargo",
                      argocd_controller=get("argocd_controller_namespace") or argocd)


def build_view(kube: Any, ns: Namespaces | None, stage: str, row: CheckResult, plan: Any,
               clusters: Any = None) -> View:
    """The Stage's full read (or a stand-in naming why it is missing), plus the failing check's pods."""
    view: View | None = None
    why = "no Kargo project namespace is configured (kargo_namespace / --project)"
    if ns is not None:
        try:
            view = gather_views(kube, ns, stage)[1][0]
        except GateError as exc:
            why = redact.cut(str(exc), 300)
    if view is None:  # never read "not fetched" as "nothing there": no Stage rule runs on this stand-in
        view = View(stage={"metadata": {"name": stage}}, namespace=ns.project if ns else "",
                    project=ns.project_name if ns else "",
                    unread={"stages": why, "promotions": "not read", "freight": "not read"})
    view.failed_check = row.name
    scope = pod_scope(row, plan)
    if scope is not None:
        from gate.cluster.destinations import destination_of_check, kube_of_check

        pods_kube, why = kube_of_check(row.id, plan, clusters, kube)
        if pods_kube is None:
            view.unread[f"pods/{scope[0]}"] = why
        else:
            read_pods(pods_kube, view, *scope)
            view.pods_in = destination_of_check(row.id, plan, clusters)  # the fix lines name it
    return view


def pod_scope(row: CheckResult, plan: Any) -> tuple[str, str | None, str | None] | None:
    """(namespace, label selector, field selector) of the failing pods/workloads check, from the plan."""
    if row.kind not in POD_KINDS or plan is None:
        return None
    for planned in (c for checks in plan.levels.values() for c in checks):
        if planned.id == row.id:
            check = planned.check
            if hasattr(check, "evidence_scope"):
                return check.evidence_scope()  # type: ignore[no-any-return]
            return getattr(check, "namespace", None) or check.params.get("namespace"), None, None
    return None


def read_pods(kube: Any, view: View, namespace: str, selector: str | None, field_selector: str | None) -> None:
    """The check's pods that are not Ready, the last lines of the failing container's log and the pods'
    Warning events; each source that cannot be read is named in view.unread."""
    from gate.checks.pods import crashed_before, failing_pods, log_container

    try:
        pods = kube.list(PODS, namespace, selector, field_selector)
    except GateError as exc:
        view.unread[f"pods/{namespace}"] = redact.cut(str(exc), 300)
        return
    bad = failing_pods(pods)[:MAX_PODS]
    view.pods = [b[0] for b in bad]
    for pod, _kind, _reason, container in bad:
        name = pod["metadata"]["name"]
        container = log_container(pod, container)
        key = f"{namespace}/{name}/{container}"
        previous = crashed_before(pod, container)
        try:
            text = kube.pod_logs(namespace, name, container, tail_lines=LOG_LINES, previous=previous)
        except GateError as exc:
            view.unread[f"log/{key}"] = redact.cut(str(exc), 300)
            continue
        view.pod_logs[key] = redact.tail(text, LOG_BYTES, partial_start=len(text) > LOG_BYTES)
        if previous:
            view.pod_logs_previous.add(key)
    if not bad:
        return
    try:
        events = kube.list(EVENTS, namespace, field_selector="type=Warning")
    except GateError as exc:
        view.unread[f"events/{namespace}"] = redact.cut(str(exc), 300)
        return
    names = {p["metadata"]["name"] for p in view.pods}
    mine = [e for e in events if (e.get("involvedObject") or {}).get("name") in names]
    mine.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "", reverse=True)
    view.pod_events = [e for n in names for e in [x for x in mine if x["involvedObject"]["name"] == n][:EVENTS_KEPT]]
