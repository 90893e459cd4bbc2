"""`gate lint` speed (run by hand: `python3 benchmarks/bench_lint.py`). Prints, for

1. `gate lint .` at the project's root (every YAML/JSON file of the repository, the CRDs included), and
2. a 4 MB bundle of CRDs (the shipped Kargo, Argo CD and Argo Rollouts CRDs as one multi-document file),

the median wall time and CPU time (user + system) of a whole `gate lint` process over `--runs` runs, the
first run with an empty cache (the CRD schemas are parsed once and kept as JSON, see gate/lint/schemas.py),
against the targets: 3 s and 1 s. The machine's load average is printed too: on a shared machine the wall
time is the CPU time stretched by whatever else runs.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"gate lint . (project root)": 3.0, "gate lint crds-4mb.yaml": 1.0}


def bundle(directory: Path, size: int = 4_000_000) -> Path:
    """The shipped CRDs, repeated as needed, as one `---`-separated file of at least `size` bytes."""
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "gate/sim/crds").glob("*.yaml"))]
    out, total = [], 0
    while total < size:
        for text in texts:
            out.append(text)
            total += len(text)
            if total >= size:
                break
    path = directory / "crds-4mb.yaml"
    path.write_text("\n---\n".join(out), encoding="utf-8")
    return path


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "gate", "lint", *args], cwd=ROOT, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"gate lint {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return wall, cpu, proc.returncode


def measure(label: str, args: list[str], runs: int) -> bool:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "XDG_CACHE_HOME": cache}
        cold_wall, cold_cpu, _ = run_once(args, env)
        walls, cpus = zip(*[run_once(args, env)[:2] for _ in range(runs)], strict=True)
    wall, cpu = statistics.median(walls), statistics.median(cpus)
    target = TARGETS[label]
    verdict = "meets" if wall <= target else ("CPU meets, wall over (machine load)" if cpu <= target else "over")
    print(f"{label:32} wall {wall:5.2f} s  cpu {cpu:5.2f} s  (first run, empty cache: wall {cold_wall:5.2f} s, "
          f"cpu {cold_cpu:5.2f} s)  target {target:.0f} s: {verdict}")
    return wall <= target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    opts = parser.parse_args()
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        crds = bundle(Path(tmp))
        print(f"bundle: {crds.stat().st_size / 1024 / 1024:.1f} MiB; project tree: "
              f"{sum(1 for p in ROOT.rglob('*') if p.suffix in ('.yaml', '.yml', '.json') and '.venv' not in p.parts)}"
              " YAML/JSON files")
        ok = measure("gate lint . (project root)", ["."], opts.runs)
        ok &= measure("gate lint crds-4mb.yaml", [str(crds)], opts.runs)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
