"""`workloads`: Deployments, StatefulSets and DaemonSets are Healthy by Argo CD's built-in rules.

The rules are gitops-engine's `pkg/health` ones (notes/argo.md §3), so the gate and Argo CD agree on
what "ready" means; only Healthy counts as ready (Suspended, a paused Deployment, is not). Read against
argo-cd v3.5.1 gitops-engine/pkg/health (the same in argoproj/gitops-engine 5baed56): health.go:70-76
(deletionTimestamp: Progressing), health_deployment.go:28-70, health_statefulset.go:28-73,
health_daemonset.go:28-57.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from gate.checks.base import Check, Clients
from gate.checks.pods import capped, condition, evidence_permissions, shown_name, slug

from gate.cluster import named, projection
from gate.cluster.kube import Permission
from gate.cluster.resources import DAEMONSETS, DEPLOYMENTS, STATEFULSETS, Resource
from gate.model import Observation

HEALTHY, PROGRESSING, DEGRADED, SUSPENDED = "Healthy", "Progressing", "Degraded", "Suspended"
Health = tuple[str, str]


def _gen(obj: dict) -> tuple[int, int]:
    return (obj.get("metadata") or {}).get("generation", 0), (obj.get("status") or {}).get(
        "observedGeneration", 0)


def deployment_health(obj: dict) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if spec.get("paused"):
        return SUSPENDED, "Deployment is paused"
    generation, observed = _gen(obj)
    if generation > observed:
        return PROGRESSING, "Waiting for rollout to finish: observed deployment generation less than desired"
    progressing = condition(obj, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        detail = progressing.get("message")
        return DEGRADED, "exceeded its progress deadline" + (f" ({detail})" if detail else "")
    replicas, updated = spec.get("replicas"), status.get("updatedReplicas", 0)
    if replicas is not None and updated < replicas:
        return PROGRESSING, f"Waiting for rollout to finish: {updated} out of {replicas} new replicas updated"
    if status.get("replicas", 0) > updated:
        old = status.get("replicas", 0) - updated
        return PROGRESSING, f"Waiting for rollout to finish: {old} old replicas are pending termination"
    available = status.get("availableReplicas", 0)
    if available < updated:
        return PROGRESSING, f"Waiting for rollout to finish: {available}/{updated} updated replicas available"
    return HEALTHY, ""


def statefulset_health(obj: dict) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    generation, observed = _gen(obj)
    if observed == 0 or generation > observed:
        return PROGRESSING, "Waiting for statefulset spec update to be observed"
    replicas, ready = spec.get("replicas"), status.get("readyReplicas", 0)
    if replicas is not None and ready < replicas:
        return PROGRESSING, f"Waiting for {replicas - ready} pods to be ready ({ready}/{replicas} ready)"
    strategy = spec.get("updateStrategy") or {}
    if strategy.get("type") == "RollingUpdate" and strategy.get("rollingUpdate") is not None:
        partition = strategy["rollingUpdate"].get("partition")
        if replicas is not None and partition is not None:
            updated = status.get("updatedReplicas", 0)
            if updated < replicas - partition:
                return PROGRESSING, (f"Waiting for partitioned roll out to finish: {updated} out of "
                                     f"{replicas - partition} new pods have been updated")
        return HEALTHY, ""
    if strategy.get("type") == "OnDelete":
        return HEALTHY, ""
    if status.get("updateRevision") != status.get("currentRevision"):
        updated, revision = status.get("updatedReplicas", 0), status.get("updateRevision")
        return PROGRESSING, f"waiting for rolling update to complete: {updated} pods at revision {revision}"
    return HEALTHY, ""


def daemonset_health(obj: dict) -> Health:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    generation, observed = _gen(obj)
    if generation > observed:
        return PROGRESSING, "Waiting for rollout to finish: observed daemon set generation less than desired"
    if (spec.get("updateStrategy") or {}).get("type") == "OnDelete":
        return HEALTHY, ""
    desired = status.get("desiredNumberScheduled", 0)
    updated, available = status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0)
    if updated < desired:
        return PROGRESSING, f"Waiting for rollout to finish: {updated} out of {desired} new pods updated"
    if available < desired:
        return PROGRESSING, f"Waiting for rollout to finish: {available} of {desired} updated pods available"
    return HEALTHY, ""


KINDS: dict[str, tuple[Resource, Callable[[dict], Health]]] = {
    "Deployment": (DEPLOYMENTS, deployment_health),
    "StatefulSet": (STATEFULSETS, statefulset_health),
    "DaemonSet": (DAEMONSETS, daemonset_health),
}

# What the *_health() functions read of a listed workload (gate.cluster.projection): not the pod template.
for _res, _ in KINDS.values():
    projection.declare(_res, {"spec": {"paused": True, "replicas": True, "updateStrategy": True,
                                       "selector": True}, "status": True})


def pod_selector(obj: dict) -> str | None:
    """The workload's `spec.selector` as a label selector string (`k=v`, `k in (a,b)`, `k notin (a)`, `k`,
    `!k`): the pods it owns, for the diagnosis of its failure. None when it has none to offer."""
    selector = (obj.get("spec") or {}).get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), ",".join(expr.get("values") or [])
        parts.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": f"{key}",
                      "DoesNotExist": f"!{key}"}.get(op, ""))
    return ",".join(parts) if parts and all(parts) else None


def health(kind: str, obj: dict) -> Health:
    if (obj.get("metadata") or {}).get("deletionTimestamp"):
        return PROGRESSING, "Pending deletion"
    return KINDS[kind][1](obj)


class WorkloadsCheck(Check):
    kind = "workloads"
    summary = "Deployments, StatefulSets and DaemonSets are Healthy by Argo CD's rules (paused = not ready)."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["namespace"],
        "properties": {
            "namespace": {"type": "string", "minLength": 1},
            "selector": {"type": "string", "description": "label selector, as kubectl -l"},
            "kinds": {"type": "array", "minItems": 1, "uniqueItems": True,
                      "items": {"enum": list(KINDS)}},
            "names": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "allow_empty": {"type": "boolean", "description": "pass when nothing matches (default false)"},
        },
    }

    segments: ClassVar[dict[str, str]] = {"namespace": "label", "names": "subdomain"}

    @property
    def namespace(self) -> str:
        return self.params["namespace"]

    def by_name(self) -> bool:
        """`names:` without a selector: each name read by name, kind by kind (gate.cluster.named)."""
        return bool(self.params.get("names")) and not self.params.get("selector")

    @property
    def kinds(self) -> list[str]:
        return list(self.params.get("kinds") or KINDS)

    def default_name(self) -> str:
        what = "Workloads" if not self.params.get("kinds") else "/".join(self.params["kinds"]) + "s"
        suffix = self.params.get("selector") or ", ".join(self.params.get("names") or [])
        return f"{what} ready in {self.params.get('namespace')}" + (f" ({suffix})" if suffix else "")

    def ident(self) -> str:
        extra = self.params.get("selector") or ",".join(self.params.get("names") or [])
        return f"{self.namespace}.{slug(extra)}" if extra else self.namespace

    def permissions(self) -> list[Permission]:
        if self.by_name():
            return [p for k in self.kinds for p in named.permissions(KINDS[k][0], self.params["names"],
                                                                      self.namespace)]
        return [Permission("list", KINDS[k][0].plural, KINDS[k][0].group, self.namespace) for k in self.kinds]

    def optional_permissions(self) -> list[Permission]:
        # only a failure's diagnosis reads pods (those of the first workload not Healthy), logs and events
        return [Permission("list", "pods", "", self.namespace), *evidence_permissions(self.namespace)]

    def evidence_scope(self) -> tuple[str, str | None, str | None]:
        """(namespace, label selector, field selector) of the pods a failure's diagnosis looks at: those of
        the first workload that was not Healthy in the last observation (the namespace's, when none was)."""
        return self.namespace, self._pods_of_first_bad, None

    _pods_of_first_bad: str | None = None

    def observe(self, clients: Clients) -> Observation:
        view = clients.need_view()
        names = self.params.get("names")
        found: list[tuple[str, dict]] = []
        for kind in self.kinds:
            if self.by_name():
                found += [(kind, obj) for obj in view.named(KINDS[kind][0], names, self.namespace).values() if obj]
                continue
            for obj in view.list(KINDS[kind][0], self.namespace, self.params.get("selector")):
                if not names or (obj.get("metadata") or {}).get("name") in names:
                    found.append((kind, obj))
        evidence: list[str] = []
        ready = 0
        first_bad: tuple[str, dict] | None = None  # (kind, object) of the first workload not Healthy
        for kind, obj in found:
            code, message = health(kind, obj)
            if code == HEALTHY:
                ready += 1
            else:
                first_bad = first_bad or (kind, obj)
                name = shown_name(obj)
                line = f"{kind} {self.namespace}/{name}: {code}"
                evidence.append(f"{line}: {message}" if message else line)
        seen = {(obj.get("metadata") or {}).get("name") for _, obj in found}
        missing = [n for n in names or [] if n not in seen]
        evidence += [f"{self.namespace}/{n}: not found ({'/'.join(self.kinds)})" for n in missing]
        total = len(found) + len(missing)
        empty_ok = bool(self.params.get("allow_empty")) and not names
        ok = ready == total and (total > 0 or empty_ok)
        selector = self.params.get("selector")
        if total == 0:
            where = f" with selector {selector}" if selector else ""
            evidence.append(f"no {'/'.join(self.kinds)} in namespace {self.namespace}{where}")
        expected = f"all ready ({total})" if total else (
            "none required" if empty_ok else "all ready (at least 1)")
        self._pods_of_first_bad = pod_selector(first_bad[1]) if first_bad else None
        hint = ""
        if not ok and first_bad:
            kind, obj = first_bad
            hint = (f"See the rollout: kubectl rollout status -n {self.namespace} "
                    f"{kind.lower()}/{(obj.get('metadata') or {}).get('name')}")
        return Observation(ok=ok, observed=f"{ready}/{total} workloads ready", expected=expected,
                           evidence=capped(evidence), hint=hint)
