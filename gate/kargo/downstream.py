"""After a promotion into S: would Kargo auto-promote the Freight into each downstream Stage, and did it?

Kargo's `autoPromoteFreight` (pkg/controller/stages/regular_stages.go L1893-2029, v1.11.2) creates a
Promotion for a requested origin only when all of these hold, in this order:

1. auto-promotion is enabled for the Stage (ProjectConfig; mirrored in status.autoPromotionEnabled,
   L1900/L1910; control-flow Stages never auto-promote, control_flow_stages.go L378);
2. no effective auto-promotion hold for the origin (status.effectiveAutoPromotionHolds, L1931-1935);
3. there is a candidate: the newest *available* Freight of the origin, none under MatchUpstream with
   more than one upstream Freight (L1917-1924, L1937-1941; pkg/api/auto_promotion.go L97-141);
4. the candidate is not already current (L1946-1953);
5. no Promotion for (Stage, candidate) still in flight or Succeeded but not yet recorded (L1958-1975,
   L2064-2093): that one *is* the auto-promotion, so it counts as started;
6. the newest terminal Promotion for (Stage, candidate), by creationTimestamp then name, is not a
   failure (the anti-loop rule, L1977-1999, L2098-2133).

The gate expects a Promotion for the Freight it promoted only where Kargo would create one for *that*
Freight; elsewhere the row says what Kargo will do instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gate.kargo import stages as st
from gate.kargo.client import TERMINAL_PHASES, parse_version
from gate.kargo.freight import auto_promotion_candidates, is_available, origin_of
from gate.kargo.timefmt import parse_time

STARTED, WAITING, NOT_EXPECTED = "started", "waiting", "not expected"
ANTI_LOOP_SINCE = (1, 8, 0)


@dataclass
class Downstream:
    stage: str
    state: str  # STARTED | WAITING | NOT_EXPECTED
    detail: str

    def line(self) -> str:
        return f"{self.stage}: {self.detail}"


def _freight_of(promo: dict) -> str:
    return (promo.get("spec") or {}).get("freight") or ((promo.get("status") or {}).get("freight") or {}).get(
        "name", ""
    )


def _phase(promo: dict) -> str:
    return (promo.get("status") or {}).get("phase") or "Pending"


def _unprocessed(promos: list[dict], last: str) -> dict | None:
    """regular_stages.go L2084-2091: non-terminal, or Succeeded with a name after lastPromotion's."""
    for promo in promos:
        phase = _phase(promo)
        if phase not in TERMINAL_PHASES or (phase == "Succeeded" and promo["metadata"]["name"] > last):
            return promo
    return None


def _newest_terminal(promos: list[dict]) -> dict | None:
    """regular_stages.go L2126-2132: by creationTimestamp, then name, newest first."""
    terminal = [p for p in promos if _phase(p) in TERMINAL_PHASES]

    def key(p: dict) -> tuple:
        meta = p.get("metadata") or {}
        when = parse_time(meta.get("creationTimestamp"))
        return (when.timestamp() if when else 0.0, meta.get("name", ""))

    return max(terminal, key=key) if terminal else None


def _has_anti_loop(reader: Any) -> bool:
    """The anti-loop rule shipped in Kargo v1.8.0 (PR #5148); older controllers retry the candidate."""
    version = parse_version(getattr(reader, "version", None))
    return version is None or version >= ANTI_LOOP_SINCE


def assess(reader: Any, project: str, down: dict, freight: dict) -> Downstream:
    """One downstream Stage against Kargo's rules (module docstring, steps 2-6)."""
    name = down["metadata"]["name"]
    key = origin_of(freight)
    fname = freight["metadata"]["name"]
    status = down.get("status") or {}
    hold = (status.get("effectiveAutoPromotionHolds") or {}).get(key)
    if hold is not None:
        by = hold.get("promotionName") or "a Promotion"
        who = f" by {hold['actor']}" if hold.get("actor") else ""
        return Downstream(
            name,
            NOT_EXPECTED,
            f"auto-promotion of {key} is on hold (set by {by}{who}; regular_stages.go L1931-1935): "
            f"promote its candidate to {name} to release it",
        )
    available = reader.available_freight(project, name)
    if fname not in {f["metadata"]["name"] for f in available}:
        _, why_not = is_available(down, freight)
        return Downstream(name, NOT_EXPECTED, f"{st.short(fname)} is not available to {name} yet: {why_not}")
    candidates, why = auto_promotion_candidates(down, available)
    candidate = candidates.get(key)
    if candidate is None:
        return Downstream(name, NOT_EXPECTED, f"Kargo has no candidate: {why.get(key, 'none')}")
    if candidate["metadata"]["name"] != fname:
        other = candidate["metadata"]["name"]
        return Downstream(
            name, NOT_EXPECTED, f"Kargo's candidate is {st.short(other)}, not {st.short(fname)}: it promotes that one"
        )
    if st.holds(down, fname):
        return Downstream(name, STARTED, "already holds it")
    promos = [p for p in reader.list_promotions(project, name) if _freight_of(p) == fname]
    last = (status.get("lastPromotion") or {}).get("name") or ""
    running = _unprocessed(promos, last)
    if running is not None:
        return Downstream(name, STARTED, f"{running['metadata']['name']} {_phase(running)}")
    newest = _newest_terminal(promos)
    if newest is not None and _phase(newest) != "Succeeded" and _has_anti_loop(reader):
        return Downstream(
            name,
            NOT_EXPECTED,
            f"its last Promotion of {st.short(fname)} ({newest['metadata']['name']}) ended {_phase(newest)}: "
            "Kargo does not retry it on its own (anti-loop, regular_stages.go L1990-1999); promote it "
            "explicitly once fixed",
        )
    return Downstream(name, WAITING, "Kargo's candidate; no Promotion yet")


def auto_promoting(reader: Any, project: str, stage: str) -> tuple[list[dict], list[dict]]:
    """(downstream Stages of `stage`, those with auto-promotion enabled)."""
    downstream = [s for s in reader.list_stages(project) if stage in st.upstreams(s)]
    return downstream, [s for s in downstream if (s.get("status") or {}).get("autoPromotionEnabled")]
