"""Just enough of Kubernetes' protobuf wire format to read what kubectl sends as protobuf.

`kubectl auth can-i` posts its SelfSubjectAccessReview as `application/vnd.kubernetes.protobuf` (and
accepts JSON back); client-go retries with another content type only after a 415 to a CBOR request
(k8s.io/client-go rest/client.go:245-306, v0.32), so the simulator has to read the protobuf itself.

Envelope: the magic `k8s\\x00` then a runtime.Unknown {1: typeMeta {1: apiVersion, 2: kind}, 2: raw,
3: contentEncoding, 4: contentType} (k8s.io/apimachinery pkg/runtime/serializer/protobuf/protobuf.go:45,
pkg/runtime/generated.proto:118). The SelfSubjectAccessReview fields are from
k8s.io/api authorization/v1/generated.proto:113-235.
"""

from __future__ import annotations

from typing import Any

MAGIC = b"k8s\x00"
CONTENT_TYPE = "application/vnd.kubernetes.protobuf"


class ProtobufError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def fields(data: bytes) -> dict[int, list[Any]]:
    """Field number -> values (ints for varints, bytes for length-delimited); fixed widths skipped."""
    out: dict[int, list[Any]] = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ProtobufError("truncated field")
            value, pos = data[pos : pos + size], pos + size
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            continue
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def _strings(data: bytes, names: dict[int, str]) -> dict[str, str]:
    got = fields(data)
    return {name: got[num][-1].decode() for num, name in names.items() if num in got}


def unwrap(body: bytes) -> tuple[str, str, bytes]:
    """(apiVersion, kind, raw message) from a protobuf-encoded Kubernetes object."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf magic number")
    unknown = fields(body[len(MAGIC) :])
    meta = _strings((unknown.get(1) or [b""])[-1], {1: "apiVersion", 2: "kind"})
    return meta.get("apiVersion", ""), meta.get("kind", ""), (unknown.get(2) or [b""])[-1]


def self_subject_access_review(body: bytes) -> dict:
    """A protobuf SelfSubjectAccessReview as the JSON dict the apiserver would have decoded."""
    api_version, kind, raw = unwrap(body)
    if kind and kind != "SelfSubjectAccessReview":
        raise ProtobufError(f"expected a SelfSubjectAccessReview, got {kind}")
    spec: dict[str, Any] = {}
    spec_bytes = (fields(raw).get(2) or [b""])[-1]
    parts = fields(spec_bytes)
    if 1 in parts:
        spec["resourceAttributes"] = _strings(
            parts[1][-1],
            {1: "namespace", 2: "verb", 3: "group", 4: "version", 5: "resource", 6: "subresource", 7: "name"},
        )
    if 2 in parts:
        spec["nonResourceAttributes"] = _strings(parts[2][-1], {1: "path", 2: "verb"})
    return {"apiVersion": api_version or "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
            "spec": spec}


def token_request(body: bytes) -> dict:
    """A protobuf TokenRequest (`kubectl create token`) as the JSON dict the apiserver would have decoded
    (k8s.io/api authentication/v1/generated.proto: spec {1: audiences, 3: boundObjectRef {1: kind,
    2: apiVersion, 3: name, 4: uid}, 4: expirationSeconds})."""
    api_version, kind, raw = unwrap(body)
    if kind and kind != "TokenRequest":
        raise ProtobufError(f"expected a TokenRequest, got {kind}")
    parts = fields((fields(raw).get(2) or [b""])[-1])
    spec: dict[str, Any] = {"audiences": [a.decode() for a in parts.get(1, [])]}
    if 4 in parts:
        spec["expirationSeconds"] = parts[4][-1]
    if 3 in parts:
        spec["boundObjectRef"] = _strings(parts[3][-1], {1: "kind", 2: "apiVersion", 3: "name", 4: "uid"})
    return {"apiVersion": api_version or "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}
