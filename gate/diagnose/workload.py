"""The leaves below a Stage: a failing gate's own pods (crash loop, image pull, Pending, not Ready).

`gate diagnose` reads the pipeline (Stages, Promotions, verifications, controllers); a failing `verify` also
knows which pods its check found not Ready. These rules read those pods, the last lines of their logs
(`--previous` for a crash loop: the log of the run that died) and their Warning events, and come before
the Stage's own tree, because they explain the failing check directly. Same Rule/Diagnosis shape as
gate/diagnose/tree.py, so the DIAGNOSIS block, the JSON and the JUnit print them the same way.
"""

from __future__ import annotations

from gate import redact
from gate.checks.pods import diagnose as pod_problem
from gate.checks.pods import log_container
from gate.diagnose.tree import CAUSES, GOTCHAS, LOW, Diagnosis, Rule, _diagnosis
from gate.diagnose.view import View

GUIDE_PODS = "references/argocd-troubleshooting.md (Degraded: pod logs, events); kubernetes kubectl logs --previous"
LOG_LINES_SHOWN = 20


def _bad(v: View, *kinds: str) -> list[dict]:
    return [p for p in v.pods if pod_problem(p)[0] in kinds]


def _first(v: View, *kinds: str) -> dict:
    return (_bad(v, *kinds) or [{}])[0]


def _where(pod: dict) -> tuple[str, str]:
    """The pod's namespace and name, kept whole in the DIAGNOSIS (and its fix lines) even where a short
    secret value is part of them (redact.register_identifier: names read from the cluster are not secret)."""
    meta = pod.get("metadata") or {}
    for ref in meta.get("ownerReferences") or []:  # its workload, as the verify line names it (_verify)
        name = str(ref.get("name") or "")
        redact.register_identifier(name.rsplit("-", 1)[0] if ref.get("kind") == "ReplicaSet" else name)
    for part in (meta.get("namespace"), meta.get("name")):
        redact.register_identifier(part)
    return meta.get("namespace") or "", meta.get("name") or ""


def _container(pod: dict) -> str | None:
    return log_container(pod, pod_problem(pod)[2])


def _log_key(pod: dict) -> str:
    ns, name = _where(pod)
    return f"{ns}/{name}/{_container(pod)}"


def _log_lines(v: View, pod: dict) -> list[str]:
    return [ln for ln in (v.pod_logs.get(_log_key(pod)) or "").splitlines() if ln.strip()]


def _owner_rollout(pod: dict) -> str:
    """`kubectl rollout status` for the pod's controller (ReplicaSet -> its Deployment), else a pod watch."""
    ns, name = _where(pod)
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("kind") == "ReplicaSet" and "-" in ref.get("name", ""):
            return f"kubectl rollout status deployment/{ref['name'].rsplit('-', 1)[0]} -n {ns} --timeout=5m"
        if ref.get("kind") in ("StatefulSet", "DaemonSet"):
            return f"kubectl rollout status {ref['kind'].lower()}/{ref['name']} -n {ns} --timeout=5m"
    return f"kubectl get pod {name} -n {ns} -w"


def pod_evidence(v: View, pod: dict) -> list[str]:
    """The pod's state, its last log lines (saying whether from --previous) and its Warning events."""
    ns, name = _where(pod)
    _, reason, _ = pod_problem(pod)
    lines = [f"Pod {ns}/{name}: {reason}" + (f" (check: {v.failed_check})" if v.failed_check else "")]
    key = _log_key(pod)
    logs = _log_lines(v, pod)
    if logs:
        how = "--previous, the run that died" if key in v.pod_logs_previous else "current"
        lines.append(f"last {len(logs[-LOG_LINES_SHOWN:])} log lines of {key} ({how}):"
                     + "".join(f"\n      | {ln}" for ln in logs[-LOG_LINES_SHOWN:]))
    elif f"log/{key}" in v.unread:
        lines.append(f"log of {key}: could not be read ({v.unread[f'log/{key}']})")
    if f"events/{ns}" in v.unread:  # never read "could not list" as "no events"
        lines.append(f"Warning events in namespace {ns}: could not be read ({v.unread[f'events/{ns}']})")
    for ev in v.pod_events:
        obj = ev.get("involvedObject") or {}
        if obj.get("name") == name:
            lines.append(f"Event {ev.get('reason')} x{ev.get('count') or 1} on Pod {name} "
                         f"({ev.get('lastTimestamp') or ev.get('eventTime') or ''}): {ev.get('message', '')}")
    return lines


def _last_line(v: View, pod: dict) -> str:
    logs = _log_lines(v, pod)
    return f"; its log ends: {logs[-1].strip()[:300]}" if logs else ""


def _crash_fix(v: View) -> list[str]:
    pod = _first(v, "crash")
    ns, name = _where(pod)
    container = _container(pod)
    fix = [f"kubectl logs {name} -n {ns}" + (f" -c {container}" if container else "") + " --previous --tail=100",
           f"kubectl describe pod {name} -n {ns}"]
    if "OOMKilled" in pod_problem(pod)[1]:
        fix.append(f"raise resources.limits.memory of container {container} in git; let Argo CD sync it")
    else:
        fix.append("fix what the log names (configuration, a volume's permissions, a dependency) in git; "
                   "let Argo CD sync it")
    return fix


WORKLOAD: list[Rule] = [
    Rule(
        id="pod-crashloop", branch="below the Stage: a pod of the failing check crash-loops",
        when=lambda v: bool(_bad(v, "crash")),
        cause=lambda v: f"pod {'/'.join(_where(_first(v, 'crash')))} crash-loops: {pod_problem(_first(v, 'crash'))[1]}"
                        + _last_line(v, _first(v, "crash")),
        evidence=lambda v: [ln for p in _bad(v, "crash")[:2] for ln in pod_evidence(v, p)],
        fix=_crash_fix,
        verify=lambda v: _owner_rollout(_first(v, "crash")),
        risk=LOW, ref=GUIDE_PODS + "; gitops-engine pkg/health/health_pod.go",
    ),
    Rule(
        id="pod-image-pull", branch="below the Stage: an image cannot be pulled",
        when=lambda v: bool(_bad(v, "image")),
        cause=lambda v: f"pod {'/'.join(_where(_first(v, 'image')))} cannot start: "
                        f"{pod_problem(_first(v, 'image'))[1]}",
        evidence=lambda v: [ln for p in _bad(v, "image")[:2] for ln in pod_evidence(v, p)],
        fix=lambda v: [f"kubectl describe pod {_where(_first(v, 'image'))[1]} -n {_where(_first(v, 'image'))[0]}",
                       "check the image name and tag exist in the registry, and the pod's imagePullSecrets; "
                       "fix them in git; let Argo CD sync it"],
        verify=lambda v: _owner_rollout(_first(v, "image")),
        risk=LOW, ref=GUIDE_PODS,
    ),
    Rule(
        id="pod-pending", branch="below the Stage: a pod is not scheduled",
        when=lambda v: bool(_bad(v, "pending")),
        cause=lambda v: f"pod {'/'.join(_where(_first(v, 'pending')))} is {pod_problem(_first(v, 'pending'))[1]}",
        evidence=lambda v: [ln for p in _bad(v, "pending")[:2] for ln in pod_evidence(v, p)],
        fix=lambda v: [f"kubectl describe pod {_where(_first(v, 'pending'))[1]} -n {_where(_first(v, 'pending'))[0]}",
                       "free or add capacity, or fix the pod's requests, node selector, tolerations or PVC"],
        verify=lambda v: _owner_rollout(_first(v, "pending")),
        risk=LOW, ref=GUIDE_PODS,
    ),
    Rule(
        id="pod-not-ready", branch="below the Stage: a pod is not Ready",
        when=lambda v: bool(v.pods),
        cause=lambda v: f"pod {'/'.join(_where(v.pods[0]))} is {pod_problem(v.pods[0])[1]}" + _last_line(v, v.pods[0]),
        evidence=lambda v: [ln for p in v.pods[:2] for ln in pod_evidence(v, p)],
        fix=lambda v: [f"kubectl describe pod {_where(v.pods[0])[1]} -n {_where(v.pods[0])[0]}",
                       f"kubectl logs {_where(v.pods[0])[1]} -n {_where(v.pods[0])[0]} --tail=100",
                       "fix what the readiness probe or the log names, in git"],
        verify=lambda v: _owner_rollout(v.pods[0]),
        risk=LOW, ref=GUIDE_PODS,
    ),
]


def _in_their_cluster(found: Diagnosis, view: View) -> Diagnosis:
    """A pod leaf's kubectl lines aimed at the cluster its pods were read in (a destination: `kubectl
    --context CTX`, or `in cluster NAME (SERVER):`), so a copied line does not run against the wrong one."""
    if view.pods_in is not None:
        found.fix = [view.pods_in.kubectl(line) for line in found.fix]
        found.verify = view.pods_in.kubectl(found.verify)
    return found


def diagnose_failure(view: View) -> list[Diagnosis]:
    """A failing gate's diagnosis: the first pod rule that applies, then the Stage's tree (its first cause and
    every gotcha) when the Stage could be read. A source in `view.unread` is never read as empty: without
    the Stage, no Stage rule runs at all (the nuclear option would read "not read" as "not Ready")."""
    out: list[Diagnosis] = []
    pod_rule = next((r for r in WORKLOAD if r.when(view)), None)
    if pod_rule is not None:
        out.append(_in_their_cluster(_diagnosis(pod_rule, view, "root-cause"), view))
    if "stages" in view.unread:
        return out
    cause = next((r for r in CAUSES if r.when(view)), None)
    if cause is not None and not (pod_rule is not None and cause.id == "nuclear"):
        out.append(_diagnosis(cause, view, "root-cause"))
    out += [_diagnosis(r, view, "gotcha") for r in GOTCHAS if r.when(view)]
    return out


__all__ = ["WORKLOAD", "diagnose_failure", "pod_evidence"]
