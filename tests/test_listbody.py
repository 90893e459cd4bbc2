"""A list answer parsed as its pieces arrive (gate.cluster.listbody): the values json.loads gives, however
the bytes are cut; managedFields skipped only where the text proves where it ends."""

from __future__ import annotations

import copy
import json

import pytest

import checks.pods  # noqa: F401  (declares the pod projection)
from gate.cluster import answers, listbody, projection
from gate.cluster.kube import parse_body
from gate.cluster.resources import APPLICATIONS, PODS


def _cuts(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def _every_cut(data: bytes) -> list[list[bytes]]:
    """The body whole, in pieces of 1, 2, 3 and 7 bytes, and cut in two at every place."""
    ways = [[data]] + [_cuts(data, n) for n in (1, 2, 3, 7)]
    return ways + [[data[:i], data[i:]] for i in range(1, len(data))]


LISTS = [
    '{"kind":"PodList","apiVersion":"v1","metadata":{"continue":"x"},"items":[{"metadata":{"name":"a"}},'
    '{"metadata":{"name":"b","labels":{"k":"v"}}}]}',
    ' {\n "items" : [ ] , "kind" : "PodList" }\n',
    '{"items": [1, "two", null, {"metadata": {"name": "\\u00e9 \u00e9 \u6f22"}}], "items2": {"items": [3]}}',
    '{}', '{"kind": "Status", "status": "Failure", "code": 12345}',
    '{"a": 12345, "b": -1.5e3, "items": [], "c": true}',
    '{"items": [{"a": 1}], "items": [{"b": 2}]}',
]


@pytest.mark.parametrize("text", LISTS)
def test_a_list_read_in_pieces_reads_as_json_does(text):
    for pieces in _every_cut(text.encode()):
        assert listbody.parse_pieces(pieces, None, parse_body) == json.loads(text), pieces


@pytest.mark.parametrize("text", ['{"kind": "PodList", "items": [{"metadata": ', '[]', '', 'null', '  ',
                                  '<html>502</html>', '{"items": [1,]}', '{"a": 1} x', '{"a" 1}',
                                  '[{"metadata": {"name": "a"}}]', '"text"'])
def test_a_body_that_is_not_one_json_object_reads_as_before(text):
    for pieces in _every_cut(text.encode()):
        assert listbody.parse_pieces(pieces, None, parse_body) == parse_body(text.encode()), pieces


def test_a_long_answer_that_does_not_parse_is_unreadable_with_its_true_size():
    body = ('{"kind": "PodList", "items": [' + ",".join(['{"metadata": {"name": "p"}}'] * 5000)).encode()
    parsed = listbody.parse_pieces(_cuts(body, 4096), None, parse_body)
    assert isinstance(parsed, listbody.Unparsed) and parsed.size == len(body) > listbody.HEAD
    with pytest.raises(answers.UnreadableAnswer, match=f"{len(body)} characters that do not parse as JSON"):
        answers.kube_list(parsed, "Pod", "GET /api/v1/pods")


# managedFields as a real kube-apiserver writes it (fieldsV1 keys hold escaped quotes).
MANAGED = [
    {"manager": "kubelet", "operation": "Update", "apiVersion": "v1", "time": "2026-12-06T10:00:00Z",
     "fieldsType": "FieldsV1", "subresource": "status",
     "fieldsV1": {"f:status": {"f:conditions": {'k:{"type":"Ready"}': {".": {}, "f:status": {}}},
                               "f:phase": {}}}},
    {"manager": "kubectl-client-side-apply", "operation": "Update", "apiVersion": "v1",
     "time": "2026-12-06T09:59:00Z", "fieldsType": "FieldsV1",
     "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:containers": {
         'k:{"name":"app"}': {".": {}, "f:image": {}}}}}},
]


def _pod(name: str, managed: object = MANAGED, annotations: dict | None = None) -> dict:
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "apps", "uid": "u-" + name, "resourceVersion": "7",
                         "labels": {"app": "shop"}, "annotations": annotations or {},
                         "managedFields": managed},
            "spec": {"restartPolicy": "Always", "containers": [{"name": "app", "image": "shop:1"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0}]}}


def _compact(obj: object) -> str:
    return json.dumps(obj, separators=(",", ":"))


def test_pods_managed_fields_are_skipped_and_the_projection_is_the_same():
    pods = [_pod(f"p{i}") for i in range(40)]
    text = _compact({"kind": "PodList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"}, "items": pods})
    project = projection.projector(PODS)
    assert "managedFields" in project.unread
    want = [projection.project(PODS, p) for p in pods]
    for size in (len(text), 100, 997, 4096):
        got = listbody.parse_pieces(_cuts(text.encode(), size), projection.projector(PODS), parse_body)
        assert got["items"] == want and got["metadata"] == {"resourceVersion": "9"}


def test_strip_cuts_managed_fields_it_can_prove():
    text = _compact(_pod("a"))
    assert '"managedFields":[]' in listbody._strip(text)
    assert json.loads(listbody._strip(text))["metadata"]["name"] == "a"
    spaced = json.dumps(_pod("b"))  # json.dumps' own spacing: "managedFields": [...]
    assert '"managedFields": []' in listbody._strip(spaced)


@pytest.mark.parametrize("managed", [
    [{"fieldsV1": {"f:data": {"f:a]b": {}}}}],  # a ] inside a string: the quotes before it are odd
    [{"fieldsV1": {"f:list": [1, 2]}}],  # a nested array
    [{"manager": "a\\\\", "fieldsV1": {}}],  # an escaped backslash: which quote is escaped is not plain
    "not-an-array", None,
])
def test_strip_leaves_what_it_cannot_prove(managed):
    text = _compact(_pod("a", managed=managed))
    assert listbody._strip(text) == text or json.loads(listbody._strip(text)) == json.loads(text)
    body = ('{"kind":"PodList","items":[' + text + "]}").encode()
    got = listbody.parse_pieces(_cuts(body, 13), projection.projector(PODS), parse_body)
    assert got["items"] == [projection.project(PODS, json.loads(text))]


def test_a_managed_fields_key_inside_a_string_is_left_alone():
    applied = _compact({"metadata": {"name": "a", "managedFields": [{"x": "]"}]}})
    pod = _pod("a", annotations={"kubectl.kubernetes.io/last-applied-configuration": applied,
                                 'x"managedFields":[1]': "y"})
    text = _compact(pod)
    stripped = json.loads(listbody._strip(text))
    assert stripped["metadata"]["annotations"] == pod["metadata"]["annotations"]
    assert stripped["metadata"]["managedFields"] == []


def test_a_kind_not_declared_to_skip_keeps_a_managed_fields_key_it_reads():
    """An Application's Helm values are free-form: a key named managedFields there is data."""
    import checks.argocd_apps  # noqa: F401

    app = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
           "metadata": {"name": "shop", "namespace": "argocd", "managedFields": copy.deepcopy(MANAGED)},
           "spec": {"source": {"repoURL": "https://example.test/r", "helm": {
               "valuesObject": {"managedFields": [{"keep": "me"}]}}}}}
    text = _compact({"kind": "ApplicationList", "items": [app]})
    project = projection.projector(APPLICATIONS)
    assert not project.unread
    got = listbody.parse_pieces(_cuts(text.encode(), 50), project, parse_body)
    assert got["items"][0]["spec"]["source"]["helm"]["valuesObject"] == {"managedFields": [{"keep": "me"}]}
