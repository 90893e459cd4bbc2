"""The Kubernetes resource kinds the gate reads, by the paths the API server serves them on."""

from __future__ import annotations

from dataclasses import dataclass


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
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
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

ALL = [PODS, SERVICES, SECRETS, PVCS, EVENTS, NAMESPACES, DEPLOYMENTS, STATEFULSETS, DAEMONSETS,
       INGRESSES, CRDS, APPLICATIONS, ANALYSISRUNS, ANALYSISTEMPLATES, STAGES, FREIGHTS, PROMOTIONS,
       PROJECTS, WAREHOUSES]
