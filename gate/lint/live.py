"""`gate lint --cluster`: the live objects of a project, read through the Kubernetes API (read-only)."""

from __future__ import annotations

from gate.cluster import resources as R
from gate.cluster.kube import KindNotServed, KubeClient
from gate.cluster.resources import Resource
from gate.errors import PermissionDenied
from gate.lint.manifests import Manifest
from gate.spec.yamlpos import Positions

PROJECT_KINDS = (R.WAREHOUSES, R.STAGES, R.PROMOTIONTASKS, R.PROMOTIONS, R.ANALYSISTEMPLATES, R.SERVICEACCOUNTS,
                 R.ROLES, R.ROLEBINDINGS)
ARGOCD_KINDS = (R.APPLICATIONS, R.APPLICATIONSETS)
CLUSTER_KINDS = (R.CLUSTERPROMOTIONTASKS, R.CLUSTERANALYSISTEMPLATES, R.CLUSTERROLEBINDINGS, R.CLUSTERROLES)
_SERVER_FIELDS = ("status",)
# Without these only the RBAC rules go unchecked: a refusal is a note, not exit 3.
OPTIONAL = {"serviceaccounts", "roles", "rolebindings", "clusterroles", "clusterrolebindings"}


def _manifest(res: Resource, obj: dict) -> Manifest:
    obj = {k: v for k, v in obj.items() if k not in _SERVER_FIELDS}
    obj.setdefault("kind", res.kind)
    obj.setdefault("apiVersion", res.api_version)
    meta = obj.get("metadata") or {}
    ref = "/".join(p for p in (res.kind, meta.get("namespace") or "", meta.get("name") or "") if p)
    return Manifest(obj, f"cluster:{ref}", Positions({(): 1}))


def read(kube: KubeClient, project: str, argocd_namespace: str) -> tuple[list[Manifest], list[str]]:
    """(objects, notes): a kind the cluster does not serve is a note, not an error."""
    out: list[Manifest] = []
    notes: list[str] = []
    plan = [(r, project) for r in PROJECT_KINDS] + [(r, argocd_namespace) for r in ARGOCD_KINDS]
    plan += [(r, None) for r in CLUSTER_KINDS]
    for res, namespace in plan:
        try:
            out += [_manifest(res, obj) for obj in kube.list(res, namespace)]
        except KindNotServed:
            notes.append(f"{res.display} is not served by this cluster")
        except PermissionDenied:
            if res.plural not in OPTIONAL:
                raise
            notes.append(f"may not list {res.display}: verification RBAC rules not checked")
    return out, notes
