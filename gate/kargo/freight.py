"""Which Freight: selection (--freight, --freight-alias, --origin, latest-verified/-available) and Kargo's
availability rule (`Stage.IsFreightAvailable`, notes/kargo.md §2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gate.engine.durations import format as fmt_duration
from gate.engine.durations import parse as parse_duration
from gate.errors import ConfigError, GateClosed
from gate.kargo.client import parse_version
from gate.kargo.stages import short
from gate.kargo.timefmt import parse_time

LATEST_VERIFIED = "latest-verified"  # newest available Freight that was verified upstream
LATEST_AVAILABLE = "latest-available"  # newest available Freight for any reason (approved, direct too)
ORIGIN_SINCE = (1, 11, 0)


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


def _discovered(freight: dict) -> tuple[datetime, str]:
    """Kargo's newest-first key: EffectiveDiscoveredAt (discoveredAt, else creationTimestamp), then name
    (api/v1alpha1/freight_types.go L59-67; pkg/api/auto_promotion.go L131-137)."""
    meta = freight.get("metadata") or {}
    when = parse_time(freight.get("discoveredAt")) or parse_time(meta.get("creationTimestamp"))
    return (when or datetime.min.replace(tzinfo=UTC), meta.get("name", ""))


def _newest(items: list[dict]) -> dict | None:
    return max(items, key=_discovered) if items else None


def origin_key(request: dict) -> str:
    origin = request.get("origin") or {}
    return f"{origin.get('kind') or 'Warehouse'}/{origin.get('name', '')}"


def _match_upstream(request: dict) -> str | None:
    """The one upstream Stage of a MatchUpstream request (not direct), else None."""
    sources = request.get("sources") or {}
    policy = (sources.get("autoPromotionOptions") or {}).get("selectionPolicy")
    ups = sources.get("stages") or []
    if policy == "MatchUpstream" and not sources.get("direct") and ups:
        return ups[0]
    return None


def as_kargo_lists(stage: dict, available: list[dict]) -> list[dict]:
    """The available Freight as Kargo's list shows it (`GET …/freight?stage=`, ListFreightAvailableToStage):
    under MatchUpstream only what is currently in the upstream (pkg/api/stage.go L175-180). The REST list
    is already filtered; the Kubernetes reader's, built from `is_available` (Stage.IsFreightAvailable,
    which has no such filter and is what a manual promotion is checked against), is not."""
    upstream_of = {origin_key(r): _match_upstream(r) for r in (stage.get("spec") or {}).get("requestedFreight") or []}
    return [
        f
        for f in available
        if not (up := upstream_of.get(origin_of(f))) or up in ((f.get("status") or {}).get("currentlyIn") or {})
    ]


def auto_promotion_candidates(stage: dict, available: list[dict]) -> tuple[dict[str, dict], dict[str, str]]:
    """Kargo's `SelectAutoPromotionCandidates` (pkg/api/auto_promotion.go L97-141, v1.11.2): per requested
    origin, the newest available Freight; none when there is none, or under MatchUpstream when more than
    one is in the upstream (L115-129), from the list as Kargo shows it (`as_kargo_lists`). Returns
    (candidates, why-none) keyed "Warehouse/W"."""
    name = stage["metadata"]["name"]
    candidates: dict[str, dict] = {}
    why: dict[str, str] = {}
    for request in (stage.get("spec") or {}).get("requestedFreight") or []:
        key = origin_key(request)
        mine = [f for f in as_kargo_lists(stage, available) if origin_of(f) == key]
        upstream = _match_upstream(request)
        if not mine:
            why[key] = f"no Freight from {key} is available to Stage {name}" + (
                f" and currently in {upstream} (MatchUpstream)" if upstream else ""
            )
        elif upstream and len(mine) > 1:
            names = ", ".join(sorted(short(f["metadata"]["name"]) for f in mine))
            why[key] = (
                f"MatchUpstream: {len(mine)} Freight from {key} are in {upstream} at once ({names}), so Kargo "
                f"has no auto-promotion candidate for {name} until {upstream} holds one "
                "(pkg/api/auto_promotion.go L115-129)"
            )
        else:
            candidates[key] = max(mine, key=_discovered)
    return candidates, why


def verified_upstream(stage: dict, freight: dict) -> bool:
    """Available because it was verified upstream (per the availability strategy), not merely approved
    for the Stage or taken directly from its Warehouse (which were never verified anywhere)."""
    request = next(
        (r for r in (stage.get("spec") or {}).get("requestedFreight") or [] if origin_key(r) == origin_of(freight)),
        None,
    )
    ups = ((request or {}).get("sources") or {}).get("stages") or []
    verified = set((freight.get("status") or {}).get("verifiedIn") or {})
    if not ups:
        return False
    if (((request or {}).get("sources") or {}).get("availabilityStrategy") or "OneOf") == "All":
        return set(ups) <= verified
    return bool(verified & set(ups))


def require_origin_api(reader: Any) -> None:
    """Promote-by-origin exists from Kargo v1.11.0 on, and only over REST: the REST body of v1.9–v1.10 has
    only freight/freightAlias (pkg/server/promote_to_stage_v1alpha1.go L159-163 and swagger.json
    PromoteToStageRequest at v1.10.10; the server answers 400 "exactly one of freight or freightAlias
    must be provided", L188-195), and Connect's PromoteToStage never took one (v1.11.2 L28-33)."""
    version = getattr(reader, "version", None)
    parsed = parse_version(version)
    if parsed is None:
        return  # the Kubernetes reader: it never promotes
    if getattr(reader, "connect", False) or parsed < ORIGIN_SINCE:
        raise ConfigError(
            f"--origin needs Kargo v1.11.0 or newer (promote-by-origin arrived in v1.11.0; this Kargo API "
            f"is {version}, which rejects it): pass --freight NAME or --freight {LATEST_AVAILABLE}",
            key="--origin",
        )


def _parse_origin(origin: str) -> str:
    kind, _, wh = origin.partition("/")
    if not wh:
        kind, wh = "Warehouse", kind
    if kind != "Warehouse" or not wh:
        raise ConfigError(f"--origin must be Warehouse/NAME, got {origin!r}", key="--origin")
    return f"Warehouse/{wh}"


def _latest(reader: Any, project: str, stage: str, *, verified: bool) -> Selection:
    target = reader.get_stage(project, stage)
    candidates = as_kargo_lists(target, reader.available_freight(project, stage))
    word = LATEST_VERIFIED if verified else LATEST_AVAILABLE
    if verified:
        candidates = [f for f in candidates if verified_upstream(target, f)]
    newest = _newest(candidates)
    if newest is None:
        raise GateClosed(
            f"no Freight verified upstream is available to Stage {stage} (approved or direct Freight was "
            f"never verified: --freight {LATEST_AVAILABLE} takes those too)"
            if verified
            else f"no Freight is available to Stage {stage}: nothing is verified (and soaked) upstream, "
            "approved for it or direct from its Warehouse"
        )
    sel = Selection(newest, {"freight": newest["metadata"]["name"]}, "")
    what = "verified upstream and available" if verified else "available"
    sel.how = f"{word.replace('-', ' ')}: {sel.label}, newest of {len(candidates)} {what} to {stage}"
    return sel


def _by_origin(reader: Any, project: str, stage: str, origin: str) -> Selection:
    """Kargo's own choice for PromoteToStage{origin}: the webhook resolves it with the auto-promotion
    selection (pkg/webhook/kubernetes/promotion/webhook.go L198-208, L322-352)."""
    require_origin_api(reader)
    key = _parse_origin(origin)
    target = reader.get_stage(project, stage)
    requested = {origin_key(r) for r in (target.get("spec") or {}).get("requestedFreight") or []}
    if key not in requested:
        raise ConfigError(
            f"Stage {stage} does not request Freight from {key} (it requests {', '.join(sorted(requested))})",
            key="--origin",
        )
    candidates, why = auto_promotion_candidates(target, reader.available_freight(project, stage))
    if key not in candidates:
        raise GateClosed(f"Kargo would refuse --origin {key}: {why.get(key, 'no candidate')}")
    sel = Selection(candidates[key], {"origin": key}, "")
    sel.how = f"--origin {key}: candidate {sel.label}"
    return sel


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
            "pass exactly one of --freight NAME, --freight-alias ALIAS, --origin Warehouse/W, "
            f"--freight {LATEST_VERIFIED} or --freight {LATEST_AVAILABLE}",
            key="--freight",
        )
    if freight in (LATEST_VERIFIED, LATEST_AVAILABLE):
        return _latest(reader, project, stage, verified=freight == LATEST_VERIFIED)
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
    return _by_origin(reader, project, stage, origin or "")
