"""Fail closed on answers the gate cannot read (issue 8, "What was seen" 1, 2, 3 and 8).

Every unreadable answer here is produced by the simulator's fault model (gate/sim/faults.py) and read by
the real clients over HTTPS: the Kubernetes client, the Kargo REST client, `requests` for the service
proxy. None of them may turn into a verdict: the check or rule is ERROR and the run exits 3.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gate.checks.alertmanager import Alertmanager
from gate.checks.base import Clients
from gate.checks.http import Http
from gate.checks.loki_query import LokiQuery
from gate.checks.prometheus_query import PrometheusQuery
from gate.checks.prometheus_targets import PrometheusTargets
from servers.stub import loki_streams
from test_kargo_support import CONFIG, F2, PROMOTE_PATH, kargo_sim

from gate.cli import cli
from gate.cluster.kube import ClusterView, connect
from gate.cluster.resources import PROMOTIONS, PVCS, SECRETS, Resource
from gate.entry import run
from gate.errors import ConfigError, TransientError
from gate.httpclient import HttpClient
from gate.sim.server import start

UNREADABLE_LISTS = ["empty-object", "null", "empty", "items-null", "status-failure", "truncated", "malformed"]

L1_SPEC = """
defaults: {timeout: 1.5s, interval: 0.2s, max_interval: 0.4s}
stages:
  monitoring:
    levels:
      1:
        - workloads: {namespace: monitoring, allow_empty: true}
        - pvcs: {namespace: monitoring, allow_empty: true}
        - secret: {namespace: monitoring, name: grafana-admin}
"""
WORKLOADS = r"^/apis/apps/v1/namespaces/monitoring/(deployments|statefulsets|daemonsets)$"
PVC_LIST = r"^/api/v1/namespaces/monitoring/persistentvolumeclaims$"
SECRET_GET = r"^/api/v1/namespaces/monitoring/secrets/grafana-admin$"


def _verify(sim, tmp: Path, spec: str, capsys) -> tuple[int, dict, str]:
    spec_file, js = tmp / "gate.yaml", tmp / "result.json"
    spec_file.write_text(spec)
    code = run(cli, ["verify", "--stage", "monitoring", "--spec", str(spec_file), "--config", CONFIG,
                     "--kubeconfig", sim.kubeconfig, "--json", str(js), "--no-preflight"])
    out = capsys.readouterr()
    return code, json.loads(js.read_text()), out.out + out.err


def _statuses(result: dict) -> dict[str, str]:
    return {c["kind"]: c["status"] for c in result["levels"][0]["checks"]}


# -- 1. Kubernetes lists and gets ----------------------------------------------------------------------

@pytest.mark.parametrize("shape", [None, "empty-object", "status-failure", "items-null", "truncated"])
def test_unreadable_kubernetes_answers_are_errors_not_empty(shape: str | None, tmp_path: Path, capsys) -> None:
    with start("healthy") as sim:
        if shape:
            for path in (WORKLOADS, PVC_LIST, SECRET_GET):
                sim.add_fault({"path": path, "method": "GET", "shape": shape})
        code, result, out = _verify(sim, tmp_path, L1_SPEC, capsys)
    if shape is None:  # the same spec on whole answers passes: the faults alone make the difference
        assert code == 0, out
        return
    assert code == 3, out
    assert _statuses(result) == {"workloads": "ERROR", "pvcs": "ERROR", "secret": "ERROR"}
    assert "unreadable" in out


def test_an_unreadable_secret_answer_never_shows_its_values(tmp_path: Path, capsys) -> None:
    canary = "c2VjcmV0LWNhbmFyeS03ZjNh"  # base64 of a made-up value
    with start("healthy") as sim:
        sim.add_fault({"path": SECRET_GET, "body": {"apiVersion": "v1", "metadata": {"name": "grafana-admin"},
                                                    "data": {"admin-password": canary}}})
        sim.add_fault({"path": PVC_LIST, "shape": "truncated"})  # a cut body: its text is not quoted either
        code, result, out = _verify(sim, tmp_path, L1_SPEC, capsys)
    assert code == 3, out
    assert _statuses(result)["secret"] == "ERROR"
    assert "keys apiVersion, metadata, data" in out
    assert canary not in out and canary not in json.dumps(result)
    assert "prometheus-kube-prometheus-stack" not in json.dumps(result["levels"][0]["checks"][1])


@pytest.mark.parametrize("shape", UNREADABLE_LISTS)
def test_kube_client_list_retries_then_raises(shape: str) -> None:
    with start("healthy") as sim:
        sim.add_fault({"path": PVC_LIST, "shape": shape})
        kube = connect(sim.kubeconfig)
        kube.retry_budget = 2.0
        with pytest.raises(TransientError, match="unreadable"):
            ClusterView(kube).list(PVCS, "monitoring")
        asked = [r for r in sim.requests if r["path"].endswith("/persistentvolumeclaims")]
        assert len(asked) >= 2, "an unreadable answer is retried like a 503"


def test_kube_get_of_the_wrong_kind_or_a_status_is_unreadable() -> None:
    with start("healthy") as sim:
        kube = connect(sim.kubeconfig)
        kube.retry_budget = 1.0
        sim.add_fault({"path": SECRET_GET, "body": {"kind": "ConfigMap", "apiVersion": "v1",
                                                    "metadata": {"name": "grafana-admin"}}})
        with pytest.raises(TransientError, match="unreadable.*ConfigMap"):
            kube.get(SECRETS, "grafana-admin", "monitoring")
        sim.faults.clear()
        sim.add_fault({"path": SECRET_GET, "shape": "status-failure", "count": 1})
        assert kube.get(SECRETS, "grafana-admin", "monitoring")["kind"] == "Secret"  # retried, then whole


def test_a_list_of_the_wrong_kind_is_unreadable() -> None:
    with start("healthy") as sim:
        kube = connect(sim.kubeconfig)
        kube.retry_budget = 1.0
        sim.add_fault({"path": PVC_LIST, "body": {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                                  "items": []}})
        with pytest.raises(TransientError, match="PodList"):
            kube.list(PVCS, "monitoring")


# -- 1. Kargo promotions list: precheck ERROR, promote creates nothing -------------------------------

PROMOTIONS_LIST = r"^/v1beta1/projects/platform/promotions$"


@pytest.mark.parametrize("shape", ["empty-object", "null", "empty", "items-null", "items-object", "truncated"])
def test_unreadable_promotions_list_makes_precheck_error(shape: str, tmp_path: Path, capsys) -> None:
    with kargo_sim("promotion-running", tmp_path) as kit:
        kit.sim.add_fault({"path": PROMOTIONS_LIST, "method": "GET", "shape": shape})
        code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
        assert code == 3, out
        assert "Pre-promotion: ERROR" in out and "unreadable" in out
        assert "[x] No Promotion in progress" not in out


def test_whole_promotions_list_makes_precheck_fail(tmp_path: Path, capsys) -> None:
    """The control: with the list readable, precheck sees the Running Promotion (exit 1)."""
    with kargo_sim("promotion-running", tmp_path) as kit:
        code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
        assert code == 1, out
        assert "[ ] No Promotion in progress on the target" in out


@pytest.mark.parametrize("shape", ["empty-object", "null", "empty", "items-null"])
def test_promote_creates_no_promotion_after_an_unreadable_list(shape: str, tmp_path: Path, capsys) -> None:
    with kargo_sim("promotion-running", tmp_path) as kit:
        # F2 is already being promoted: a readable list makes promote attach to it, never create another
        kit.sim.add_fault({"path": PROMOTIONS_LIST, "method": "GET", "shape": shape})
        code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
        assert code == 3, out
        assert kit.posts(PROMOTE_PATH) == [], "a Promotion was created on an unreadable list"
        assert len(kit.promotions()) == 1


def test_declared_scenario_fault_blocks_promote(tmp_path: Path, capsys) -> None:
    """The built-in scenario declares the fault in YAML (gate/sim/scenarios/unreadable-promotions.yaml)."""
    with kargo_sim("unreadable-promotions", tmp_path) as kit:
        code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, capsys=capsys)
        assert code == 3, out
        assert "Promotion: SKIPPED" in out or "Promotion: ERROR" in out or "Pre-promotion: ERROR" in out
        assert kit.posts(PROMOTE_PATH) == [] and len(kit.promotions()) == 1


@pytest.mark.parametrize("shape", ["empty-object", "null", "html"])
def test_unreadable_server_version_is_an_error_not_an_old_server(shape: str, tmp_path: Path, capsys) -> None:
    with kargo_sim("promote-ok", tmp_path) as kit:
        kit.sim.add_fault({"path": "^/v1beta1/system/server-version$", "shape": shape})
        code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
        assert code == 3, out
        assert "unreadable" in out
        assert not [r for r in kit.sim.requests if "KargoService" in r["path"]], "fell back to Connect"


def test_connect_empty_list_is_omitted_but_null_is_unreadable(tmp_path: Path) -> None:
    """Kargo before v1.9 speaks Connect JSON (protojson): an empty repeated field is omitted, so `{}` is
    an empty ListPromotionsResponse; `null`, an empty body or `"promotions": null` is not."""
    from gate.kargo.client import CONNECT_PREFIX, KargoClient, KargoConfig

    with kargo_sim("legacy-stage", tmp_path) as kit:
        client = KargoClient(KargoConfig(kit.sim.url, kit.token, ca_file=kit.sim.ca_file, retry_budget=1.0))
        client.discover()
        assert client.connect
        path = "^" + CONNECT_PREFIX + "ListPromotions$"
        kit.sim.add_fault({"path": path, "body": {}, "count": 1})
        assert client.list_promotions("platform", "monitoring") == []
        for fault in ({"body": None}, {"raw_body": ""}, {"body": {"promotions": None}}, {"shape": "truncated"}):
            kit.sim.faults.clear()
            kit.sim.add_fault({"path": path, **fault})
            with pytest.raises(TransientError, match="unreadable"):
                client.list_promotions("platform", "monitoring")


def test_kube_reader_promotions_list_unreadable(tmp_path: Path) -> None:
    from gate.kargo.kubereader import KubeKargoReader

    with kargo_sim("promotion-running", tmp_path) as kit:
        kit.sim.add_fault({"path": r"^/apis/kargo.akuity.io/v1alpha1/namespaces/platform/promotions$",
                           "shape": "empty-object"})
        kube = connect(kit.sim.kubeconfig)
        kube.retry_budget = 1.0
        with pytest.raises(TransientError, match="unreadable"):
            KubeKargoReader(kube).list_promotions("platform", "monitoring")


# -- 2. Prometheus, Loki, Alertmanager answers ---------------------------------------------------------

PROM_PROXY = "^/api/v1/namespaces/monitoring/services/prometheus-operated:9090/proxy"
PROM_SPEC = """
defaults: {timeout: 1.5s, interval: 0.2s, max_interval: 0.4s}
stages:
  monitoring:
    levels:
      1:
        - prometheus_query: {name: none firing, service: "monitoring/prometheus-operated:9090",
                             query: 'ALERTS{alertstate="firing"}', expect_count: "== 0"}
        - prometheus_query: {name: not zero, service: "monitoring/prometheus-operated:9090",
                             query: 'sum(rate(http_requests_total[5m]))', expect: "!= 0"}
"""


@pytest.fixture
def prom_sim(stub_server):
    stub_server.route("/api/v1/query", body={"status": "success", "data": {"resultType": "vector", "result": []}})
    stub_server.route("/api/v1/targets", body={"status": "success",
                                               "data": {"activeTargets": [], "droppedTargets": []}})
    with start("healthy") as sim:
        sim.set_service_target("monitoring", "prometheus-operated", 9090, stub_server.url)
        yield sim


NAN_VECTOR = {"status": "success", "data": {"resultType": "vector", "result": [
    {"metric": {}, "value": [1700000000.5, "NaN"]}]}}


@pytest.mark.parametrize(("fault", "statuses", "exit_code"), [
    ({}, ["PASS", "FAIL"], 1),  # the control: an empty vector is 0 series, and no value to compare
    ({"shape": "prom-no-data"}, ["ERROR", "ERROR"], 3),
    ({"shape": "prom-data-null"}, ["ERROR", "ERROR"], 3),
    ({"shape": "prom-unknown-type"}, ["ERROR", "ERROR"], 3),
    ({"shape": "prom-bad-value"}, ["ERROR", "ERROR"], 3),
    ({"shape": "empty-object"}, ["ERROR", "ERROR"], 3),
    ({"shape": "truncated"}, ["ERROR", "ERROR"], 3),
    ({"body": NAN_VECTOR}, ["FAIL", "FAIL"], 1),  # NaN is read, and is no number: `!= 0` does not hold
])
def test_unreadable_prometheus_answers_never_pass(fault: dict, statuses: list[str], exit_code: int, prom_sim,
                                                  tmp_path: Path, capsys) -> None:
    if fault:
        prom_sim.add_fault({"path": PROM_PROXY + "/api/v1/query$", **fault})
    code, result, out = _verify(prom_sim, tmp_path, PROM_SPEC, capsys)
    assert code == exit_code, out
    assert [c["status"] for c in result["levels"][0]["checks"]] == statuses


def test_real_prometheus_answers_of_every_result_type_are_readable(prometheus_server) -> None:
    """The shape checks accept what Debian's Prometheus really answers: vector, scalar, string, matrix."""
    clients = Clients(http=HttpClient(in_cluster=False))
    for query, expect in (("count(up)", "== 2"), ("scalar(count(up))", "== 2"), ('"2"', "== 2"),
                          ("vector(0) / 0", "== NaN")):
        obs = PrometheusQuery({"url": prometheus_server.url, "query": query, "expect": expect}).observe(clients)
        assert obs.ok, (query, obs)
    matrix = PrometheusQuery({"url": prometheus_server.url, "query": "up[1h]", "expect_count": "== 2"})
    assert matrix.observe(clients).ok


def _proxied_clients(sim) -> Clients:
    kube = connect(sim.kubeconfig)
    return Clients(kube=kube, http=HttpClient(kube, in_cluster=False))


@pytest.mark.parametrize("body", [
    {"status": "success", "data": {}},
    {"status": "success", "data": {"activeTargets": None}},
    {"status": "success", "data": {"activeTargets": [{"labels": {"job": "x"}, "health": 1}]}},
])
def test_unreadable_prometheus_targets(body: dict, prom_sim) -> None:
    prom_sim.add_fault({"path": PROM_PROXY + "/api/v1/targets$", "body": body})
    check = PrometheusTargets({"service": "monitoring/prometheus-operated:9090", "min_up": 0})
    with pytest.raises(TransientError, match="unreadable"):
        check.observe(_proxied_clients(prom_sim))


@pytest.mark.parametrize("body", [
    {"status": "success", "data": {"resultType": "streams", "result": None}},
    {"status": "success", "data": {"resultType": "streams", "result": [{"stream": {}, "values": [[1]]}]}},
    {"status": "success"},
])
def test_unreadable_loki_answers(body: dict, stub_server, prom_sim) -> None:
    stub_server.route("/loki/api/v1/query_range", body=loki_streams(["a"]))
    prom_sim.set_service_target("monitoring", "prometheus-operated", 9090, stub_server.url)
    prom_sim.add_fault({"path": PROM_PROXY + "/loki/api/v1/query_range$", "body": body})
    check = LokiQuery({"service": "monitoring/prometheus-operated:9090", "query": "{a=\"b\"}", "min_lines": 0})
    with pytest.raises(TransientError, match="unreadable"):
        check.observe(_proxied_clients(prom_sim))


def test_unreadable_alertmanager_answers(stub_server, prom_sim) -> None:
    stub_server.route("/api/v2/status", body={"cluster": {"status": "ready", "peers": []},
                                              "versionInfo": {"version": "0.27.0"}, "uptime": "now"})
    check = Alertmanager({"service": "monitoring/prometheus-operated:9090"})
    clients = _proxied_clients(prom_sim)
    assert check.observe(clients).ok
    for body in ({}, None, {"cluster": None}, {"cluster": {"status": 3}}):
        prom_sim.faults.clear()
        prom_sim.add_fault({"path": PROM_PROXY + "/api/v2/status$", "body": body})
        with pytest.raises(TransientError, match="unreadable"):
            check.observe(clients)


# -- 3. Typed JSON equality in http expect.json ----------------------------------------------------------

def test_expect_json_compares_types(stub_server) -> None:
    stub_server.route("/typed", body={"off": False, "none": None, "one": 1, "half": 0.5, "yes": True,
                                      "text": "1", "list": [1, "a"]})
    clients = Clients(http=HttpClient(in_cluster=False))

    def ok(expect: dict) -> bool:
        return Http({"url": stub_server.url + "/typed", "expect": {"status": 200, "json": expect}}).observe(
            clients).ok

    assert ok({"off": False, "none": None, "one": 1, "half": 0.5, "yes": True, "text": "1", "list": [1, "a"]})
    assert not ok({"off": "False"}) and not ok({"off": "false"}) and not ok({"off": 0})
    assert not ok({"none": "None"}) and not ok({"none": "null"}) and not ok({"none": ""})
    assert not ok({"one": "1"}) and not ok({"text": 1}) and not ok({"list": ["1", "a"]})
    assert ok({"one": 1.0}), "numbers compare by value: 1 == 1.0"
    assert not ok({"yes": 1}) and not ok({"one": True}), "a boolean is not a number"


# -- 8. Path segments validated and escaped -----------------------------------------------------------

@pytest.mark.parametrize("flags", [["--project", "../x?y#z"], ["--project", "Platform"],
                                   ["--stage", "../../x"], ["--stage", "a/b"]])
def test_bad_path_segments_exit_2_before_any_request(flags: list[str], tmp_path: Path, capsys) -> None:
    with kargo_sim("promote-ok", tmp_path) as kit:
        args = {"--stage": "monitoring", **dict(zip(flags[::2], flags[1::2], strict=True))}
        code, out = kit.gate("precheck", "--freight", F2, *[x for kv in args.items() for x in kv],
                             capsys=capsys)
        assert code == 2, out
        assert "Traceback" not in out
        assert flags[0] in out
        paths = [r["path"] for r in kit.sim.requests]
        assert not any(p.startswith("/apis/kargo.akuity.io/v1alpha1/x") or "/x" in p for p in paths), paths


def test_a_spec_namespace_that_is_no_dns_label_is_a_config_error(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text("stages:\n  monitoring:\n    levels:\n      1:\n"
                    "        - secret: {namespace: monitoring, name: grafana-admin}\n"
                    "        - secret: {namespace: \"../kube-system\", name: grafana-admin}\n")
    with start("healthy") as sim:
        code = run(cli, ["verify", "--stage", "monitoring", "--spec", str(spec), "--config", CONFIG,
                         "--kubeconfig", sim.kubeconfig])
        out = capsys.readouterr()
        assert code == 2, out
        assert "gate.yaml:6" in out.err and "'../kube-system' is not a valid namespace" in out.err
        assert not [r for r in sim.requests if "kube-system" in r["path"]]


def test_resource_paths_validate_and_escape() -> None:
    assert PROMOTIONS.path("platform", "monitoring.01k3.7539ab2") == \
        "/apis/kargo.akuity.io/v1alpha1/namespaces/platform/promotions/monitoring.01k3.7539ab2"
    for ns, name in (("../x?y#z", None), ("platform", "../x"), ("platform", "a/b"), ("a b", None),
                     ("platform", "x%2F..")):
        with pytest.raises(ConfigError):
            PROMOTIONS.path(ns, name)
    crds = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
                    namespaced=False)
    assert crds.path(None, "prometheuses.monitoring.coreos.com").endswith("/prometheuses.monitoring.coreos.com")


def test_kargo_client_rejects_bad_segments(tmp_path: Path) -> None:
    from gate.kargo.client import KargoClient, KargoConfig

    with kargo_sim("promote-ok", tmp_path) as kit:
        client = KargoClient(KargoConfig(kit.sim.url, kit.token, ca_file=kit.sim.ca_file))
        client.discover()
        before = len(kit.sim.requests)
        for call in (lambda: client.list_promotions("../x?y#z"), lambda: client.get_stage("platform", "../x"),
                     lambda: client.get_freight("platform", "a/b?c")):
            with pytest.raises(ConfigError):
                call()
        assert len(kit.sim.requests) == before
