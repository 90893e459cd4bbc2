"""Start-up figures (run by hand: `python3 benchmarks/bench_startup.py [--runs N]`). Prints, against the
simulator, for the 12-call `dev` stage and a 40-check stage:

- the gate's wall time as a whole process (`python -m gate verify`, median of N runs), with the simulator's
  plain token kubeconfig read by the light path and, for comparison, through the kubernetes library
  (GATE_KUBE_CLIENT=library),
- the wall time of the operations guide's way, one `kubectl` call per check (median of N runs of the script),
- their ratio, and the API requests each made (from the simulator's request log);

then the `gate --version` time, the floor (Python's start and `import kubernetes.config` alone, against the
12-call script), and the ten costliest top-level imports of `gate verify` (`-X importtime`).
kubectl is Debian's /usr/bin/kubectl (or the one on PATH) with the simulator's kubeconfig; without it
the kubectl columns are left out.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import bench_masking  # noqa: E402

from gate.sim.server import start  # noqa: E402

CONFIG = str(ROOT / "gate/demo/config.yaml")
MON = "monitoring"

# The `dev` stage: the demo's Level 1 (7 checks); the guide's way checks it with 12 kubectl calls.
DEV_CHECKS = [
    "argocd_apps: {names: [kube-prometheus-stack, loki]}",
    f'pods: {{namespace: {MON}, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}}',
    f"workloads: {{namespace: {MON}}}",
    "crds: [prometheuses.monitoring.coreos.com]",
    f"secret: {{namespace: {MON}, name: grafana-admin, keys: [admin-user, admin-password]}}",
    f"pvcs: {{namespace: {MON}}}",
    "kargo_stage: {stage: monitoring}",
]
DEV_KUBECTL = [
    ["get", "applications.argoproj.io", "-n", "argocd", "kube-prometheus-stack"],
    ["get", "applications.argoproj.io", "-n", "argocd", "loki"],
    ["get", "pods", "-n", MON, "-l", "app.kubernetes.io/part-of=kube-prometheus-stack"],
    ["get", "deployments", "-n", MON],
    ["get", "statefulsets", "-n", MON],
    ["get", "daemonsets", "-n", MON],
    ["get", "replicasets", "-n", MON],
    ["get", "crd", "prometheuses.monitoring.coreos.com"],
    ["get", "secret", "-n", MON, "grafana-admin"],
    ["get", "pvc", "-n", MON],
    ["get", "stages.kargo.akuity.io", "-n", "platform", "monitoring"],
    ["get", "freights.kargo.akuity.io", "-n", "platform"],
]

# Ten check shapes (as benchmarks/bench_engine.py), four of each: forty checks; each with its kubectl calls.
SHAPES: list[tuple[str, list[list[str]]]] = [
    (f'pods: {{namespace: {MON}, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}}',
     [["get", "pods", "-n", MON, "-l", "app.kubernetes.io/part-of=kube-prometheus-stack"]]),
    (f'pods: {{namespace: {MON}, selector: "app.kubernetes.io/name=loki"}}',
     [["get", "pods", "-n", MON, "-l", "app.kubernetes.io/name=loki"]]),
    (f"workloads: {{namespace: {MON}}}", [["get", "deployments,statefulsets,daemonsets", "-n", MON]]),
    ("crds: [prometheuses.monitoring.coreos.com]", [["get", "crd", "prometheuses.monitoring.coreos.com"]]),
    ("crds: [stages.kargo.akuity.io, freights.kargo.akuity.io]",
     [["get", "crd", "stages.kargo.akuity.io", "freights.kargo.akuity.io"]]),
    (f"secret: {{namespace: {MON}, name: grafana-admin, keys: [admin-user]}}",
     [["get", "secret", "-n", MON, "grafana-admin"]]),
    (f"pvcs: {{namespace: {MON}}}", [["get", "pvc", "-n", MON]]),
    ("argocd_apps: [kube-prometheus-stack, loki]",
     [["get", "applications.argoproj.io", "-n", "argocd", "kube-prometheus-stack", "loki"]]),
    ("argocd_apps: [cert-manager]", [["get", "applications.argoproj.io", "-n", "argocd", "cert-manager"]]),
    ("kargo_stage: {stage: monitoring}", [["get", "stages.kargo.akuity.io", "-n", "platform", "monitoring"]]),
]
FORTY_CHECKS = [shape for shape, _ in SHAPES] * 4
FORTY_KUBECTL = [call for _, calls in SHAPES for call in calls] * 4


def write_spec(directory: str, stage: str, checks: list[str]) -> str:
    lines = ["defaults: {timeout: 30s, interval: 1s}", "stages:", f"  {stage}:", "    levels:", "      1:"]
    lines += [f"        - {item}" for item in checks]
    path = os.path.join(directory, f"{stage}.yaml")
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def timed(run) -> float:  # noqa: ANN001 - a zero-argument callable
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def gate_verify(spec: str, stage: str, kubeconfig: str, library: bool = False) -> None:
    """One `gate verify`; `library`: the kubeconfig read through the kubernetes package
    (GATE_KUBE_CLIENT=library) instead of the light path (gate/cluster/lightclient.py)."""
    env = {k: v for k, v in os.environ.items() if k != "GATE_KUBE_CLIENT"}
    if library:
        env["GATE_KUBE_CLIENT"] = "library"
    proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", stage, "--spec", spec,
                           "--config", CONFIG, "--kubeconfig", kubeconfig, "--output", "json"],
                          cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"gate verify exited {proc.returncode}:\n{proc.stderr[-2000:]}")


def kubectl_script(kubectl: str, calls: list[list[str]], kubeconfig: str) -> None:
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    for call in calls:  # one after the other, as a shell script would
        subprocess.run([kubectl, *call, "-o", "json"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)


def measure(sim, runs: int, run) -> tuple[float, int]:  # noqa: ANN001
    """Median wall of `runs` runs (after one warm-up) and the API requests one run made."""
    run()  # warm-up: page cache, kubectl's discovery cache
    walls, made = [], []
    for _ in range(runs):
        before = len(sim.requests)
        walls.append(timed(run))
        made.append(len(sim.requests) - before)
    return statistics.median(walls), int(statistics.median(made))


def compare(sim, name: str, spec: str, stage: str, calls: list[list[str]], kubectl: str | None,
            runs: int) -> None:
    gate_wall, gate_reqs = measure(sim, runs, lambda: gate_verify(spec, stage, sim.kubeconfig))
    lib_wall, _ = measure(sim, runs, lambda: gate_verify(spec, stage, sim.kubeconfig, library=True))
    line = f"{name}: gate {gate_wall:.3f} s ({gate_reqs} requests)"
    if kubectl:
        kube_wall, kube_reqs = measure(sim, runs, lambda: kubectl_script(kubectl, calls, sim.kubeconfig))
        line += (f"; kubectl script {kube_wall:.3f} s ({len(calls)} calls, {kube_reqs} requests); "
                 f"ratio {gate_wall / kube_wall:.2f}x (speed-up {kube_wall / gate_wall:.1f}x); "
                 f"through the kubernetes library {lib_wall:.3f} s = {lib_wall / kube_wall:.2f}x")
    else:
        line += f"; through the kubernetes library {lib_wall:.3f} s"
    print(line, flush=True)


def import_floor(runs: int) -> tuple[float, float]:
    """Wall of a bare `python -c pass` and of `python -c "import kubernetes.config"`: what any gate run that
    reads a kubeconfig through the kubernetes package pays before its first own line (median of runs)."""
    def wall(code: str) -> float:
        return statistics.median(timed(lambda: subprocess.run([sys.executable, "-c", code], check=True))
                                 for _ in range(runs))
    return wall("pass"), wall("import kubernetes.config")


def version_time(runs: int) -> float:
    return statistics.median(
        timed(lambda: subprocess.run([sys.executable, "-m", "gate", "--version"], cwd=ROOT,
                                     capture_output=True, check=True)) for _ in range(runs))


def import_top(spec: str, stage: str, kubeconfig: str, top: int = 10) -> list[tuple[int, str]]:
    """The costliest top-level imports of `gate verify` (cumulative microseconds, module)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "gate", "verify", "--stage", stage,
                           "--spec", spec, "--config", CONFIG, "--kubeconfig", kubeconfig, "--output", "json"],
                          cwd=ROOT, capture_output=True, text=True, check=False)
    found = []
    for line in proc.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\S.*)$", line)  # no indent: top level
        if match:
            found.append((int(match.group(1)), match.group(2)))
    return sorted(found, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args()
    kubectl = "/usr/bin/kubectl" if os.access("/usr/bin/kubectl", os.X_OK) else shutil.which("kubectl")
    with tempfile.TemporaryDirectory() as tmp, start("healthy", workdir=tmp) as sim:
        dev = write_spec(tmp, "dev", DEV_CHECKS)
        forty = write_spec(tmp, "forty", FORTY_CHECKS)
        compare(sim, "12-call dev stage (7 checks)", dev, "dev", DEV_KUBECTL, kubectl, args.runs)
        compare(sim, "40-check stage", forty, "forty", FORTY_KUBECTL, kubectl, args.runs)
        print(f"gate --version: {version_time(args.runs):.3f} s")
        bare, floor = import_floor(args.runs)
        line = f"floor: python start {bare:.3f} s; python + import kubernetes.config {floor:.3f} s"
        if kubectl:
            kube_wall, _ = measure(sim, args.runs, lambda: kubectl_script(kubectl, DEV_KUBECTL, sim.kubeconfig))
            line += f" = {floor / kube_wall:.2f}x of the 12-call kubectl script ({kube_wall:.3f} s)"
        print(line)
        print("top-level imports of `gate verify` (-X importtime, cumulative):")
        for micros, module in import_top(dev, "dev", sim.kubeconfig):
            print(f"  {micros / 1000:7.1f} ms  {module}")
    if not kubectl:
        print("(kubectl not found: kubectl figures left out)")
    bench_masking.report()


if __name__ == "__main__":
    main()
