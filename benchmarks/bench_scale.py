"""Benchmark: Level 1 over a big cluster (20,000 pods + 2,000 Argo CD apps at full size), gate vs kubectl.

Starts the simulator (gate/sim) in this process with a scenario that generates the objects (`generate:`),
then runs `gate verify --levels 1` as a subprocess over a spec of L1 checks that list every one of them,
and prints: objects served, wall time, peak RSS of the gate process (its VmHWM, polled),
the requests it made (from the simulator's request log). When `kubectl` is on PATH, the same checks are
done the operations guide's way, one `kubectl get -o json` per check evaluated in Python, and the ratio
is printed. Usage: python benchmarks/bench_scale.py [--pods N] [--apps N] [--runs N] [--no-kubectl]
[--gate-src DIR] (defaults: 20,000 pods, 2,000 apps, 1 run).

Figures (20,000 pods + 2,000 apps, --no-kubectl --runs 3, medians, before and after measured one after
the other; 2 shared cores with other work running, so walls move by +-0.3 s between sessions; ~55 MB of
the peak is the gate's imports):

| gate | wall | peak RSS | requests |
|---|---|---|---|
| before shared projections (092631e), busy machine | 2.24 s | 132 MB | 46 |
| projections share equal parts, app projection slimmed, busy machine | 2.10 s | 88 MB | 46 |
| before, quieter machine | 2.07 s | 130 MB | 46 |
| after, quieter machine | 1.79 s | 82 MB | 46 |

What the data costs (tracemalloc, the lists alone): a projected pod 2.6 kB -> 0.5 kB (its own metadata
dict, name and resourceVersion; labels, owner, spec and status are shared with the pods equal to it),
an app 3.3 kB -> 1.9 kB; the rest of the data part of the peak is one page (500 objects, ~1.8 MB of
JSON, bytes and text) for each list read at the same time. PAGE_SIZE 250 would save ~7 MB more for
twice the requests (86); 1000 saves nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gate.sim.server import start  # noqa: E402

SELECTORS = 20  # pods carry app=svc-{i%20}


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
        "spec": {"project": "default", "source": source,
                 "destination": destination,
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


def scenario(pods: int, apps: int) -> dict:
    return {
        "name": "scale", "crds": ["argocd"], "controllers": False,
        "tokens": {"gate-token": {"user": "bench", "groups": ["system:masters", "system:authenticated"]}},
        "objects": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("apps", "argocd")],
        "generate": [{"count": pods, "template": pod_template()}, {"count": apps, "template": app_template()}],
    }


SPEC = {"defaults": {"timeout": "120s", "interval": "1s"},
        "stages": {"scale": {"levels": {1: [
            {"pods": {"namespace": "apps"}},
            {"pods": {"namespace": "apps", "selector": "app=svc-3"}},
            {"argocd_apps": {"namespace": "argocd", "selector": "bench=scale"}},
        ]}}}}

KUBECTL = [  # the same checks, the operations guide's way: one kubectl call per check
    ("pods", ["get", "pods", "-n", "apps", "-o", "json"]),
    ("pods", ["get", "pods", "-n", "apps", "-l", "app=svc-3", "-o", "json"]),
    ("apps", ["get", "applications.argoproj.io", "-n", "argocd", "-l", "bench=scale", "-o", "json"]),
]


def run_child(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> tuple[float, float, int, bytes]:
    """(wall s, peak RSS MB, exit code, stdout) of one child process.

    The peak is the child's own VmHWM (/proc/PID/status), polled until it exits: the high-water mark
    of the program after exec. (A fork's rusage would also count this process's pages, copied into the
    child before it exec'd: with the simulator loaded here, that is hundreds of MB that are not the
    child's.)"""
    start = time.perf_counter()
    peak = 0
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
        exe = os.path.realpath(cmd[0])
        while proc.poll() is None:
            peak = max(peak, _hwm_kb(proc.pid, exe))
            time.sleep(0.005)
        wall = time.perf_counter() - start
        out.seek(0)
        data = out.read()
    return wall, peak / 1024, proc.returncode, data


def _hwm_kb(pid: int, exe: str) -> int:
    """The process's peak resident set (kB) once it runs `exe`; 0 before the exec or after the exit."""
    try:
        if os.path.realpath(f"/proc/{pid}/exe") != exe:
            return 0
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def pods_ok(items: list[dict]) -> bool:
    pods = [p for p in items if p["status"].get("phase") != "Succeeded"]
    return bool(pods) and all(any(c["type"] == "Ready" and c["status"] == "True"
                                  for c in p["status"].get("conditions") or []) for p in pods)


def apps_ok(items: list[dict]) -> bool:
    return bool(items) and all(a["status"]["sync"]["status"] == "Synced" and
                               a["status"]["health"]["status"] == "Healthy" for a in items)


def _medians(runs: list[tuple]) -> tuple:
    """Each column's median (wall and peak RSS are medians of their own, not of the fastest run's)."""
    return tuple(sorted(column)[len(column) // 2] for column in zip(*runs, strict=True))


def count_requests(log: Path, since: int) -> tuple[int, int]:
    lines = log.read_text().splitlines()[since:]
    return len(lines), len(lines) + since


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=20000)
    ap.add_argument("--apps", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=1, help="measure this many times, print the median")
    ap.add_argument("--no-kubectl", action="store_true", help="measure the gate only")
    ap.add_argument("--gate-src", type=Path, default=ROOT,
                    help="run the gate from this source tree (e.g. an older checkout, for a before/after)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    log = work / "requests.jsonl"
    (work / "gate.yaml").write_text(yaml.safe_dump(SPEC))
    t0 = time.perf_counter()
    handle = start(scenario(args.pods, args.apps), request_log=str(log))
    print(f"simulator: {args.pods} pods + {args.apps} Argo CD apps loaded in {time.perf_counter() - t0:.1f} s")
    try:
        env = {**os.environ, "KUBECONFIG": handle.kubeconfig, "NO_COLOR": "1"}
        gate_env = {**env, "PYTHONPATH": str(args.gate_src.resolve())}
        seen = len(log.read_text().splitlines()) if log.exists() else 0
        gate_cmd = [sys.executable, "-m", "gate", "verify", "--stage", "scale", "--levels", "1",
                    "--spec", str(work / "gate.yaml"), "--no-preflight", "--timeout", "5m"]
        gate_runs = []
        for _ in range(args.runs):
            wall, rss, code, _out = run_child(gate_cmd, gate_env, cwd=work)
            requests, seen = count_requests(log, seen)
            gate_runs.append((wall, rss, code, requests))
        wall, rss, code, requests = _medians(gate_runs)
        print(f"objects: {args.pods + args.apps} ({args.pods} pods, {args.apps} apps), {len(KUBECTL)} L1 checks")
        print(f"gate:    wall {wall:.2f} s, peak RSS {rss:.0f} MB, exit {code}, requests {requests}"
              + (f" (median of {args.runs}: " + ", ".join(f"{w:.2f} s {r:.0f} MB" for w, r, _, _ in gate_runs) + ")"
                 if args.runs > 1 else ""))
        kubectl = shutil.which("kubectl") if not args.no_kubectl else None
        if not kubectl:
            print("kubectl: not on PATH (or --no-kubectl), no comparison")
            return 0 if code == 0 else 1
        k_runs = []
        for _ in range(args.runs):
            total, peak, verdicts, start_at = 0.0, 0.0, [], seen
            for what, argv in KUBECTL:
                t = time.perf_counter()
                kwall, krss, kcode, out = run_child([kubectl, *argv], env)
                items = json.loads(out)["items"] if kcode == 0 else []
                verdicts.append(kcode == 0 and (pods_ok(items) if what == "pods" else apps_ok(items)))
                del items, out
                total += time.perf_counter() - t
                peak = max(peak, krss)
            requests_k, seen = count_requests(log, start_at)
            k_runs.append((total, peak, all(verdicts), requests_k))
        kwall, krss, kok, kreq = _medians(k_runs)
        print(f"kubectl: wall {kwall:.2f} s, peak RSS {krss:.0f} MB (largest kubectl), passed {kok}, "
              f"requests {kreq}")
        print(f"ratio gate/kubectl: wall {wall / kwall:.2f}x, peak RSS {rss / krss:.2f}x")
        return 0 if code == 0 and kok else 1
    finally:
        handle.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
