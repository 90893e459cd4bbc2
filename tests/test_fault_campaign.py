"""The fault campaign (benchmarks/fault_campaign.py) both ways: a handful of faulted runs come out clean,
and worlds built to lie to its judge make every column count, so a zero is worth something."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CAMPAIGN = Path(__file__).resolve().parents[1] / "benchmarks" / "fault_campaign.py"
LAST = re.compile(r"^runs (\d+), false passes (\d+), duplicate promotions (\d+), tracebacks (\d+), "
                  r"over deadline (\d+), leaks (\d+)$")


def _campaign(*args: str) -> tuple[int, list[str]]:
    proc = subprocess.run([sys.executable, str(CAMPAIGN), *args], capture_output=True, text=True, timeout=120)
    lines = proc.stdout.strip().splitlines()
    assert lines and LAST.match(lines[-1]), proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.returncode, lines


def test_a_few_faulted_runs_are_clean() -> None:
    code, lines = _campaign("--runs", "6", "--seed", "11", "--jobs", "2")
    assert lines[-1] == "runs 6, false passes 0, duplicate promotions 0, tracebacks 0, over deadline 0, leaks 0", \
        "\n".join(lines)
    assert code == 0


def test_the_judge_counts_every_kind_of_failure() -> None:
    code, lines = _campaign("--self-test", "--jobs", "2")
    counts = [int(n) for n in LAST.match(lines[-1]).groups()]
    assert counts[0] == 5 and all(n >= 1 for n in counts[1:]), "\n".join(lines)
    assert "self-test: every column counted" in lines
    assert code == 0
    # the leak was seen in its encoded forms too, in every report the gate wrote
    leak = next(line for line in lines if "-> leak:" in line)
    for where in ("stdout", "junit.xml", "result.json", "summary.md"):
        assert f"literal (plain) in {where}" in leak
    assert "literal (percent) in" in leak and "literal (json) in" in leak


def test_the_quick_campaign_covers_the_newer_surface_and_is_clean() -> None:
    """--quick: each world of the newer surface once (diagnose, status and --watch, discover, init, scaffold,
    lint --cluster, render with a cluster, the trickling Promotion watch, URL credentials), faults drawn."""
    proc = subprocess.run([sys.executable, str(CAMPAIGN), "--quick", "--seed", "5", "--jobs", "2"],
                          capture_output=True, text=True, timeout=400)
    lines = proc.stdout.strip().splitlines()
    match = LAST.match(lines[-1]) if lines else None
    assert match, proc.stdout + proc.stderr
    runs, *problems = (int(n) for n in match.groups())
    assert runs >= 18 and problems == [0, 0, 0, 0, 0], proc.stdout
    assert proc.returncode == 0
