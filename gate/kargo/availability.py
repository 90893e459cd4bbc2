"""May this Freight be promoted to this Stage, as far as availability goes: one answer for `gate precheck`
(rule pre.upstream-verified) and for every Freight `gate diagnose` suggests, so the two never disagree.

Kargo's own rule (`Stage.IsFreightAvailable`, api/v1alpha1/stage_types.go:174-207, in gate.kargo.freight
`is_available`), made strict where Kargo's record is sticky: an upstream that still holds the Freight must
have its latest verification Successful (regular_stages.go:1103-1121 keep Verified/verifiedIn after a failed
re-verification). A control-flow upstream holds nothing and writes verifiedIn itself
(control_flow_stages.go:373, 391-418); an upstream that moved on keeps verifiedIn (freight_types.go:147-154).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gate.kargo import stages as st
from gate.kargo.freight import is_available, soak_left
from gate.kargo.steps import is_control_flow


@dataclass
class Availability:
    ok: bool
    text: str  # what was observed, one line
    current: bool = False  # already current and verified in the target
    direct: bool = False  # available without any upstream verification (approved or direct)
    soak_left: float | None = None  # seconds of soak still needed, when soaking alone would make it available
    upstreams: tuple[str, ...] = ()  # the upstream Stages the Freight's origin is requested from
    blocking: str = ""  # the first upstream whose strict check failed (its diagnosis explains it)


def requested(target: dict, freight: dict) -> dict:
    """The target's requestedFreight entry for the Freight's origin, or {}."""
    origin = (freight.get("origin") or {}).get("name")
    return next((q for q in (target.get("spec") or {}).get("requestedFreight") or []
                 if (q.get("origin") or {}).get("name") == origin), {})


def availability(target: dict, freight: dict, upstreams: dict[str, dict], now: datetime) -> Availability:
    """Kargo's availability of `freight` to `target`, strict about upstreams that hold it. `upstreams` maps
    upstream Stage name -> Stage (those the target requests the origin from)."""
    name = freight["metadata"]["name"]
    current, how_current = st.verified_now(target, name)
    if current:  # the upstream may have moved on since; what matters is that the target verified it
        return Availability(True, f"already current and verified in the target ({how_current})", current=True)
    request = requested(target, freight)
    sources = request.get("sources") or {}
    ups = tuple(sources.get("stages") or [])
    ok, why = is_available(target, freight, now)
    if not ok:
        return Availability(False, f"not available to {target['metadata']['name']}: {why}",
                            soak_left=soak_left(target, freight, now), upstreams=ups)
    if not ups or sources.get("direct") or "approved" in why:
        return Availability(True, why, direct=True, upstreams=ups)
    strict = [strict_upstream(target, freight, request, up, upstreams[up], now) if up in upstreams
              else (False, f"{up}: could not read the upstream Stage") for up in ups]
    need_all = (sources.get("availabilityStrategy") or "OneOf") == "All"
    passed = all(v for v, _ in strict) if need_all else any(v for v, _ in strict)
    text = "; ".join(t for _, t in strict)
    if passed:
        return Availability(True, f"{text}; Kargo: {why}", upstreams=ups)
    blocking = next(up for up, (v, _) in zip(ups, strict, strict=True) if not v)
    return Availability(False, text, upstreams=ups, blocking=blocking)


def strict_upstream(target: dict, freight: dict, request: dict, up: str, upstage: dict,
                    now: datetime) -> tuple[bool, str]:
    """One upstream, strictly. Holding the Freight: its latest verification must be Successful. Control-flow
    or moved on: verifiedIn plus soak decides, as Kargo's availability does (stage_types.go:174-207)."""
    name = freight["metadata"]["name"]
    if not is_control_flow(upstage) and st.holds(upstage, name):
        return st.verified_now(upstage, name)
    one = {
        "metadata": {"name": target["metadata"]["name"]},
        "spec": {"requestedFreight": [{**request, "sources": {**(request.get("sources") or {}),
                                                              "stages": [up], "direct": False}}]},
    }
    ok, why = is_available(one, freight, now)
    since = (((freight.get("status") or {}).get("verifiedIn") or {}).get(up) or {}).get("verifiedAt")
    if is_control_flow(upstage):
        head = f"{up} is a control-flow Stage (no promotion steps; Kargo marks Freight verifiedIn itself)"
    else:
        current = ", ".join(map(st.short, st.freight_names(st.current_collection(upstage)))) or "nothing"
        verb = "has moved on to" if st.in_history(upstage, name) else "does not hold it, holds"
        head = f"{up} {verb} {current}"
    if not ok:
        return False, f"{head}; {why}"
    return True, f"{head}; verifiedIn[{up}]" + (f" (since {since})" if since else "") + " decides"
