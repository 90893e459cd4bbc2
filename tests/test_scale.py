"""Scale: lists held as slim projections give the verdicts full objects give; small pages give the same
answers; an unreadable page is still an ERROR; the simulator's `generate:` makes objects it serves and
pages like any others.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import requests
from gate.checks.argocd_apps import ArgocdAppsCheck
from gate.checks.base import Clients
from gate.checks.pods import PodsCheck
from gate.checks.pvcs import PvcsCheck
from gate.checks.workloads import WorkloadsCheck

from gate.cluster import answers, projection
from gate.cluster.kube import ClusterView, connect
from gate.cluster.resources import (
    ALL,
    APPLICATIONS,
    DAEMONSETS,
    DEPLOYMENTS,
    PODS,
    PVCS,
    STATEFULSETS,
    Resource,
)
from gate.sim import scenario as scen
from gate.sim import server as sim_server
from tests.fakeview import FakeView

SETTINGS = SimpleNamespace(argocd_namespace="argocd", kargo_namespace="platform", kargo_project="platform")
PROJECTED = {PODS, APPLICATIONS, PVCS, DEPLOYMENTS, STATEFULSETS, DAEMONSETS}  # the kinds checks declare


def _resource(obj: dict) -> Resource | None:
    return next((r for r in ALL if r.kind == obj.get("kind") and r.api_version == obj.get("apiVersion")), None)


def _worlds() -> list[str]:
    return scen.builtin_names()


def _checks(objects: dict[Resource, list[dict]]) -> list:
    """Every list-reading check kind over every namespace that holds objects of its kinds, plus Argo CD
    apps with expected revisions (right ones and a wrong one), so revision_problems() is exercised too."""
    out: list = []
    def namespaces(*kinds: Resource) -> set[str]:
        return {(o.get("metadata") or {}).get("namespace") for k in kinds for o in objects.get(k, [])} - {None}

    for ns in sorted(namespaces(PODS)):
        out += [PodsCheck({"namespace": ns}), PodsCheck({"namespace": ns, "min_ready": 2})]
    for ns in sorted(namespaces(DEPLOYMENTS, STATEFULSETS, DAEMONSETS)):
        out.append(WorkloadsCheck({"namespace": ns}))
    for ns in sorted(namespaces(PVCS)):
        out.append(PvcsCheck({"namespace": ns}))
    for ns in sorted(namespaces(APPLICATIONS)):
        apps = [o for o in objects[APPLICATIONS] if o["metadata"].get("namespace") == ns]
        names = sorted(a["metadata"]["name"] for a in apps)
        out.append(ArgocdAppsCheck({"namespace": ns, "names": names}))
        synced = {a["metadata"]["name"]: ((a.get("status") or {}).get("sync") or {}).get("revision") or "x"
                  for a in apps}
        out.append(ArgocdAppsCheck({"namespace": ns, "names": names, "revision": synced}))
        out.append(ArgocdAppsCheck({"namespace": ns, "names": names, "revision": "0" * 40}))
    return out


def test_projected_lists_give_the_verdicts_full_lists_give_in_every_scenario_world():
    assert {r for r in ALL if projection.spec_for(r) is not True} == PROJECTED
    compared = 0
    for world in _worlds():
        objects: dict[Resource, list[dict]] = {}
        for obj in scen.render_time(scen.resolve(world)["objects"]):
            res = _resource(obj)
            if res is not None:
                objects.setdefault(res, []).append(obj)
        slim = {res: [projection.project(res, copy.deepcopy(o)) for o in objs] for res, objs in objects.items()}
        for check in _checks(objects):
            full = check.observe(Clients(view=FakeView(objects), settings=SETTINGS))
            projected = check.observe(Clients(view=FakeView(slim), settings=SETTINGS))
            assert projected == full, (world, check.kind, check.params)
            compared += 1
    assert compared > 100  # the worlds hold pods, workloads, PVCs and apps in many states


def test_a_projection_keeps_only_what_readers_declared():
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "n", "labels": {"a": "b"}, "managedFields": [{"x": 1}],
                        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{...}"}},
           "spec": {"containers": [{"name": "c", "image": "i"}], "restartPolicy": "Never"},
           "status": {"phase": "Running", "podIP": "10.0.0.1",
                      "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": None},
                                     {"type": "Initialized", "status": "True"}]}}
    assert projection.project(PODS, pod) == {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "n", "labels": {"a": "b"}},
        "spec": {"restartPolicy": "Never"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}


@pytest.fixture(scope="module")
def generated():
    """A simulator with generated pods (3 of 7 not Ready) and apps, and an admin session on it."""
    data = {"name": "generated", "crds": ["argocd"], "controllers": False, "generate": [
        {"kind": "Pod", "apiVersion": "v1", "count": 23, "template": {
            "metadata": {"name": "web-{i:03d}", "namespace": "apps", "labels": {"shard": "s{i%7}"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}},
        {"kind": "Pod", "apiVersion": "v1", "count": 3, "template": {
            "metadata": {"name": "bad-{i}", "namespace": "apps", "labels": {"shard": "s0"}},
            "status": {"phase": "Pending"}}},
    ]}
    handle = sim_server.start(data)
    try:
        yield handle
    finally:
        handle.stop()


def _pages(handle, selector: str | None, limit: int) -> list[list[str]]:
    url = f"{handle.url}/api/v1/namespaces/apps/pods"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {handle.admin_token}"
    pages, token = [], None
    while True:
        body = session.get(url, params={"labelSelector": selector, "limit": limit, "continue": token},
                           verify=handle.ca_file, timeout=5).json()
        pages.append([o["metadata"]["name"] for o in body["items"]])
        token = body["metadata"].get("continue")
        if not token:
            return pages


def test_generated_objects_are_served_and_paginated(generated):
    pages = _pages(generated, None, 10)
    assert [len(p) for p in pages] == [10, 10, 6]
    names = [n for p in pages for n in p]
    assert names == sorted(names) and len(set(names)) == 26
    assert names[:3] == ["bad-0", "bad-1", "bad-2"] and names[-1] == "web-022"
    shard0 = [n for p in _pages(generated, "shard=s0", 2) for n in p]
    assert shard0 == ["bad-0", "bad-1", "bad-2", "web-000", "web-007", "web-014", "web-021"]


def test_small_pages_give_the_same_answers(generated, monkeypatch):
    kube = connect(kubeconfig=generated.admin_kubeconfig)
    whole = PodsCheck({"namespace": "apps", "selector": "shard=s0"}).observe(
        Clients(kube=kube, view=ClusterView(kube), settings=SETTINGS))
    monkeypatch.setattr("gate.cluster.kube.PAGE_SIZE", 2)
    start = len(generated.requests)
    paged = PodsCheck({"namespace": "apps", "selector": "shard=s0"}).observe(
        Clients(kube=kube, view=ClusterView(kube), settings=SETTINGS))
    lists = [r for r in generated.requests[start:] if r["path"] == "/api/v1/namespaces/apps/pods"]
    assert paged == whole and not paged.ok and paged.observed == "4/7 pods Ready"
    assert len(lists) == 4  # 7 pods, 2 a page


def test_an_unreadable_page_is_an_error_not_data(generated):
    """Every page is judged before it is projected: a Status Failure under a 200 is never an empty page."""
    kube = connect(kubeconfig=generated.admin_kubeconfig)
    kube.retry_budget = 1.0
    generated.add_fault({"path": "^/api/v1/namespaces/apps/pods$", "shape": "status-failure"})
    try:
        with pytest.raises(answers.UnreadableAnswer, match="a Status"):
            kube.list(PODS, "apps", page_size=10, project=lambda o: projection.project(PODS, o))
        view = ClusterView(kube)
        with pytest.raises(answers.UnreadableAnswer):
            PodsCheck({"namespace": "apps"}).observe(Clients(kube=kube, view=view, settings=SETTINGS))
    finally:
        generated.faults.clear()


def test_generate_rejects_what_it_cannot_make():
    for bad in ({"count": -1, "template": {"kind": "Pod", "metadata": {"name": "x-{i}"}}},
                {"count": 2, "template": {"kind": "Pod", "metadata": {}}},
                {"count": 2, "template": {"kind": "Pod", "metadata": {"name": "x-{i%0}"}}},
                {"count": "many", "template": {"kind": "Pod", "metadata": {"name": "x"}}}):
        with pytest.raises(scen.ScenarioError):
            scen.generate(bad)
