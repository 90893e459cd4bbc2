"""Times and durations as Kargo's two APIs write them.

REST (v1.9+) and the Kubernetes API write `metav1.Time` as RFC 3339 strings and `metav1.Duration` as Go
duration strings ("1h5m0s"). The Connect API (< v1.9, and v1.9–v1.11 alongside REST) marshals Kargo's
generated protobuf types with protojson, where `metav1.Time` is the message `{seconds, nanos}` and
`metav1.Duration` the message `{duration}` (nanoseconds), int64 fields as JSON strings
(api/v1alpha1/generated.proto at v1.8.0: e.g. `optional .k8s.io.apimachinery.pkg.apis.meta.v1.Time
since = 1;` L378, `... meta.v1.Duration requiredSoakTime = 3;` L647). `normalize` turns a Connect
answer into the REST shape, so every reader sees one shape; `parse_time` accepts both anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

# int64 fields the gate compares as numbers; protojson writes int64 as strings
_INT64_KEYS = frozenset({"generation", "observedGeneration", "currentStep"})


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _proto_time(value: dict) -> datetime | None:
    """protojson `metav1.Time`: {"seconds": "1700000000", "nanos": 5}; either may be omitted when 0."""
    if not value or not set(value) <= {"seconds", "nanos"}:
        return None
    seconds, nanos = _int(value.get("seconds", 0)), _int(value.get("nanos", 0))
    if seconds is None or nanos is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=nanos // 1000)


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 string or a protojson {seconds, nanos}; None for anything else."""
    if isinstance(value, dict):
        return _proto_time(value)
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def rfc3339(when: datetime) -> str:
    text = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if when.microsecond:
        text += f".{when.microsecond:06d}".rstrip("0")
    return text + "Z"


def go_duration(nanoseconds: int) -> str:
    """Go's time.Duration.String() for whole and fractional seconds: 3900s → "1h5m0s"."""
    sign = "-" if nanoseconds < 0 else ""
    total = abs(nanoseconds)
    hours, rest = divmod(total, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    secs = f"{rest / 10**9:.9f}".rstrip("0").rstrip(".")
    if hours:
        return f"{sign}{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{sign}{minutes}m{secs}s"
    return f"{sign}{secs}s"


def normalize(value: Any, key: str = "") -> Any:
    """A Connect (protojson) answer in the REST shape: times as RFC 3339, durations as Go strings,
    generation/observedGeneration/currentStep as numbers."""
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        when = _proto_time(value) if "seconds" in value else None
        if when is not None:
            return rfc3339(when)
        if set(value) == {"duration"} and _int(value["duration"]) is not None:
            return go_duration(_int(value["duration"]))  # type: ignore[arg-type]
        return {k: normalize(v, k) for k, v in value.items()}
    if key in _INT64_KEYS and isinstance(value, str) and _int(value) is not None:
        return _int(value)
    return value
