"""Fault campaign: the gate against a hostile environment whose true verdict is known.

Each run picks a world (a simulator scenario, a command, and the verdict the gate must reach on it when
nothing goes wrong), draws faults at random from the simulator's fault model (gate/sim/faults.py:
5xx/429, dropped connections, latency within and past the deadline, trickled and cut bodies, empty 200s,
wrong shapes, stale lists) on the paths that world reads (Kubernetes API, Kargo API, Kargo through the
Kubernetes API, a Prometheus behind the service proxy) and on its HTTP target (a stub with the same kinds
of faults plus 401/404), runs `gate verify|precheck|promote` as a subprocess with canary secrets in its
environment, and judges what came out:

- false pass: exit 0 where the true verdict is not 0 (a fault may only ever cost a verdict: exit 3);
- duplicate promotion: a Promotion created while another for the same Freight is not terminal;
- traceback: a Python traceback in stdout or stderr;
- over deadline: the process ran longer than --timeout plus GRACE seconds;
- leak: a canary secret (KARGO_API_TOKEN, the kube token, GITHUB_TOKEN, CI tokens, `${env:}` values, a
  short one) in its plain, percent-encoded, base64 or JSON-escaped form in stdout, stderr, JUnit, JSON,
  the GitHub step summary or the GitHub outputs.

Every run also draws how the gate reads its kubeconfig: half through the light path
(gate/cluster/lightclient.py), half through the kubernetes library (GATE_KUBE_CLIENT=library), so both
transports meet every kind of fault.

The worlds cover verify at each level (Kubernetes, HTTP, Prometheus, command), precheck (Kargo API and
the Kubernetes-API fallback) and promote; and the newer surface (issue 19): diagnose, status and
`status --watch`, discover, init, scaffold, `lint --cluster` (allowed and denied), render with a cluster,
a Promotion watch that trickles in without ever ending a line (the gate must give it up at
--promotion-timeout and read the Promotion), and credentials only a URL carries (kubeconfig server
userinfo, a lone username, KARGO_API_ADDRESS userinfo and `?token=`, a check URL's `?access_token=`), which
the leak column looks for like every other canary. `--quick` (CI, tests/test_fault_campaign.py) runs each
world of the newer surface once, and three of the older ones, with faults drawn.

`--self-test` runs worlds built to lie to the judge, one per column, and exits 0 only if every column
counted them: a campaign that cannot fail proves nothing.

Usage: python benchmarks/fault_campaign.py [--runs N] [--seed S] [--jobs J] [--verbose] [--self-test] [--quick]
The full run (docs): `nice python benchmarks/fault_campaign.py --runs 320 --jobs 2`.
The last line printed is `runs N, false passes F, duplicate promotions D, tracebacks T, over deadline O,
leaks L`. With --jobs, worlds run in parallel processes, each with its own simulator and stubs on
127.0.0.1; every run draws from its own seed, so a seed gives the same runs whatever --jobs is.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import json
import multiprocessing
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gate.sim.faults import SHAPES  # noqa: E402
from gate.sim.kargo_api import mount  # noqa: E402
from gate.sim.server import start  # noqa: E402
from gate.sim.watchproxy import WatchProxy, trickle_forever  # noqa: E402

CONFIG = str(ROOT / "gate" / "demo" / "config.yaml")
F2 = "7539ab25fa8b285f5321128519e52887bdf8c7a1"
GRACE = 3.0  # seconds over --timeout allowed for interpreter start and writing reports
KILL_AFTER = 12.0  # a run still going this long past its deadline is killed (and counted over deadline)

L1_SPEC = """
defaults: {timeout: 4s, interval: 0.2s, max_interval: 0.5s}
stages:
  monitoring:
    levels:
      1:
        - pods: {namespace: monitoring, selector: "app.kubernetes.io/part-of=kube-prometheus-stack"}
        - workloads: {namespace: monitoring}
        - pvcs: {namespace: monitoring, allow_empty: true}
        - secret: {namespace: monitoring, name: grafana-admin, keys: [admin-user, admin-password]}
        - crds: [prometheuses.monitoring.coreos.com]
"""
PROM_SPEC = """
defaults: {timeout: 4s, interval: 0.2s, max_interval: 0.5s}
stages:
  monitoring:
    levels:
      1:
        - prometheus_query: {service: "monitoring/prometheus-operated:9090", query: 'ALERTS{alertstate="firing"}',
                             expect_count: "== 0", headers: {Authorization: "Bearer ${env:GATE_CANARY}"}}
"""
COMMAND_SPEC = """
defaults: {timeout: 4s, interval: 0.2s, max_interval: 0.5s}
stages:
  monitoring:
    levels:
      1:
        - command: {run: [sh, -c, "env; exit 1"], env: {SMOKE_TOKEN: "${env:GATE_CANARY}",
                                                        SMOKE_PIN: "${env:GATE_SHORT}"}}
"""
SLEEP_SPEC = """
defaults: {timeout: 4s, interval: 0.2s, max_interval: 0.5s}
stages:
  monitoring:
    levels:
      1:
        - command: {run: [sleep, "60"]}
"""
HTTP_SPEC = """
defaults: {timeout: 4s, interval: 0.2s, max_interval: 0.5s}
stages:
  monitoring:
    levels:
      1:
        - http: {url: "${env:GATE_TARGET}/healthz", headers: {Authorization: "Bearer ${env:GATE_CANARY}"},
                 expect: {status: 200, json: {status: ok, ready: true}}}
"""
# one check per level: Kubernetes (1), HTTP (2), Prometheus (3), command (4)
LEVELS_SPEC = """
defaults: {timeout: 4s, interval: 0.2s, max_interval: 0.5s}
stages:
  monitoring:
    levels:
      1:
        - workloads: {namespace: monitoring}
        - secret: {namespace: monitoring, name: grafana-admin, keys: [admin-user, admin-password]}
      2:
        - http: {url: "${env:GATE_TARGET}/healthz", headers: {Authorization: "Bearer ${env:GATE_CANARY}"},
                 expect: {status: 200, json: {status: ok, ready: true}}}
      3:
        - prometheus_query: {service: "monitoring/prometheus-operated:9090", query: 'ALERTS{alertstate="firing"}',
                             expect_count: "== 0"}
      4:
        - command: {run: [sh, -c, "echo smoke ok; exit 0"], env: {SMOKE_PIN: "${env:GATE_SHORT}"}}
"""
KUBE = [
    r"^/api/v1/namespaces/monitoring/pods$",
    r"^/apis/apps/v1/namespaces/monitoring/(deployments|statefulsets|daemonsets)$",
    r"^/api/v1/namespaces/monitoring/persistentvolumeclaims$",
    r"^/api/v1/namespaces/monitoring/secrets/grafana-admin$",
    r"^/apis/apiextensions.k8s.io/v1/customresourcedefinitions/",
]
KARGO = [
    r"^/v1beta1/system/server-version$",
    r"^/v1beta1/projects/platform/promotions$",
    r"^/v1beta1/projects/platform/stages/monitoring$",
    r"^/v1beta1/projects/platform/stages/[a-z-]+$",
    r"^/v1beta1/projects/platform/freight",
    r"^/v1beta1/projects/platform/promotions/",
]
PROM = [r"^/api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy/api/v1/query$"]
KUBE_KARGO = [  # precheck without KARGO_API_ADDRESS reads Kargo through the Kubernetes API
    r"^/apis/kargo.akuity.io/v1alpha1/namespaces/platform/promotions$",
    r"^/apis/kargo.akuity.io/v1alpha1/namespaces/platform/stages",
    r"^/apis/kargo.akuity.io/v1alpha1/namespaces/platform/freights",
]
TARGET = [r"^/healthz$"]  # the HTTP target (a stub on 127.0.0.1 with its own fault list)
PROMOTE_POST = r"^/v1beta1/projects/platform/stages/monitoring/promotions$"
EMPTY_VECTOR = {"status": "success", "data": {"resultType": "vector", "result": []}}
FIRING = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {"__name__": "ALERTS", "alertname": "Down"}, "value": [1700000000.0, "1"]}]}}


@dataclass
class World:
    name: str
    scenario: str
    args: list[str]
    truth: int  # the exit code with no fault
    paths: list[str]
    timeout: float = 6.0
    spec: str = L1_SPEC
    kargo: bool = False
    prometheus: dict | None = None  # the stub Prometheus answer
    target: dict | str | None = None  # the stub HTTP target's answer ("redirect": to a URL with a secret)
    extra: dict = field(default_factory=dict)  # merged into the scenario
    # --self-test only: ways to make a world lie to the judge, so each column is seen to count
    judged_timeout: float | None = None  # the judge's idea of --timeout (None: the real one)
    sabotage: str | None = None  # "duplicate": the campaign itself creates a second Promotion
    # The newer commands: their own command line (placeholders @KUBECONFIG@ @ADMIN_KUBECONFIG@ @SPEC@ @CONFIG@
    # @JUNIT@ @JSON@ @TMP@), without verify's --stage/--spec/--junit/--json; `timed`: it takes --timeout.
    command: list[str] | None = None
    timed: bool = True
    kubeconfig_server: str | None = None  # the kubeconfig's server replaced by this (@URL@: a URL canary)
    kargo_address: str | None = None  # KARGO_API_ADDRESS replaced by this (@URL@: a URL canary)
    sse_trickle: bool = False  # the Kargo API behind a proxy whose Promotion watch trickles, never a line


WORLDS = [
    World("verify-healthy", "healthy", ["verify"], 0, KUBE),
    World("verify-crashloop", "crashloop", ["verify"], 1, KUBE),
    World("verify-prom-quiet", "healthy", ["verify"], 0, PROM, spec=PROM_SPEC, prometheus=EMPTY_VECTOR),
    World("verify-prom-firing", "healthy", ["verify"], 1, PROM, spec=PROM_SPEC, prometheus=FIRING),
    World("verify-http-ok", "healthy", ["verify"], 0, TARGET, spec=HTTP_SPEC, target={"status": "ok", "ready": True}),
    World("verify-http-typed", "healthy", ["verify"], 1, TARGET, spec=HTTP_SPEC,
          target={"status": "ok", "ready": "True"}),
    World("verify-http-redirect", "healthy", ["verify"], 1, TARGET, spec=HTTP_SPEC, target="redirect"),
    World("verify-levels-ok", "healthy", ["verify"], 0, KUBE[1:2] + KUBE[3:4] + TARGET + PROM, spec=LEVELS_SPEC,
          prometheus=EMPTY_VECTOR, target={"status": "ok", "ready": True}),
    World("verify-levels-firing", "healthy", ["verify"], 1, KUBE[1:2] + TARGET + PROM, spec=LEVELS_SPEC,
          prometheus=FIRING, target={"status": "ok", "ready": True}),
    World("verify-command-env", "healthy", ["verify"], 1, KUBE, spec=COMMAND_SPEC),
    World("verify-command-sleep", "healthy", ["verify"], 1, KUBE, spec=SLEEP_SPEC),
    World("precheck-running", "promotion-running", ["precheck", "--freight", F2], 1, KARGO, kargo=True,
          extra={"kargo": {"promotion": {"pending": 1, "running": 6000, "outcome": "Succeeded"}}}),
    World("precheck-ok", "promote-ok", ["precheck", "--freight", F2], 0, KARGO, kargo=True),
    World("precheck-kube-ok", "promote-ok", ["precheck", "--freight", F2], 0, KUBE_KARGO),
    World("precheck-kube-running", "promotion-running", ["precheck", "--freight", F2], 1, KUBE_KARGO,
          extra={"kargo": {"promotion": {"pending": 1, "running": 6000, "outcome": "Succeeded"}}}),
    World("promote-ok", "promote-ok", ["promote", "--freight-alias", "calm-crane"], 0, KARGO + [PROMOTE_POST],
          timeout=12.0, kargo=True),
    World("promote-running", "promotion-running", ["promote", "--freight", F2], 0, KARGO, timeout=12.0,
          kargo=True, extra={"kargo": {"promotion": {"pending": 1, "running": 40, "outcome": "Succeeded"},
                                       "verification": {"pending": 1, "running": 2, "outcome": "Successful"}}}),
    World("promote-unverified", "upstream-unverified", ["promote", "--freight", F2], 1, KARGO, timeout=12.0,
          kargo=True),
]

DIAG = [  # what diagnose, status, discover, init and lint --cluster read
    r"^/apis/kargo.akuity.io/v1alpha1/namespaces/platform/",
    r"^/apis/kargo.akuity.io/v1alpha1/(projects|namespaces/platform/stages)$",
    r"^/apis/argoproj.io/v1alpha1/",
    r"^/api/v1/namespaces/[a-z-]+/(pods|events)",
    r"^/apis/batch/v1/",
    r"^/api/v1/namespaces$",
]
K_ARGS = ["--kubeconfig", "@KUBECONFIG@"]
URL_SPEC = HTTP_SPEC.replace("/healthz", "/healthz?access_token=@URL@")
NEW_WORLDS = [
    World("diagnose-errored", "diagnose-promote-errored", [], 1, DIAG, command=[
        "diagnose", "--stage", "monitoring", "--config", "@CONFIG@", *K_ARGS, "--json", "@JSON@",
        "--junit", "@JUNIT@"]),
    World("diagnose-healthy", "diagnose-healthy", [], 0, DIAG, command=[
        "diagnose", "--config", "@CONFIG@", *K_ARGS, "--json", "@JSON@"]),
    World("status", "diagnose-promote-errored", [], 0, DIAG, command=[
        "status", "--config", "@CONFIG@", *K_ARGS, "--json", "@JSON@"]),
    World("status-watch", "diagnose-promote-errored", [], 0, DIAG, command=[
        "status", "--watch", "--interval", "1", "--count", "2", "--config", "@CONFIG@", *K_ARGS]),
    World("discover", "healthy", [], 0, DIAG, command=["discover", *K_ARGS]),
    World("init", "healthy", [], 0, DIAG, command=[
        "init", "--project", "platform", "--force", "--spec", "@TMP@/init/gate.yaml", "--config",
        "@TMP@/init/settings.yaml", *K_ARGS]),
    World("scaffold", "healthy", [], 0, [], timed=False, command=[
        "scaffold", "stage", "monitoring", "--app", "loki", "--image", "ghcr.io/x/gate:1", "--project", "platform",
        "--warehouse", "w", "--spec", "@SPEC@", "--config", "@CONFIG@"]),
    # --strict: the healthy world's argocd-update steps set no retry (a warning, an error under --strict), so a
    # lint that read the Stages exits 1; under faults it must never exit 0
    World("lint-cluster", "healthy", [], 1, DIAG, command=["lint", "--cluster", "--strict", "--project", "platform",
                                                            "--kubeconfig", "@ADMIN_KUBECONFIG@"]),
    # the gate's own identity may not list ApplicationSets (and RBAC objects) in the healthy world: lint skips
    # those rules with a note (issue 20) and still finds what the Stages show: exit 1, never a clean lint
    World("lint-cluster-denied", "healthy", [], 1, DIAG, command=["lint", "--cluster", "--strict", "--project",
                                                                   "platform", *K_ARGS]),
    World("render-cluster", "healthy", [], 0, DIAG, command=[
        "render", "analysis-template", "--stage", "monitoring", "--image", "ghcr.io/x/gate:1", "--spec", "@SPEC@",
        "--config", "@CONFIG@", *K_ARGS]),
    World("promote-sse-trickle", "promote-ok", ["promote", "--freight-alias", "calm-crane", "--no-verify",
                                                "--promotion-timeout", "4s"], 0, KARGO + [PROMOTE_POST],
          timeout=12.0, kargo=True, sse_trickle=True),
    World("verify-kubeconfig-userinfo", "healthy", ["verify"], 3, [], kubeconfig_server="https://ops:@URL@@127.0.0.1:1"),
    World("verify-kubeconfig-username", "healthy", ["verify"], 3, [], kubeconfig_server="https://@URL@@127.0.0.1:1"),
    World("precheck-kargo-userinfo", "promote-ok", ["precheck", "--freight", F2], 3, [], kargo=True,
          kargo_address="https://ops:@URL@@127.0.0.1:1/?token=@URL@"),
    World("verify-http-token-url", "healthy", ["verify"], 0, TARGET, spec=URL_SPEC,
          target={"status": "ok", "ready": True}),
]
WORLDS += NEW_WORLDS
# --quick (CI): one run of each world of the newer surface, and a few of the rest
QUICK = [w.name for w in NEW_WORLDS] + ["verify-healthy", "precheck-ok", "promote-ok"]

BODY_SHAPES = ["empty-object", "null", "empty", "items-null", "status-failure", "truncated", "malformed",
               "html", "stale"]
TARGET_SHAPES = ["empty", "truncated", "malformed", "html", "null", "empty-object", "wrong-shape"]
PROM_SHAPES = ["prom-no-data", "prom-data-null", "prom-unknown-type", "prom-bad-value", "empty-object",
               "truncated", "malformed", "html"]
assert set(BODY_SHAPES + PROM_SHAPES) <= set(SHAPES)


def draw_faults(rng: random.Random, world: World) -> list[dict[str, Any]]:
    faults: list[dict[str, Any]] = []
    if not world.paths:  # nothing reachable to fault (a closed port, an offline command)
        return faults
    for _ in range(rng.choice([0, 1, 1, 2, 2, 3])):
        path = rng.choice(world.paths)
        fault: dict[str, Any] = {"path": path, "method": "POST" if path == PROMOTE_POST else "GET"}
        count = rng.choice([1, 2, 3, None])
        kind = rng.choice(["status", "drop", "latency", "past-deadline", "shape", "shape", "shape",
                           "short_read", "trickle"])
        if path in TARGET and kind == "status":
            fault.update(status=rng.choice([500, 502, 503, 429, 401, 404]), count=count)
            faults.append(fault)
            continue
        if path == PROMOTE_POST:
            kind = rng.choice(["status", "drop", "latency"])
        if kind == "status":
            status = rng.choice([500, 502, 503, 429])
            fault.update(status=status, count=count, **({"retry_after": "0"} if status == 429 else {}))
        elif kind == "drop":
            fault.update(drop=True, count=count)
        elif kind == "latency":
            fault.update(latency=round(rng.uniform(0.1, 1.0), 2), count=count)
        elif kind == "past-deadline":
            fault.update(latency=world.timeout + 2, count=1)
        elif kind == "shape":
            shapes = PROM_SHAPES if path in PROM else TARGET_SHAPES if path in TARGET else BODY_SHAPES
            fault.update(shape=rng.choice(shapes), count=count)
        elif kind == "short_read":
            fault.update(short_read=True, count=count)
        else:
            fault.update(trickle="0.3s", count=count)
        faults.append(fault)
    return faults


class _Prometheus:
    """A stub Prometheus on 127.0.0.1 answering /api/v1/query with a fixed body."""

    def __init__(self, body: dict) -> None:
        data = json.dumps(body).encode()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Target:
    """The HTTP target of the `http` checks: a stub on 127.0.0.1 that answers /healthz with `answer` (or
    a redirect to a login URL carrying `secret`, percent-encoded) and applies its own faults, drawn like
    the simulator's (status, reset, latency, short read, trickle, body shapes)."""

    def __init__(self, answer: dict | str, secret: str, faults: list[dict]) -> None:
        self.faults = [dict(f) for f in faults]
        lock = threading.Lock()
        outer = self

        def take() -> dict | None:
            with lock:
                for fault in outer.faults:
                    if fault.get("count") is None or fault["count"] > 0:
                        if fault.get("count") is not None:
                            fault["count"] -= 1
                        return fault
            return None

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, length: int | None = None, *, trickle: bool = False,
                      headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if length is None else length))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if trickle:
                    for i in range(len(body)):
                        self.wfile.write(body[i:i + 1])
                        self.wfile.flush()
                        time.sleep(0.3)
                else:
                    self.wfile.write(body)
                if length is not None:
                    self.close_connection = True

            def do_GET(self) -> None:  # noqa: N802 - stdlib name
                if not self.path.startswith("/healthz"):  # the login page a redirect leads to
                    return self._send(401, b'{"error": "login required"}')
                fault = take()
                body = json.dumps(answer).encode() if isinstance(answer, dict) else b""
                if fault and fault.get("latency"):
                    time.sleep(fault["latency"])
                if fault and fault.get("status"):
                    return self._send(fault["status"], b'{"error": "injected"}', headers={"Retry-After": "0"})
                if fault and fault.get("drop"):
                    self.close_connection = True
                    return self.connection.shutdown(socket.SHUT_RDWR)
                if fault and fault.get("shape"):
                    body = TARGET_BODIES[fault["shape"]]
                if answer == "redirect" and not (fault and fault.get("shape")):
                    where = "/login?next=" + quote(f"/healthz?token={secret}", safe="")
                    return self._send(302, b"", headers={"Location": where})
                if fault and fault.get("short_read"):
                    return self._send(200, body[: len(body) // 2], length=len(body))
                return self._send(200, body, trickle=bool(fault and fault.get("trickle")))

        self.server = _QuietServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up mid-answer (the gate at its deadline) is expected, not news."""


TARGET_BODIES = {"empty": b"", "truncated": b'{"status": "ok", "rea', "malformed": b'{"status": ok}',
                 "html": b"<html><body>502 Bad Gateway</body></html>", "null": b"null", "empty-object": b"{}",
                 "wrong-shape": b'[{"status": "ok", "ready": true}]'}


@dataclass
class Outcome:
    world: str
    faults: list[dict]
    code: int
    wall: float
    created: int
    problems: list[str] = field(default_factory=list)
    transport: str = "light"


def _run(argv: list[str], env: dict[str, str], cwd: Path, limit: float) -> tuple[int, str, str]:
    """Run the gate in its own process group; past `limit`, kill that group (the gate and whatever it
    started) and report exit -9."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=limit)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return -9, out, err


# commands that never create a Promotion (the duplicate watch is for the ones that might)
NO_PROMOTION = ("diagnose", "status", "discover", "init", "scaffold", "lint", "render")


def _fill(arg: str, places: dict[str, str]) -> str:
    for key, value in places.items():
        arg = arg.replace(key, value)
    return arg


def _promotion(sim: Any, name: str) -> None:
    sim.store.create({"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Promotion",
                      "metadata": {"name": name, "namespace": "platform"},
                      "spec": {"stage": "monitoring", "freight": F2, "steps": [{"uses": "fake"}]}})


TERMINAL = ("Succeeded", "Failed", "Errored", "Aborted")


class DuplicateWatch:
    """Watches the target Stage's Promotions every simulator tick; a Promotion that appears while
    another one for the same Freight is not terminal is a duplicate (DESIGN.md: never a second
    Promotion for a Freight that already has one running)."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.known: set[str] = set()
        self.active: dict[str, str] = {}  # name -> Freight, not terminal at the last tick
        self.created = self.duplicates = 0
        self._look(count=False)
        sim.add_ticker(lambda _now: self._look())

    def _look(self, count: bool = True) -> None:
        promos = [p for p in self.sim.store.list("kargo.akuity.io", "promotions", "platform")
                  if (p.get("spec") or {}).get("stage") == "monitoring"]
        for promo in promos:
            name, freight = promo["metadata"]["name"], (promo.get("spec") or {}).get("freight")
            if name not in self.known and count:
                self.created += 1
                if freight in self.active.values():
                    self.duplicates += 1
            self.known.add(name)
        self.active = {p["metadata"]["name"]: (p.get("spec") or {}).get("freight") for p in promos
                       if ((p.get("status") or {}).get("phase") or "Pending") not in TERMINAL}


def canaries(rng: random.Random) -> dict[str, str]:
    """Secrets in the gate's environment, some with characters whose percent-encoded, base64 and
    JSON-escaped forms differ from the plain text, and one short (4 letters) `${env:}` value."""
    def tok(prefix: str, tail: str = "") -> str:
        return f"{prefix}-{rng.getrandbits(64):016x}{tail}"

    short = "".join(rng.choice("QXZJKVWqxzjkvw") for _ in range(4))
    return {"GITHUB_TOKEN": tok("ghp_canary"), "ACTIONS_RUNTIME_TOKEN": tok("actions-canary", "/+="),
            "CI_JOB_TOKEN": tok("glcbt-canary", '"q\\'), "CI_REGISTRY_PASSWORD": tok("registry-canary", "&?#"),
            "GATE_CANARY": tok("envref-canary", "/?="), "GATE_SHORT": short}


def forms(value: str) -> dict[str, re.Pattern[str]]:
    """How a secret may show up: plain, percent-encoded, base64, JSON-escaped. A short value counts
    only as a whole word (the gate masks short values that way: gate/redact.py)."""
    texts = {"plain": value, "percent": quote(value, safe=""), "percent+": quote_plus(value),
             "base64": base64.b64encode(value.encode()).decode().rstrip("="), "json": json.dumps(value)[1:-1]}
    if len(value) < 6:
        return {k: re.compile(rf"(?<![A-Za-z0-9]){re.escape(v)}(?![A-Za-z0-9])") for k, v in texts.items()
                if k != "base64"}
    return {k: re.compile(re.escape(v)) for k, v in texts.items()}


def leaks(secrets: dict[str, str], texts: dict[str, str]) -> list[str]:
    found = set()
    for name, value in secrets.items():
        if not value:
            continue
        for form, pattern in forms(value).items():
            for where, text in texts.items():
                if pattern.search(text):
                    found.add(f"{name} ({form}) in {where}")
    return sorted(found)


def real_credentials(secrets: dict[str, str], bits: int) -> tuple[str, str, dict[str, str]]:
    """Credentials in the shapes real ones have (gate.sim.tokens.shapes), drawn from `bits` so the run's
    other draws stay as they were: the kube token (a ServiceAccount, Pod-bound, OIDC or EKS token), how the
    kubeconfig delivers it (the token itself or an exec plugin printing it), and CI variables holding a
    JWT of 2,000 characters, a PEM private key and a base64 key file; the Kargo API token is a JWT too."""
    from gate.sim.tokens import shapes

    local = random.Random(bits)
    real = shapes(local)
    kube_token = real[local.choice(["serviceaccount", "serviceaccount-bound", "oidc-2000", "eks"])]
    secrets.update({"CI_JOB_JWT_V2": real["oidc-2000"], "DEPLOY_KEY": real["pem-key"],
                    "GOOGLE_CREDENTIALS": real["base64-blob"]})
    return kube_token, local.choice(["token", "token", "exec"]), {"token": shapes(local)["oidc-2000"]}


def _exec_kubeconfig(sim: Any, path: Path, token: str) -> str:
    """A kubeconfig whose exec credential plugin (tests/fixtures/exec-credential) prints `token`."""
    return sim.write_kubeconfig(path, {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "interactiveMode": "Never",
        "command": str(ROOT / "tests/fixtures/exec-credential"), "args": ["--static", token]}})


def run_once(world: World, faults: list[dict], rng: random.Random, tmp: Path) -> Outcome:
    secrets = canaries(rng)
    kube_token, delivery, kargo = real_credentials(secrets, rng.getrandbits(64))
    transport = rng.choice(["light", "library"])
    transport = "library" if delivery == "exec" else transport  # the light path leaves exec to the library
    scenario = {"name": world.name, "extends": world.scenario, "gate_token": kube_token,
                "tokens": {kube_token: {"user": "system:serviceaccount:platform:gate", "groups": [
                    "system:serviceaccounts", "system:serviceaccounts:platform", "system:authenticated"]}},
                **world.extra}
    if world.kargo:
        scenario["kargo"] = {**(world.extra.get("kargo") or {}), **kargo}
    prom = _Prometheus(world.prometheus) if world.prometheus else None
    target = _Target(world.target, secrets["GATE_CANARY"], [f for f in faults if f["path"] in TARGET]) \
        if world.target else None
    spec = tmp / "gate.yaml"
    text = world.spec
    if "@LITERAL@" in text:  # --self-test: a secret the gate has no way to know
        secrets["literal"] = f"literal-canary-{rng.getrandbits(64):016x}"
        text = text.replace("@LITERAL@", secrets["literal"])
    if "@URL@" in text + (world.kubeconfig_server or "") + (world.kargo_address or ""):
        # a credential only the URL carries: the gate knows it is one because it reads the URL
        secrets["url"] = f"urlcanary{rng.getrandbits(64):016x}"
        text = text.replace("@URL@", secrets["url"])
    spec.write_text(text)
    junit, js, summary, outputs = tmp / "junit.xml", tmp / "result.json", tmp / "summary.md", tmp / "outputs"
    for path in (junit, js, summary, outputs):
        path.unlink(missing_ok=True)
    with start(scenario, speed=10.0, workdir=str(tmp / "sim")) as sim:
        if delivery == "exec":  # the kubeconfig this run's gate reads
            sim.kubeconfig = _exec_kubeconfig(sim, tmp / "exec-kubeconfig", kube_token)
        env = {**os.environ, **secrets, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary),
               "GITHUB_OUTPUT": str(outputs), **({"GATE_TARGET": target.url} if target else {}),
               # this tree's gate, not an installed copy (the run's cwd is its scratch directory)
               "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
        env.pop("KARGO_API_ADDRESS", None)
        env.pop("KARGO_API_TOKEN", None)
        env.pop("GATE_KUBE_CLIENT", None)
        if transport == "library":
            env["GATE_KUBE_CLIENT"] = "library"
        proxy = None
        if world.kargo:
            info = mount(sim)
            env.update(KARGO_API_ADDRESS=sim.url, KARGO_API_TOKEN=info.token)
            secrets["KARGO_API_TOKEN"] = info.token
            if world.sse_trickle:
                proxy = WatchProxy(sim.url, sim.ca_file, trickle_forever)  # never a line: the watch
                env["KARGO_API_ADDRESS"] = proxy.url
            if world.kargo_address:
                env["KARGO_API_ADDRESS"] = world.kargo_address.replace("@URL@", secrets["url"])
        kubeconfig = sim.kubeconfig
        if world.kubeconfig_server:
            import yaml

            doc = yaml.safe_load(Path(sim.kubeconfig).read_text())
            doc["clusters"][0]["cluster"]["server"] = world.kubeconfig_server.replace("@URL@", secrets["url"])
            kubeconfig = str(tmp / "kubeconfig")
            Path(kubeconfig).write_text(yaml.safe_dump(doc))
        secrets["kube token"] = kube_token
        if prom:
            sim.set_service_target("monitoring", "prometheus-operated", 9090, prom.url)
        if world.sabotage == "duplicate":
            _promotion(sim, "campaign-first")
        first = (world.command or world.args)[0]
        watch = DuplicateWatch(sim) if world.kargo or first not in ("verify", *NO_PROMOTION) else None
        if world.sabotage == "duplicate":
            _promotion(sim, "campaign-second")
        for fault in faults:
            if fault["path"] not in TARGET:
                sim.add_fault(fault)
        if world.command:
            places = {"@ADMIN_KUBECONFIG@": sim.admin_kubeconfig, "@KUBECONFIG@": kubeconfig, "@SPEC@": str(spec),
                      "@CONFIG@": CONFIG, "@JUNIT@": str(junit), "@JSON@": str(js), "@TMP@": str(tmp)}
            argv = [sys.executable, "-m", "gate", *(_fill(a, places) for a in world.command)]
            argv += ["--timeout", f"{world.timeout:g}s"] if world.timed else []
        else:
            argv = [sys.executable, "-m", "gate", *world.args, "--stage", "monitoring", "--spec", str(spec),
                    "--config", CONFIG, "--kubeconfig", kubeconfig, "--junit", str(junit), "--json", str(js),
                    "--timeout", f"{world.timeout:g}s"]
        if world.kargo:
            argv += ["--kargo-ca", sim.ca_file, "--poll-interval", "0.1"]
        if world.args and world.args[0] == "promote":
            argv += ["--downstream-timeout", "2s"]
        started = time.monotonic()
        code, out, err = _run(argv, env, tmp, world.timeout + KILL_AFTER)
        wall = time.monotonic() - started
        if watch is not None:
            watch._look()
        if proxy is not None:
            proxy.stop()
    for server in (prom, target):
        if server:
            server.stop()
    outcome = Outcome(world.name, faults, code, round(wall, 2), watch.created if watch else 0,
                      transport=transport)
    texts = {"stdout": out, "stderr": err}
    for path in (junit, js, summary, outputs):
        if path.exists():
            texts[path.name] = path.read_text(errors="replace")
    if code == 0 and world.truth != 0:
        outcome.problems.append("false pass")
    if watch is not None and watch.duplicates:
        outcome.problems.append("duplicate promotion")
    if "Traceback (most recent call last)" in out + err:
        outcome.problems.append("traceback")
    judged = world.timeout if world.judged_timeout is None else world.judged_timeout
    if wall > judged + GRACE or code == -9:
        outcome.problems.append("over deadline")
    leaked = leaks(secrets, texts)
    if leaked:
        outcome.problems.append("leak: " + ", ".join(leaked))
    return outcome


# Worlds that lie to the judge, one per column: --self-test runs them and fails unless every column counts.
SELF_TEST = [
    World("self-false-pass", "healthy", ["verify"], 1, []),  # healthy, but the judge is told FAIL
    World("self-duplicate", "promotion-running", ["precheck", "--freight", F2], 1, [], kargo=True,
          sabotage="duplicate"),
    World("self-traceback", "healthy", ["verify"], 1, [], spec=COMMAND_SPEC.replace(
        '"env; exit 1"', '"python3 -c \'raise ValueError(1)\'"')),
    World("self-over-deadline", "healthy", ["verify"], 1, [], spec=SLEEP_SPEC, judged_timeout=0.0),
    World("self-leak", "healthy", ["verify"], 1, [], spec=COMMAND_SPEC.replace('"env; exit 1"',
                                                                              '"echo @LITERAL@; exit 1"')),
]
COLUMNS = ("false pass", "duplicate promotion", "traceback", "over deadline", "leak")


def _one(job: tuple[int, str, list[dict], int, str, bool]) -> tuple[int, Outcome]:
    """One run in a worker (or in-process): its own simulator, stubs and scratch directory."""
    i, name, faults, seed, tmpdir, self_test = job
    world = {w.name: w for w in (SELF_TEST if self_test else WORLDS)}[name]
    tmp = Path(tmpdir) / f"run{i}"
    tmp.mkdir()
    return i, run_once(world, faults, random.Random(seed), tmp)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=1, help="worlds run in parallel (each its own simulator)")
    parser.add_argument("--verbose", action="store_true", help="print every run, not only the bad ones")
    parser.add_argument("--world", action="append", help="only these worlds (repeatable)")
    parser.add_argument("--no-faults", action="store_true", help="check the worlds' true verdicts")
    parser.add_argument("--quick", action="store_true",
                        help="CI: each world of the newer surface once (and three older ones), faults drawn")
    parser.add_argument("--self-test", action="store_true",
                        help="run worlds built to trip each column; exit 0 only if every column counted")
    args = parser.parse_args()
    pool = SELF_TEST if args.self_test else WORLDS
    worlds = [w for w in pool if not args.world or w.name in args.world]
    if not worlds:
        parser.error(f"no such world; known: {', '.join(w.name for w in pool)}")
    rng = random.Random(args.seed)
    if args.quick:
        worlds = [w for w in worlds if w.name in QUICK]
    runs = len(worlds) if args.self_test or args.quick else args.runs
    plan = []
    for i in range(runs):
        world = worlds[i] if args.self_test or args.quick else rng.choice(worlds)
        faults = [] if args.no_faults or args.self_test else draw_faults(rng, world)
        plan.append((i, world, faults, rng.getrandbits(64)))
    counts: Counter[str] = Counter()
    codes: Counter[tuple[int, int]] = Counter()
    transports: Counter[str] = Counter()
    slowest = 0.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gate-campaign-") as tmpdir:
        jobs = [(i, w.name, f, seed, tmpdir, args.self_test) for i, w, f, seed in plan]
        if args.jobs > 1:
            executor = concurrent.futures.ProcessPoolExecutor(
                max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn"))
            results = (f.result() for f in concurrent.futures.as_completed([executor.submit(_one, j) for j in jobs]))
        else:
            executor, results = None, map(_one, jobs)
        for i, outcome in results:
            world, faults = plan[i][1], plan[i][2]
            codes[(world.truth, outcome.code)] += 1
            transports[outcome.transport] += 1
            slowest = max(slowest, outcome.wall - world.timeout)
            for problem in outcome.problems:
                counts[problem.split(":")[0]] += 1
            if outcome.problems or args.verbose:
                shown = [{k: v for k, v in f.items() if v is not None} for f in faults]
                print(f"run {i} {world.name} ({outcome.transport}): exit {outcome.code} (truth {world.truth}) "
                      f"in {outcome.wall}s, "
                      f"created {outcome.created}; faults {json.dumps(shown)}"
                      + (f"\n  -> {'; '.join(outcome.problems)}" if outcome.problems else ""), flush=True)
        if executor is not None:
            executor.shutdown()
    table = ", ".join(f"truth {t} -> exit {c}: {n}" for (t, c), n in sorted(codes.items()))
    print(f"verdicts: {table}; worst overrun past --timeout {slowest:.1f}s; "
          f"wall {time.monotonic() - started:.0f}s with --jobs {args.jobs}; kubeconfig read by the light path "
          f"{transports['light']}, by the library {transports['library']}")
    if args.self_test:
        missed = [c for c in COLUMNS if not counts[c]]
        print("self-test: " + (f"the judge missed {', '.join(missed)}" if missed else "every column counted"))
    print(f"runs {runs}, false passes {counts['false pass']}, duplicate promotions "
          f"{counts['duplicate promotion']}, tracebacks {counts['traceback']}, over deadline "
          f"{counts['over deadline']}, leaks {counts['leak']}")
    if args.self_test:
        return 1 if missed else 0
    return 0 if sum(counts.values()) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
