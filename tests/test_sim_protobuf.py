"""The protobuf bodies the simulator reads (kubectl's SelfSubjectAccessReview) and the ones it refuses."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from gate.sim import protobuf
from gate.sim.server import SimHandle, start


def _field(number: int, payload: bytes) -> bytes:
    return bytes([number << 3 | 2, len(payload)]) + payload


def _s(number: int, text: str) -> bytes:
    return _field(number, text.encode())


def envelope(raw: bytes, kind: str = "SelfSubjectAccessReview") -> bytes:
    type_meta = _s(1, "authorization.k8s.io/v1") + _s(2, kind)
    return protobuf.MAGIC + _field(1, type_meta) + _field(2, raw) + _s(3, "") + _s(4, "")


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start({"extends": "healthy", "controllers": False}) as handle:
        yield handle


def post(sim: SimHandle, path: str, body: bytes, token: str = "gate-token") -> requests.Response:
    return requests.post(
        sim.url + path,
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": protobuf.CONTENT_TYPE,
                 "Accept": f"{protobuf.CONTENT_TYPE},application/json"},
        verify=sim.ca_file,
        timeout=5,
    )


def test_resource_review_is_decoded_and_answered_in_json(sim: SimHandle) -> None:
    attrs = _s(1, "monitoring") + _s(2, "list") + _s(3, "") + _s(4, "v1") + _s(5, "pods")
    review = _field(1, b"") + _field(2, _field(1, attrs))
    r = post(sim, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", envelope(review))
    assert r.status_code == 201 and r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert body["status"]["allowed"] is True
    assert body["spec"]["resourceAttributes"] == {"namespace": "monitoring", "verb": "list", "group": "",
                                                  "version": "v1", "resource": "pods"}
    denied = _s(1, "monitoring") + _s(2, "delete") + _s(5, "pods")
    r = post(sim, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", envelope(_field(2, _field(1, denied))))
    assert r.json()["status"]["allowed"] is False


def test_non_resource_review_and_garbage(sim: SimHandle) -> None:
    review = _field(2, _field(2, _s(1, "/version") + _s(2, "get")))
    r = post(sim, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", envelope(review))
    assert r.status_code == 201 and r.json()["spec"]["nonResourceAttributes"] == {"path": "/version", "verb": "get"}
    r = post(sim, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", b"not protobuf")
    assert r.status_code == 400 and "protobuf" in r.json()["message"]


def test_other_protobuf_bodies_get_415(sim: SimHandle) -> None:
    r = post(sim, "/api/v1/namespaces/monitoring/configmaps", envelope(b"", kind="ConfigMap"), token="admin-token")
    assert r.status_code == 415 and r.json()["reason"] == "UnsupportedMediaType"
