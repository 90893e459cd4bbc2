"""Load benchmark data into any Kubernetes API server: a real kube-apiserver, or the simulator.

    python benchmarks/load.py --kubeconfig K [--scenario healthy] [--apps N] [--pods N] [--named N]
                              [--workers 16]

- `--scenario NAME`: the objects of a simulator scenario (gate/sim/scenarios/NAME.yaml), its CRD sets first
  (the vendored Kargo, Argo CD and Rollouts CRDs), each object created, then its `status` written through
  the status subresource where the kind has one (a create drops it, as a real API server does).
- `--apps N`: N Argo CD Applications `app-{i}` in `argocd`, as their controller leaves them (synced,
  healthy, with resources, history and sync results: ~5 kB each).
- `--pods N`: N pods `svc-{i%20}-{i}` in `apps`, Running and Ready (a pod as a real API server stores
  it: managedFields, spec, full status), in 20 label groups `app=svc-{i%20}`.
- `--named N`: N distinct objects for a stage of N named checks: Secrets `bench-secret-{i}` and
  Deployments `bench-deploy-{i}` in `monitoring` (the Applications come from `--apps`).

Creates run on a pool of `--workers` threads (each create, then its status patch); an object that exists
already is left as it is (409), so loading twice is harmless. Needs a kubeconfig allowed to create
CRDs, namespaces and the objects (an admin's). Prints what it loaded and how long it took.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gate.cluster.kube import KubeClient, connect  # noqa: E402
from gate.sim import scenario as scen  # noqa: E402

DROP_META = ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink")


def pod_template() -> dict:
    """A pod as a real API server stores it: managedFields, a pod spec, a full status."""
    container = {
        "name": "app", "image": "registry.example/team/svc:1.2.{i%50}", "imagePullPolicy": "IfNotPresent",
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "env": [{"name": f"SETTING_{k}", "value": f"value-{k}-{{i}}"} for k in range(8)],
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}},
        "volumeMounts": [{"mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                          "name": "kube-api-access-{i}", "readOnly": True}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10},
        "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
    }
    conditions = [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-11-25T10:00:00Z"}
                  for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": "svc-{i%20}-{i:06d}", "namespace": "apps",
            "labels": {"app": "svc-{i%20}", "pod-template-hash": "7c9d8f6b5", "tier": "backend"},
            "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-25T09:00:00Z",
                            "prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "svc-{i%20}-7c9d8f6b5",
                                 "uid": "0000-{i%20}", "controller": True, "blockOwnerDeletion": True}],
            # what a real server keeps (the simulator serves it as written; load() drops it, the server
            # writes its own)
            "managedFields": [{"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kube-controller-manager",
                               "operation": "Update", "time": "2026-11-25T10:00:00Z",
                               "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                                            "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}}}}}},
                              {"apiVersion": "v1", "fieldsType": "FieldsV1", "manager": "kubelet",
                               "operation": "Update", "subresource": "status", "time": "2026-11-25T10:00:05Z",
                               "fieldsV1": {"f:status": {"f:conditions": {}, "f:containerStatuses": {},
                                                         "f:podIP": {}, "f:startTime": {}}}}],
        },
        "spec": {
            "containers": [container], "dnsPolicy": "ClusterFirst", "enableServiceLinks": True,
            "nodeName": "node-{i%40}", "restartPolicy": "Always", "schedulerName": "default-scheduler",
            "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
            "tolerations": [{"effect": "NoExecute", "key": "node.kubernetes.io/not-ready", "operator": "Exists",
                             "tolerationSeconds": 300}],
            "volumes": [{"name": "kube-api-access-{i}", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}]}}],
        },
        "status": {
            "phase": "Running", "conditions": conditions, "hostIP": "10.0.{i%40}.1", "podIP": "10.244.{i%250}.{i%200}",
            "podIPs": [{"ip": "10.244.{i%250}.{i%200}"}],
            "qosClass": "Burstable", "startTime": "2026-11-25T10:00:00Z",
            "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "started": True,
                                   "image": "registry.example/team/svc:1.2.{i%50}",
                                   "imageID": "registry.example/team/svc@sha256:{i:064d}",
                                   "containerID": "containerd://{i:064d}",
                                   "state": {"running": {"startedAt": "2026-11-25T10:00:03Z"}}, "lastState": {}}],
        },
    }


def app_template() -> dict:
    """An Argo CD Application as its controller leaves it: synced, healthy, with history and resources."""
    resources = [{"group": g, "version": "v1", "kind": k, "namespace": "apps", "name": "app-{i}-" + k.lower(),
                  "status": "Synced", **({"health": {"status": "Healthy"}} if h else {})}
                 for g, k, h in (("", "Service", True), ("apps", "Deployment", True), ("", "ConfigMap", False),
                                 ("", "ServiceAccount", False), ("networking.k8s.io", "Ingress", True))]
    revision = "{i:040d}"
    source = {"repoURL": "https://git.example/team/app-{i}.git", "path": "deploy", "targetRevision": "main"}
    destination = {"server": "https://kubernetes.default.svc", "namespace": "apps"}
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "app-{i}", "namespace": "argocd", "labels": {"bench": "scale"},
                     "annotations": {"kargo.akuity.io/authorized-stage": "platform:dev"}},
        "spec": {"project": "default", "source": source, "destination": destination,
                 "syncPolicy": {"automated": {"prune": True, "selfHeal": True}}},
        "status": {
            "sync": {"status": "Synced", "revision": revision,
                     "comparedTo": {"source": source, "destination": destination}},
            "health": {"status": "Healthy"},
            "reconciledAt": "2026-11-25T10:05:00Z",
            "resources": resources,
            "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)",
                               "startedAt": "2026-11-25T10:00:00Z", "finishedAt": "2026-11-25T10:00:10Z",
                               "operation": {"sync": {"revision": revision}, "initiatedBy": {"automated": True}},
                               "syncResult": {"revision": revision, "source": source, "resources": [
                                   {**r, "message": "unchanged", "syncPhase": "Sync", "hookPhase": "Running"}
                                   for r in resources]}},
            "history": [{"id": n, "revision": revision, "source": source, "deployedAt": "2026-11-25T10:00:10Z",
                         "deployStartedAt": "2026-11-25T10:00:00Z"} for n in range(3)],
            "summary": {"images": ["registry.example/team/svc:1.2.{i%50}"]},
            "sourceType": "Directory",
        },
    }


def named_templates() -> list[dict]:
    """The distinct objects of the 40-check stage besides Applications: Secrets and Deployments."""
    secret = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
              "metadata": {"name": "bench-secret-{i}", "namespace": "monitoring"},
              "data": {"token": "YmVuY2gtdmFsdWU="}}
    labels = {"app": "bench-deploy-{i}"}
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment",
              "metadata": {"name": "bench-deploy-{i}", "namespace": "monitoring", "labels": labels},
              "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                       "template": {"metadata": {"labels": labels},
                                    "spec": {"containers": [{"name": "c", "image": "registry.example/c:1"}]}}},
              "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
                         "availableReplicas": 1,
                         "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                                        {"type": "Progressing", "status": "True",
                                         "reason": "NewReplicaSetAvailable"}]}}
    return [secret, deploy]


def generate(template: dict, count: int) -> list[dict]:
    return scen.generate({"count": count, "template": template}) if count else []


class Loader:
    """Creates objects through the API, kind -> path from the server's own discovery."""

    def __init__(self, kube: KubeClient, workers: int = 16) -> None:
        self.kube, self.workers = kube, workers
        self.paths: dict[tuple[str, str], tuple[str, bool, bool]] = {}  # (apiVersion, kind) -> (plural, ns, status)
        self.created = self.existed = 0
        self.failed: list[str] = []

    def discover(self) -> None:
        groups = [("v1", "/api/v1")]
        for group in self.kube.request("GET", "/apis").body.get("groups") or []:
            for version in group.get("versions") or []:
                groups.append((version["groupVersion"], f"/apis/{version['groupVersion']}"))
        for api_version, path in groups:
            resp = self.kube.request("GET", path)
            if resp.status != 200:
                continue
            names = {r["name"] for r in resp.body.get("resources") or []}
            for r in resp.body.get("resources") or []:
                if "/" not in r["name"]:
                    self.paths[(api_version, r["kind"])] = (r["name"], bool(r.get("namespaced")),
                                                            f"{r['name']}/status" in names)

    def path(self, obj: dict) -> tuple[str, bool]:
        """(collection path, has a status subresource) of obj's kind."""
        key = (obj["apiVersion"], obj["kind"])
        if key not in self.paths:
            self.discover()
        plural, namespaced, status = self.paths[key]
        base = f"/api/{obj['apiVersion']}" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
        ns = (obj.get("metadata") or {}).get("namespace")
        if namespaced:
            base += f"/namespaces/{ns or 'default'}"
        return f"{base}/{plural}", status

    def create(self, obj: dict) -> None:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        for key in DROP_META:  # what the server sets: a create that carries them is refused
            meta.pop(key, None)
        try:
            path, has_status = self.path(obj)
        except KeyError:
            self.failed.append(f"{obj['apiVersion']} {obj['kind']}: not served")
            return
        status = obj.get("status")
        resp = self.kube.request("POST", path, body=obj)
        if resp.status == 409:
            self.existed += 1
        elif resp.status >= 300:
            self.failed.append(f"{obj['kind']} {meta.get('namespace', '')}/{meta.get('name')}: HTTP {resp.status} "
                               f"{(resp.body or {}).get('message', '') if isinstance(resp.body, dict) else ''}")
            return
        else:
            self.created += 1
        if status and has_status and obj["kind"] not in ("Namespace", "CustomResourceDefinition"):
            resp = self.kube.request("PATCH", f"{path}/{meta['name']}/status", body={"status": status},
                                     headers={"Content-Type": "application/merge-patch+json"})
            if resp.status >= 300:
                self.failed.append(f"{obj['kind']} {meta.get('name')} status: HTTP {resp.status}")

    def create_all(self, objs: Iterable[dict]) -> None:
        with ThreadPoolExecutor(self.workers) as pool:
            list(pool.map(self.create, objs))

    def load(self, objs: list[dict]) -> None:
        """CRDs first (then wait until served), namespaces, then everything else in parallel."""
        crds = [o for o in objs if o.get("kind") == "CustomResourceDefinition"]
        self.create_all(crds)
        self.wait_established([o["metadata"]["name"] for o in crds])
        namespaces = {(o.get("metadata") or {}).get("namespace") for o in objs} - {None, ""}
        have = {(o.get("metadata") or {}).get("name") for o in objs if o.get("kind") == "Namespace"}
        self.create_all([o for o in objs if o.get("kind") == "Namespace"]
                        + [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                           for n in sorted(namespaces - have)])
        self.discover()
        self.create_all([o for o in objs if o.get("kind") not in ("CustomResourceDefinition", "Namespace")])

    def wait_established(self, names: list[str], limit: float = 60.0) -> None:
        ends = time.monotonic() + limit
        for name in names:
            while time.monotonic() < ends:
                resp = self.kube.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
                conds = ((resp.body or {}).get("status") or {}).get("conditions") or [] \
                    if isinstance(resp.body, dict) else []
                if any(c.get("type") == "Established" and c.get("status") == "True" for c in conds):
                    break
                time.sleep(0.2)


def scenario_objects(name: str) -> list[dict]:
    data = scen.resolve(name)
    return scen.crd_objects(data.get("crds") or []) + scen.render_time(data.get("objects") or [])


def load(kubeconfig: str, *, scenario: str | None = None, apps: int = 0, pods: int = 0, named: int = 0,
         workers: int = 16, quiet: bool = False) -> Loader:
    """Load into the server of `kubeconfig`; what main() does, for the benchmarks to call."""
    kube = connect(kubeconfig)
    kube.request_timeout = 60.0
    loader = Loader(kube, workers)
    objs: list[dict] = scenario_objects(scenario) if scenario else []
    if apps:
        objs += scen.crd_objects(["argocd"])
    objs += generate(app_template(), apps) + generate(pod_template(), pods)
    for template in named_templates() if named else []:
        objs += generate(template, named)
    started = time.perf_counter()
    loader.load(objs)
    if not quiet:
        print(f"loaded {len(objs)} objects into {kube.host} in {time.perf_counter() - started:.1f} s: "
              f"{loader.created} created, {loader.existed} already there, {len(loader.failed)} failed",
              flush=True)
        for line in loader.failed[:10]:
            print(f"  failed: {line}")
    return loader


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--scenario", help="a simulator scenario's objects (e.g. healthy)")
    ap.add_argument("--apps", type=int, default=0)
    ap.add_argument("--pods", type=int, default=0)
    ap.add_argument("--named", type=int, default=0, help="Secrets and Deployments bench-*-{i} in monitoring")
    ap.add_argument("--workers", type=int, default=16)
    args = ap.parse_args()
    loader = load(args.kubeconfig, scenario=args.scenario, apps=args.apps, pods=args.pods, named=args.named,
                  workers=args.workers)
    return 1 if loader.failed and not loader.created and not loader.existed else 0


if __name__ == "__main__":
    sys.exit(main())
