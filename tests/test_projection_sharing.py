"""Projections that share equal parts (gate.cluster.projection.projector): the objects of one list that
project to equal values hold one copy of them, and the checks still see exactly what the full objects
say: the same verdicts, the same evidence lines, whatever the page size; a list of 1,000 pods costs
their metadata, not their objects.
"""

from __future__ import annotations

import copy
import gc
import importlib.util
import json
import tracemalloc
import weakref
from pathlib import Path

import pytest
from gate.checks.argocd_apps import ArgocdAppsCheck
from gate.checks.base import Clients
from gate.checks.pods import PodsCheck

from gate.cluster import projection
from gate.cluster.kube import ClusterView, connect, parse_body
from gate.cluster.listbody import parse_pieces
from gate.cluster.resources import APPLICATIONS, PODS, Resource
from gate.sim import scenario as scen
from gate.sim import server as sim_server
from tests.fakeview import FakeView
from tests.test_scale import SETTINGS, _checks, _resource, _worlds

ROOT = Path(__file__).resolve().parents[1]


def _dumped(value: object) -> str:
    """The JSON text of a value: types and key order included (True is not 1, 1 is not 1.0)."""
    return json.dumps(value, allow_nan=True)


def _world_objects(world: str) -> dict[Resource, list[dict]]:
    objects: dict[Resource, list[dict]] = {}
    for obj in scen.render_time(scen.resolve(world)["objects"]):
        res = _resource(obj)
        if res is not None:
            objects.setdefault(res, []).append(obj)
    return objects


def test_shared_projections_give_the_verdicts_and_evidence_full_lists_give_in_every_scenario_world():
    """One projector per list, as the list reader uses it, with the list in its order and reversed (the
    first of equal values is the one kept): every check kind that reads a projected list says what it
    says over the full objects (observed, expected, evidence, hint). ~10 s: reading every world's YAML."""
    compared = 0
    for world in _worlds():
        objects = _world_objects(world)
        for order in (1, -1):
            slim: dict[Resource, list[dict]] = {}
            for res, objs in objects.items():
                project = projection.projector(res)
                slim[res] = [project(copy.deepcopy(o)) for o in objs[::order]][::order] if project else objs
            for check in _checks(objects):
                full = check.observe(Clients(view=FakeView(objects), settings=SETTINGS))
                shared = check.observe(Clients(view=FakeView(slim), settings=SETTINGS))
                assert shared == full, (world, order, check.kind, check.params)
                compared += 1
    assert compared > 200


@pytest.mark.parametrize("memo_max", [projection.MEMO_MAX, 2])
def test_a_shared_projection_is_the_projection_of_each_object_alone(monkeypatch, memo_max):
    """Values equal in Python but not in JSON (True, 1, 1.0; 0.0 and -0.0; "1" and 1) are never one
    shared value: each object's projection is, to the byte, what projecting it alone gives; also when
    the memo is full and starts again (a long watch) while earlier objects are still held."""
    monkeypatch.setattr(projection, "MEMO_MAX", memo_max)
    variants = [True, 1, 1.0, 0, 0.0, -0.0, False, None, "1", "True", 1e300]

    def pod(i: int, value: object) -> dict:
        return {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"p{i}", "namespace": "n", "labels": {"v": value, "app": "a"},
                             "ownerReferences": [{"kind": "ReplicaSet", "name": "rs", "controller": value}]},
                "spec": {"restartPolicy": "Always"},
                "status": {"phase": "Running",
                           "conditions": [{"type": "Ready", "status": "True", "reason": value}],
                           "containerStatuses": [{"name": "c", "ready": value, "restartCount": value,
                                                  "state": {"waiting": {"reason": value}}, "lastState": {}}]}}

    pods = [pod(i, v) for i, v in enumerate(variants * 2)]
    project = projection.projector(PODS)
    shared = [project(copy.deepcopy(p)) for p in pods]
    alone = [projection.project(PODS, copy.deepcopy(p)) for p in pods]
    assert [_dumped(s) for s in shared] == [_dumped(a) for a in alone]
    if memo_max > len(variants) * 8:  # the repeats do share: the second round's statuses are the first's
        n = len(variants)
        assert all(shared[i]["status"] is shared[i + n]["status"] for i in range(n))
        assert len({id(s["status"]) for s in shared}) == n


def _pod(name: str, status: dict, labels: dict | None = None, restart: str = "Always") -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "apps", "labels": labels or {"app": "web"},
                         "annotations": {"note": "x" * 200},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1",
                                              "uid": "u1", "controller": True}]},
            "spec": {"restartPolicy": restart, "containers": [{"name": "app", "image": "web:1"}]},
            "status": status}


def _ready(image: str) -> dict:
    return {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-25T10:00:00Z"},
        {"type": "PodScheduled", "status": "True"}],
        "containerStatuses": [{"name": "app", "ready": True, "restartCount": 0, "image": image,
                               "state": {"running": {"startedAt": "2026-11-25T10:00:00Z"}}}]}


def _crashing(restarts: int) -> dict:
    return {"phase": "Running", "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [{"name": "app", "ready": False, "restartCount": restarts, "image": "web:1",
                                   "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                                   "lastState": {"terminated": {"exitCode": restarts % 3 + 1, "reason": "Error"}}}]}


PENDING = {"phase": "Pending", "conditions": [
    {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
     "message": "0/3 nodes are available: 3 Insufficient cpu."}]}


def _app(name: str, *, health: str = "Healthy", sync: str = "Synced", revision: str = "a" * 40,
         resources: list | None = None, state: dict | None = None) -> dict:
    source = {"repoURL": f"https://git.example/{name}.git", "path": "deploy", "targetRevision": "main"}
    destination = {"server": "https://kubernetes.default.svc", "namespace": "apps"}
    state = state or {"phase": "Succeeded", "startedAt": "2026-11-25T10:00:00Z",
                      "finishedAt": "2026-11-25T10:00:10Z", "syncResult": {"revision": revision, "resources": []}}
    return {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": name, "namespace": "argocd", "labels": {"team": "t"}},
            "spec": {"project": "default", "source": source, "destination": destination},
            "status": {"sync": {"status": sync, "revision": revision,
                                "comparedTo": {"source": source, "destination": destination}},
                       "health": {"status": health}, "reconciledAt": "2026-11-25T10:05:00Z",
                       "resources": resources or [],
                       "operationState": {**state, "operation": {"sync": {"revision": revision}}}}}


def _world() -> dict:
    pods = [_pod(f"web-{i:02d}", _ready(f"web:{i % 2}")) for i in range(12)]
    pods += [_pod(f"crash-{i}", _crashing(i + 3)) for i in range(4)]
    pods += [_pod(f"pending-{i}", copy.deepcopy(PENDING)) for i in range(3)]
    pods.append(_pod("done", {"phase": "Succeeded"}))
    pods.append(_pod("job", _ready("web:1"), restart="Never"))
    pods += [_pod(f"other-{i}", _ready("web:1"), labels={"app": "other"}) for i in range(5)]
    degraded = [{"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "apps", "name": "web",
                 "status": "Synced", "health": {"status": "Degraded", "message": "deadline exceeded"}},
                {"kind": "Service", "namespace": "apps", "name": "web", "status": "Synced",
                 "health": {"status": "Healthy"}}]
    failed = {"phase": "Failed", "message": "one or more objects failed to apply",
              "startedAt": "2026-11-25T10:00:00Z", "finishedAt": "2026-11-25T10:00:10Z",
              "syncResult": {"revision": "b" * 40, "resources": [
                  {"group": "", "version": "v1", "kind": "ConfigMap", "namespace": "apps", "name": "cfg",
                   "status": "SyncFailed",
                   "message": "admission webhook denied"},
                  {"group": "", "version": "v1", "kind": "Service", "namespace": "apps", "name": "web",
                   "status": "Synced"}]}}
    apps = [_app(f"app-{i}") for i in range(8)]
    apps += [_app("degraded", health="Degraded", resources=degraded),
             _app("broken", sync="OutOfSync", health="Missing", revision="b" * 40, state=failed),
             _app("behind", revision="c" * 40)]
    return {"name": "sharing", "crds": ["argocd"], "controllers": False,
            "objects": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                        for n in ("apps", "argocd")] + pods + apps}


@pytest.fixture(scope="module")
def world():
    handle = sim_server.start(_world())
    try:
        yield handle
    finally:
        handle.stop()


CHECKS = [
    lambda: PodsCheck({"namespace": "apps"}),
    lambda: PodsCheck({"namespace": "apps", "selector": "app=web"}),
    lambda: PodsCheck({"namespace": "apps", "selector": "app=other"}),
    lambda: PodsCheck({"namespace": "apps", "min_ready": 10}),
    lambda: ArgocdAppsCheck({"namespace": "argocd", "selector": "team=t"}),
    lambda: ArgocdAppsCheck({"namespace": "argocd", "selector": "team=t", "revision": "a" * 40}),
    lambda: ArgocdAppsCheck({"namespace": "argocd", "names": ["app-0", "app-7", "behind"],
                             "revision": "a" * 7}),
]


def test_a_list_over_many_pages_gives_the_verdict_and_evidence_of_one_page_and_of_full_objects(
        world, monkeypatch):
    """The list reader's real path (paged requests, each page parsed item by item into one shared
    projection) against the simulator: pages of 2 and of 500 give the same observations, and both are
    what the full objects (read unprojected) give."""
    kube = connect(kubeconfig=world.admin_kubeconfig)
    full = {PODS: kube.list(PODS, "apps"), APPLICATIONS: kube.list(APPLICATIONS, "argocd")}
    assert "managedFields" in full[PODS][0]["metadata"] or "annotations" in full[PODS][0]["metadata"]

    def observe_all(page_size: int | None) -> list:
        if page_size:
            monkeypatch.setattr("gate.cluster.kube.PAGE_SIZE", page_size)
        view = ClusterView(kube)
        return [make().observe(Clients(kube=kube, view=view, settings=SETTINGS)) for make in CHECKS]

    start = len(world.requests)
    paged = observe_all(2)
    pod_pages = [r for r in world.requests[start:] if r["path"] == "/api/v1/namespaces/apps/pods"]
    one_page = observe_all(500)
    whole = [make().observe(Clients(kube=kube, view=FakeView(full), settings=SETTINGS)) for make in CHECKS]
    assert paged == one_page == whole
    assert len(pod_pages) == 13 + 11 + 3  # 2 a page: 26 pods (read once for both checks), app=web 21, app=other 5
    # the observations say something: failures with their evidence lines
    pods_all, _, others, min_ready, apps, apps_rev, named = paged
    assert not pods_all.ok and pods_all.observed == "17/25 pods Ready"  # the Never pod is a Job's: not Ready
    assert any("CrashLoopBackOff" in line for line in pods_all.evidence), pods_all.evidence
    assert any(line.startswith("apps/job: ") for line in pods_all.evidence)
    assert any("Unschedulable" in line or "Insufficient cpu" in line for line in pods_all.evidence)
    assert others.ok and min_ready.ok
    assert not apps.ok and any("Deployment apps/web Degraded: deadline exceeded" in e for e in apps.evidence)
    assert any("ConfigMap apps/cfg: admission webhook denied" in e for e in apps.evidence)
    assert not apps_rev.ok and any("synced to revision " + "c" * 40 in e for e in apps_rev.evidence)
    assert not named.ok and any("behind" in e for e in named.evidence)


def _bench_pods(count: int) -> list[dict]:
    spec = importlib.util.spec_from_file_location("bench_scale", ROOT / "benchmarks" / "bench_scale.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return scen.generate({"count": count, "template": bench.pod_template()})


def test_a_pod_list_costs_its_metadata_not_its_objects():
    """1,000 pods as a real API server sends them (managedFields, spec, full status; ~3.6 kB of JSON
    each), read in pages of 250 into one list: what stays alive is under 1 kB a pod (before shared
    projections: 2.6 kB; the full objects: ~25 kB)."""
    pods = _bench_pods(1000)
    pages = [json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {},
                         "items": pods[i:i + 250]}).encode() for i in range(0, len(pods), 250)]
    del pods
    gc.collect()
    project = projection.projector(PODS)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        items: list[dict] = []
        for page in pages:
            items.extend(parse_pieces([page], project, parse_body)["items"])
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(items) == 1000 and items[999]["metadata"]["name"] == "svc-19-000999"
    assert kept / len(items) < 1000, f"{kept / len(items):.0f} bytes a pod"


class _ReadOnlyDict(dict):
    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("a check changed a projected (shared) object")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse  # type: ignore


class _ReadOnlyList(list):
    def _refuse(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("a check changed a projected (shared) list")

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = sort = reverse = clear = _refuse  # type: ignore
    __iadd__ = __imul__ = _refuse  # type: ignore


def _read_only(value: object) -> object:
    if isinstance(value, dict):
        return _ReadOnlyDict({k: _read_only(v) for k, v in value.items()})
    if isinstance(value, list):
        return _ReadOnlyList(_read_only(v) for v in value)
    return value


def test_no_check_changes_a_projected_object_in_any_scenario_world():
    """Projected objects of one list share their parts, so a reader that changed one would change its
    neighbours: every list-reading check, over every world, reads them without changing anything."""
    compared = 0
    for world in _worlds():
        objects = _world_objects(world)
        frozen: dict[Resource, list[dict]] = {}
        for res, objs in objects.items():
            project = projection.projector(res)
            frozen[res] = [_read_only(project(copy.deepcopy(o)) if project else o) for o in objs]  # type: ignore
        for check in _checks(objects):
            full = check.observe(Clients(view=FakeView(objects), settings=SETTINGS))
            assert check.observe(Clients(view=FakeView(frozen), settings=SETTINGS)) == full, (world, check.kind)
            compared += 1
    assert compared > 100


def _reference(value: object, spec: object) -> object:
    """What a keep spec means (gate.cluster.projection's module doc), written the plain way."""
    if spec is True:
        return value
    if isinstance(spec, projection.Where):
        if not isinstance(value, list):
            return _reference(value, spec.spec)
        return [_reference(v, spec.spec) for v in value if not isinstance(v, dict) or spec.test(v)]
    if isinstance(value, dict):
        return {k: _reference(value[k], sub) for k, sub in spec.items() if k in value}
    if isinstance(value, list):
        return [_reference(v, spec) for v in value]
    return value


def test_generated_projections_keep_what_a_plain_reading_of_the_spec_keeps():
    """The projections are generated code with memo keys built inline (speed): on 3,000 random values
    (every JSON type at every place, keys present or absent, equal-in-Python values such as True/1/1.0)
    under random keep specs, one projector's output is, to the byte, the plain reading's."""
    import random

    rng = random.Random(25)
    scalars = [True, False, 1, 1.0, 0, 0.0, -0.0, None, "a", "b", "x" * 70, 10**20]
    keys = ["a", "b", "c"]  # few keys and small values: equal parts (and near-equal ones) are common

    def value(depth: int) -> object:
        kind = rng.random()
        if depth > 3 or kind < 0.4:
            return rng.choice(scalars[:3] if rng.random() < 0.5 else scalars)
        if kind < 0.75:
            return {k: value(depth + 1) for k in rng.sample(keys, rng.randint(0, len(keys)))}
        return [value(depth + 1) for _ in range(rng.randint(0, 2))]

    def spec(depth: int) -> object:
        kind = rng.random()
        if depth > 2 or kind < 0.3:
            return True
        inner = {k: spec(depth + 1) for k in rng.sample(keys, rng.randint(1, 3))}
        return projection.Where(lambda v: v.get("a") != "b", inner) if kind < 0.45 else inner

    checked = 0
    for _ in range(30):
        body = spec(1)
        res = Resource(group="test.example", version="v1", plural=f"things{checked}", kind="Thing",
                       namespaced=True)
        projection.declare(res, body if isinstance(body, dict) else {"spec": body})
        project = projection.projector(res)
        declared = projection.spec_for(res)
        objects = [{"apiVersion": "v1", "kind": "Thing", "metadata": {"name": f"t{i}", "labels": value(2)},
                    "spec": value(1), "status": value(1)} for i in range(100)]
        outputs = [project(copy.deepcopy(o)) for o in objects]
        assert [_dumped(o) for o in outputs] == [_dumped(_reference(o, declared)) for o in objects]
        checked += len(objects)
    assert checked == 3000


def test_after_a_list_the_collector_runs_again_and_the_list_is_no_young_object(world):
    """While lists are read the cyclic collector is off (gate.engine.gcpause); after the last
    one it is on again, the listed objects already in the oldest generation (so the next young
    collections do not walk them) and still collectable; a caller that had it off keeps it off."""
    kube = connect(kubeconfig=world.admin_kubeconfig)
    assert gc.isenabled()
    pods = kube.list(PODS, "apps")
    assert gc.isenabled()
    young = {id(o) for generation in (0, 1) for o in gc.get_objects(generation)}
    assert pods and not any(id(p) in young or id(p["metadata"]) in young for p in pods)
    oldest = {id(o) for o in gc.get_objects(2)}
    assert id(pods[0]) in oldest

    class Cycle:
        pass
    ring = Cycle()
    ring.me = ring  # type: ignore[attr-defined]
    ring.pods = pods  # type: ignore[attr-defined]
    freed: list[bool] = []
    weakref.finalize(ring, freed.append, True)
    del ring, pods
    gc.collect()
    assert freed == [True]

    gc.disable()
    try:
        kube.list(PODS, "apps")
        assert not gc.isenabled()
    finally:
        gc.enable()
