"""Engine figures (run by hand: `python3 benchmarks/bench_engine.py`). Prints, against the simulator:

1. the wall time of one level of 40 checks against the slowest single check (API latency injected);
2. API requests per poll round for a level that keeps failing;
3. the delay from the moment the last condition turns true (simulator timeline) to the gate's verdict,
   median and worst, with watches (the default) and without (`--no-watch`);
4. `gate --version` start-up time;
5. the API requests of a level that keeps failing while nothing changes, with watches and without;
6. the runner's cost in the number of checks: the wall of 1,000 / 5,000 / 20,000 checks under --timeout 3s
   (benchmarks/bench_runner_scale.py; `python3 benchmarks/bench_engine.py scale` runs only this).

`python3 benchmarks/bench_engine.py delay` runs only 3 and 5.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_runner_scale import main as scale_main  # noqa: E402
from gate.checks.base import Clients  # noqa: E402

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


STALE_REFRESH = {"patch": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                           "metadata": {"name": "loki", "namespace": "argocd"},
                           "status": {"reconciledAt": "${now}"}}}


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


def _delay(defaults: str, watch: bool) -> tuple[float, int]:
    """One stale-argocd run: seconds from the Application's refresh (the scenario's timeline, 1 s after
    the start) to the gate's verdict, and the API requests made."""
    scenario = {"name": "refresh-at-1s", "extends": "stale-argocd",
                "timeline": [{**STALE_REFRESH, "at": 1}]}
    plan = plan_from({1: ["argocd_apps: [loki]"]}, defaults)  # before the scenario's clock starts
    with start(scenario) as sim:
        refresh_at = time.monotonic() - sim.clock / sim.speed + 1.0 / sim.speed
        before = len(sim.requests)
        _, _, levels = run(plan, sim.kubeconfig, watch=watch)
        done = time.monotonic()
        made = len(sim.requests) - before
    assert levels[0].status.value == "PASS"
    return done - refresh_at, made


def delay_after_condition(repeat: int = 7) -> None:
    """Condition true → exit, median and worst of `repeat` runs, with watches and without."""
    for label, defaults in [("spec defaults (interval 2s, cap 10s)", "{timeout: 60s}"),
                            ("interval 0.5s, cap 1s", "{timeout: 60s, interval: 0.5s, max_interval: 1s}")]:
        for watch in (True, False):
            runs = [_delay(defaults, watch) for _ in range(repeat)]
            delays = [d for d, _ in runs]
            print(f"3. condition true -> verdict, {label}, watches {'on ' if watch else 'off'}: "
                  f"median {statistics.median(delays):.2f} s, worst {max(delays):.2f} s "
                  f"({repeat} runs; requests per run: {statistics.median(n for _, n in runs):.0f})")


def quiet_requests(seconds: float = 6.0) -> None:
    """API requests of a level that keeps failing while nothing changes, with watches and without."""
    plan = plan_from({1: SHAPES[:2] + SHAPES[6:7]}, f"{{timeout: {seconds}s, interval: 0.5s, max_interval: 1s}}")
    for watch in (True, False):
        with start("crashloop") as sim:
            before = len(sim.requests)
            _, runner, _ = run(plan, sim.kubeconfig, watch=watch)
            rows = sim.requests[before:]
        watches = sum(1 for r in rows if r["query"].get("watch"))
        print(f"5. nothing changes for {seconds:.0f} s (3 list checks), watches {'on ' if watch else 'off'}: "
              f"{len(rows)} API requests ({watches} of them watches) in {runner.rounds} rounds")


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
    if sys.argv[1:] == ["scale"]:
        scale_main()
        raise SystemExit(0)
    if sys.argv[1:] == ["delay"]:
        delay_after_condition()
        quiet_requests()
        raise SystemExit(0)
    level_of_forty()
    requests_per_round()
    delay_after_condition()
    startup()
    quiet_requests()
    print("6. runner cost in the number of checks:")
    scale_main()
