"""Record the answers tests/test_protobody.py reads: the same requests answered in JSON and in protobuf
by a real kube-apiserver (benchmarks/README.md says how to run one here), for pods patched into the
states the checks judge. Writes tests/data/kube-apiserver-v1.36/. Needs kubectl.

    python benchmarks/record_protobuf_answers.py --kubeconfig /path/to/kubeconfig
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gate.cluster.kube import connect  # noqa: E402

OUT = ROOT / "tests" / "data" / "kube-apiserver-v1.36"
T0, T1 = "2026-12-06T18:00:00Z", "2026-12-06T18:05:07Z"
READY = {"type": "Ready", "status": "True", "lastTransitionTime": T0}
PROTOBUF_FIRST = "application/vnd.kubernetes.protobuf,application/json"


def rs(**extra: object) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-6d4b",
            "uid": "0b5e6f8a-1111-2222-3333-444455556666", **extra}


class Kubectl:
    def __init__(self, kubeconfig: str) -> None:
        self.base = ["kubectl", "--kubeconfig", kubeconfig, "-n", "golden"]

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*self.base, *args], input=stdin, text=True, capture_output=True, check=False)
        if done.returncode:
            print(" ".join(args[:3]), done.stderr.strip(), file=sys.stderr)
        return done.stdout

    def pod(self, name: str, labels: dict | None = None, owner: dict | None = None, restart: str | None = None,
            init: bool = False, finalizer: bool = False) -> None:
        meta: dict = {"name": name, "annotations": {"note": "ünïcode \"quoted\"\nnewline",
                                                     "managedFields": "[not really]"}}
        spec: dict = {"containers": [{"name": "app", "image": "nginx:1.27",
                                      "command": ["sh", "-c", "echo {\"a\": [1]}"]}]}
        if labels is not None:
            meta["labels"] = labels
        if owner is not None:
            meta["ownerReferences"] = [owner]
        if finalizer:
            meta["finalizers"] = ["golden.example/hold"]
        if restart:
            spec["restartPolicy"] = restart
        if init:
            spec["initContainers"] = [{"name": "init", "image": "busybox:1.36"}]
        self("apply", "--validate=false", "-f", "-",
             stdin=json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}))

    def status(self, name: str, status: dict) -> None:
        self("patch", "pod", name, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))


def container(name: str = "app", image: str = "nginx:1.27", **fields: object) -> dict:
    return {"name": name, "ready": False, "restartCount": 0, "image": image, "imageID": "", **fields}


def make_pods(k: Kubectl) -> None:
    k.pod("running", {"app": "web", "pod-template-hash": "6d4b"}, rs(controller=True, blockOwnerDeletion=True))
    k.status("running", {
        "phase": "Running", "podIP": "10.0.0.5", "hostIP": "192.168.1.2", "startTime": T0, "qosClass": "BestEffort",
        "conditions": [{"type": "Initialized", "status": "True", "lastTransitionTime": T0}, READY,
                       {"type": "ContainersReady", "status": "True", "lastTransitionTime": T0},
                       {"type": "PodScheduled", "status": "True", "lastTransitionTime": T0}],
        "containerStatuses": [container(ready=True, started=True, imageID="docker.io/nginx@sha256:abc",
                                        containerID="containerd://1", state={"running": {"startedAt": T0}})]})
    k.pod("pending", {"app": "web"}, rs(controller=False))
    k.status("pending", {"phase": "Pending", "conditions": [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastProbeTime": None,
        "message": "0/3 nodes are available: 3 Insufficient cpu. \"preemption\": ünïcode\nsecond line",
        "lastTransitionTime": T0}]})
    k.pod("crashloop", {"app": "api"}, rs())
    k.status("crashloop", {"phase": "Running", "conditions": [{
        "type": "Ready", "status": "False", "reason": "ContainersNotReady",
        "message": "containers with unready status: [app]", "lastTransitionTime": T0}],
        "containerStatuses": [container(started=False, restartCount=5, state={"waiting": {
            "reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container=app pod=crashloop"}},
            lastState={"terminated": {"exitCode": 1, "reason": "Error", "startedAt": T0, "finishedAt": T1,
                                      "containerID": "containerd://2"}})]})
    k.pod("initwait", {"app": "job"}, restart="OnFailure", init=True)
    k.status("initwait", {"phase": "Pending",
                          "initContainerStatuses": [container("init", "busybox:1.36",
                                                              state={"waiting": {"reason": "PodInitializing"}})],
                          "containerStatuses": [container(state={"waiting": {"reason": "PodInitializing"}})]})
    k.pod("killed", {"app": "batch"}, restart="Never")
    k.status("killed", {"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory.",
                        "containerStatuses": [container(state={"terminated": {
                            "exitCode": 137, "signal": 9, "reason": "OOMKilled", "message": "killed",
                            "startedAt": T0, "finishedAt": T1, "containerID": "containerd://3"}})]})
    k.pod("nulltimes", {})
    k.status("nulltimes", {"phase": "Succeeded", "containerStatuses": [
        container(state={"terminated": {"exitCode": 0}}, lastState={"waiting": {}})]})
    k.pod("bare")
    k.pod("terminating", {"app": "web"}, rs(controller=True), finalizer=True)
    k.status("terminating", {"phase": "Running", "conditions": [READY]})
    k("delete", "pod", "terminating", "--wait=false")


def record(kubeconfig: str) -> None:
    kube = connect(kubeconfig)
    requests = {"pods-golden": "/api/v1/namespaces/golden/pods?resourceVersion=0",
                "pods-golden-page": "/api/v1/namespaces/golden/pods?limit=3",
                "pod-missing": "/api/v1/namespaces/golden/pods/nosuch",
                "pods-bad-continue": "/api/v1/namespaces/golden/pods?limit=3&continue="
                                     "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MSwic3RhcnQiOiJ4In0"}
    OUT.mkdir(parents=True, exist_ok=True)
    for name, path in requests.items():
        for suffix, accept in (("json", "application/json"), ("pb", PROTOBUF_FIRST)):
            headers = {"Accept": accept}
            kube.api.update_params_for_auth(headers, [], ["BearerToken"], path, "GET", None)
            resp = kube.api.call_api("GET", kube.host + path, header_params=headers,
                                     _request_timeout=(30, 30)).response
            data = resp.read()
            print(name, suffix, resp.status, resp.headers.get("Content-Type"), len(data))
            (OUT / f"{name}.{suffix}").write_bytes(data)
            resp.release_conn()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--no-pods", action="store_true", help="the golden namespace's pods exist already")
    args = ap.parse_args()
    if not args.no_pods:
        k = Kubectl(args.kubeconfig)
        subprocess.run([*k.base[:3], "create", "namespace", "golden"], capture_output=True, check=False)
        make_pods(k)
    record(args.kubeconfig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
