"""What the fault campaign (benchmarks/fault_campaign.py) found on the merged tree, each as a test
against the simulator with the real clients."""

from __future__ import annotations

import time
from pathlib import Path

from test_kargo_support import F2, kargo_sim


def test_a_kargo_answer_that_trickles_in_ends_precheck_at_the_run_timeout(tmp_path: Path, capsys) -> None:
    """Campaign seed 1, run 5: the Stage answer arriving a byte every 0.3 s kept precheck going 13 s under
    --timeout 6s: the Kargo client read its bodies outside the deadline (requests' read timeout is per
    socket read, so a trickle never trips it)."""
    with kargo_sim("promote-ok", tmp_path) as kit:
        kit.sim.add_fault({"path": r"^/v1beta1/projects/platform/stages/[a-z-]+$", "method": "GET",
                           "trickle": "0.3s"})
        began = time.monotonic()
        code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, "--timeout", "3s",
                             capsys=capsys)
        took = time.monotonic() - began
    assert took < 3 + 1.5, f"took {took:.1f}s under --timeout 3s"
    assert code == 3, out
    assert "deadline" in out
