"""Before/after: `gate verify` from two source trees on one spec and one server, interleaved pair by pair.

    python benchmarks/bench_ab.py --before DIR [--after DIR] --kubeconfig K --spec SPEC --stage STAGE
                                  [--pairs N] [-- EXTRA VERIFY ARGS]

DIR is a checkout of the gate (e.g. `git worktree add /tmp/before <commit>`); --after defaults to this
tree. Both run with this interpreter and its installed packages, the tree first on PYTHONPATH, who goes
first alternating pair by pair. It prints the server, then for each tree the medians of wall, CPU (the
child's user + system time) and peak RSS, and the per-pair ratios after/before (median, min, max): on a
shared machine whose pace drifts by tens of percent over minutes, a ratio taken within each pair is the
figure that compares the two trees. Every run must exit as the first `before` run did.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import benchlib  # noqa: E402


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(tree: Path, args: argparse.Namespace) -> tuple[float, float, float, int]:
    """(wall, CPU, peak RSS MB, exit code) of one `gate verify` from `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree), "KUBECONFIG": args.kubeconfig, "NO_COLOR": "1"}
    cmd = [sys.executable, "-m", "gate", "verify", "--stage", args.stage, "--spec", str(args.spec),
           *args.extra]
    cpu = children_cpu()
    wall, rss, code, _ = benchlib.run_child(cmd, env, cwd=args.spec.parent)
    return wall, children_cpu() - cpu, rss, code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, required=True, help="the gate's source tree to compare against")
    ap.add_argument("--after", type=Path, default=ROOT, help="the tree compared (default: this one)")
    ap.add_argument("--kubeconfig", required=True)
    ap.add_argument("--spec", type=Path, required=True)
    ap.add_argument("--stage", required=True)
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("extra", nargs="*", help="more `gate verify` arguments (after --)")
    args = ap.parse_args()
    args.spec = args.spec.resolve()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    print(benchlib.describe_server(args.kubeconfig))
    print(f"before: {trees['before']}; after: {trees['after']}; `gate verify --stage {args.stage}` "
          f"{' '.join(args.extra)}", flush=True)
    runs: dict[str, list[tuple[float, float, float, int]]] = {name: [] for name in trees}
    for pair in range(args.pairs):
        for name in (["before", "after"] if pair % 2 == 0 else ["after", "before"]):
            runs[name].append(run(trees[name], args))
    expected = runs["before"][0][3]
    for name, rows in runs.items():
        wall, cpu, rss = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"{name}: wall {wall:.3f} s, CPU {cpu:.3f} s, peak RSS {rss:.0f} MB, exit {sorted({r[3] for r in rows})}")
    for index, what in ((0, "wall"), (1, "CPU"), (2, "peak RSS")):
        ratios = [a[index] / b[index] for a, b in zip(runs["after"], runs["before"], strict=True)]
        print(f"  {what} after/before per pair: median {statistics.median(ratios):.2f}x "
              f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x, {len(ratios)} pairs)")
    return 0 if all(r[3] == expected for rows in runs.values() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
