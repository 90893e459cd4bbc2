"""`gate lint --cluster`: the live objects of a project, read through the Kubernetes API (read-only)."""

from __future__ import annotations

from gate.cluster import resources as R
from gate.cluster.kube import KindNotServed, KubeClient
from gate.cluster.resources import Resource
from gate.errors import PermissionDenied
from gate.lint.manifests import Manifest, Problem
from gate.spec.yamlpos import Positions

PROJECT_KINDS = (R.WAREHOUSES, R.STAGES, R.PROMOTIONTASKS, R.PROMOTIONS, R.ANALYSISTEMPLATES, R.SERVICEACCOUNTS,
                 R.ROLES, R.ROLEBINDINGS)
ARGOCD_KINDS = (R.APPLICATIONS, R.APPLICATIONSETS)
CLUSTER_KINDS = (R.CLUSTERPROMOTIONTASKS, R.CLUSTERANALYSISTEMPLATES, R.CLUSTERROLEBINDINGS, R.CLUSTERROLES)
_SERVER_FIELDS = ("status",)
# Without the Stages there is nothing to lint: a refusal is exit 3. Any other kind that may not be listed
# is skipped with a note (and an info finding naming the rules it leaves unchecked).
REQUIRED = {"stages"}
UNCHECKED = {
    "warehouses": "freight-source-undefined", "promotiontasks": "argocd-update rules for task steps",
    "promotions": "promotion-in-git", "analysistemplates": "verification rules",
    "clusteranalysistemplates": "verification rules", "clusterpromotiontasks": "argocd-update rules for task steps",
    "applications": "app-authorized-stage, app-auto-sync", "applicationsets": "appset rules, app rules for "
    "generated apps",
}


def _manifest(res: Resource, obj: dict) -> Manifest:
    obj = {k: v for k, v in obj.items() if k not in _SERVER_FIELDS}
    obj.setdefault("kind", res.kind)
    obj.setdefault("apiVersion", res.api_version)
    meta = obj.get("metadata") or {}
    ref = "/".join(p for p in (res.kind, meta.get("namespace") or "", meta.get("name") or "") if p)
    return Manifest(obj, f"cluster:{ref}", Positions({(): 1}))


def read(kube: KubeClient, project: str, argocd_namespace: str) -> tuple[list[Manifest], list[Problem]]:
    """(objects, notes): a kind the cluster does not serve, or that may not be listed (but Stages), is a
    note, not an error; the notes of refused kinds become info findings and silence the rules that need
    the kind."""
    out: list[Manifest] = []
    notes: list[Problem] = []
    plan = [(r, project) for r in PROJECT_KINDS] + [(r, argocd_namespace) for r in ARGOCD_KINDS]
    plan += [(r, None) for r in CLUSTER_KINDS]
    for res, namespace in plan:
        try:
            out += [_manifest(res, obj) for obj in kube.list(res, namespace)]
        except KindNotServed:
            notes.append(Problem("", "cluster:", 1, f"{res.display} is not served by this cluster"))
        except PermissionDenied:
            if res.plural in REQUIRED:
                raise
            where = f" in {namespace}" if namespace else ""
            notes.append(Problem("cluster-not-read", "cluster:", 1, f"may not list {res.display}{where}: skipped, "
                                 f"so {UNCHECKED.get(res.plural, 'verification RBAC rules')} not checked", res.kind))
    return out, notes
