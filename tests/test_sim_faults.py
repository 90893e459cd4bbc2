"""The simulator's body and shape faults (gate/sim/faults.py): what a client receives, byte for byte."""

from __future__ import annotations

import http.client
import json
import ssl
import time

import pytest
import requests

from gate.sim.scenario import ScenarioError
from gate.sim.server import start

SCENARIO = {
    "name": "faults",
    "tokens": {"t-read": {"user": "reader"}},
    "gate_token": "t-read",
    "rbac": {"reader": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]},
    "objects": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}, "data": {}},
    ],
    "faults": [{"path": "/configmaps/declared$", "shape": "items-null"}],
}
LIST = "/api/v1/namespaces/n/configmaps"


@pytest.fixture(scope="module")
def sim():
    with start(SCENARIO) as handle:
        yield handle


def _get(sim, path: str = LIST) -> requests.Response:
    return requests.get(sim.url + path, headers={"Authorization": f"Bearer {sim.token}"}, verify=sim.ca_file,
                        timeout=5)


@pytest.mark.parametrize(("fault", "text"), [
    ({"body": {}}, "{}"),
    ({"body": None}, "null"),
    ({"raw_body": ""}, ""),
    ({"shape": "empty"}, ""),
    ({"shape": "items-null"}, '{"items": null}'),
    ({"shape": "malformed"}, '{"kind": "List", "items": [{"metadata": }'),
    ({"shape": "prom-no-data"}, '{"status": "success"}'),
])
def test_body_replaced_status_kept(sim, fault: dict, text: str) -> None:
    sim.add_fault({"path": f"^{LIST}$", "count": 1, **fault})
    r = _get(sim)
    assert (r.status_code, r.text) == (200, text)
    assert _get(sim).json()["kind"] == "ConfigMapList"  # count exhausted: the real answer again


def test_status_failure_body_in_a_200(sim) -> None:
    sim.add_fault({"path": f"^{LIST}$", "count": 1, "shape": "status-failure"})
    r = _get(sim)
    assert r.status_code == 200
    assert r.json()["kind"] == "Status" and r.json()["status"] == "Failure"


def test_truncated_body_is_cut_mid_json(sim) -> None:
    whole = _get(sim).text
    sim.add_fault({"path": f"^{LIST}$", "count": 1, "shape": "truncated"})
    r = _get(sim)
    assert r.status_code == 200 and whole.startswith(r.text) and 0 < len(r.text) < len(whole)
    with pytest.raises(ValueError):
        json.loads(r.text)


def test_replacement_with_a_status_override(sim) -> None:
    sim.add_fault({"path": f"^{LIST}$", "count": 1, "status": 503, "raw_body": "upstream down"})
    r = _get(sim)
    assert (r.status_code, r.text) == (503, "upstream down")


def test_stale_serves_the_first_recorded_answer(sim) -> None:
    path = "/api/v1/namespaces/stale/configmaps"
    assert _get(sim, path).json()["items"] == []  # recorded
    sim.store.load([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": "stale"}}])
    assert [i["metadata"]["name"] for i in _get(sim, path).json()["items"]] == ["new"]
    sim.add_fault({"path": f"^{path}$", "count": 1, "shape": "stale"})
    assert _get(sim, path).json()["items"] == []  # the world as first seen
    assert len(_get(sim, path).json()["items"]) == 1


def test_declared_in_the_scenario(sim) -> None:
    sim.store.load([{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "declared", "namespace": "n"}}])
    assert _get(sim, LIST + "/declared").text == '{"items": null}'


def test_trickle_and_short_read(sim) -> None:
    sim.add_fault({"path": f"^{LIST}$", "count": 1, "trickle": "0.2s"})
    started = time.monotonic()
    r = _get(sim)
    assert r.status_code == 200 and r.json()["kind"] == "ConfigMapList"
    assert time.monotonic() - started >= 0.2 * (len(r.content) // 64)
    sim.add_fault({"path": f"^{LIST}$", "count": 1, "short_read": True})
    ctx = ssl.create_default_context(cafile=sim.ca_file)
    conn = http.client.HTTPSConnection("127.0.0.1", sim.port, context=ctx, timeout=5)
    conn.request("GET", LIST, headers={"Authorization": f"Bearer {sim.token}"})
    resp = conn.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        resp.read()
    conn.close()


def test_unknown_shape_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="unknown fault shape 'nope'"):
        start({**SCENARIO, "faults": [{"path": "x", "shape": "nope"}]})
