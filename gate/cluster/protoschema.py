"""The part of Kubernetes' protobuf schema the gate reads, and how each field appears in the JSON answer.

kube-apiserver answers a built-in kind in protobuf when the client asks for it (client-go's default for
built-in kinds): a 20,000-pod list is 90 MB of protobuf against 128 MB of JSON, the server encodes it in
less than half the time, and a compiled parser (the `protobuf` package's upb) reads it without building
a Python object for what no check reads (managedFields, the spec, the rest of the status). The gate uses
it only for what it can read exactly as the JSON answer reads: each field below is declared with the
field number of k8s.io/api's generated.proto (v1.36: core/v1 and apimachinery meta/v1) and with how Go's
encoding/json writes it (the `json:"…"` tag and the Go type in types.go), so a decoded object is the
dict json.loads would give for those fields, key for key:

- "always": no omitempty (`ready`, `restartCount`, `image`): present even when zero;
- "omitempty": a string, number or bool that is left out when zero; a slice or map left out when empty;
- "pointer": a pointer field (`*Time`, `*bool`, `*ContainerStateWaiting`): present when it was set;
- "struct": a struct field (`state`, a `metav1.Time` such as `startedAt`): always present, omitempty or
  not (encoding/json never leaves out a struct); a zero `metav1.Time` is `null`.

gogo-protobuf writes every non-pointer field whatever its value, so presence on the wire says nothing
for those; the JSON rule does. A time is a `Timestamp{seconds, nanos}`, written RFC 3339 at seconds
precision in UTC as metav1.Time.MarshalJSON does (apimachinery pkg/apis/meta/v1/time.go:162-173); a zero
time is written as an empty message (time_proto.go: Marshal writes nothing for IsZero()).

A message marked complete holds every field its Go type has in v1.36, so a reader that keeps it whole
(`True` in a projection) or filters it (`Where`) sees what JSON would give; gate.cluster.protobody reads
a kind in protobuf only when its projection asks for nothing beyond these fields (`covers()`), else the
kind is read as JSON, as before. Fields a later Kubernetes adds to a complete message would be missing
here until added: the JSON reader is the reference (tests/test_protobody.py compares the two on answers
recorded from kube-apiserver v1.36).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from gate.cluster.projection import Spec, Where

STRING, BOOL, INT32, INT64, MAP, TIME = "string", "bool", "int32", "int64", "map", "time"
ALWAYS, OMITEMPTY, POINTER, STRUCT = "always", "omitempty", "pointer", "struct"


@dataclass(frozen=True)
class Field:
    """One field: its JSON name, generated.proto number, type (a scalar, MAP, TIME or a message's name),
    how encoding/json writes it, and whether it repeats."""

    name: str
    number: int
    type: str
    rule: str
    repeated: bool = False


@dataclass(frozen=True)
class Message:
    fields: tuple[Field, ...]
    complete: bool = False  # every field of the Go type (v1.36) is declared


def _f(name: str, number: int, type_: str, rule: str = OMITEMPTY, repeated: bool = False) -> Field:
    return Field(name, number, type_, rule, repeated)


MESSAGES: dict[str, Message] = {
    # apimachinery/pkg/apis/meta/v1
    "ObjectMeta": Message((
        _f("name", 1, STRING), _f("namespace", 3, STRING), _f("uid", 5, STRING),
        _f("resourceVersion", 6, STRING), _f("generation", 7, INT64),
        _f("deletionTimestamp", 9, TIME, POINTER), _f("labels", 11, MAP),
        _f("ownerReferences", 13, "OwnerReference", repeated=True),
    )),
    "OwnerReference": Message((
        _f("apiVersion", 5, STRING, ALWAYS), _f("kind", 1, STRING, ALWAYS), _f("name", 3, STRING, ALWAYS),
        _f("uid", 4, STRING, ALWAYS), _f("controller", 6, BOOL, POINTER),
        _f("blockOwnerDeletion", 7, BOOL, POINTER),
    ), complete=True),
    "ListMeta": Message((
        _f("selfLink", 1, STRING), _f("resourceVersion", 2, STRING), _f("continue", 3, STRING),
        _f("remainingItemCount", 4, INT64, POINTER),
    )),
    "Status": Message((
        _f("metadata", 1, "ListMeta", STRUCT), _f("status", 2, STRING), _f("message", 3, STRING),
        _f("reason", 4, STRING), _f("details", 5, "StatusDetails", POINTER), _f("code", 6, INT32),
    )),
    "StatusDetails": Message((
        _f("name", 1, STRING), _f("group", 2, STRING), _f("kind", 3, STRING), _f("uid", 6, STRING),
        _f("causes", 4, "StatusCause", repeated=True), _f("retryAfterSeconds", 5, INT32),
    ), complete=True),
    "StatusCause": Message((
        _f("reason", 1, STRING), _f("message", 2, STRING), _f("field", 3, STRING),
    ), complete=True),
    # api/core/v1
    "Pod": Message((
        _f("metadata", 1, "ObjectMeta", STRUCT), _f("spec", 2, "PodSpec", STRUCT),
        _f("status", 3, "PodStatus", STRUCT),
    )),
    "PodSpec": Message((_f("restartPolicy", 3, STRING),)),
    "PodStatus": Message((
        _f("phase", 1, STRING), _f("conditions", 2, "PodCondition", repeated=True), _f("message", 3, STRING),
        _f("reason", 4, STRING), _f("initContainerStatuses", 10, "ContainerStatus", repeated=True),
        _f("containerStatuses", 8, "ContainerStatus", repeated=True),
    )),
    "PodCondition": Message((
        _f("type", 1, STRING, ALWAYS), _f("observedGeneration", 7, INT64), _f("status", 2, STRING, ALWAYS),
        _f("lastProbeTime", 3, TIME, STRUCT), _f("lastTransitionTime", 4, TIME, STRUCT),
        _f("reason", 5, STRING), _f("message", 6, STRING),
    ), complete=True),
    "ContainerStatus": Message((
        _f("name", 1, STRING, ALWAYS), _f("state", 2, "ContainerState", STRUCT),
        _f("lastState", 3, "ContainerState", STRUCT), _f("ready", 4, BOOL, ALWAYS),
        _f("restartCount", 5, INT32, ALWAYS), _f("image", 6, STRING, ALWAYS), _f("imageID", 7, STRING, ALWAYS),
        _f("containerID", 8, STRING), _f("started", 9, BOOL, POINTER),
    )),
    "ContainerState": Message((
        _f("waiting", 1, "ContainerStateWaiting", POINTER), _f("terminated", 3, "ContainerStateTerminated", POINTER),
    )),
    "ContainerStateWaiting": Message((_f("reason", 1, STRING), _f("message", 2, STRING)), complete=True),
    "ContainerStateTerminated": Message((
        _f("exitCode", 1, INT32, ALWAYS), _f("signal", 2, INT32), _f("reason", 3, STRING),
        _f("message", 4, STRING), _f("startedAt", 5, TIME, STRUCT), _f("finishedAt", 6, TIME, STRUCT),
        _f("containerID", 7, STRING),
    ), complete=True),
}

# The kinds read in protobuf: (group, plural) -> their message (the list's kind is its name + "List").
KINDS: dict[tuple[str, str], str] = {("", "pods"): "Pod"}


def covers(spec: Spec, message: str) -> bool:
    """Whether a projection spec of an object of `message` asks only for fields declared here, a field
    kept whole being of a complete message (or a scalar, map or time), a list filtered by a test being
    of a complete message or filtered by a declared string field (Where.field_in)."""
    if spec is True:
        return message not in MESSAGES or MESSAGES[message].complete
    if isinstance(spec, Where):
        if message not in MESSAGES:
            return False
        fields = {f.name: f for f in MESSAGES[message].fields}
        reads_declared = spec.key in fields and fields[spec.key].type == STRING if spec.key is not None \
            else MESSAGES[message].complete  # a test that may read anything needs every field
        return reads_declared and covers(spec.spec, message)
    if not isinstance(spec, dict) or message not in MESSAGES:
        return False
    fields = {f.name: f for f in MESSAGES[message].fields}
    return all(key in fields and covers(sub, fields[key].type) for key, sub in spec.items())


def item_spec(spec: Spec) -> Spec:
    """A kind's projection spec without the top-level apiVersion and kind, which a built-in kind's list
    items do not carry in either encoding (the list says them once)."""
    return {k: v for k, v in spec.items() if k not in ("apiVersion", "kind")} if isinstance(spec, dict) else spec


def rfc3339(seconds: int) -> str:
    """metav1.Time as JSON: UTC, seconds precision."""
    t = time.gmtime(seconds)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}Z"


@cache
def classes() -> dict[str, Any] | None:
    """The message classes built from MESSAGES, or None when the protobuf package is missing or is not
    its compiled (upb) implementation: the pure-Python one is slower than json, so JSON is read then."""
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
        from google.protobuf.internal import api_implementation
    except ImportError:
        return None
    if api_implementation.Type() != "upb":
        return None
    proto = descriptor_pb2.FieldDescriptorProto
    scalar = {STRING: proto.TYPE_STRING, BOOL: proto.TYPE_BOOL, INT32: proto.TYPE_INT32,
              INT64: proto.TYPE_INT64}
    file = descriptor_pb2.FileDescriptorProto(name="gate/k8s.proto", package="gate.k8s", syntax="proto2")
    stamp = file.message_type.add(name="Time")
    stamp.field.add(name="seconds", number=1, type=proto.TYPE_INT64, label=proto.LABEL_OPTIONAL)
    stamp.field.add(name="nanos", number=2, type=proto.TYPE_INT32, label=proto.LABEL_OPTIONAL)
    for name, message in MESSAGES.items():
        out = file.message_type.add(name=name)
        for field in message.fields:
            added = out.field.add(name=field.name, number=field.number,
                                  label=proto.LABEL_REPEATED if field.repeated or field.type == MAP
                                  else proto.LABEL_OPTIONAL)
            if field.type in scalar:
                added.type = scalar[field.type]
                continue
            added.type = proto.TYPE_MESSAGE
            if field.type == MAP:
                entry = out.nested_type.add(name=field.name.capitalize() + "Entry")
                entry.options.map_entry = True
                entry.field.add(name="key", number=1, type=proto.TYPE_STRING, label=proto.LABEL_OPTIONAL)
                entry.field.add(name="value", number=2, type=proto.TYPE_STRING, label=proto.LABEL_OPTIONAL)
                added.type_name = f".gate.k8s.{name}.{entry.name}"
            else:
                added.type_name = ".gate.k8s." + ("Time" if field.type == TIME else field.type)
    type_meta = file.message_type.add(name="TypeMeta")  # the envelope's (gate.cluster.protobody reads the rest)
    for name, number in (("apiVersion", 1), ("kind", 2)):
        type_meta.field.add(name=name, number=number, type=proto.TYPE_STRING, label=proto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName("gate.k8s." + name))
            for name in [*MESSAGES, "TypeMeta"]}
