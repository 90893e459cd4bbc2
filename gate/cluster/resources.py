"""The Kubernetes resource kinds the gate reads, by the paths the API server serves them on.

Every name that becomes a path segment (namespace, Kargo project, Stage, Freight, object names) is
checked first: a namespace is a DNS-1123 label, an object name a DNS-1123 subdomain (apimachinery
pkg/util/validation/validation.go, IsDNS1123Label / IsDNS1123Subdomain; Kargo Projects are namespaces).
A value that is not is a ConfigError (exit 2) naming it; one that is is still percent-escaped, so no
value can climb out of its segment (`../x?y#z` never reaches `/apis/kargo.akuity.io/v1alpha1/x`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

from gate.errors import ConfigError

_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
DNS_LABEL = re.compile(rf"^{_LABEL}$")
DNS_SUBDOMAIN = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")


def check_name(value: object, what: str, *, label: bool = False, key: str | None = None) -> str:
    """`value` if it is a DNS-1123 label (`label`) or subdomain, else ConfigError naming `what`."""
    text = value if isinstance(value, str) else ""
    pattern, limit, kind = (DNS_LABEL, 63, "DNS-1123 label") if label else \
        (DNS_SUBDOMAIN, 253, "DNS-1123 subdomain")
    if not pattern.match(text) or len(text) > limit:
        raise ConfigError(
            f"{value!r} is not a valid {what}: expected a {kind} (lowercase letters, digits, '-'"
            + ("" if label else " and '.'") + f", starting and ending with a letter or digit, at most "
            f"{limit} characters)", key=key)
    return text


def check_segments(params: dict, rules: dict[str, str]) -> None:
    """For a check's constructor: the params that become path segments are valid names. `rules` maps a
    param to "label", "subdomain" or "ref" (namespace/name); a list param is checked item by item.
    Raises ValueError, which the spec loader reports with the file, line and key path (exit 2)."""
    for key, rule in rules.items():
        value = params.get(key)
        what = key[:-1] if isinstance(value, list) and key.endswith("s") else key  # names: one name
        for item in value if isinstance(value, list) else [] if value is None else [value]:
            if isinstance(item, str) and "${" in item:
                continue  # a placeholder left for later (render --offline): checked once substituted
            try:
                if rule == "ref":
                    namespace, _, name = item.partition("/") if isinstance(item, str) else ("", "", "")
                    check_name(namespace, f"{what} namespace", label=True)
                    check_name(name, f"{what} name")
                else:
                    check_name(item, what, label=rule == "label")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None


def segment(value: object, what: str, *, label: bool = False, key: str | None = None) -> str:
    """A checked name, percent-escaped for use as one URL path segment."""
    return quote(check_name(value, what, label=label, key=key), safe="")


@dataclass(frozen=True)
class Resource:
    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def display(self) -> str:
        """`pods`, `deployments.apps`, `applications.argoproj.io`: what kubectl and RBAC say."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{segment(namespace, 'namespace', label=True)}"
        base += f"/{self.plural}"
        if name:
            base += f"/{segment(name, f'{self.kind} name')}"
        return base


PODS = Resource("", "v1", "pods", "Pod")
SERVICES = Resource("", "v1", "services", "Service")
SECRETS = Resource("", "v1", "secrets", "Secret")
PVCS = Resource("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
EVENTS = Resource("", "v1", "events", "Event")
NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
STATEFULSETS = Resource("apps", "v1", "statefulsets", "StatefulSet")
DAEMONSETS = Resource("apps", "v1", "daemonsets", "DaemonSet")
INGRESSES = Resource("networking.k8s.io", "v1", "ingresses", "Ingress")
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                namespaced=False)
APPLICATIONS = Resource("argoproj.io", "v1alpha1", "applications", "Application")
ANALYSISRUNS = Resource("argoproj.io", "v1alpha1", "analysisruns", "AnalysisRun")
ANALYSISTEMPLATES = Resource("argoproj.io", "v1alpha1", "analysistemplates", "AnalysisTemplate")
STAGES = Resource("kargo.akuity.io", "v1alpha1", "stages", "Stage")
FREIGHTS = Resource("kargo.akuity.io", "v1alpha1", "freights", "Freight")
PROMOTIONS = Resource("kargo.akuity.io", "v1alpha1", "promotions", "Promotion")
PROJECTS = Resource("kargo.akuity.io", "v1alpha1", "projects", "Project", namespaced=False)
WAREHOUSES = Resource("kargo.akuity.io", "v1alpha1", "warehouses", "Warehouse")
PROMOTIONTASKS = Resource("kargo.akuity.io", "v1alpha1", "promotiontasks", "PromotionTask")
CLUSTERPROMOTIONTASKS = Resource("kargo.akuity.io", "v1alpha1", "clusterpromotiontasks", "ClusterPromotionTask",
                                 namespaced=False)
APPLICATIONSETS = Resource("argoproj.io", "v1alpha1", "applicationsets", "ApplicationSet")
CLUSTERANALYSISTEMPLATES = Resource("argoproj.io", "v1alpha1", "clusteranalysistemplates",
                                    "ClusterAnalysisTemplate", namespaced=False)
JOBS = Resource("batch", "v1", "jobs", "Job")
SERVICEACCOUNTS = Resource("", "v1", "serviceaccounts", "ServiceAccount")
RBAC_GROUP = "rbac.authorization.k8s.io"
ROLES = Resource(RBAC_GROUP, "v1", "roles", "Role")
ROLEBINDINGS = Resource(RBAC_GROUP, "v1", "rolebindings", "RoleBinding")
CLUSTERROLES = Resource(RBAC_GROUP, "v1", "clusterroles", "ClusterRole", namespaced=False)
CLUSTERROLEBINDINGS = Resource(RBAC_GROUP, "v1", "clusterrolebindings", "ClusterRoleBinding", namespaced=False)

ALL = [PODS, SERVICES, SECRETS, PVCS, EVENTS, NAMESPACES, DEPLOYMENTS, STATEFULSETS, DAEMONSETS,
       INGRESSES, CRDS, APPLICATIONS, ANALYSISRUNS, ANALYSISTEMPLATES, STAGES, FREIGHTS, PROMOTIONS,
       PROJECTS, WAREHOUSES]
