"""`gate demo --promote`: the whole promote flow against the simulated cluster and its Kargo API."""

from __future__ import annotations

from typing import Any

from gate.kargo.client import KargoConfig
from gate.kargo.promote import KargoOptions, promote_result
from gate.model import RunResult
from gate.options import RunOptions

DEMO_FREIGHT_ALIAS = "calm-crane"  # F2: verified in operators, the natural candidate for monitoring


def run_demo_promote(sim_handle: Any, opts: RunOptions, *, alias: str = DEMO_FREIGHT_ALIAS) -> RunResult:
    """Mount the Kargo API on the simulator (once) and promote `alias` to opts.stage through it."""
    from gate.sim.kargo_api import mount

    api = getattr(sim_handle, "kargo", None)
    if api is None:
        info = mount(sim_handle)
        address, token = info.address, info.token
    else:
        address, token = sim_handle.url, api.token
    kopts = KargoOptions(stage=opts.stage or "monitoring", alias=alias, poll_interval=0.5,
                         promotion_timeout=120, verification_timeout=120, downstream_timeout=15,
                         kargo=KargoConfig(address=address, token=token, ca_file=sim_handle.ca_file))
    # An Interrupted propagates, carrying `.result` once there is one: `gate demo` writes it (exit 130/143).
    return promote_result(opts, kopts)
