"""Verdicts within moments of the truth (issue 12): while a level waits, the lists its checks read are
watched (one watch per list, resumed from the list's resourceVersion) and a change re-evaluates the
checks at once; 410 → re-list; a broken or denied watch → polling, the deadline unmoved; no more
requests than polling when nothing changes; SIGTERM during a watch ends the run at once.

All against the simulator over HTTPS with the real `kubernetes` client; what is asserted is the verdict,
its timing, and the simulator's request log."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from gate.checks.base import Clients

from gate.cluster.kube import connect
from gate.engine.runner import Runner
from gate.sim.scenario import resolve
from gate.sim.server import start
from gate.spec.load import load_spec
from gate.spec.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
APPS = "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications"
PODS = "/api/v1/namespaces/monitoring/pods"
LOKI = "argocd_apps: [loki]"  # stale-argocd: loki's refresh lands on the timeline (at 4 s, speed 1)
CRASHING = 'pods: {namespace: monitoring, selector: "app.kubernetes.io/name=grafana"}'  # never true
REFRESH_LOKI = {"patch": {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
                          "metadata": {"name": "loki", "namespace": "argocd"}, "status": {"reconciledAt": "${now}"}}}


def _plan(tmp_path: Path, check: str, defaults: str) -> Any:
    spec = tmp_path / "gate.yaml"
    spec.write_text(f"defaults: {defaults}\nstages:\n  monitoring:\n    levels:\n      1:\n        - {check}\n")
    return load_spec(str(spec), load_settings(CONFIG, {})).plan("monitoring")


def _run(sim: Any, plan: Any, watch: bool = True) -> tuple[Any, float]:
    kube = connect(sim.kubeconfig)
    began = time.monotonic()
    levels = Runner(Clients(kube=kube), kube, watch=watch).run(plan)
    return levels[0], time.monotonic() - began


def _requests(sim: Any, path: str, since: int = 0) -> list[dict]:
    """The requests to the collection at `path` and to its objects by name (GET .../NAME)."""
    return [r for r in sim.requests[since:] if r["path"] == path or r["path"].startswith(path + "/")]


def _watches(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["query"].get("watch") == "1"]


def _change_at(sim: Any) -> float:
    """The wall-clock (monotonic) time the scenario's first timeline entry applies."""
    entry = sim.scenario["timeline"][0]
    return time.monotonic() - sim.clock / sim.speed + float(entry["at"]) / sim.speed


def test_the_simulator_serves_a_watch_from_a_resource_version(tmp_path: Path) -> None:
    with start("stale-argocd") as sim:
        token = sim.token
        listed = requests.get(sim.url + APPS, headers={"Authorization": f"Bearer {token}"}, verify=sim.ca_file,
                              timeout=5).json()
        rv = listed["metadata"]["resourceVersion"]
        with requests.get(sim.url + APPS, params={"watch": "1", "resourceVersion": rv, "allowWatchBookmarks": "true"},
                          headers={"Authorization": f"Bearer {token}"}, verify=sim.ca_file, stream=True,
                          timeout=10) as resp:
            events = []
            for line in resp.iter_lines():
                events.append(json.loads(line))
                if events[-1]["type"] == "MODIFIED":
                    break
        assert {e["type"] for e in events} <= {"BOOKMARK", "MODIFIED"}
        changed = events[-1]["object"]
        assert changed["metadata"]["name"] == "loki" and int(changed["metadata"]["resourceVersion"]) > int(rv)
        sim.api.watches.expire()
        gone = requests.get(sim.url + APPS, params={"watch": "1", "resourceVersion": rv},
                            headers={"Authorization": f"Bearer {token}"}, verify=sim.ca_file, timeout=5)
        (event,) = [json.loads(line) for line in gone.text.splitlines()]
        assert event["type"] == "ERROR" and event["object"]["code"] == 410


def test_a_check_passes_within_moments_of_the_timeline_change(tmp_path: Path) -> None:
    # Polled every 10 s, the change at 4 s would be seen at ~10 s; watched, at once.
    with start("stale-argocd") as sim:
        changed = _change_at(sim)
        level, _ = _run(sim, _plan(tmp_path, LOKI, "{timeout: 30s, interval: 10s}"))
        delay = time.monotonic() - changed
        rows = _requests(sim, APPS)
    assert level.status.value == "PASS"
    assert delay < 3.0, f"{delay:.2f}s from the change to the verdict (poll interval 10s)"
    assert [bool(r["query"].get("watch")) for r in rows] == [False, True], rows  # one GET, one watch
    get, watch = rows
    assert get["path"] == APPS + "/loki"  # the app by name, never the namespace's list
    assert watch["path"] == APPS and watch["query"]["fieldSelector"] == "metadata.name=loki"
    assert watch["query"]["sendInitialEvents"] == "true"  # a streaming start: no resourceVersion needed


def test_without_watches_the_change_waits_for_the_next_poll(tmp_path: Path) -> None:
    with start("stale-argocd") as sim:
        sim.add_fault({"path": "^/apis/argoproj.io", "method": "WATCH", "status": 500})  # none is made
        changed = _change_at(sim)
        level, _ = _run(sim, _plan(tmp_path, LOKI, "{timeout: 30s, interval: 2s, max_interval: 2s}"), watch=False)
        delay = time.monotonic() - changed
        rows = _requests(sim, APPS)
    assert level.status.value == "PASS"
    assert not _watches(rows)
    assert len(rows) >= 2 and delay > 0.0


def test_410_gone_relists_and_the_new_watch_still_sees_the_change(tmp_path: Path) -> None:
    with start("stale-argocd") as sim:
        changed = _change_at(sim)
        result: list = []
        thread = threading.Thread(target=lambda: result.append(
            _run(sim, _plan(tmp_path, LOKI, "{timeout: 30s, interval: 10s}"))))
        thread.start()
        _until(lambda: _watches(_requests(sim, APPS)), 3.0)
        sim.api.watches.expire()  # the open watch gets an ERROR event with code 410
        _until(lambda: len(_watches(_requests(sim, APPS))) >= 2, 3.0)
        thread.join(20)
        delay = time.monotonic() - changed
        rows = _requests(sim, APPS)
    level, _ = result[0]
    assert level.status.value == "PASS"
    assert [bool(r["query"].get("watch")) for r in rows] == [False, True, False, True], rows  # re-listed
    assert delay < 3.0, f"{delay:.2f}s from the change to the verdict"


def test_a_broken_watch_falls_back_to_polling_and_the_deadline_holds(tmp_path: Path) -> None:
    with start("crashloop") as sim:
        sim.add_fault({"path": PODS, "method": "WATCH", "drop": True})
        level, took = _run(sim, _plan(tmp_path, CRASHING, "{timeout: 3s, interval: 0.3s, max_interval: 0.3s}"))
        rows = _requests(sim, PODS)
    assert level.status.value == "FAIL"
    assert took < 3 + 1.0, f"{took:.2f}s for a 3s timeout"
    lists = [r for r in rows if not r["query"].get("watch")]
    assert len(lists) >= 4, rows  # polling went on
    assert 1 <= len(_watches(rows)) <= 3  # given up after a few breaks


def test_a_denied_watch_means_polling_silently(tmp_path: Path) -> None:
    rules = [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list"]},
             {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews"], "verbs": ["create"]}]
    scenario = {"name": "no-watch", "extends": "stale-argocd", "rbac": {"system:serviceaccount:platform:gate": rules}}
    with start(scenario) as sim:
        level, _ = _run(sim, _plan(tmp_path, LOKI, "{timeout: 30s, interval: 1s, max_interval: 1s}"))
        rows = _requests(sim, APPS)
    assert level.status.value == "PASS", level
    watches = _watches(rows)
    assert [r["status"] for r in watches] == [403]  # asked once, then polled
    assert len(rows) - len(watches) >= 3


def test_no_more_requests_than_polling_when_nothing_changes(tmp_path: Path) -> None:
    counts = {}
    for watch in (True, False):
        with start("crashloop") as sim:
            level, _ = _run(sim, _plan(tmp_path, CRASHING, "{timeout: 2s, interval: 0.3s, max_interval: 0.3s}"),
                            watch=watch)
            counts[watch] = _requests(sim, PODS)
        assert level.status.value == "FAIL"
    listed, watch = counts[True]  # one list, one watch from it
    assert listed["query"].get("resourceVersion") == "0" and not listed["query"].get("watch")
    assert watch["query"]["watch"] == "1" and watch["query"]["resourceVersion"] not in ("", "0")
    assert len(counts[False]) >= 4
    assert not _watches(counts[False])


@pytest.mark.parametrize("streaming", [True, False, "storage"])
def test_the_first_list_is_a_cache_read_then_a_watch_from_it(tmp_path: Path, streaming: bool | str) -> None:
    # Whether or not the server offers streaming lists (one with the WatchList gate off refuses
    # sendInitialEvents, 422; one whose etcd cannot report progress answers an ERROR event), a list is
    # read from the watch cache (resourceVersion=0: a streaming list costs the server 1.6x as much) and
    # watched from that list's resourceVersion.
    with start({**resolve("crashloop"), "api": {"streaming_lists": streaming}}) as sim:
        level, _ = _run(sim, _plan(tmp_path, CRASHING, "{timeout: 2s, interval: 0.3s, max_interval: 0.3s}"))
        rows = _requests(sim, PODS)
    assert level.status.value == "FAIL"
    listed, watch = rows
    assert listed["query"].get("resourceVersion") == "0" and not listed["query"].get("watch")
    assert watch["query"]["watch"] == "1" and watch["query"]["resourceVersion"] not in ("", "0")
    assert "sendInitialEvents" not in watch["query"]


@pytest.mark.parametrize("streaming", [False, "storage"])
def test_without_streaming_lists_a_named_object_is_polled_by_get(tmp_path: Path, streaming: bool | str) -> None:
    scenario = {**resolve("stale-argocd"), "api": {"streaming_lists": streaming}}
    with start(scenario) as sim:
        level, _ = _run(sim, _plan(tmp_path, LOKI, "{timeout: 30s, interval: 1s, max_interval: 1s}"))
        rows = _requests(sim, APPS)
    assert level.status.value == "PASS", level
    assert [r["status"] for r in _watches(rows)] == [422 if not streaming else 200]  # asked once, then polled
    gets = [r for r in rows if not r["query"].get("watch")]
    assert len(gets) >= 3 and {r["path"] for r in gets} == {APPS + "/loki"}


@pytest.mark.parametrize("client", ["auto", "library"])
def test_a_run_that_ends_holding_a_watch_leaves_the_server_nothing_to_reject(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], client: str) -> None:
    # The verdict comes from a watch event while the watch is still streaming, so the level's end cuts it.
    # The server must see the connection simply end: the old cut (urllib3's SHUT_RD) made the watch
    # thread's OpenSSL send a fatal decode_error alert, which the simulator logged as
    # "rejected a connection ...: TLS handshake failed (TLSV1_ALERT_DECODE_ERROR)".
    spec = tmp_path / "gate.yaml"
    spec.write_text(f"defaults: {{timeout: 30s, interval: 10s}}\nstages:\n  monitoring:\n    levels:\n"
                    f"      1:\n        - {LOKI}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_") and k != "KUBECONFIG"}
    env.update(PYTHONPATH=str(ROOT), GATE_KUBE_CLIENT=client)
    scenario = {**resolve("stale-argocd"), "timeline": []}  # loki is refreshed below, once it is watched
    before = set(threading.enumerate())
    with start(scenario) as sim:
        proc = subprocess.Popen([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec",
                                 str(spec), "--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--no-preflight"],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _until(lambda: _watches(_requests(sim, APPS)), 15.0)
            sim.apply_change(REFRESH_LOKI)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
        rows = _requests(sim, APPS)
    _until(lambda: set(threading.enumerate()) <= before, 5.0)  # the server has done with every connection
    logged = capsys.readouterr().err
    assert proc.returncode == 0, out + err
    assert [bool(r["query"].get("watch")) for r in rows] == [False, True], rows  # one list, one watch
    assert "rejected a connection" not in logged, logged


def test_watch_permission_is_asked_for_and_rendered(tmp_path: Path) -> None:
    from gate.cluster.rbac import required_permissions

    perms = required_permissions(_plan(tmp_path, CRASHING, "{timeout: 2s}"), job=False)
    verbs = {(p.verb, p.resource, p.namespace) for p in perms}
    assert {("list", "pods", "monitoring"), ("watch", "pods", "monitoring")} <= verbs


def test_sigterm_during_a_watch_exits_within_two_seconds(tmp_path: Path) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text(f"defaults: {{timeout: 5m, interval: 30s}}\nstages:\n  monitoring:\n    levels:\n"
                    f"      1:\n        - {CRASHING}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_") and k != "KUBECONFIG"}
    env["PYTHONPATH"] = str(ROOT)
    with start("crashloop") as sim:
        proc = subprocess.Popen([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec",
                                 str(spec), "--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--no-preflight",
                                 "--json", str(tmp_path / "gate.json")],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            _until(lambda: _watches(_requests(sim, PODS)), 15.0)
            time.sleep(0.2)
            sent = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=10)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                proc.kill()
    assert took < 2.0, f"{took:.2f}s from SIGTERM to exit"
    assert proc.returncode == 143, proc.stderr.read()
    assert json.loads((tmp_path / "gate.json").read_text())["levels"]


def test_no_watch_flag_polls(tmp_path: Path) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text(f"defaults: {{timeout: 1500ms, interval: 0.3s, max_interval: 0.3s}}\nstages:\n  monitoring:\n"
                    f"    levels:\n      1:\n        - {CRASHING}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_") and k != "KUBECONFIG"}
    env.update(PYTHONPATH=str(ROOT), GATE_WATCH="0")
    with start("crashloop") as sim:
        proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec", str(spec),
                               "--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--no-preflight"],
                              env=env, capture_output=True, text=True, timeout=30)
        rows = _requests(sim, PODS)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert rows and not _watches(rows)


def _until(condition: Any, limit: float) -> None:
    ends = time.monotonic() + limit
    while not condition():
        if time.monotonic() > ends:
            pytest.fail(f"not within {limit}s")
        time.sleep(0.02)


def test_a_big_list_is_parsed_as_it_arrives_not_held_whole(tmp_path: Path) -> None:
    """6,000 pods as a real API server sends them (~20 MB of JSON, chunked): the gate's peak memory grows
    by the projected pods (~0.5 kB each), far less than the answer: it never holds the answer's bytes or
    text whole (gate.cluster.listbody)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("benchlib", ROOT / "benchmarks" / "benchlib.py")
    benchlib = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchlib)
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "benchmarks" / "load.py")
    load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load)
    gate_spec = tmp_path / "gate.yaml"
    gate_spec.write_text("defaults: {timeout: 60s, interval: 1s}\nstages:\n  s:\n    levels:\n      1:\n"
                         "        - pods: {namespace: apps}\n")
    peaks, size = {}, 0
    for count in (60, 6000):
        world = {"name": "many-pods", "controllers": False,
                 "objects": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}],
                 "generate": [{"count": count, "template": load.pod_template()}]}
        with start(world) as sim:
            env = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
            env.update(KUBECONFIG=sim.admin_kubeconfig, PYTHONPATH=os.pathsep.join([str(benchlib._BLOCK), str(ROOT)]))
            _, peaks[count], code, _ = benchlib.run_child(
                [sys.executable, "-m", "gate", "verify", "--stage", "s", "--spec", str(gate_spec), "--no-preflight"],
                env, cwd=tmp_path)
            rows = _requests(sim, "/api/v1/namespaces/apps/pods")
            size = len(requests.get(sim.url + "/api/v1/namespaces/apps/pods", verify=sim.ca_file,
                                    headers={"Authorization": f"Bearer {sim.admin_token}"}).content)
        assert code == 0
        assert rows[0]["query"].get("resourceVersion") == "0"
    assert size > 15e6
    # MB: the projected pods and a piece; a whole read holds 2-3x the answer
    assert peaks[6000] - peaks[60] < size / 1e6 / 2, (peaks, size)


@pytest.mark.parametrize("query", [{"resourceVersion": "0"}, {},
                                   {"sendInitialEvents": "true", "resourceVersionMatch": "NotOlderThan",
                                    "allowWatchBookmarks": "true"}])
def test_a_watch_that_starts_from_the_current_state_sends_it_as_added_events(query: dict) -> None:
    """kube-apiserver's watch cache answers a watch from "0" (or none, or a streaming list) with the current
    objects as ADDED events (apiserver pkg/storage/cacher/watch_cache.go:901-909,
    watch_cache_interval.go:162), then the changes; the simulator did so as MODIFIED."""
    with start("stale-argocd") as sim:
        token = sim.token
        listed = requests.get(sim.url + APPS, headers={"Authorization": f"Bearer {token}"}, verify=sim.ca_file,
                              timeout=5).json()
        names = {a["metadata"]["name"] for a in listed["items"]}
        with requests.get(sim.url + APPS, params={"watch": "1", "timeoutSeconds": "1", **query},
                          headers={"Authorization": f"Bearer {token}"}, verify=sim.ca_file, stream=True,
                          timeout=10) as resp:
            events = []
            for line in resp.iter_lines():
                events.append(json.loads(line))
                if len([e for e in events if e["type"] != "BOOKMARK"]) == len(names):
                    break
        first = [e for e in events if e["type"] != "BOOKMARK"][:len(names)]
        assert [e["type"] for e in first] == ["ADDED"] * len(names)
        assert {e["object"]["metadata"]["name"] for e in first} == names


def _pod(name: str, ready: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "monitoring",
                                                             "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "web:1"}]},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": ready}]}}


def test_a_watched_list_keeps_what_was_listed_and_applies_the_change(tmp_path: Path) -> None:
    # The list is read once, then watched from its resourceVersion (no streaming start resends it): the
    # verdict after the change is over every pod listed, the one that changed as the event says.
    scenario = {"name": "one-turns-ready", "controllers": False, "api": {"streaming_lists": False},
                "tokens": {"gate-token": {"user": "gate", "groups": ["system:masters"]}},
                "objects": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}},
                            _pod("web-a", "True"), _pod("web-b", "False"), _pod("web-c", "True")],
                "timeline": [{"at": 1, "patch": {**_pod("web-b", "True"), "spec": {}}}]}
    with start(scenario) as sim:
        level, _ = _run(sim, _plan(tmp_path, 'pods: {namespace: monitoring, selector: "app=web"}',
                                   "{timeout: 20s, interval: 10s}"))
        rows = _requests(sim, PODS)
    assert level.status.value == "PASS", level.checks
    assert level.checks[0].observed == "3/3 pods Ready"
    assert [bool(r["query"].get("watch")) for r in rows] == [False, True]  # one list, one watch
