"""D1: read everything a diagnosis needs, in parallel, read-only, through the shared KubeClient.

Two rounds on a bounded pool: the project-wide lists (Stages, Promotions, Freight, Warehouses,
AnalysisRuns, AnalysisTemplates, Warning events, controller pods and the Kargo controller's log, then the
Argo CD Applications the Stages name, by name), then per Stage what its latest verification left behind (Jobs,
their pods, the pods' last log lines).
Only the Stages list is required; any other source that cannot be read is named in `unread`, never left
silently empty. No write of any kind: no SelfSubjectAccessReview, no refresh annotation.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gate.cluster import named
from gate.cluster.kube import KubeClient
from gate.cluster.resources import (
    ANALYSISRUNS,
    ANALYSISTEMPLATES,
    APPLICATIONS,
    CLUSTERPROMOTIONTASKS,
    EVENTS,
    FREIGHTS,
    JOBS,
    PODS,
    PROMOTIONS,
    PROMOTIONTASKS,
    STAGES,
    WAREHOUSES,
)
from gate.diagnose.view import View
from gate.errors import GateError
from gate.kargo.stages import argocd_apps, latest_verification

WORKERS = 8
CONTROLLER_LOG_TAIL = 500  # lines read from the Kargo controller (the guide's `--tail=200`, a bit more)
CONTROLLER_LOG_KEEP = 20  # lines kept per Stage
JOB_LOG_TAIL = 40
STAGE_LABEL = "kargo.akuity.io/stage"


@dataclass
class Namespaces:
    project: str  # the Kargo project namespace
    project_name: str
    argocd: str = "argocd"
    kargo_controller: str = "kargo"
    argocd_controller: str = "argocd"


@dataclass
class Readings:
    """The project-wide round: shared by every Stage's View."""

    ns: Namespaces
    stages: list[dict] = field(default_factory=list)
    promotions: list[dict] = field(default_factory=list)
    freight: list[dict] = field(default_factory=list)
    warehouses: list[dict] = field(default_factory=list)
    apps: list[dict] = field(default_factory=list)
    analysis_runs: list[dict] = field(default_factory=list)
    templates: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    controllers: dict[str, list[dict]] = field(default_factory=dict)
    controller_log: list[str] = field(default_factory=list)
    tasks: dict[tuple[str, str], dict] = field(default_factory=dict)  # (kind, name) -> PromotionTask
    unread: dict[str, str] = field(default_factory=dict)


def controller_selectors(ns: Namespaces) -> dict[str, tuple[str, str]]:
    """component -> (namespace, label selector): the Kargo and Argo CD charts' own labels."""
    return {
        "kargo-controller": (ns.kargo_controller,
                             "app.kubernetes.io/name=kargo,app.kubernetes.io/component=controller"),
        "argocd-repo-server": (ns.argocd_controller, "app.kubernetes.io/name=argocd-repo-server"),
        "argocd-application-controller": (ns.argocd_controller,
                                          "app.kubernetes.io/name=argocd-application-controller"),
    }


def _newest_first(items: list[dict]) -> list[dict]:
    """By creationTimestamp, then name (generated names carry a ULID), newest first."""
    return sorted(items, key=lambda o: ((o.get("metadata") or {}).get("creationTimestamp") or "",
                                        (o.get("metadata") or {}).get("name") or ""), reverse=True)


class Gatherer:
    def __init__(self, kube: KubeClient, ns: Namespaces, *, workers: int = WORKERS) -> None:
        self.kube, self.ns, self.workers = kube, ns, workers

    def _parallel(self, jobs: dict[str, Callable[[], Any]], unread: dict[str, str]) -> dict[str, Any]:
        """Run the reads concurrently; a failed one is recorded in `unread` under its name."""
        out: dict[str, Any] = {}
        with ThreadPoolExecutor(max_workers=min(self.workers, max(1, len(jobs)))) as pool:
            futures = {name: pool.submit(fn) for name, fn in jobs.items()}
            for name, fut in futures.items():
                try:
                    out[name] = fut.result()
                except GateError as exc:
                    unread[name] = str(exc)
        return out

    # -- round 1: the project --------------------------------------------------------------------
    def project(self, stage: str | None = None) -> Readings:
        """Every project-wide source, and the Applications that `stage` (else every Stage) names. Raises the
        Stages read's own error (it is the one required)."""
        ns, r = self.ns, Readings(self.ns)
        p = ns.project
        jobs: dict[str, Callable[[], Any]] = {
            "stages": lambda: self.kube.list(STAGES, p),
            "promotions": lambda: self.kube.list(PROMOTIONS, p),
            "freight": lambda: self.kube.list(FREIGHTS, p),
            "warehouses": lambda: self.kube.list(WAREHOUSES, p),
            "analysisruns": lambda: self.kube.list(ANALYSISRUNS, p),
            "analysistemplates": lambda: self.kube.list(ANALYSISTEMPLATES, p),
            "events": lambda: self.kube.list(EVENTS, p, field_selector="type=Warning"),
        }
        for component, (cns, selector) in controller_selectors(ns).items():
            jobs[f"pods/{component}"] = lambda cns=cns, selector=selector: self.kube.list(PODS, cns, selector)
        got = self._parallel(jobs, r.unread)
        if "stages" not in got:
            self.kube.list(STAGES, p)  # raise the real error (403 -> PermissionDenied, exit 3)
        r.stages = sorted(got["stages"], key=lambda s: s["metadata"]["name"])
        r.promotions = _newest_first(got.get("promotions", []))
        r.freight = _newest_first(got.get("freight", []))
        r.warehouses = got.get("warehouses", [])
        r.analysis_runs = _newest_first(got.get("analysisruns", []))
        r.templates = got.get("analysistemplates", [])
        r.events = sorted(got.get("events", []), key=_event_time, reverse=True)
        for component in controller_selectors(ns):
            if f"pods/{component}" in got:
                r.controllers[component] = got[f"pods/{component}"]
        self._round_two(r)
        self._applications(r, stage)
        return r

    def _applications(self, r: Readings, stage: str | None) -> None:
        """The Applications the Stages' steps (and their PromotionTasks) name, read by name (gate.cluster.named:
        GETs, or one list of a namespace from many names on), never the Argo CD namespace to find a few."""
        refs = list(dict.fromkeys(ref for st in r.stages if stage is None or st["metadata"]["name"] == stage
                                  for ref in app_refs(st, r.tasks, self.ns.argocd)))
        by_ns: dict[str, list[str]] = {}
        for namespace, name in refs:
            by_ns.setdefault(namespace, []).append(name)
        jobs: dict[str, Callable[[], Any]] = {}
        for namespace, names in by_ns.items():
            if named.by_list(names):
                jobs[f"list/{namespace}"] = lambda namespace=namespace, names=names: list(
                    named.read_kube(self.kube, APPLICATIONS, names, namespace).values())
            else:
                for name in names:
                    jobs[f"get/{namespace}/{name}"] = lambda namespace=namespace, name=name: [
                        self.kube.get(APPLICATIONS, name, namespace)]
        unread: dict[str, str] = {}
        got = self._parallel(jobs, unread)
        r.apps = [app for key in jobs for app in got.get(key) or [] if app is not None]
        if unread:
            r.unread["applications"] = next(iter(unread.values()))

    def _round_two(self, r: Readings) -> None:
        """The Kargo controller's log and any PromotionTasks the Stages' steps use."""
        jobs: dict[str, Callable[[], Any]] = {}
        pods = r.controllers.get("kargo-controller") or []
        if pods:
            pod = sorted(pods, key=lambda p: p["metadata"]["name"])[0]
            jobs["log/kargo-controller"] = lambda: self._log(pod, CONTROLLER_LOG_TAIL, prefer="controller")
        elif "pods/kargo-controller" not in r.unread:
            r.unread["log/kargo-controller"] = (
                f"no Kargo controller pod found in namespace {self.ns.kargo_controller} "
                f"(label {controller_selectors(self.ns)['kargo-controller'][1]})")
        for key in {_task_key(s) for st in r.stages for s in _steps(st) if s.get("task")}:
            kind, name = key
            res = CLUSTERPROMOTIONTASKS if kind == "ClusterPromotionTask" else PROMOTIONTASKS
            jobs[f"{kind}/{name}"] = lambda res=res, name=name: self.kube.get(
                res, name, None if res is CLUSTERPROMOTIONTASKS else self.ns.project)
        got = self._parallel(jobs, r.unread)
        r.controller_log = (got.get("log/kargo-controller") or "").splitlines()
        for key in [k for k in got if k != "log/kargo-controller"]:
            kind, _, name = key.partition("/")
            if got[key]:
                r.tasks[(kind, name)] = got[key]

    def _log(self, pod: dict, tail: int, prefer: str | None = None, previous: bool = False) -> str:
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = prefer if prefer in containers else (containers[0] if containers else None)
        return self.kube.pod_logs(pod["metadata"]["namespace"], pod["metadata"]["name"], container,
                                  tail_lines=tail)

    # -- round 2: one Stage ----------------------------------------------------------------------
    def view(self, r: Readings, stage: dict) -> View:
        name = stage["metadata"]["name"]
        refs = app_refs(stage, r.tasks, self.ns.argocd)
        v = View(stage=stage, namespace=self.ns.project, project=self.ns.project_name, stages=r.stages,
                 promotions=[p for p in r.promotions if _promotion_stage(p) == name],
                 freight=r.freight, warehouses=r.warehouses,
                 apps=[a for a in r.apps if (a["metadata"].get("namespace", self.ns.argocd),
                                             a["metadata"]["name"]) in refs],
                 app_refs=refs,
                 analysis_runs=[a for a in r.analysis_runs if _run_stage(a) == name],
                 templates=r.templates, events=r.events, controllers=r.controllers,
                 controller_log=stage_lines(r.controller_log, name),
                 unread=dict(r.unread), kargo_controller_ns=self.ns.kargo_controller,
                 argocd_ns=self.ns.argocd)
        missing = [f"{n}/{a}" for n, a in refs if not any(
            (x["metadata"].get("namespace"), x["metadata"]["name"]) == (n, a) for x in v.apps)]
        if missing and "applications" not in v.unread:
            v.unread["applications"] = "not found: " + ", ".join(missing)
        for (kind, task) in {_task_key(s) for s in _steps(stage) if s.get("task")}:
            if (kind, task) not in r.tasks and f"{kind}/{task}" not in v.unread:
                v.unread[f"{kind}/{task}"] = "not found"
        self._verification(v)
        return v

    def _verification(self, v: View) -> None:
        """The latest verification's AnalysisRun → its Jobs → their pods → the pods' last log lines."""
        run = latest_run(v)
        if run is None:
            return
        jobs = job_refs(run, v.namespace)
        if not jobs:
            return
        got = self._parallel({f"job/{n}": lambda ns=ns, n=n: self.kube.get(JOBS, n, ns) for ns, n in jobs}
                             | {f"pods/job/{n}": lambda ns=ns, n=n: self.kube.list(PODS, ns, f"job-name={n}")
                                for ns, n in jobs}, v.unread)
        v.jobs = [got[f"job/{n}"] for _, n in jobs if got.get(f"job/{n}")]
        v.job_pods = [p for _, n in jobs for p in got.get(f"pods/job/{n}") or []]
        logs = self._parallel({p["metadata"]["name"]: lambda p=p: self._log(p, JOB_LOG_TAIL)
                               for p in v.job_pods}, v.unread)
        v.job_logs = {k: val for k, val in logs.items() if isinstance(val, str)}
        empty = sorted({ns for ns, _ in empty_selectors(v.job_logs)})
        got = self._parallel({f"pods/{ns}": lambda ns=ns: self.kube.list(PODS, ns) for ns in empty}, v.unread)
        v.check_pods = {ns: got[f"pods/{ns}"] for ns in empty if f"pods/{ns}" in got}


def gather_views(kube: KubeClient, ns: Namespaces, stage: str | None = None) -> tuple[Readings, list[View]]:
    """D1 for one Stage or every Stage of the project. Raises ConfigError when --stage names none."""
    from gate.errors import ConfigError

    g = Gatherer(kube, ns)
    r = g.project(stage)
    stages = [s for s in r.stages if stage is None or s["metadata"]["name"] == stage]
    if stage is not None and not stages:
        known = ", ".join(s["metadata"]["name"] for s in r.stages) or "none"
        raise ConfigError(f"no Stage {stage!r} in namespace {ns.project} (Stages: {known})", key="--stage")
    # One Stage after another: each view's own reads (its verification's Jobs, pods, logs) run on a pool of
    # WORKERS, so the process never holds more than WORKERS requests in flight.
    return r, [g.view(r, s) for s in stages]


# -- pure helpers (also usable on objects a caller already holds) -----------------------------------
def _steps(stage_or_task: dict) -> list[dict]:
    spec = stage_or_task.get("spec") or {}
    if "promotionTemplate" in spec:
        spec = (spec.get("promotionTemplate") or {}).get("spec") or {}
    return spec.get("steps") or []


def _task_key(step: dict) -> tuple[str, str]:
    task = step.get("task") or {}
    return (task.get("kind") or "PromotionTask", task.get("name") or "")


def app_refs(stage: dict, tasks: dict[tuple[str, str], dict], default_ns: str) -> list[tuple[str, str]]:
    """(namespace, name) of the Applications the Stage's argocd-update steps and PromotionTasks name."""
    refs = list(argocd_apps(stage, default_ns))
    for step in _steps(stage):
        task = tasks.get(_task_key(step)) if step.get("task") else None
        if task:
            refs += [r for r in argocd_apps({"spec": {"promotionTemplate": {"spec": task.get("spec") or {}}}},
                                            default_ns) if r not in refs]
    return refs


def _promotion_stage(promo: dict) -> str:
    meta = promo.get("metadata") or {}
    return ((promo.get("spec") or {}).get("stage") or (meta.get("annotations") or {}).get(STAGE_LABEL)
            or (meta.get("labels") or {}).get(STAGE_LABEL) or "")


def _run_stage(run: dict) -> str:
    meta = run.get("metadata") or {}
    return (meta.get("annotations") or {}).get(STAGE_LABEL) or (meta.get("labels") or {}).get(STAGE_LABEL) or ""


def latest_run(v: View) -> dict | None:
    """The AnalysisRun verificationHistory[0] names, else the Stage's newest."""
    wanted = ((latest_verification(v.stage) or {}).get("analysisRun") or {}).get("name")
    if wanted:
        return next((a for a in v.analysis_runs if a["metadata"]["name"] == wanted), None)
    return v.analysis_runs[0] if v.analysis_runs else None


def job_refs(run: dict, default_ns: str) -> list[tuple[str, str]]:
    """(namespace, name) of the Jobs an AnalysisRun's job metrics ran: measurements[].metadata.job-name."""
    out: list[tuple[str, str]] = []
    for metric in (run.get("status") or {}).get("metricResults") or []:
        for m in metric.get("measurements") or []:
            meta = m.get("metadata") or {}
            if meta.get("job-name"):
                ref = (meta.get("job-namespace") or default_ns, meta["job-name"])
                if ref not in out:
                    out.append(ref)
    return out[-3:]  # the latest few measurements are enough to see why


_EMPTY_CHECK = re.compile(r"\bin (?P<ns>[a-z0-9][a-z0-9-]*) \((?P<sel>[^()\s]+=[^()\s]+)\): observed 0/0")


def empty_selectors(logs: dict[str, str]) -> list[tuple[str, str]]:
    """(namespace, label selector) of the pod checks a verification Job's log says matched no pod at all
    ("Pods running in NS (SELECTOR): observed 0/0 ready", the gate's own report line)."""
    out: list[tuple[str, str]] = []
    for text in logs.values():
        for m in _EMPTY_CHECK.finditer(text):
            if (m.group("ns"), m.group("sel")) not in out:
                out.append((m.group("ns"), m.group("sel")))
    return out


def stage_lines(lines: list[str], stage: str) -> list[str]:
    """The controller log lines naming this Stage (`"stage":"x"`, `stage=x`, or the name as a word)."""
    word = re.compile(rf"(?<![\w.-]){re.escape(stage)}(?![\w-])")
    return [ln for ln in lines if word.search(ln)][-CONTROLLER_LOG_KEEP:]


def _event_time(ev: dict) -> str:
    return ev.get("lastTimestamp") or ev.get("eventTime") or (ev.get("metadata") or {}).get(
        "creationTimestamp") or ""
