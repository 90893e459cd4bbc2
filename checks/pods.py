"""`pods`: the pods a selector matches are Ready, and the ones that are not are named with the reason.

Ready means the pod's `Ready` condition is True. Pods in phase Succeeded (finished Job pods) are
ignored. Without `min_ready`, every matched pod must be Ready and at least one must match.

As in Argo CD (gitops-engine pkg/health/health_pod.go:96-128, the same at argo-cd v3.5.1
gitops-engine/pkg/health/health_pod.go), a Running pod with restartPolicy Never or OnFailure has a finite
life (a Job or hook pod): it is Progressing, not Healthy, even when Ready, until it Succeeds.

The small helpers at the top are shared by the other Level-1 kinds.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from gate.checks.base import Check, Clients

from gate import redact
from gate.cluster import projection
from gate.cluster.kube import Permission
from gate.cluster.resources import PODS
from gate.model import Observation

MAX_EVIDENCE = 20
FINITE = ("Never", "OnFailure")  # restartPolicy of a pod that ends (a Job's, a hook's)

# What is_ready() and diagnose() read of a listed pod (gate.cluster.projection).
_CONDITION = {"type": True, "status": True, "reason": True, "message": True}
_CONTAINER = {"name": True, "ready": True, "restartCount": True, "image": True,
              "state": {"waiting": True, "terminated": True}, "lastState": {"terminated": True}}
projection.declare(PODS, {
    "spec": {"restartPolicy": True},
    "status": {"phase": True, "reason": True, "message": True,
               "conditions": projection.Where.field_in("type", ("Ready", "PodScheduled"), _CONDITION),
               "containerStatuses": _CONTAINER, "initContainerStatuses": _CONTAINER},
}, skip_managed_fields=True)  # core/v1 Pod: typed, its one managedFields is metadata's


# -- helpers shared by the Level-1 check kinds ---------------------------------------------------------
def condition(obj: dict, kind: str) -> dict | None:
    """The status condition of that type, or None."""
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def capped(lines: list[str], limit: int = MAX_EVIDENCE, total: int | None = None) -> list[str]:
    """At most `limit` evidence lines, the rest summarized, so a report stays readable. `total`: how many
    lines there are when the caller made only the first `limit` of them."""
    total = len(lines) if total is None else total
    if total <= limit:
        return lines
    return [*lines[:limit], f"... and {total - limit} more"]


def slug(text: str) -> str:
    """A selector or name list as an id fragment: `app=x,tier in (a,b)` -> `x-a-b`."""
    values = [part.split("=")[-1] for part in re.split(r"[,\s()]+", text) if part and part not in
              ("in", "notin")]
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", "-".join(values)).strip("-") or "all"


def shown_name(obj: dict) -> str:
    """The name of an object read from the cluster, for a report line: kept whole there even where a short
    secret value is part of it (redact.register_identifier; it is never kept when it holds a long one)."""
    name = (obj.get("metadata") or {}).get("name")
    redact.register_identifier(name)
    return str(name)


def meta_name(obj: dict) -> str:
    """`namespace/name` of an object read from the cluster, for a report line (both kept whole there)."""
    meta = obj.get("metadata") or {}
    redact.register_identifier(meta.get("namespace"))
    shown_name(obj)
    return f"{meta.get('namespace')}/{meta.get('name')}" if meta.get("namespace") else str(meta.get("name"))


def setting(clients: Clients, attr: str) -> str | None:
    return getattr(clients.settings, attr, None) if clients.settings is not None else None


# -- pod diagnosis -------------------------------------------------------------------------------------
def _container_problem(status: dict) -> tuple[str, str] | None:
    """(kind of problem, text) for one container status, or None when nothing is wrong with it."""
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    restarts = status.get("restartCount", 0)
    waiting = state.get("waiting") or {}
    reason = waiting.get("reason") or ""
    if reason == "CrashLoopBackOff":
        exit_part = ""
        if last:
            exit_part = f", last exit: {last.get('reason') or 'unknown'}, code {last.get('exitCode', '?')}"
        return "crash", f"CrashLoopBackOff (restarts: {restarts}{exit_part})"
    if reason in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"):
        return "image", f"{reason} (image: {status.get('image', '?')})"
    if reason:
        message = waiting.get("message") or ""
        return "waiting", f"{reason}: {message}" if message else reason
    terminated = state.get("terminated") or {}
    if terminated.get("reason") == "OOMKilled" or (last.get("reason") == "OOMKilled" and
                                                   not status.get("ready")):
        code = terminated.get("exitCode") or last.get("exitCode", 137)
        return "crash", f"OOMKilled (restarts: {restarts}, code {code})"
    if terminated and terminated.get("exitCode", 0) != 0:
        reason = terminated.get("reason") or "Error"
        return "crash", f"terminated: {reason}, code {terminated.get('exitCode')} (restarts: {restarts})"
    return None


def diagnose(pod: dict) -> tuple[str, str, str | None]:
    """(kind, reason, container) why a pod is not Ready; kind picks the hint."""
    status = pod.get("status") or {}
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "other", "Terminating", None
    containers = [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]
    problems = [(c.get("name", "?"), p) for c in containers if (p := _container_problem(c))]
    if problems:
        many = len(containers) > 1
        kind = problems[0][1][0]
        text = "; ".join(f"container {name}: {text}" if many else text for name, (_, text) in problems)
        return kind, text, problems[0][0] if many else None
    phase = status.get("phase") or "Unknown"
    policy = finite_and_running(pod)
    if policy and (condition(pod, "Ready") or {}).get("status") == "True":
        return "other", f"Progressing: Running with restartPolicy {policy}, not finished yet", None
    if phase == "Pending":
        scheduled = condition(pod, "PodScheduled")
        if scheduled and scheduled.get("status") == "False":
            text = f"Pending: {scheduled.get('reason') or 'Unschedulable'}: {scheduled.get('message') or ''}"
            return "pending", text.rstrip(": "), None
        return "pending", "Pending", None
    if phase == "Failed":
        return "other", f"Failed: {status.get('reason') or ''} {status.get('message') or ''}".strip(), None
    ready = condition(pod, "Ready")
    detail = (ready or {}).get("message") or (ready or {}).get("reason") or ""
    return "other", f"not Ready ({detail})" if detail else "not Ready", None


def finite_and_running(pod: dict) -> str | None:
    """The restartPolicy of a Running pod that will end (Never/OnFailure): Progressing in gitops-engine
    (health_pod.go:120-127). The API server defaults restartPolicy to Always."""
    policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    running = (pod.get("status") or {}).get("phase") == "Running"
    return policy if running and policy in FINITE else None


def is_ready(pod: dict) -> bool:
    """Ready condition True, not terminating, not a finite pod still running (finite_and_running). Written
    out (not by condition() and finite_and_running()): it runs once per listed pod, 20,000 in a big
    namespace."""
    status = pod.get("status") or {}
    for cond in status.get("conditions") or ():
        if cond.get("type") == "Ready":
            break
    else:
        return False
    if cond.get("status") != "True" or (pod.get("metadata") or {}).get("deletionTimestamp"):
        return False
    return status.get("phase") != "Running" or (pod.get("spec") or {}).get("restartPolicy") not in FINITE


# -- evidence for a failure's diagnosis (gate/diagnose/attach.py) ---------------------------------------
def evidence_permissions(namespace: str) -> list[Permission]:
    """What the diagnosis of a failing pods/workloads check reads besides the pods: the failing pods'
    last log lines and their Warning events. Optional (Check.optional_permissions): the check runs without
    them and its diagnosis says what it could not read; `gate rbac check` and the rendered Role name them."""
    return [Permission("get", "pods/log", "", namespace), Permission("list", "events", "", namespace)]


def failing_pods(pods: list[dict]) -> list[tuple[dict, str, str, str | None]]:
    """(pod, kind, reason, container) for each pod that is not Ready (finished pods ignored), crash loops first."""
    bad = [(p, *diagnose(p)) for p in pods if (p.get("status") or {}).get("phase") != "Succeeded"
           and not is_ready(p)]
    return sorted(bad, key=lambda b: {"crash": 0, "image": 1}.get(b[1], 2))


def log_container(pod: dict, container: str | None) -> str | None:
    """The container whose log tells the story: the named one, else the first with a problem, else the first."""
    if container:
        return container
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    named = next((c.get("name") for c in statuses if _container_problem(c)), None)
    return named or next((c.get("name") for c in (pod.get("spec") or {}).get("containers") or []), None)


def crashed_before(pod: dict, container: str | None) -> bool:
    """Did this container terminate before (so `--previous` has a log)?"""
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container and (cs.get("lastState") or {}).get("terminated"):
            return True
    return False


class PodsCheck(Check):
    kind = "pods"
    summary = ("Pods matching a label selector are Ready (all of them, or at least `min_ready`); a running "
               "Job or hook pod (restartPolicy Never/OnFailure) is not, until it Succeeds.")
    segments: ClassVar[dict[str, str]] = {"namespace": "label"}
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["namespace"],
        "properties": {
            "namespace": {"type": "string", "minLength": 1},
            "selector": {"type": "string", "description": "label selector, as kubectl -l"},
            "field_selector": {"type": "string",
                               "description": "field selector, as kubectl --field-selector"},
            "min_ready": {"type": "integer", "minimum": 1,
                          "description": "at least this many Ready (default: all matched, at least 1)"},
        },
    }

    @property
    def namespace(self) -> str:
        return self.params["namespace"]

    def default_name(self) -> str:
        selector = self.params.get("selector")
        return f"Pods ready in {self.params.get('namespace')}" + (f" ({selector})" if selector else "")

    def ident(self) -> str:
        selector = self.params.get("selector")
        return f"{self.namespace}.{slug(selector)}" if selector else self.namespace

    def permissions(self) -> list[Permission]:
        return [Permission("list", "pods", "", self.namespace)]

    def optional_permissions(self) -> list[Permission]:
        return evidence_permissions(self.namespace)

    def evidence_scope(self) -> tuple[str, str | None, str | None]:
        """(namespace, label selector, field selector) of the pods a failure's diagnosis looks at."""
        return self.namespace, self.params.get("selector"), self.params.get("field_selector")

    def observe(self, clients: Clients) -> Observation:
        view = clients.need_view()
        pods = view.list(PODS, self.namespace, self.params.get("selector"), self.params.get("field_selector"))
        ready, not_ready = [], []
        for p in pods:
            if (p.get("status") or {}).get("phase") != "Succeeded":  # finished Job pods are ignored
                (ready if is_ready(p) else not_ready).append(p)
        matched = len(ready) + len(not_ready)
        bad = [(p, *diagnose(p)) for p in not_ready]
        min_ready = self.params.get("min_ready")
        if min_ready:
            ok = len(ready) >= min_ready
            expected = f">= {min_ready} Ready"
        else:
            ok = matched > 0 and len(ready) == matched
            expected = f"all Ready ({matched})" if matched else "all Ready (at least 1 pod)"
        # only the lines shown: each names its pod (meta_name registers it as a name, gate.redact)
        evidence = [f"{meta_name(p)}: {reason}" for p, _, reason, _ in bad[:MAX_EVIDENCE]]
        total = len(bad)
        if not matched:
            where = f" with selector {self.params['selector']}" if self.params.get("selector") else ""
            evidence, total = [f"no pods in namespace {self.namespace}{where}"], 1
        return Observation(ok=ok, observed=f"{len(ready)}/{matched} pods Ready", expected=expected,
                           evidence=capped(evidence, total=total), hint="" if ok else self._hint(bad))

    def _hint(self, bad: list[tuple[dict, str, str, str | None]]) -> str:
        if not bad:
            return (f"No pods matched: check the selector with "
                    f"kubectl get pods -n {self.namespace} --show-labels")
        pod, kind, _, container = next((b for b in bad if b[1] == "crash"), bad[0])
        name = (pod.get("metadata") or {}).get("name")
        if kind == "crash":
            target = f"{name} -c {container}" if container else name
            return f"Read the crash: kubectl logs -n {self.namespace} {target} --previous"
        return f"See why: kubectl describe pod -n {self.namespace} {name}"
