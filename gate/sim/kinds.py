"""The resource types the simulated apiserver serves: built-in kinds, plus kinds defined by CRD objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ResourceType:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    short_names: tuple[str, ...] = ()
    singular: str = ""
    has_status: bool = True  # a status subresource
    schema: dict | None = None  # openAPIV3Schema for CRD-defined kinds
    categories: tuple[str, ...] = ()
    printer_columns: list[dict] = field(default_factory=list)
    selectable_fields: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    from_crd: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def display(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def discovery(self) -> list[dict[str, Any]]:
        """APIResource entries (the kind itself and its subresources) for an APIResourceList."""
        entry: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular or self.kind.lower(),
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            entry["shortNames"] = list(self.short_names)
        if self.categories:
            entry["categories"] = list(self.categories)
        out = [entry]
        if self.has_status and "list" in self.verbs:
            out.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        return out


def _t(
    group: str,
    version: str,
    plural: str,
    kind: str,
    namespaced: bool = True,
    short: tuple = (),
    status: bool = True,
    **kw: Any,
) -> ResourceType:
    return ResourceType(group, version, plural, kind, namespaced, tuple(short), has_status=status, **kw)


BUILTIN: list[ResourceType] = [
    _t("", "v1", "pods", "Pod", short=("po",), categories=("all",)),
    _t("", "v1", "services", "Service", short=("svc",), categories=("all",)),
    _t("", "v1", "secrets", "Secret", status=False),
    _t("", "v1", "configmaps", "ConfigMap", short=("cm",), status=False),
    _t("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",)),
    _t("", "v1", "persistentvolumes", "PersistentVolume", False, ("pv",)),
    _t("", "v1", "events", "Event", short=("ev",), status=False),
    _t("", "v1", "namespaces", "Namespace", False, ("ns",)),
    _t("", "v1", "nodes", "Node", False, ("no",)),
    _t("", "v1", "serviceaccounts", "ServiceAccount", short=("sa",), status=False),
    _t("", "v1", "endpoints", "Endpoints", short=("ep",), status=False),
    _t("apps", "v1", "deployments", "Deployment", short=("deploy",), categories=("all",)),
    _t("apps", "v1", "statefulsets", "StatefulSet", short=("sts",), categories=("all",)),
    _t("apps", "v1", "daemonsets", "DaemonSet", short=("ds",), categories=("all",)),
    _t("apps", "v1", "replicasets", "ReplicaSet", short=("rs",), categories=("all",)),
    _t("batch", "v1", "jobs", "Job", categories=("all",)),
    _t("batch", "v1", "cronjobs", "CronJob", short=("cj",), categories=("all",)),
    _t("networking.k8s.io", "v1", "ingresses", "Ingress", short=("ing",)),
    _t(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        False,
        ("crd", "crds"),
    ),
    _t("rbac.authorization.k8s.io", "v1", "roles", "Role", status=False),
    _t("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", status=False),
    _t("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False, status=False),
    _t("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False, status=False),
    _t(
        "authorization.k8s.io",
        "v1",
        "selfsubjectaccessreviews",
        "SelfSubjectAccessReview",
        False,
        status=False,
        verbs=("create",),
    ),
    _t(
        "authorization.k8s.io",
        "v1",
        "selfsubjectrulesreviews",
        "SelfSubjectRulesReview",
        False,
        status=False,
        verbs=("create",),
    ),
]

# Subresources served on top of the kind's own paths (besides status).
EXTRA_SUBRESOURCES = {
    ("", "pods"): [("pods/log", "Pod", ("get",))],
    ("", "services"): [("services/proxy", "Service", ("create", "delete", "get", "patch", "update"))],
}


def from_crd(crd: dict) -> list[ResourceType]:
    """One ResourceType per served version of a CustomResourceDefinition object."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    out = []
    for ver in spec.get("versions") or []:
        if not ver.get("served", True):
            continue
        columns = list(ver.get("additionalPrinterColumns") or [])
        selectable = tuple(f.get("jsonPath", "").lstrip(".") for f in ver.get("selectableFields") or [])
        out.append(
            ResourceType(
                group=spec.get("group", ""),
                version=ver["name"],
                plural=names.get("plural", ""),
                kind=names.get("kind", ""),
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                short_names=tuple(names.get("shortNames") or ()),
                singular=names.get("singular", ""),
                has_status="status" in (ver.get("subresources") or {}),
                schema=(ver.get("schema") or {}).get("openAPIV3Schema"),
                categories=tuple(names.get("categories") or ()),
                printer_columns=columns,
                selectable_fields=selectable,
                from_crd=True,
            )
        )
    return out


def storage_version(crd: dict) -> str | None:
    for ver in (crd.get("spec") or {}).get("versions") or []:
        if ver.get("storage"):
            return ver["name"]
    return None
