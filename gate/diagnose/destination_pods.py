"""`gate diagnose` in the clusters Argo CD deploys to: the failing pods of a Stage's Applications.

The pipeline (Stages, Promotions, verifications, controllers) is read in the control plane. An
Application whose destination is another cluster (`spec.destination.server`/`.name`, found through
Argo CD's cluster Secret as `cluster: {from_app: ...}` finds it, gate/cluster/destinations.py) has its
pods, their logs and Warning events read in that cluster, never in the control plane: the same pod
leaves as a failing `verify` (gate/diagnose/workload.py) then explain them. A destination that cannot
be read is named in `unread`.
"""

from __future__ import annotations

from typing import Any

from gate import redact
from gate.diagnose.gather import Namespaces
from gate.diagnose.view import View
from gate.errors import GateError


def read_destinations(kube: Any, ns: Namespaces, views: list[View]) -> None:
    """For each view, the first remote Application with pods that are not Ready: those pods (view.pods),
    their logs and events, read in its destination cluster."""
    from gate.cluster.destinations import ClusterRef, is_in_cluster, resolve
    from gate.diagnose.attach import read_pods

    for view in views:
        for app in view.apps:
            meta, dest = app.get("metadata") or {}, (app.get("spec") or {}).get("destination") or {}
            target_ns = dest.get("namespace")
            if not target_ns or is_in_cluster(dest.get("server"), dest.get("name")) or \
                    not (dest.get("server") or dest.get("name")):
                continue
            ref = ClusterRef("from_app", f"{meta.get('namespace') or ns.argocd}/{meta.get('name')}")
            where = dest.get("name") or dest.get("server")
            try:
                cluster = resolve([ref], kube, {"argocd_namespace": ns.argocd})[ref.key]
            except GateError as exc:  # credentials this image cannot use: named, not fatal to a diagnosis
                view.unread[f"pods/{where}:{target_ns}"] = redact.cut(str(exc), 300)
                continue
            if cluster.error is not None or cluster.kube is None:
                view.unread[f"pods/{where}:{target_ns}"] = redact.cut(str(cluster.error), 300)
                continue
            read_pods(cluster.kube, view, target_ns, None, None)
            if view.pods:
                view.pods_in = cluster  # the fix lines name it
                view.failed_check = f"[{cluster.label}] pods of Application {meta.get('name')}"
                break
