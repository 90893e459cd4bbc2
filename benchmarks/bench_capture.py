"""Benchmark: what recording a run costs, and what replaying it costs, over a big namespace.

Starts the simulator in this process with N generated pods (`generate:`), runs `gate verify --levels 1`
(a pods check and a workloads check that list them all) in-process three ways: plain, with
`--capture FILE` (every answer kept, scrubbed, written), and `--replay FILE`; prints wall times, the
capture's size and object count. Usage: python benchmarks/bench_capture.py [--pods N] (default 5,000).

Figures (2 shared cores under other engineers' load, one run each, so +-30 %):

| pods | verify | --capture | --replay | capture file |
|---|---|---|---|---|
| 5,000 | 1.05 s | 4.42 s | 3.90 s | 3.0 MB |
| 20,000 | 3.54 s | 15.6 s | 10.8 s | 11.8 MB |

Where the time went before (5,000 pods): PyYAML's Python emitter and reader (25.6 s to write, 21.7 s to
replay): more than 1,000 objects are now one JSON line each, written and read by json in C; every
string's credential shapes are tried only after one combined search finds a telltale. Answers are parsed
for the capture when it is written, not inside a check's deadline: parsing 20,000 pods a second time
there made a check answer after its deadline (ERROR) while recording.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

from gate.cli import cli
from gate.entry import run
from gate.sim.server import start

SPEC = """defaults: {timeout: 5s, interval: 1s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: big, selector: "app=web"}
        - workloads: {namespace: big}
        - argocd_apps: {names: [web]}
"""
CONFIG = "kargo_namespace: platform\nkargo_project: platform\nargocd_namespace: argocd\n"


def _world(pods: int) -> dict:
    return {"name": "bench-capture", "crds": ["kargo", "argocd"],
            "tokens": {"gate-token": {"user": "gate"}},
            "rbac": {"gate": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]},
            "objects": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "big"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "platform"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "argocd"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "big",
                                                                   "generation": 1},
         "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}}},
         "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
                    "availableReplicas": 1}},
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": {"name": "web",
                                                                                 "namespace": "argocd"},
         "spec": {"project": "default", "destination": {"namespace": "big"}},
         "status": {"sync": {"status": "Synced"}, "health": {"status": "Healthy"}}}],
        "generate": {"kind": "Pod", "apiVersion": "v1", "count": pods, "template": {
            "metadata": {"name": "web-{i:05d}", "namespace": "big", "labels": {"app": "web"},
                         "creationTimestamp": "${now-2d}", "annotations": {"note": "pod {i}"}},
            "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                     "env": [{"name": "MODE", "value": "prod"}]}]},
            "status": {"phase": "Running", "startTime": "${now-2d}",
                       "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "${now-1d}"}],
                       "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0}]}}}}


def _gate(*args: str) -> tuple[int, float]:
    t = time.perf_counter()
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = run(cli, list(args))
    if code != 0:
        print(out.getvalue()[-2000:])
    return code, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pods", type=int, default=5000)
    pods = parser.parse_args().pods
    with tempfile.TemporaryDirectory() as tmp:
        spec, config, world = Path(tmp, "gate.yaml"), Path(tmp, "config.yaml"), Path(tmp, "world.yaml")
        spec.write_text(SPEC)
        config.write_text(CONFIG)
        base = ["verify", "--stage", "monitoring", "--levels", "1", "--spec", str(spec), "--config", str(config),
                "--no-preflight"]
        from gate.sim.scenario import resolve

        with start(resolve(_world(pods)), workdir=str(Path(tmp, "sim"))) as sim:
            plain = _gate(*base, "--kubeconfig", sim.kubeconfig, "--no-watch")
            captured = _gate(*base, "--kubeconfig", sim.kubeconfig, "--capture", str(world))
        replayed = _gate(*base, "--replay", str(world))
        size = world.stat().st_size
    print(f"{pods} pods: verify {plain[1]:.2f} s (exit {plain[0]}), with --capture {captured[1]:.2f} s "
          f"(exit {captured[0]}), --replay {replayed[1]:.2f} s (exit {replayed[0]}); capture {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
