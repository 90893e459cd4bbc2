"""Answers judged readable: the one place where an API answer becomes data a check may observe.

Every answer from the Kubernetes API, the Kargo API and the Prometheus-style APIs (Prometheus, Loki,
Alertmanager) passes one of these shape checks first. An answer that fails is `UnreadableAnswer`, a
TransientError: retried like a 503 (the next answer may be whole), ERROR at the deadline, never data.
So `{}`, `null`, an empty body, `{"items": null}` or a `kind: Status` body on a 200 is never "an empty
list", and a Prometheus answer without `data` is never "0 series".

Shapes, and where they come from:
- Kubernetes list: `kind` is `<Kind>List`, `items` a list of objects (apimachinery's ListMeta/TypeMeta;
  the API server always sets kind and `items: []` on an empty list). A get: `kind` is the kind asked for.
- Kargo REST (/v1beta1, reference/kargo/api/swagger-v1.11.2.json): lists are `PromotionList`,
  `StageList`, `V1EventList` with `items` an array (kargo v1.11.2 pkg/server/list_promotions_v1alpha1.go:97
  answers the typed list, `items` never omitted); QueryFreight is `pkg_server.queryFreightsResponse`,
  `groups` an object of `{items: [...]}` (pkg/server/query_freights_v1alpha1.go:28-33, always a map).
- Kargo Connect (servers before v1.9): proto3 JSON omits empty repeated fields, so `{}` is an empty
  ListPromotionsResponse, but `null`, an empty body or `{"promotions": null}` is not.
- Prometheus HTTP API (prometheus/web/api/v1): `{"status": "success", "data": {"resultType", "result"}}`,
  sample values are strings of a float ("NaN", "+Inf" included); targets `data.activeTargets` a list.
- Loki query_range: `resultType` "streams" with `values` pairs of [ns timestamp, line] strings.
- Alertmanager v2 (api/v2/openapi.yaml): status has `cluster.status` a string; alerts is an array.
"""

from __future__ import annotations

import json
from typing import Any

from gate import redact
from gate.errors import TransientError

PROM_RESULT_TYPES = frozenset({"vector", "matrix", "scalar", "string"})
LOKI_RESULT_TYPES = frozenset({"streams", "vector", "matrix", "scalar"})
EXCERPT = 120


class UnreadableAnswer(TransientError):
    """An answer whose shape the gate cannot read: never data, retried, ERROR at the deadline."""


def _excerpt(body: Any) -> str:
    """What came, by shape only: an answer that fails its check may still hold a Secret's data, so no
    value of an object is ever quoted (only its keys); short non-JSON text (an HTML error page) is."""
    if getattr(body, "encoding", None) == "protobuf":  # listbody.Unparsed from gate.cluster.protobody
        return f"{body.size} bytes that do not decode: {body}"
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8", "replace")
    if body is None:
        return "null"
    if isinstance(body, str):
        text = " ".join(body.split())
        if not text:
            return "an empty body"
        if text[0] in "{[\"" or len(text) > EXCERPT:
            return f"{getattr(body, 'size', len(body))} characters that do not parse as JSON"  # listbody.Unparsed
        return repr(redact.redact(text))
    if isinstance(body, dict):
        keys = list(body)
        shown = ", ".join(map(str, keys[:8])) + (", …" if len(keys) > 8 else "")
        return f"an object with keys {shown}" if keys else "{}"
    if isinstance(body, list):
        return f"a list of {len(body)}"
    return type(body).__name__


def unreadable(what: str, why: str, body: Any) -> UnreadableAnswer:
    return UnreadableAnswer(f"{what}: unreadable answer: {why} (got {_excerpt(body)})")


def _mapping(body: Any, what: str, expected: str) -> dict:
    if not isinstance(body, dict):
        got = "an empty body" if body in (None, "") else f"{type(body).__name__}, not a JSON object"
        if isinstance(body, str) and body:
            got = f"not {getattr(body, 'encoding', 'JSON')} (cut short or malformed)"  # listbody.Unparsed's
        raise unreadable(what, f"{got} where {expected} was expected", body)
    return body


def _no_status(body: dict, what: str, expected: str) -> None:
    if body.get("kind") == "Status":
        msg = body.get("message") or body.get("reason") or body.get("status") or ""
        raise unreadable(what, f"a Status ({body.get('status', '?')}: {msg}) where {expected} was expected",
                         body)


def _items(body: dict, key: str, what: str, expected: str, *, optional: bool = False) -> list[dict]:
    if optional and key not in body:
        return []
    items = body.get(key)
    if not isinstance(items, list):
        raise unreadable(what, f"`{key}` is {_kind_of(items)}, not a list, in {expected}", body)
    for item in items:
        meta = item.get("metadata") if isinstance(item, dict) else None
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
            raise unreadable(what, f"an entry of `{key}` is not an object with metadata.name", body)
    return items


def _kind_of(value: Any) -> str:
    if value is None:
        return "null (or missing)"
    return {dict: "an object", str: "a string", bool: "a boolean"}.get(type(value), type(value).__name__)


# -- Kubernetes --------------------------------------------------------------------------------------

def kube_list(body: Any, kind: str, what: str) -> tuple[list[dict], str | None]:
    """(items, continue token) of a `<kind>List`."""
    expected = f"a {kind}List"
    body = _mapping(body, what, expected)
    _no_status(body, what, expected)
    if body.get("kind") != f"{kind}List":
        raise unreadable(what, f"kind {body.get('kind')!r} where {expected} was expected", body)
    items = _items(body, "items", what, expected)
    meta = body.get("metadata") or {}
    if not isinstance(meta, dict) or not isinstance(meta.get("continue") or "", str):
        raise unreadable(what, f"list metadata is not an object with a string `continue` in {expected}", body)
    return items, meta.get("continue") or None


def kube_object(body: Any, kind: str, what: str) -> dict:
    """An object of the kind asked for, with metadata.name."""
    expected = f"a {kind}"
    body = _mapping(body, what, expected)
    _no_status(body, what, expected)
    if body.get("kind") != kind:
        raise unreadable(what, f"kind {body.get('kind')!r} where {expected} was expected", body)
    meta = body.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise unreadable(what, f"no metadata.name in {expected}", body)
    return body


# -- Kargo -------------------------------------------------------------------------------------------

def kargo_list(body: Any, what: str, *, key: str = "items", connect: bool = False) -> list[dict]:
    """REST: a `*List` with `items` an array. Connect: `key` (e.g. "promotions") omitted means empty."""
    expected = f"a Kargo list (`{key}`)"
    body = _mapping(body, what, expected)
    _no_status(body, what, expected)
    kind = body.get("kind")
    if not connect and kind is not None and not str(kind).endswith("List"):
        raise unreadable(what, f"kind {kind!r} where {expected} was expected", body)
    return _items(body, key, what, expected, optional=connect)


def kargo_object(body: Any, kind: str, what: str, *, key: str | None = None) -> dict:
    """A Kargo object (REST: the body; Connect: body[key]) with metadata.name, of `kind` if it says."""
    expected = f"a {kind}"
    body = _mapping(body, what, expected)
    if key is not None:
        body = _mapping(body.get(key), what, f"{expected} under `{key}`")
    _no_status(body, what, expected)
    if body.get("kind") not in (None, "", kind):
        raise unreadable(what, f"kind {body.get('kind')!r} where {expected} was expected", body)
    meta = body.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise unreadable(what, f"no metadata.name in {expected}", body)
    return body


def kargo_version(body: Any, what: str) -> str:
    """REST `VersionInfo` (swagger): an object whose `version` is a non-empty string."""
    body = _mapping(body, what, "a VersionInfo")
    version = body.get("version")
    if not isinstance(version, str) or not version:
        raise unreadable(what, f"`version` is {_kind_of(version)}, not a version string", body)
    return version


def kargo_object_or_empty(body: Any, what: str) -> dict:
    """A Connect response message: an object, `{}` when every field is empty (protojson)."""
    return _mapping(body, what, "a Connect response object")


def kargo_freight_groups(body: Any, what: str, *, connect: bool = False) -> list[dict]:
    """QueryFreight: every Freight of every group. REST `groups` is always an object (possibly empty);
    Connect may omit it and a group's `freight` when empty."""
    expected = "a QueryFreight answer (`groups`)"
    body = _mapping(body, what, expected)
    _no_status(body, what, expected)
    if connect and "groups" not in body:
        return []
    groups = body.get("groups")
    if not isinstance(groups, dict):
        raise unreadable(what, f"`groups` is {_kind_of(groups)}, not an object, in {expected}", body)
    out: list[dict] = []
    for group in groups.values():
        group = _mapping(group, what, "a Freight group")
        out += _items(group, "freight" if connect else "items", what, "a Freight group", optional=connect)
    return out


# -- Prometheus, Loki, Alertmanager ------------------------------------------------------------------

def parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise unreadable(what, "not JSON (cut short or malformed)", text) from None


def sample_value(value: Any, what: str) -> float:
    """A Prometheus sample value: a string holding a float ("1", "0.5", "NaN", "+Inf")."""
    if not isinstance(value, str):
        raise unreadable(what, f"sample value {value!r} is not a string holding a number", value)
    try:
        return float(value)
    except ValueError:
        raise unreadable(what, f"sample value {value!r} is not a number", value) from None


def _sample(pair: Any, what: str) -> float:
    if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], (int, float)) \
            or isinstance(pair[0], bool):
        raise unreadable(what, "a sample is not a [timestamp, value] pair", pair)
    return sample_value(pair[1], what)


def prometheus_data(body: Any, what: str, types: frozenset[str] | None = PROM_RESULT_TYPES) -> dict:
    """`data` of a successful answer with a known `resultType` (`types=None`: none expected, as for
    targets). An `"status": "error"` answer is the caller's to report first; here it is only unreadable."""
    body = _mapping(body, what, "a Prometheus API answer")
    if body.get("status") != "success":
        raise unreadable(what, f"status {body.get('status')!r}, not 'success'", body)
    data = body.get("data")
    if not isinstance(data, dict):
        raise unreadable(what, f"`data` is {_kind_of(data)}, not an object", body)
    if types is not None:
        kind = data.get("resultType")
        if kind not in types:
            raise unreadable(what, f"resultType {kind!r} is none of {', '.join(sorted(types))}", body)
    return data


def prometheus_series(data: dict, what: str) -> list[tuple[dict, float]]:
    """(labels, value) per series of an instant query's data; a matrix counts its last sample."""
    kind, result = data["resultType"], data.get("result")
    if kind in ("scalar", "string"):  # [t, "v"]; a string result must hold a number to be compared
        return [({}, _sample(result, what))]
    if not isinstance(result, list):
        raise unreadable(what, f"`result` is {_kind_of(result)}, not a list", data)
    out: list[tuple[dict, float]] = []
    for series in result:
        if not isinstance(series, dict) or not isinstance(series.get("metric", {}), dict):
            raise unreadable(what, "a series is not an object with a metric", series)
        if kind == "vector":
            value = _sample(series.get("value"), what)
        else:
            values = series.get("values")
            if not isinstance(values, list) or not values:
                raise unreadable(what, "a matrix series has no samples", series)
            value = [_sample(v, what) for v in values][-1]
        out.append((series.get("metric") or {}, value))
    return out


def prometheus_targets(data: dict, what: str) -> list[dict]:
    targets = data.get("activeTargets")
    if not isinstance(targets, list):
        raise unreadable(what, f"`activeTargets` is {_kind_of(targets)}, not a list", data)
    for target in targets:
        if not isinstance(target, dict) or not isinstance(target.get("health"), str) \
                or not isinstance(target.get("labels", {}), dict):
            raise unreadable(what, "a target is not an object with a string health and labels", target)
    return targets


def loki_streams(data: dict, what: str) -> list[tuple[dict, list[tuple[str, str]]]]:
    """(labels, [(ns timestamp, line)]) per stream of a log query's data."""
    result = data.get("result")
    if not isinstance(result, list):
        raise unreadable(what, f"`result` is {_kind_of(result)}, not a list", data)
    out = []
    for stream in result:
        if not isinstance(stream, dict) or not isinstance(stream.get("values"), list):
            raise unreadable(what, "a stream is not an object with a list of values", stream)
        lines = []
        for pair in stream["values"]:
            if not isinstance(pair, list) or len(pair) < 2 or not all(isinstance(p, str) for p in pair[:2]):
                raise unreadable(what, "a log entry is not a [timestamp, line] pair of strings", pair)
            lines.append((pair[0], pair[1]))
        out.append((stream.get("stream") or {}, lines))
    return out


def alertmanager_status(body: Any, what: str) -> dict:
    body = _mapping(body, what, "an Alertmanager status")
    cluster = body.get("cluster")
    if not isinstance(cluster, dict) or not isinstance(cluster.get("status"), str):
        raise unreadable(what, "no cluster.status string in an Alertmanager status", body)
    if not isinstance(cluster.get("peers") or [], list):
        raise unreadable(what, "cluster.peers is not a list", body)
    return body


def alertmanager_alerts(body: Any, what: str) -> list[dict]:
    if not isinstance(body, list) or not all(isinstance(a, dict) for a in body):
        raise unreadable(what, "not a list of alerts", body)
    return body
