"""Kargo's own decisions, read from akuity/kargo v1.11.2 and written here independently of the gate.

The gate (gate/kargo, checks/) has its own reading of the same rules; the simulator must not share it,
so that the two can disagree and a test can catch it (tests/test_sim_independence.py). Line numbers are
at tag v1.11.2.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import UTC, datetime
from typing import Any

TERMINAL_PROMOTION = ("Succeeded", "Failed", "Errored", "Aborted")
# api/v1alpha1/verification_types.go: VerificationPhase.IsTerminal
TERMINAL_VERIFICATION = ("Successful", "Failed", "Error", "Aborted", "Inconclusive")

_GO_UNIT = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_GO_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str) -> float:
    """Seconds in a Go `time.ParseDuration` string (`1h30m`, `5m0s`, `1.5h`); what metav1.Duration holds."""
    text = str(text).strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    pos, total = 0, 0.0
    for m in _GO_PART.finditer(text):
        if m.start() != pos or m.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _GO_UNIT[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {text!r}")
    return sign * total


def go_duration_string(seconds: float) -> str:
    """metav1.Duration's JSON form for whole seconds (`time.Duration.String`): 48h0m0s, 5m0s, 30s."""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    if h:
        return f"{h}h{m}m{sec}s"
    if m:
        return f"{m}m{sec}s"
    return f"{sec}s"


def parse_time(text: Any) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None


def origin_key(origin: dict | None) -> str:
    """FreightOrigin.String() (api/v1alpha1/stage_types.go:275): `Kind/name`."""
    origin = origin or {}
    return f"{origin.get('kind', '')}/{origin.get('name', '')}"


# -- Freight (api/v1alpha1/freight_types.go) ------------------------------------------------------
def _status(freight: dict) -> dict:
    return freight.get("status") or {}


def verified_in(freight: dict, stage: str) -> bool:
    """Freight.IsVerifiedIn (freight_types.go:149): a key in status.verifiedIn."""
    return stage in (_status(freight).get("verifiedIn") or {})


def approved_for(freight: dict, stage: str) -> bool:
    """Freight.IsApprovedFor (freight_types.go:158)."""
    return stage in (_status(freight).get("approvedFor") or {})


def longest_soak(freight: dict, stage: str, now: datetime) -> float:
    """Freight.GetLongestSoak (freight_types.go:170): 0 unless verified there; else the longer of the
    recorded longestSoak and the time since it became current there (if it still is)."""
    st = _status(freight)
    record = (st.get("verifiedIn") or {}).get(stage)
    if record is None:
        return 0.0
    completed = go_duration(record["longestSoak"]) if (record or {}).get("longestSoak") else 0.0
    current = 0.0
    since = parse_time(((st.get("currentlyIn") or {}).get(stage) or {}).get("since"))
    if stage in (st.get("currentlyIn") or {}) and since is not None:
        current = (now - since).total_seconds()
    return max(completed, current)


def has_soaked_in(freight: dict, stage: str, required: str | None, now: datetime) -> bool:
    """Freight.HasSoakedIn (freight_types.go:188): no required soak time means soaked."""
    if not required:
        return True
    return longest_soak(freight, stage, now) >= go_duration(required)


def discovered_at(freight: dict) -> str:
    """Freight.EffectiveDiscoveredAt (freight_types.go:62): discoveredAt, else creationTimestamp."""
    return freight.get("discoveredAt") or (freight.get("metadata") or {}).get("creationTimestamp") or ""


# -- Stage (api/v1alpha1/stage_types.go) ----------------------------------------------------------
def is_available(stage: dict, freight: dict, now: datetime | None = None) -> bool:
    """Stage.IsFreightAvailable (stage_types.go:176-206), line by line."""
    now = now or datetime.now(UTC)
    smeta, fmeta = stage.get("metadata") or {}, freight.get("metadata") or {}
    if smeta.get("namespace") != fmeta.get("namespace"):
        return False
    name = smeta.get("name", "")
    for req in (stage.get("spec") or {}).get("requestedFreight") or []:
        if origin_key(freight.get("origin")) != origin_key(req.get("origin")):
            continue
        if approved_for(freight, name):
            return True
        sources = req.get("sources") or {}
        if sources.get("direct"):
            return True
        soak = sources.get("requiredSoakTime")
        ups = sources.get("stages") or []
        if sources.get("availabilityStrategy") == "All":
            return all(verified_in(freight, up) and has_soaked_in(freight, up, soak, now) for up in ups)
        if any(verified_in(freight, up) and has_soaked_in(freight, up, soak, now) for up in ups):
            return True
    return False


def available_to_stage(stage: dict, freights: list[dict], now: datetime | None = None) -> list[dict]:
    """api.ListFreightAvailableToStage (pkg/api/stage.go:138-201): Freight available to the Stage; for a
    requested origin whose selection policy is MatchUpstream, only Freight currently in its one upstream
    Stage (listOpts.CurrentlyIn, stage.go:175-180; the `currentlyIn` field index, warehouse.go:121-124)."""
    upstream_of: dict[str, str] = {}
    for req in (stage.get("spec") or {}).get("requestedFreight") or []:
        sources = req.get("sources") or {}
        policy = (sources.get("autoPromotionOptions") or {}).get("selectionPolicy")
        if policy == "MatchUpstream" and not sources.get("direct") and sources.get("stages"):
            upstream_of[origin_key(req.get("origin"))] = sources["stages"][0]
    out = []
    for f in freights:
        upstream = upstream_of.get(origin_key(f.get("origin")))
        if upstream is not None and upstream not in (_status(f).get("currentlyIn") or {}):
            continue
        if is_available(stage, f, now):
            out.append(f)
    return out


def is_control_flow(stage: dict) -> bool:
    """Stage.IsControlFlow (stage_types.go:151-158): no promotion steps."""
    template = ((stage.get("spec") or {}).get("promotionTemplate") or {}).get("spec") or {}
    return not template.get("steps")


def select_candidates(stage: dict, available: list[dict]) -> dict[str, dict]:
    """api.SelectAutoPromotionCandidates (pkg/api/auto_promotion.go:95-140): per requested origin the
    newest available Freight (discoveredAt, then name, both descending); no candidate for an origin
    under MatchUpstream while more than one Freight is available (the transient race, ~116)."""
    by_origin: dict[str, list[dict]] = {}
    for f in available:
        by_origin.setdefault(origin_key(f.get("origin")), []).append(f)
    out: dict[str, dict] = {}
    for req in (stage.get("spec") or {}).get("requestedFreight") or []:
        key = origin_key(req.get("origin"))
        items = by_origin.get(key) or []
        if not items:
            continue
        policy = ((req.get("sources") or {}).get("autoPromotionOptions") or {}).get("selectionPolicy")
        if policy == "MatchUpstream" and len(items) > 1:
            continue
        out[key] = max(items, key=lambda f: (discovered_at(f), f["metadata"]["name"]))
    return out


# -- Promotions (pkg/controller/stages/regular_stages.go) -----------------------------------------
def newest_terminal(promotions: list[dict]) -> dict | None:
    """newestTerminalPromotionForStageFreight (regular_stages.go:2098-2134): terminal Promotions ordered
    by creationTimestamp, then name, both descending."""
    terminal = [p for p in promotions if ((p.get("status") or {}).get("phase")) in TERMINAL_PROMOTION]
    if not terminal:
        return None
    return max(
        terminal,
        key=lambda p: (parse_time(p["metadata"].get("creationTimestamp")) or datetime.min.replace(tzinfo=UTC),
                       p["metadata"]["name"]),
    )


def queue_order(promotions: list[dict]) -> list[dict]:
    """api.ComparePromotionByPhaseAndCreationTime (pkg/api/promotion.go:203-244): Running first, then the
    other non-terminal ones by name ascending (FIFO by ULID), then terminal ones by name descending."""

    def key(p: dict) -> tuple[int, str]:
        phase = (p.get("status") or {}).get("phase") or ""
        name = p["metadata"]["name"]
        if phase == "Running":
            return (0, name)
        if phase not in TERMINAL_PROMOTION:
            return (1, name)
        return (2, "".join(chr(0x10FFFF - ord(c)) for c in name))  # descending

    return sorted(promotions, key=key)


# -- Verification and Ready (regular_stages.go) ---------------------------------------------------
def has_non_terminal_verification(collection: dict | None) -> bool:
    """FreightCollection.HasNonTerminalVerification: any entry not yet terminal."""
    return any(
        (vi.get("phase") or "") not in TERMINAL_VERIFICATION
        for vi in (collection or {}).get("verificationHistory") or []
    )


def verified_condition(collection: dict | None) -> tuple[str, str, str] | None:
    """The Verified condition verifyStageFreight's deferred function sets (regular_stages.go:1102-1180):
    True once *any* verification of the current collection succeeded (a later failed re-verification
    does not flip it, ~1106-1121); otherwise from the latest entry. None: no history, leave it."""
    history = (collection or {}).get("verificationHistory") or []
    if not history:
        return None
    if any(vi.get("phase") == "Successful" for vi in history):
        return ("True", "Verified", "Freight has been verified")
    last = history[0]
    phase, message = last.get("phase") or "", last.get("message") or ""
    return {
        "Pending": ("Unknown", "VerificationPending", "Freight is pending verification"),
        "Running": ("Unknown", "VerificationRunning", "Freight is currently being verified"),
        "Failed": ("False", "VerificationFailed", message),
        "Error": ("False", "VerificationError", message),
        "Aborted": ("False", "VerificationAborted", message),
        "Inconclusive": ("Unknown", "VerificationInconclusive", message),
    }.get(phase, ("Unknown", "UnknownVerificationPhase", f"Freight verification is in an unknown phase: {phase}"))


def ready_condition(status: dict) -> tuple[str, str, str]:
    """summarizeConditions (regular_stages.go:2303-2402): Promoting, then a failed last Promotion, then
    Healthy, then Verified decide Ready; Ready copies Verified's reason and message (~2394)."""
    conds = {c.get("type"): c for c in status.get("conditions") or []}
    promoting = conds.get("Promoting")
    if promoting:
        return ("False", promoting.get("reason", ""), promoting.get("message", ""))
    last = (status.get("lastPromotion") or {}).get("status") or {}
    if last.get("phase") in TERMINAL_PROMOTION and last.get("phase") != "Succeeded":
        return ("False", f"LastPromotion{last['phase']}", last.get("message", ""))
    healthy = conds.get("Healthy")
    if not healthy or healthy.get("status") != "True":
        if healthy:
            return ("False", healthy.get("reason", ""), healthy.get("message", ""))
        return ("False", "Unhealthy", "Stage is not healthy")
    verified = conds.get("Verified")
    if not verified or verified.get("status") != "True":
        if verified:
            return ("False", verified.get("reason", ""), verified.get("message", ""))
        return ("False", "PendingVerification", "Stage is not verified")
    return ("True", verified.get("reason", ""), verified.get("message", ""))


def may_start_next(status: dict) -> bool:
    """syncPromotions' hold on the queue (regular_stages.go:822-845): no next Promotion while the current
    Freight's verification is not terminal; and while health is unknown or Healthy, not until the
    current Freight has a terminal verification."""
    history = status.get("freightHistory") or []
    if not history:
        return True
    current = history[0] or {}
    if has_non_terminal_verification(current):
        return False
    health = (status.get("health") or {}).get("status")
    if health in (None, "Healthy"):
        latest = (current.get("verificationHistory") or [None])[0]
        if latest is None or (latest.get("phase") or "") not in TERMINAL_VERIFICATION:
            return False
    return True


# -- auto-promotion policy (pkg/api/auto_promotion.go:21-84) --------------------------------------
def _name_matches(pattern: str, name: str) -> bool:
    """pattern.ParseNamePattern (pkg/pattern/matcher.go:22-33): glob:, regex:/regexp:, else exact."""
    if pattern.startswith("glob:"):
        return fnmatch.fnmatchcase(name, pattern[len("glob:") :])
    for prefix in ("regex:", "regexp:"):
        if pattern.startswith(prefix):
            return re.search(pattern[len(prefix) :], name) is not None
    return pattern == name


def _labels_match(selector: dict, labels: dict) -> bool:
    """metav1.LabelSelectorAsSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def auto_promotion_enabled(stage: dict, project_config: dict | None) -> bool:
    """IsAutoPromotionEnabled (auto_promotion.go:78-84): the first PromotionPolicy whose selector (or the
    deprecated `stage` name) matches the Stage decides; no ProjectConfig or no match: disabled."""
    meta = stage.get("metadata") or {}
    for policy in ((project_config or {}).get("spec") or {}).get("promotionPolicies") or []:
        selector = policy.get("stageSelector") or {"name": policy.get("stage") or ""}
        if selector.get("name") and not _name_matches(selector["name"], meta.get("name", "")):
            continue
        if (selector.get("matchLabels") or selector.get("matchExpressions")) and not _labels_match(
            selector, meta.get("labels") or {}
        ):
            continue
        return bool(policy.get("autoPromotionEnabled"))
    return False
