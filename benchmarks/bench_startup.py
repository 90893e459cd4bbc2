"""Start-up figures: `python3 benchmarks/bench_startup.py [--kubeconfig K] [--pairs N] [--no-load]`.

Against the server of `--kubeconfig` (a real kube-apiserver: benchmarks/README.md; its data put there by
benchmarks/load.py, which this script calls unless --no-load), or by default the simulator started in this
process and loaded the same way. It prints which server it measured and which extras the gate has, then,
for the default install first (and with the extras, when installed), gate and kubectl interleaved pair by
pair (benchmarks/benchlib.py) with the median of the per-pair ratios and their min and max, for:

- the 7-check `dev` stage (the demo's Level 1) against the operations guide's 12 kubectl calls;
- the same beside 2,000 Argo CD Applications in `argocd` (the named apps must be read by name);
- a 40-check stage of 40 distinct objects (20 Applications, 10 Secrets, 10 Deployments, each named by
  its own check) against one kubectl call per check;

then `gate --version`, the floor (Python's start and `import kubernetes.config`), and the ten costliest
top-level imports of `gate verify` (`-X importtime`). The gate runs `gate verify` as a user would, RBAC
preflight included. kubectl is /usr/bin/kubectl (or the one on PATH), with the same kubeconfig.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))

import bench_masking  # noqa: E402
import benchlib  # noqa: E402
import load  # noqa: E402

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

# Forty distinct objects, each named by its own check (benchmarks/load.py --apps 2000 --named 10 loads them).
FORTY_CHECKS = ([f"argocd_apps: [app-{i}]" for i in range(20)]
                + [f"secret: {{namespace: {MON}, name: bench-secret-{i}, keys: [token]}}" for i in range(10)]
                + [f"workloads: {{namespace: {MON}, names: [bench-deploy-{i}], kinds: [Deployment]}}"
                   for i in range(10)])
FORTY_KUBECTL = ([["get", "applications.argoproj.io", "-n", "argocd", f"app-{i}"] for i in range(20)]
                 + [["get", "secret", "-n", MON, f"bench-secret-{i}"] for i in range(10)]
                 + [["get", "deployment", "-n", MON, f"bench-deploy-{i}"] for i in range(10)])


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


def gate_verify(spec: str, stage: str, kubeconfig: str, env: dict[str, str] | None = None,
                library: bool = False) -> None:
    """One `gate verify` in `env` (benchlib.installs()); `library`: the kubeconfig read through the
    kubernetes package (GATE_KUBE_CLIENT=library) instead of the light path (gate/cluster/lightclient.py)."""
    env = {k: v for k, v in (env or os.environ).items() if k != "GATE_KUBE_CLIENT"}
    if library:
        env["GATE_KUBE_CLIENT"] = "library"
    proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", stage, "--spec", spec,
                           "--config", CONFIG, "--kubeconfig", kubeconfig, "--output", "json"],
                          cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"gate verify exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}")


def kubectl_script(kubectl: str, calls: list[list[str]], kubeconfig: str) -> None:
    env = {**os.environ, "KUBECONFIG": kubeconfig}
    for call in calls:  # one after the other, as a shell script would
        subprocess.run([kubectl, *call, "-o", "json"], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=True)


def requests_made(sim: Any, run: Any) -> int | None:
    """The API requests one run makes (the simulator's request log); None against a real server."""
    if sim is None:
        return None
    before = len(sim.requests)
    run()
    return len(sim.requests) - before


def compare(sim: Any, name: str, spec: str, stage: str, calls: list[list[str]], kubectl: str | None,
            kubeconfig: str, pairs: int) -> None:
    for label, env in benchlib.installs():
        def gate(env: dict[str, str] = env) -> None:
            gate_verify(spec, stage, kubeconfig, env)

        def peer() -> None:
            kubectl_script(kubectl, calls, kubeconfig)

        made = requests_made(sim, gate)
        if kubectl:
            walls = benchlib.interleaved(gate, peer, pairs)
            line = benchlib.ratio_line(walls)
            peer_made = requests_made(sim, peer)
        else:
            walls = [(benchlib.timed(gate), 0.0) for _ in range(pairs)]
            line, peer_made = f"gate {statistics.median(g for g, _ in walls):.3f} s (no kubectl)", None
        counts = "" if made is None else f" [requests: gate {made}" + (
            f", kubectl {peer_made} in {len(calls)} calls]" if peer_made is not None else "]")
        print(f"{name}, {label}: {line}{counts}", flush=True)


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
    parser.add_argument("--kubeconfig", help="an API server's kubeconfig (default: the simulator, in process)")
    parser.add_argument("--pairs", type=int, default=7, help="gate/kubectl pairs per figure")
    parser.add_argument("--apps", type=int, default=2000, help="Applications beside the dev stage")
    parser.add_argument("--no-load", action="store_true", help="the data is loaded already (benchmarks/load.py)")
    parser.add_argument("--no-imports", action="store_true", help="skip the floor and import figures")
    parser.add_argument("--no-protobuf", action="store_true",
                    help="hide the protobuf package from the gate: pods read as JSON (a before/after)")
    args = parser.parse_args()
    if args.no_protobuf:
        benchlib.hide_protobuf()
    kubectl = "/usr/bin/kubectl" if os.access("/usr/bin/kubectl", os.X_OK) else shutil.which("kubectl")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        sim = None
        kubeconfig = args.kubeconfig
        if kubeconfig is None:
            sim = stack.enter_context(start({"name": "bench", "controllers": False}, workdir=tmp))
            kubeconfig = sim.admin_kubeconfig
        print(benchlib.describe_server(kubeconfig))
        print(benchlib.describe_extras(), flush=True)
        dev = write_spec(tmp, "dev", DEV_CHECKS)
        forty = write_spec(tmp, "forty", FORTY_CHECKS)
        if not args.no_load:
            load.load(kubeconfig, scenario="healthy")
        compare(sim, "dev stage (7 checks, 12 kubectl calls)", dev, "dev", DEV_KUBECTL, kubectl, kubeconfig,
                args.pairs)
        if not args.no_load:
            load.load(kubeconfig, apps=args.apps, named=10)
        compare(sim, f"dev stage beside {args.apps} Applications", dev, "dev", DEV_KUBECTL, kubectl, kubeconfig,
                args.pairs)
        compare(sim, "40-check stage of 40 distinct objects", forty, "forty", FORTY_KUBECTL, kubectl, kubeconfig,
                args.pairs)
        if args.no_imports:
            return
        print(f"gate --version: {version_time(args.pairs):.3f} s")
        bare, floor = import_floor(args.pairs)
        print(f"floor: python start {bare:.3f} s; python + import kubernetes.config {floor:.3f} s")
        print("top-level imports of `gate verify` (-X importtime, cumulative):")
        for micros, module in import_top(dev, "dev", kubeconfig):
            print(f"  {micros / 1000:7.1f} ms  {module}")
    if not kubectl:
        print("(kubectl not found: kubectl figures left out)")
    bench_masking.report()


if __name__ == "__main__":
    main()
