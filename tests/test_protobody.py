"""Pods lists read in protobuf: the same values as their JSON twin, on answers recorded from a real
kube-apiserver v1.36 and end to end on the simulator; every answer that does not decode is refused; and
the gate reads JSON wherever protobuf cannot give the same (capture, a projection beyond the schema, no
compiled protobuf, a server that answers JSON).

tests/data/kube-apiserver-v1.36/: the same requests answered as JSON and as protobuf by kube-apiserver
v1.36.0 (openshift/microshift's vendored Kubernetes, benchmarks/README.md), for pods patched into the
states the checks judge (Running and Ready; Pending and unschedulable; CrashLoopBackOff with its last
termination; init containers waiting; OOMKilled with a signal; terminated with zero times, i.e. `null`;
no status at all; terminating with a finalizer), messages with quotes, newlines and non-ASCII, owner
references with `controller` true, false and unset; a page of 3 with its continue token; a missing
pod's 404 and an expired continue token's 410.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from gate.checks.base import Clients
from gate.checks.pods import PodsCheck

from gate.capture import tap
from gate.cluster import answers, listbody, projection, protobody, protoschema
from gate.cluster import kube as kube_mod
from gate.cluster.kube import ClusterView, connect, parse_body
from gate.cluster.projection import Where
from gate.cluster.resources import PODS
from gate.sim import protoenc
from gate.sim import scenario as scen
from gate.sim import server as sim_server

DATA = Path(__file__).parent / "data" / "kube-apiserver-v1.36"


def recorded(name: str) -> tuple[bytes, bytes]:
    return (DATA / f"{name}.json").read_bytes(), (DATA / f"{name}.pb").read_bytes()


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def from_json(data: bytes) -> dict:
    return listbody.parse_pieces([data], projection.projector(PODS), parse_body)


def from_proto(data: bytes, size: int = 1 << 20, project: bool = True) -> dict:
    """Decoded as the gate reads a list (cut to the projection, then projected), or every declared field."""
    if not project:
        return protobody.parse_pieces(pieces(data, size), None, "Pod")
    return protobody.parse_pieces(pieces(data, size), projection.projector(PODS), "Pod", projection.spec_for(PODS))


def declared(value: object, message: str) -> object:
    """A JSON value cut to the fields protoschema declares for `message`."""
    if message not in protoschema.MESSAGES:
        return value
    if isinstance(value, list):
        return [declared(v, message) for v in value]
    fields = {f.name: f for f in protoschema.MESSAGES[message].fields}
    return {k: declared(v, fields[k].type) for k, v in value.items() if k in fields}  # type: ignore[union-attr]


# -- what kube-apiserver sent ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["pods-golden", "pods-golden-page"])
def test_a_real_protobuf_list_projects_to_what_its_json_twin_projects_to(name):
    as_json, as_proto = recorded(name)
    expected = from_json(as_json)
    assert len(expected["items"]) == (8 if name == "pods-golden" else 3)
    for size in (1, 7, 4096, 1 << 20):  # pieces cut anywhere: inside a number, a tag, an item
        assert from_proto(as_proto, size) == expected, size
    everything = protobody.parse_pieces([as_proto], projection.projector(PODS), "Pod")  # not cut first
    assert everything == expected
    if name == "pods-golden-page":
        assert expected["metadata"]["continue"]


def test_every_declared_field_decodes_as_json_gives_it_null_times_and_unset_pointers_included():
    as_json, as_proto = recorded("pods-golden")
    want = json.loads(as_json)
    got = from_proto(as_proto, project=False)
    assert got["items"] == declared(want["items"], "Pod")
    by_name = {p["metadata"]["name"]: p for p in got["items"]}
    zero = by_name["nulltimes"]["status"]["containerStatuses"][0]["state"]["terminated"]
    assert zero == {"exitCode": 0, "startedAt": None, "finishedAt": None}  # metav1.Time zero: null
    owners = {n: p["metadata"].get("ownerReferences", [{}])[0] for n, p in by_name.items()}
    assert owners["running"]["controller"] is True and owners["pending"]["controller"] is False
    assert "controller" not in owners["crashloop"]  # *bool unset: absent, as in JSON
    assert "deletionTimestamp" in by_name["terminating"]["metadata"]
    assert "deletionTimestamp" not in by_name["running"]["metadata"]
    assert by_name["bare"]["status"] == {"phase": "Pending"}  # no conditions, no container statuses
    message = by_name["pending"]["status"]["conditions"][0]["message"]
    assert "\"preemption\"" in message and "ünïcode\n" in message


@pytest.mark.parametrize("name", ["pod-missing", "pods-bad-continue"])
def test_an_error_status_in_protobuf_is_the_status_json_gives(name):
    as_json, as_proto = recorded(name)
    assert from_proto(as_proto) == json.loads(as_json)


def test_the_simulator_writes_what_kube_apiserver_writes():
    for name in ("pod-missing", "pods-bad-continue"):  # byte for byte
        as_json, as_proto = recorded(name)
        assert protoenc.envelope(json.loads(as_json), "v1", "Status") == as_proto
    as_json, as_proto = recorded("pods-golden")  # the same values (the real one has more fields)
    ours = protoenc.envelope(json.loads(as_json), "v1", "PodList")
    assert from_proto(ours, project=False) == from_proto(as_proto, project=False)


# -- answers that do not decode are refused ---------------------------------------------------------------

def _list(items: bytes) -> bytes:
    """A PodList answer around these raw `items` fields."""
    type_meta = protoenc._string(1, "v1") + protoenc._string(2, "PodList")
    raw = protoenc._len(1, b"") + items
    return protoenc.MAGIC + protoenc._len(1, type_meta) + protoenc._len(2, raw) + protoenc._string(3, "")


def test_a_cut_or_corrupt_answer_is_unparsed_and_the_judge_refuses_it():
    _, as_proto = recorded("pods-golden")
    bad = {
        "cut": as_proto[: len(as_proto) // 2],
        "cut inside an item's length": as_proto[:40],
        "not protobuf": b"k8s\x01" + as_proto[4:],
        "json": b'{"kind":"PodList"}',
        "extra bytes": as_proto + b"\x12",
        "an item that is not a message": _list(protoenc._len(2, b"\x0f\x00")),  # wire type 7
        "a label key that is not UTF-8": _list(protoenc._len(2, protoenc._len(1, protoenc._len(
            11, protoenc._len(1, b"\xfe") + protoenc._string(2, "web"))))),
    }
    for label, data in bad.items():
        got = protobody.parse_pieces(pieces(data, 1000), projection.projector(PODS), "Pod")
        assert isinstance(got, listbody.Unparsed), label
        with pytest.raises(answers.UnreadableAnswer) as refused:
            answers.kube_list(got, "Pod", "GET /api/v1/namespaces/golden/pods")
        if label != "json":  # what the reader saw, not the bytes (they are not text)
            assert f"not protobuf (cut short or malformed) where a PodList was expected (got {len(data)} bytes " \
                "that do not decode: " in str(refused.value), label
            assert str(refused.value).isprintable(), label


def test_a_string_that_is_not_utf8_reads_as_json_gives_it():
    """Go writes a string's bytes as they are in protobuf and each invalid byte as U+FFFD in JSON; a
    termination message can hold any bytes."""
    terminated = protoenc._len(3, protoenc._len(3, protoenc._len(4, b"\xfeboom")))  # lastState.terminated.message
    label = protoenc._len(11, protoenc._string(1, "app") + protoenc._len(2, b"w\xfe"))
    item = protoenc._len(1, protoenc._string(1, "p") + label) + protoenc._len(3, protoenc._len(8, terminated))
    got = protobody.parse_pieces([_list(protoenc._len(2, item))], None, "Pod")["items"][0]
    assert got["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"] == "\ufffdboom"
    assert got["metadata"]["labels"] == {"app": "w\ufffd"}


def test_an_encoded_object_and_another_kind_are_refused():
    _, as_proto = recorded("pods-golden-page")
    encoded = as_proto[:-4] + b"\x1a\x04gzip" + as_proto[-2:]  # contentEncoding set: never from the API server
    assert isinstance(protobody.parse_pieces([encoded], None, "Pod"), listbody.Unparsed)
    status = protoenc.envelope({"status": "Success"}, "v1", "Status")  # a Status where a list was asked
    with pytest.raises(answers.UnreadableAnswer, match="a Status"):
        answers.kube_list(protobody.parse_pieces([status], None, "Pod"), "Pod", "GET pods")
    type_meta = protoenc._string(1, "v1") + protoenc._string(2, "ConfigMapList")
    other = protoenc.MAGIC + protoenc._len(1, type_meta) + protoenc._len(2, protoenc._len(1, b""))
    with pytest.raises(answers.UnreadableAnswer, match="kind 'ConfigMapList' where a PodList"):
        answers.kube_list(protobody.parse_pieces([other], None, "Pod"), "Pod", "GET pods")


# -- when protobuf is asked for -----------------------------------------------------------------------------

def test_the_pods_projection_is_within_the_schema_and_wider_ones_are_not():
    assert protobody.item_message(PODS, projection.spec_for(PODS)) == "Pod"
    assert protobody.item_message(PODS, True) is None  # whole objects wanted: JSON
    pod_spec = protoschema.item_spec(projection.spec_for(PODS))
    assert protoschema.covers(pod_spec, "Pod")
    assert not protoschema.covers({**pod_spec, "spec": {"nodeName": True}}, "Pod")  # not declared
    assert not protoschema.covers({"status": True}, "Pod")  # PodStatus kept whole: not complete
    assert not protoschema.covers({"status": {"containerStatuses": Where(lambda c: True)}}, "Pod")
    assert protoschema.covers({"status": {"conditions": Where(lambda c: True, {"type": True})}}, "Pod")


def test_a_projection_beyond_the_schema_reads_json():
    spec = projection.spec_for(PODS)
    wider = {**spec, "spec": {"restartPolicy": True, "nodeName": True}}
    assert protobody.item_message(PODS, wider) is None


@pytest.fixture(scope="module")
def world():
    handle = sim_server.start(scen.resolve("crashloop"))
    try:
        yield handle
    finally:
        handle.stop()


def _pods_lists(handle) -> list[dict]:
    return [r for r in handle.requests if r["path"].endswith("/pods") and r["method"] == "GET"
            and r["query"].get("watch") is None]


def _observe(handle, namespace: str) -> object:
    kube = connect(kubeconfig=handle.admin_kubeconfig)
    return PodsCheck({"namespace": namespace}).observe(Clients(view=ClusterView(kube)))


@pytest.fixture(scope="module")
def all_worlds():
    """One simulator holding every scenario world's pods, world i's namespace ns renamed `w<i>-<ns>`."""
    pods = []
    for i, name in enumerate(scen.builtin_names()):
        for obj in scen.render_time(scen.resolve(name)["objects"]):
            if obj.get("kind") == "Pod" and obj["metadata"].get("namespace"):
                obj = copy.deepcopy(obj)
                obj["metadata"]["namespace"] = f"w{i}-{obj['metadata']['namespace']}"
                pods.append(obj)
    handle = sim_server.start({"name": "all-pods", "controllers": False, "objects": pods})
    try:
        yield handle, sorted({p["metadata"]["namespace"] for p in pods})
    finally:
        handle.stop()


def test_every_scenario_world_judges_pods_alike_from_protobuf_and_json(all_worlds, monkeypatch):
    handle, namespaces = all_worlds
    verdicts = set()
    for ns in namespaces:
        before = len(_pods_lists(handle))
        proto = _observe(handle, ns)
        assert [r.get("format") for r in _pods_lists(handle)[before:]] == ["protobuf"], ns
        with monkeypatch.context() as m:
            m.setattr(kube_mod.protobody, "item_message", lambda res, spec: None)
            as_json = _observe(handle, ns)
        assert "format" not in _pods_lists(handle)[-1]
        assert proto == as_json, ns
        verdicts.add(proto.ok)
    assert len(namespaces) >= 100 and verdicts == {True, False}


def test_a_server_that_answers_json_is_read_as_json(world, monkeypatch):
    monkeypatch.setattr(protoenc, "ITEM", {})  # e.g. a proxy that speaks JSON only
    before = len(_pods_lists(world))
    obs = _observe(world, "monitoring")
    assert not obs.ok and obs.evidence  # the crash loop, read from JSON
    assert [r.get("format") for r in _pods_lists(world)[before:]] == [None]


def test_an_error_in_protobuf_names_its_reason(world):
    world.add_fault({"path": "/api/v1/namespaces/monitoring/pods", "status": 503,
                     "message": "etcd leader changed"})
    kube = connect(kubeconfig=world.admin_kubeconfig)
    kube.retry_budget = 0.5
    with pytest.raises(Exception, match="etcd leader changed"):
        kube.list(PODS, "monitoring", project=projection.projector(PODS))
    world.faults.clear()


def test_without_compiled_protobuf_the_gate_asks_for_json(world, monkeypatch):
    monkeypatch.setattr(protobody.protoschema, "classes", lambda: None)
    assert protobody.item_message(PODS, projection.spec_for(PODS)) is None
    before = len(_pods_lists(world))
    _observe(world, "monitoring")
    assert [r.get("format") for r in _pods_lists(world)[before:]] == [None]


def test_a_capture_reads_json_for_replay_to_serve(world, monkeypatch):
    class Recording:
        def kube_answer(self, *args, **kwargs):
            self.seen = copy.copy(args)

        def kube_failure(self, *args):
            pass

    monkeypatch.setattr(tap, "current", Recording())
    before = len(_pods_lists(world))
    _observe(world, "monitoring")
    assert [r.get("format") for r in _pods_lists(world)[before:]] == [None]
    assert tap.current.seen[4].startswith(b"{")  # type: ignore[union-attr]  # JSON bytes kept


def _sharing(items: list) -> list:
    """Which parts of the listed objects are one object: each dict and list met (depth first, keys
    sorted: the two readers write keys in their own orders) named by the order its identity was first
    met."""
    names: dict[int, int] = {}
    out: list = []

    def walk(value: object) -> None:
        if isinstance(value, (dict, list)):
            out.append(names.setdefault(id(value), len(names)))
            for v in (value[k] for k in sorted(value)) if isinstance(value, dict) else value:
                walk(v)
    walk(items)
    return out


def test_a_protobuf_list_shares_the_parts_its_json_twin_shares():
    """Equal parts of a list's objects are one object (gate.cluster.projection: what keeps 20,000 pods
    within the memory target): read from protobuf, the same parts are shared as from JSON."""
    from tests.test_projection_sharing import _bench_pods

    pods = _bench_pods(60)
    pods[7]["status"]["conditions"][0]["status"] = "False"  # one pod apart from its ReplicaSet's others
    as_proto = protoenc.envelope({"metadata": {}, "items": pods}, "v1", "PodList")
    as_json = json.dumps(from_proto(as_proto, project=False)).encode()  # as a server writes them (state: {})
    expected = from_json(as_json)
    got = from_proto(as_proto)
    assert got == expected
    shape = _sharing(expected["items"])
    assert _sharing(got["items"]) == shape
    assert len(set(shape)) < len(shape) / 2  # most parts are shared
