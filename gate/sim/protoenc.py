"""Pods lists and Status answers in Kubernetes' protobuf, as kube-apiserver writes them for a client that
asks for `application/vnd.kubernetes.protobuf` first (client-go's typed Pod client; the gate's list reader).

Written here by hand from the schema the gate decodes (gate.cluster.protoschema: field numbers of
k8s.io/api generated.proto v1.36), not with the protobuf package the gate reads it with, so the tests
hold the reader against a second writer. As gogo-protobuf's generated Marshal does: fields in number
order; every non-pointer field written whatever its value (an empty string, a zero, a zero time as an
empty message); a pointer field only when set; map entries in key order. A pod's annotations,
creationTimestamp, managedFields and containers are written too (as the real server sends them), so the
reader skips fields it does not declare as it must on a real answer. What the simulator stores without
a field a real server would fill in (a condition without `lastProbeTime`) comes out as the server would
send it (a zero time: `null` in the reader's JSON shape).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from gate.cluster.protoschema import BOOL, INT32, INT64, MAP, MESSAGES, POINTER, STRING, TIME
from gate.sim.http import SimRequest, SimResponse
from gate.sim.protobuf import CONTENT_TYPE, MAGIC

ITEM = {"PodList": "Pod"}  # the lists written in protobuf, and their items' message
_PODS = re.compile(r"^/api/v1/(namespaces/[^/]+/)?pods(/[^/]+)?$")


def wants_protobuf(accept: str) -> bool:
    """kube-apiserver's negotiation, as far as the simulator plays it: protobuf when it is asked first."""
    first = accept.split(",")[0].split(";")[0].strip().lower()
    return first == CONTENT_TYPE


def negotiated(req: SimRequest, resp: SimResponse) -> SimResponse:
    """A Status answer to a read of pods that asked for protobuf first, in protobuf, as kube-apiserver
    encodes an error with the serializer the client negotiated. Elsewhere the simulator answers JSON
    (kubectl's protobuf requests accept it too), as it does for the objects it does not write here."""
    body = resp.body
    if not (isinstance(body, dict) and body.get("kind") == "Status" and req.method == "GET"
            and _PODS.match(req.path) and wants_protobuf(req.headers.get("accept", ""))):
        return resp
    headers = {k: v for k, v in resp.headers.items() if k.lower() != "content-type"}
    return SimResponse(resp.status, envelope(body, "v1", "Status"), {**headers, "Content-Type": CONTENT_TYPE})


def envelope(obj: dict, api_version: str, kind: str) -> bytes:
    """The answer: `k8s\\0` and a runtime.Unknown holding the object (raw), with empty contentEncoding and
    contentType (pkg/runtime/serializer/protobuf/protobuf.go)."""
    type_meta = _string(1, api_version) + _string(2, kind)
    raw = _list(obj, ITEM[kind]) if kind in ITEM else _message(obj, kind)
    return MAGIC + _len(1, type_meta) + _len(2, raw) + _string(3, "") + _string(4, "")


def _list(obj: dict, item: str) -> bytes:
    out = [_len(1, _message(obj.get("metadata") or {}, "ListMeta"))]
    out += [_len(2, _message(one, item)) for one in obj.get("items") or []]
    return b"".join(out)


def _message(obj: dict, message: str) -> bytes:
    parts: list[tuple[int, bytes]] = []
    for field in MESSAGES[message].fields:
        value = obj.get(field.name)
        if field.rule == POINTER and value is None:
            continue
        parts.append((field.number, _field(field.number, field.type, field.repeated, value)))
    parts += _extras(obj, message)
    return b"".join(data for _, data in sorted(parts, key=lambda p: p[0]))


def _field(number: int, type_: str, repeated: bool, value: Any) -> bytes:
    if repeated:
        return b"".join(_len(number, _message(v, type_)) for v in value or [])
    if type_ == MAP:
        return b"".join(_len(number, _string(1, k) + _string(2, v)) for k, v in sorted((value or {}).items()))
    if type_ == TIME:
        return _len(number, _time(value))
    if type_ == STRING:
        return _string(number, value or "")
    if type_ in (BOOL, INT32, INT64):
        return _varint_field(number, int(value or 0))
    return _len(number, _message(value or {}, type_))


def _extras(obj: dict, message: str) -> list[tuple[int, bytes]]:
    """Fields the gate does not declare, written as the real server writes them, for the reader to skip."""
    if message == "ObjectMeta":
        managed = [_string(1, m.get("manager", "")) + _string(2, m.get("operation", ""))
                   + _string(3, m.get("apiVersion", "")) + _len(4, _time(m.get("time")))
                   + _string(7, m.get("fieldsType", "")) + _len(8, _string(1, json.dumps(m.get("fieldsV1") or {})))
                   for m in obj.get("managedFields") or []]
        notes = sorted((obj.get("annotations") or {}).items())
        return [(8, _len(8, _time(obj.get("creationTimestamp")))),
                *((12, _len(12, _string(1, k) + _string(2, v))) for k, v in notes),
                *((17, _len(17, entry)) for entry in managed)]
    if message == "PodSpec":
        return [(2, _len(2, _string(1, c.get("name", "")) + _string(2, c.get("image", ""))))
                for c in obj.get("containers") or []]
    return []


def _time(value: Any) -> bytes:
    """A metav1.Time: seconds only; the zero time (no value) as an empty message."""
    if not value:
        return b""
    stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return _varint_field(1, int(stamp.replace(tzinfo=stamp.tzinfo or UTC).timestamp()))


def _varint(value: int) -> bytes:
    value &= (1 << 64) - 1  # a negative int32/int64 is its 64-bit two's complement, as Go writes it
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _varint(number << 3) + _varint(value)


def _len(number: int, data: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _string(number: int, text: str) -> bytes:
    return _len(number, text.encode())
