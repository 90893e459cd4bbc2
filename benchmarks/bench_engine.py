"""Engine figures (run by hand: `python3 benchmarks/bench_engine.py`). Prints, against the simulator:

1. the wall time of one level of 40 checks against the slowest single check (API latency injected);
2. API requests per poll round for a level that keeps failing;
3. the delay from the moment the last condition turns true (simulator timeline) to the gate's exit;
4. `gate --version` start-up time.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from checks.base import Clients  # noqa: E402
from gate.cluster.kube import connect  # noqa: E402
from gate.engine.plan import Plan  # noqa: E402
from gate.engine.runner import Runner  # noqa: E402
from gate.sim.server import start  # noqa: E402
from gate.spec.load import load_spec  # noqa: E402
from gate.spec.settings import load_settings  # noqa: E402

CONFIG = str(Path(__file__).resolve().parents[1] / "gate/demo/config.yaml")
LATENCY = 0.05  # seconds the simulator adds to every API request in part 1

# Ten check shapes over distinct (resource, namespace, selector) keys; four of each make forty.
SHAPES = [
    'pods: {namespace: monitoring, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}',
    'pods: {namespace: monitoring, selector: "app.kubernetes.io/name=loki"}',
    "workloads: {namespace: monitoring}",
    "crds: [prometheuses.monitoring.coreos.com]",
    "crds: [stages.kargo.akuity.io, freights.kargo.akuity.io]",
    "secret: {namespace: monitoring, name: grafana-admin, keys: [admin-user]}",
    "pvcs: {namespace: monitoring}",
    "argocd_apps: [kube-prometheus-stack, loki]",
    "argocd_apps: [cert-manager]",
    "kargo_stage: {stage: monitoring}",
]


def plan_from(levels: dict[int, list[str]], defaults: str = "{timeout: 30s, interval: 0.5s}") -> Plan:
    lines = [f"defaults: {defaults}", "stages:", "  monitoring:", "    levels:"]
    for number, items in levels.items():
        lines.append(f"      {number}:")
        lines += [f"        - {item}" for item in items]
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
        fh.write("\n".join(lines) + "\n")
    return load_spec(fh.name, load_settings(CONFIG, {})).plan("monitoring")


def run(plan: Plan, kubeconfig: str, **kw: object) -> tuple[float, Runner, list]:
    kube = connect(kubeconfig)
    runner = Runner(Clients(kube=kube), kube, **kw)  # type: ignore[arg-type]
    started = time.perf_counter()
    levels = runner.run(plan)
    return time.perf_counter() - started, runner, levels


def level_of_forty() -> None:
    with start("healthy") as sim:
        sim.add_fault({"path": "^/api", "latency": LATENCY})
        singles = [run(plan_from({1: [shape]}), sim.kubeconfig)[0] for shape in SHAPES]
        wall, runner, levels = run(plan_from({1: SHAPES * 4}), sim.kubeconfig)
    assert levels[0].status.value == "PASS", levels[0]
    slowest = max(singles)
    print(f"1. one level of 40 checks: {wall:.3f} s; slowest single check alone: {slowest:.3f} s; "
          f"ratio {wall / slowest:.2f} (API latency {LATENCY * 1000:.0f} ms per request)")


def requests_per_round() -> None:
    with start("crashloop") as sim:
        before = len(sim.requests)
        _, runner, levels = run(plan_from({1: SHAPES * 4}, "{timeout: 4s, interval: 0.5s, max_interval: 1s}"),
                                sim.kubeconfig)
        made = len(sim.requests) - before
        keys = {(r["path"], tuple(sorted(r["query"].items()))) for r in sim.requests[before:]}
    print(f"2. failing level of 40 checks: {made} API requests in {runner.rounds} poll rounds = "
          f"{made / runner.rounds:.1f} per round ({len(keys)} distinct requests; the level's status: "
          f"{levels[0].status.value})")


def delay_after_condition() -> None:
    # stale-argocd: the Application is refreshed by the timeline at 4 s scenario time (speed 1).
    for label, defaults in [("spec defaults (interval 2s, cap 10s)", "{timeout: 60s}"),
                            ("interval 0.5s, cap 1s", "{timeout: 60s, interval: 0.5s, max_interval: 1s}")]:
        with start("stale-argocd") as sim:
            entry = next(e for e in sim.scenario["timeline"])
            refresh_at = float(entry["at"]) / sim.speed
            offset = time.monotonic() - sim.clock / sim.speed  # wall time when scenario time was 0
            _, _, levels = run(plan_from({1: ["argocd_apps: [loki]"]}, defaults), sim.kubeconfig)
            done = time.monotonic()
        assert levels[0].status.value == "PASS"
        print(f"3. condition true -> gate done, {label}: {done - (offset + refresh_at):.2f} s")


def startup() -> None:
    times = []
    for _ in range(7):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gate", "--version"], check=True, capture_output=True)
        times.append(time.perf_counter() - t)
    bare = []
    for _ in range(7):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t)
    print(f"4. gate --version: median {statistics.median(times) * 1000:.0f} ms "
          f"(bare python: {statistics.median(bare) * 1000:.0f} ms)")


if __name__ == "__main__":
    level_of_forty()
    requests_per_round()
    delay_after_condition()
    startup()
