"""Which Freight: selection (--freight, --freight-alias, --origin, latest-verified) and Kargo's
availability rule (`Stage.IsFreightAvailable`, notes/kargo.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gate.durations import format as fmt_duration
from gate.durations import parse as parse_duration
from gate.errors import ConfigError, GateClosed
from gate.kargo.stages import short
from gate.kargo.timefmt import parse_time

LATEST_VERIFIED = "latest-verified"


@dataclass
class Selection:
    """What the user asked for, and the Freight it resolved to."""

    freight: dict
    request: dict  # the PromoteToStage body: exactly one of freight / freightAlias / origin
    how: str  # one line for the report

    @property
    def name(self) -> str:
        return self.freight["metadata"]["name"]

    @property
    def alias(self) -> str:
        return self.freight.get("alias") or (self.freight["metadata"].get("labels") or {}).get(
            "kargo.akuity.io/alias", ""
        )

    @property
    def label(self) -> str:
        return f"{short(self.name)} ({self.alias})" if self.alias else short(self.name)


def origin_of(freight: dict) -> str:
    origin = freight.get("origin") or {}
    return f"{origin.get('kind', 'Warehouse')}/{origin.get('name', '')}"


def _soak_seconds(freight: dict, upstream: str, now: datetime) -> float:
    st = freight.get("status") or {}
    longest = 0.0
    verified = (st.get("verifiedIn") or {}).get(upstream) or {}
    if verified.get("longestSoak"):
        try:
            longest = parse_duration(verified["longestSoak"])
        except ValueError:
            longest = 0.0
    since = parse_time(((st.get("currentlyIn") or {}).get(upstream) or {}).get("since"))
    if since is not None:
        longest = max(longest, (now - since).total_seconds())
    return longest


def is_available(stage: dict, freight: dict, now: datetime | None = None) -> tuple[bool, str]:
    """Kargo's rule: the origin is requested; then approved, or direct, or verified (and soaked) upstream
    (OneOf: any upstream; All: every upstream)."""
    now = now or datetime.now(UTC)
    name = stage["metadata"]["name"]
    st = freight.get("status") or {}
    request = next(
        (
            r
            for r in (stage.get("spec") or {}).get("requestedFreight") or []
            if f"{(r.get('origin') or {}).get('kind', 'Warehouse')}/{(r.get('origin') or {}).get('name')}"
            == origin_of(freight)
        ),
        None,
    )
    if request is None:
        return False, f"Stage {name} does not request Freight from {origin_of(freight)}"
    if name in (st.get("approvedFor") or {}):
        return True, f"approved for {name}"
    sources = request.get("sources") or {}
    if sources.get("direct"):
        return True, f"direct from {origin_of(freight)}"
    ups = sources.get("stages") or []
    if not ups:
        return False, "no sources"
    soak = parse_duration(sources["requiredSoakTime"]) if sources.get("requiredSoakTime") else 0.0
    verdicts: list[tuple[bool, str]] = []
    for up in ups:
        if up not in (st.get("verifiedIn") or {}):
            verdicts.append((False, f"not verified in {up}"))
        elif soak and (soaked := _soak_seconds(freight, up, now)) < soak:
            verdicts.append(
                (
                    False,
                    f"verified in {up} but soak time not met: soaked {fmt_duration(soaked)} of the "
                    f"{sources['requiredSoakTime']} required, {fmt_duration(_left(soak, soaked))} left",
                )
            )
        else:
            verdicts.append(
                (True, f"verified in {up}" + (f" and soaked {sources['requiredSoakTime']}" if soak else ""))
            )
    if (sources.get("availabilityStrategy") or "OneOf") == "All":
        ok = all(v for v, _ in verdicts)
    else:
        ok = any(v for v, _ in verdicts)
    return ok, "; ".join(text for _, text in verdicts)


def _left(required: float, soaked: float) -> float:
    """Seconds still to soak, rounded up to whole seconds (never "0s left" while it is not met)."""
    return float(max(1, -int(-(required - soaked) // 1)))


def soak_left(stage: dict, freight: dict, now: datetime | None = None) -> float | None:
    """Seconds until the Freight becomes available to the Stage by soaking alone, or None when soaking
    would not make it available (it is available already, approved, direct, or not verified where it
    must be). OneOf: the soonest upstream; All: the last one."""
    now = now or datetime.now(UTC)
    if is_available(stage, freight, now)[0]:
        return None
    request = next(
        (
            r
            for r in (stage.get("spec") or {}).get("requestedFreight") or []
            if f"{(r.get('origin') or {}).get('kind', 'Warehouse')}/{(r.get('origin') or {}).get('name')}"
            == origin_of(freight)
        ),
        None,
    )
    sources = (request or {}).get("sources") or {}
    ups = sources.get("stages") or []
    if not ups or not sources.get("requiredSoakTime"):
        return None
    soak = parse_duration(sources["requiredSoakTime"])
    verified = (freight.get("status") or {}).get("verifiedIn") or {}
    lefts = [
        _left(soak, _soak_seconds(freight, up, now)) if up in verified else None for up in ups
    ]
    if (sources.get("availabilityStrategy") or "OneOf") == "All":
        return None if None in lefts else max(x for x in lefts if x is not None)
    known = [x for x in lefts if x is not None]
    return min(known) if known else None


def _newest(items: list[dict]) -> dict | None:
    def key(f: dict) -> tuple[str, str]:
        return (f.get("discoveredAt") or f["metadata"].get("creationTimestamp") or "", f["metadata"]["name"])

    return max(items, key=key) if items else None


def select(
    reader: Any,
    project: str,
    stage: str,
    *,
    freight: str | None = None,
    alias: str | None = None,
    origin: str | None = None,
) -> Selection:
    """Resolve exactly one selector to a Freight object (404 → exit 2 naming it)."""
    chosen = [x for x in (freight, alias, origin) if x]
    if len(chosen) != 1:
        raise ConfigError(
            "pass exactly one of --freight NAME, --freight-alias ALIAS, --origin Warehouse/W or "
            "--freight latest-verified",
            key="--freight",
        )
    if freight == LATEST_VERIFIED:
        candidates = reader.available_freight(project, stage)
        newest = _newest(candidates)
        if newest is None:
            raise GateClosed(
                f"no Freight is available to Stage {stage}: nothing is verified (and soaked) "
                "upstream or approved for it"
            )
        sel = Selection(newest, {"freight": newest["metadata"]["name"]}, "")
        sel.how = f"latest verified: {sel.label}, newest of {len(candidates)} available to {stage}"
        return sel
    if freight:
        got = reader.get_freight(project, freight)
        sel = Selection(got, {"freight": got["metadata"]["name"]}, "")
        sel.how = f"--freight {freight}"
        return sel
    if alias:
        got = reader.get_freight(project, alias)
        sel = Selection(got, {"freightAlias": alias}, "")
        sel.how = f"--freight-alias {alias} = {short(got['metadata']['name'])}"
        return sel
    kind, _, wh = (origin or "").partition("/")
    if not wh:
        kind, wh = "Warehouse", kind
    if kind != "Warehouse":
        raise ConfigError(f"--origin must be Warehouse/NAME, got {origin!r}", key="--origin")
    from_wh = [f for f in reader.available_freight(project, stage) if origin_of(f) == f"Warehouse/{wh}"]
    newest = _newest(from_wh)
    if newest is None:
        raise GateClosed(f"no Freight from Warehouse/{wh} is available to Stage {stage}")
    sel = Selection(newest, {"origin": f"Warehouse/{wh}"}, "")
    sel.how = f"--origin Warehouse/{wh}: candidate {sel.label}"
    return sel
