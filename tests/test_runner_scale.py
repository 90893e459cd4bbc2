"""The runner's cost is linear in the number of checks, and a spec too large to be a gate spec is refused
before it is parsed (issue 19, item 4)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_runner_scale import timed_level  # noqa: E402

from gate.model import Status  # noqa: E402


def test_a_level_of_20000_checks_ends_within_5s_under_timeout_3s() -> None:
    """Old code: each round removed late checks with a pairwise `not in` over dataclasses (__eq__ field by
    field), 200 M comparisons at 20,000 checks: ~240 s. No check passes on a closed port."""
    wall, level = timed_level(20_000, 3.0)
    assert wall < 5.0, f"{wall:.1f}s"
    assert len(level.checks) == 20_000
    assert {c.status for c in level.checks} <= {Status.FAIL, Status.ERROR}
    assert level.status != Status.PASS


# The gate run from a small wrapper that reports its child's peak memory: a child forked from pytest itself
# would count pytest's pages in its ru_maxrss.
PEAK = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print('peak-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")


def _gate(tmp: Path, spec: str) -> tuple[subprocess.CompletedProcess, float, int]:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", PEAK, sys.executable, "-m", "gate", "verify", "--stage", "s1",
                           "--spec", spec, "--config", str(ROOT / "gate" / "demo" / "config.yaml"),
                           "--timeout", "3s"], capture_output=True, text=True, timeout=120, cwd=tmp)
    peak = int(proc.stderr.rsplit("peak-kb ", 1)[1].split()[0])
    return proc, time.monotonic() - started, peak


def test_a_spec_of_50000_stages_is_refused_early_and_cheaply(tmp_path: Path) -> None:
    """Old code: composed every node before the size limit refused it (10.7 s, 260 MB)."""
    full = tmp_path / "full.yaml"
    full.write_text("stages:\n" + "".join(f"  s{i}:\n    levels:\n      1:\n        - tcp: 127.0.0.1:1\n"
                                          for i in range(50_000)))
    bare = tmp_path / "bare.yaml"
    bare.write_text("stages:\n" + "".join(f"  s{i}: {{}}\n" for i in range(50_000)))
    for spec in (full, bare):
        proc, took, rss_kb = _gate(tmp_path, str(spec))
        assert proc.returncode == 2, proc.stdout + proc.stderr
        assert f"{spec}:" in proc.stderr and "values" in proc.stderr and "not read" in proc.stderr, proc.stderr
        assert took < 4.0, f"{spec.name}: {took:.1f}s"
        assert rss_kb < 120 * 1024, f"{spec.name}: {rss_kb // 1024} MB"
        assert "Traceback" not in proc.stdout + proc.stderr
