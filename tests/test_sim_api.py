"""The simulated apiserver, driven by the real kubernetes client and gate.cluster.kube.KubeClient over HTTPS."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from gate.cluster.kube import KubeClient, connect
from gate.cluster.resources import APPLICATIONS, PODS, STAGES
from gate.errors import PermissionDenied
from gate.sim.server import SimHandle, start


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start("healthy") as handle:
        yield handle


def api_client(kubeconfig: str) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg, persist_config=False)
    cfg.retries = False
    return client.ApiClient(cfg)


@pytest.fixture(scope="module")
def core(sim: SimHandle) -> client.CoreV1Api:
    return client.CoreV1Api(api_client(sim.kubeconfig))


@pytest.fixture(scope="module")
def admin(sim: SimHandle) -> client.ApiClient:
    return api_client(sim.admin_kubeconfig)


@pytest.fixture(scope="module")
def kube(sim: SimHandle) -> KubeClient:
    return connect(sim.kubeconfig)


def names(items: list) -> list[str]:
    return sorted(i.metadata.name if hasattr(i, "metadata") else i["metadata"]["name"] for i in items)


# -- discovery ----------------------------------------------------------------------------------------
def test_discovery_lists_builtin_and_crd_groups(sim: SimHandle, admin: client.ApiClient) -> None:
    version = client.VersionApi(admin).get_code()
    assert version.major == "1" and version.git_version.startswith("v1.")
    groups = {g.name: g for g in client.ApisApi(admin).get_api_versions().groups}
    for name in ("apps", "kargo.akuity.io", "argoproj.io", "monitoring.coreos.com", "apiextensions.k8s.io"):
        assert name in groups
    assert groups["kargo.akuity.io"].preferred_version.group_version == "kargo.akuity.io/v1alpha1"
    resources = client.CoreV1Api(admin).get_api_resources().resources
    assert {"pods", "pods/log", "services/proxy", "namespaces"} <= {r.name for r in resources}
    kargo = requests.get(
        f"{sim.url}/apis/kargo.akuity.io/v1alpha1",
        verify=sim.ca_file,
        headers={"Authorization": f"Bearer {sim.token}"},
    ).json()
    stages = next(r for r in kargo["resources"] if r["name"] == "stages")
    assert stages["kind"] == "Stage" and stages["namespaced"] is True
    assert "stages/status" in {r["name"] for r in kargo["resources"]}


# -- list, get, selectors, pagination -----------------------------------------------------------------
def test_list_and_get_with_the_kubernetes_client(core: client.CoreV1Api, admin: client.ApiClient) -> None:
    pods = core.list_namespaced_pod("monitoring")
    assert "grafana-7c9d8f6b5-x2k4p" in names(pods.items)
    assert int(pods.metadata.resource_version) > 0
    deploy = client.AppsV1Api(admin).read_namespaced_deployment("grafana", "monitoring")
    assert deploy.status.available_replicas == 1
    stage = client.CustomObjectsApi(admin).get_namespaced_custom_object(
        "kargo.akuity.io", "v1alpha1", "platform", "stages", "monitoring"
    )
    history = stage["status"]["freightHistory"][0]
    assert history["items"]["Warehouse/platform-apps"]["name"] == "0b60e85e2b8477acd27f894785b4a956cace538f"
    assert history["verificationHistory"][0]["phase"] == "Successful"
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("nope", "monitoring")
    body = json.loads(err.value.body)
    assert err.value.status == 404 and body["reason"] == "NotFound" and body["details"]["name"] == "nope"


def test_unknown_resource_is_404_without_a_name(kube: KubeClient) -> None:
    """A built-in group's unknown resource: a Status naming no object; an unknown group: kube-apiserver's
    plain-text 404 (tests/test_kind_not_served.py). Either is "not served", never "no such object"."""
    resp = kube.request("GET", "/apis/apps/v1/namespaces/x/widgets")
    assert resp.status == 404 and resp.body["kind"] == "Status" and "name" not in resp.body.get("details", {})
    resp = kube.request("GET", "/apis/example.com/v1/namespaces/x/widgets")
    assert resp.status == 404 and resp.body.strip() == "404 page not found"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app.kubernetes.io/name=grafana", ["grafana-7c9d8f6b5-x2k4p"]),
        ("app.kubernetes.io/name==loki", ["loki-0"]),
        (
            "app.kubernetes.io/part-of=kube-prometheus-stack,app.kubernetes.io/name!=grafana",
            [
                "kube-prometheus-stack-operator-6d8f9c7b4-q9w8e",
                "node-exporter-7hx2m",
                "prometheus-kube-prometheus-stack-prometheus-0",
            ],
        ),
        ("app.kubernetes.io/name in (loki, grafana)", ["grafana-7c9d8f6b5-x2k4p", "loki-0"]),
        (
            "app.kubernetes.io/part-of=kube-prometheus-stack,"
            "app.kubernetes.io/name notin (grafana,prometheus)",
            ["kube-prometheus-stack-operator-6d8f9c7b4-q9w8e", "node-exporter-7hx2m"],
        ),
        ("statefulset.kubernetes.io/pod-name", ["loki-0", "prometheus-kube-prometheus-stack-prometheus-0"]),
        ("!app.kubernetes.io/part-of", ["loki-0"]),
    ],
)
def test_label_selector_operators(core: client.CoreV1Api, selector: str, expected: list[str]) -> None:
    assert names(core.list_namespaced_pod("monitoring", label_selector=selector).items) == expected


def test_bad_label_selector_is_400(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("monitoring", label_selector="a in (")
    assert err.value.status == 400


def test_field_selectors(core: client.CoreV1Api, kube: KubeClient) -> None:
    assert names(core.list_namespaced_pod("monitoring", field_selector="metadata.name=loki-0").items) == [
        "loki-0"
    ]
    assert len(core.list_pod_for_all_namespaces(field_selector="metadata.namespace=monitoring").items) == 5
    assert len(core.list_namespaced_pod("monitoring", field_selector="status.phase=Running").items) == 5
    assert core.list_namespaced_pod("monitoring", field_selector="status.phase!=Running").items == []
    stages = kube.list(STAGES, "platform", field_selector="metadata.name!=operators")
    assert names(stages) == ["monitoring", "services"]
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("monitoring", field_selector="spec.bogus=1")
    assert err.value.status == 400 and "field label not supported: spec.bogus" in err.value.body


def test_pagination_with_continue_and_expired_token(core: client.CoreV1Api, kube: KubeClient) -> None:
    first = core.list_namespaced_pod("monitoring", limit=2)
    assert len(first.items) == 2 and first.metadata._continue and first.metadata.remaining_item_count == 3
    second = core.list_namespaced_pod("monitoring", limit=2, _continue=first.metadata._continue)
    third = core.list_namespaced_pod("monitoring", limit=2, _continue=second.metadata._continue)
    assert third.metadata._continue is None
    seen = names(first.items) + names(second.items) + names(third.items)
    assert sorted(seen) == names(core.list_namespaced_pod("monitoring").items)
    with pytest.raises(ApiException) as err:
        core.list_namespaced_pod("monitoring", limit=2, _continue="not-a-token")
    assert err.value.status == 410 and json.loads(err.value.body)["reason"] == "Expired"
    kube_pages = KubeClient(kube.api)
    import gate.cluster.kube as gk

    old = gk.PAGE_SIZE
    gk.PAGE_SIZE = 2
    try:
        assert len(kube_pages.list(PODS, "monitoring")) == 5
    finally:
        gk.PAGE_SIZE = old


# -- writes ---------------------------------------------------------------------------------------------
def _configmap(name: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"t": "1"}), data={"a": "1"})


def test_create_patch_status_delete(admin: client.ApiClient) -> None:
    core = client.CoreV1Api(admin)
    made = core.create_namespaced_config_map("apps", _configmap("cm-crud"))
    rv = made.metadata.resource_version
    patched = core.patch_namespaced_config_map("cm-crud", "apps", {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"} and int(patched.metadata.resource_version) > int(rv)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("apps", _configmap("cm-crud"))
    assert err.value.status == 409
    core.delete_namespaced_config_map("cm-crud", "apps")
    with pytest.raises(ApiException):
        core.read_namespaced_config_map("cm-crud", "apps")
    custom = client.CustomObjectsApi(admin)
    kargo = ("kargo.akuity.io", "v1alpha1", "platform", "stages")
    stage = {
        "apiVersion": "kargo.akuity.io/v1alpha1",
        "kind": "Stage",
        "metadata": {"name": "scratch", "namespace": "platform"},
        "spec": {
            "requestedFreight": [
                {"origin": {"kind": "Warehouse", "name": "platform-apps"}, "sources": {"direct": True}}
            ]
        },
        "status": {"freightSummary": "ignored on create"},
    }
    created = custom.create_namespaced_custom_object(*kargo, stage)
    assert "status" not in created and created["metadata"]["generation"] == 1
    # Stage has a status subresource: the main endpoint ignores status, /status changes only status
    custom.patch_namespaced_custom_object(
        *kargo, "scratch", {"metadata": {"labels": {"x": "y"}}, "status": {"freightSummary": "nope"}}
    )
    got = custom.get_namespaced_custom_object(*kargo, "scratch")
    assert got["metadata"]["labels"] == {"x": "y"} and "status" not in got
    custom.patch_namespaced_custom_object_status(
        *kargo, "scratch", {"status": {"freightSummary": "0/1 Fulfilled"}, "metadata": {"labels": {"x": "z"}}}
    )
    got = custom.get_namespaced_custom_object(*kargo, "scratch")
    assert got["status"]["freightSummary"] == "0/1 Fulfilled" and got["metadata"]["labels"] == {"x": "y"}
    assert got["metadata"]["generation"] == 1
    custom.delete_namespaced_custom_object(*kargo, "scratch")
    assert [s["metadata"]["name"] for s in custom.list_namespaced_custom_object(*kargo)["items"]] == [
        "monitoring",
        "operators",
        "services",
    ]


def _application(name: str, status: dict) -> dict:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": "argocd"},
        "spec": {
            "project": "default",
            "source": {"repoURL": "https://example.com/r.git"},
            "destination": {"namespace": "x", "server": "https://kubernetes.default.svc"},
        },
        "status": status,
    }


def test_schema_invalid_application_is_refused_with_the_field_path(sim: SimHandle) -> None:
    custom = client.CustomObjectsApi(api_client(sim.admin_kubeconfig))
    bad = _application(
        "bad-app", {"operationState": {"phase": "Succeeded", "startedAt": "2026-01-01T00:00:00Z"}}
    )
    # objects created with status through the store (scenario loading) are validated too
    from gate.sim.store import StoreError

    with pytest.raises(StoreError) as err:
        sim.store.create(bad)
    assert err.value.code == 422 and "status.operationState.operation: Required value" in err.value.message
    good = _application("typed-app", {})
    custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", "argocd", "applications", good)
    # Application has no status subresource (Argo CD writes status through the main endpoint)
    with pytest.raises(ApiException) as api_err:
        custom.patch_namespaced_custom_object(
            "argoproj.io",
            "v1alpha1",
            "argocd",
            "applications",
            "typed-app",
            {"status": {"sync": {"status": "Synced", "revision": 1234}}},
        )
    body = json.loads(api_err.value.body)
    assert api_err.value.status == 422 and body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "status.sync.revision"
    assert 'Application.argoproj.io "typed-app" is invalid' in body["message"]
    with pytest.raises(ApiException) as api_err:
        custom.patch_namespaced_custom_object(
            "argoproj.io", "v1alpha1", "argocd", "applications", "typed-app", {"spec": {"project": None}}
        )
    assert api_err.value.status == 422 and "spec.project: Required value" in api_err.value.body


def test_unknown_fields_are_pruned(admin: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(admin)
    app = _application("pruned-app", {})
    app["spec"]["madeUpField"] = {"x": 1}
    app["spec"]["source"]["alsoUnknown"] = True
    created = custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", "argocd", "applications", app)
    assert "madeUpField" not in created["spec"] and "alsoUnknown" not in created["spec"]["source"]
    assert created["spec"]["project"] == "default"


# -- auth -----------------------------------------------------------------------------------------------
def test_gate_token_is_read_only_and_403_reads_like_kubernetes(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as err:
        core.create_namespaced_config_map("apps", _configmap("nope"))
    body = json.loads(err.value.body)
    assert err.value.status == 403 and body["reason"] == "Forbidden"
    assert body["message"] == (
        'configmaps is forbidden: User "system:serviceaccount:platform:gate" cannot '
        'create resource "configmaps" in API group "" in the namespace "apps"'
    )


def test_unknown_token_is_401(sim: SimHandle) -> None:
    r = requests.get(f"{sim.url}/api/v1/pods", verify=sim.ca_file, headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.json()["reason"] == "Unauthorized"
    assert requests.get(f"{sim.url}/version", verify=sim.ca_file).status_code == 401


def test_rbac_forbidden_scenario_and_ssar() -> None:
    with start("rbac-forbidden") as handle:
        kube = connect(handle.kubeconfig)
        with pytest.raises(PermissionDenied) as err:
            kube.list(PODS, "monitoring")
        assert (
            'pods is forbidden: User "system:serviceaccount:platform:gate" cannot list resource "pods" in '
            'API group "" in the namespace "monitoring"'
        ) in str(err.value)
        assert kube.get(PODS, "loki-0", "monitoring")["metadata"]["name"] == "loki-0"
        authz = client.AuthorizationV1Api(api_client(handle.kubeconfig))

        def allowed(
            verb: str,
            resource: str,
            namespace: str,
            group: str = "",
            name: str | None = None,
            sub: str | None = None,
        ) -> bool:
            attrs = client.V1ResourceAttributes(
                verb=verb, resource=resource, namespace=namespace, group=group, name=name, subresource=sub
            )
            review = client.V1SelfSubjectAccessReview(
                spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs)
            )
            return authz.create_self_subject_access_review(review).status.allowed

        assert allowed("list", "pods", "monitoring") is False
        assert allowed("get", "pods", "monitoring", name="loki-0") is True
        assert allowed("list", "pods", "argocd") is True
        assert allowed("get", "services", "monitoring", name="grafana", sub="proxy") is True
        assert allowed("create", "promotions", "platform", group="kargo.akuity.io") is False
        assert allowed("create", "selfsubjectaccessreviews", "", group="authorization.k8s.io") is True
        assert kube.list(APPLICATIONS, "argocd")


# -- proxy and logs -------------------------------------------------------------------------------------
class _Echo(BaseHTTPRequestHandler):
    def _reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.dumps(
            {
                "method": self.command,
                "path": self.path,
                "x": self.headers.get("X-Test"),
                "auth": self.headers.get("Authorization"),
                "body": self.rfile.read(length).decode() if length else "",
            }
        ).encode()
        self.send_response(200 if "missing" not in self.path else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _reply  # noqa: N815

    def log_message(self, *args: object) -> None:
        pass


def test_service_proxy_forwards_to_a_local_server(sim: SimHandle, kube: KubeClient) -> None:
    backend = HTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        # No endpoints: the answer is the service's 503, returned as it came (the check decides).
        down = kube.service_proxy("monitoring", "grafana", 3000, "/api/health")
        assert down.status == 503 and json.loads(down.body)["message"] == 'no endpoints available for service "grafana"'
        sim.set_service_target("monitoring", "grafana", 3000, f"http://127.0.0.1:{backend.server_port}")
        resp = kube.service_proxy(
            "monitoring", "grafana", 3000, "/api/health?verbose=1", headers={"X-Test": "yes"}
        )
        echoed = json.loads(resp.body)  # the service's body, as text
        assert resp.status == 200 and echoed["path"] == "/api/health?verbose=1"
        assert echoed["x"] == "yes" and echoed["auth"] is None  # the bearer token is not forwarded
        # by port name too, and POST bodies pass through
        r = requests.post(
            f"{sim.url}/api/v1/namespaces/monitoring/services/grafana:http-web/proxy/api/q",
            data="a=1",
            verify=sim.ca_file,
            headers={"Authorization": f"Bearer {sim.admin_token}"},
        )
        assert r.status_code == 200 and r.json()["method"] == "POST" and r.json()["body"] == "a=1"
        assert kube.service_proxy("monitoring", "grafana", 3000, "/missing").status == 404
    finally:
        backend.shutdown()


def test_pod_logs_with_tail_lines(kube: KubeClient, core: client.CoreV1Api) -> None:
    text = kube.pod_logs("monitoring", "grafana-7c9d8f6b5-x2k4p")
    assert "Starting Grafana" in text and "${now" not in text
    assert kube.pod_logs("monitoring", "grafana-7c9d8f6b5-x2k4p", tail_lines=1).count("\n") == 1
    assert "Server is ready" in core.read_namespaced_pod_log(
        "prometheus-kube-prometheus-stack-prometheus-0", "monitoring", container="prometheus"
    )
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("prometheus-kube-prometheus-stack-prometheus-0", "monitoring")
    assert err.value.status == 400 and "a container name must be specified" in err.value.body


def test_answers_are_json_as_go_writes_it(sim: SimHandle) -> None:
    """kube-apiserver writes JSON with Go's encoding/json: no space between tokens, a watch event a line.
    The gate's list reader has a fast path for `},{` between items (gate.cluster.listbody), so the
    simulator sends what a real server sends, lists, objects, errors and watch events alike."""
    pool = urllib3.PoolManager(ca_certs=sim.ca_file)
    headers = {"Authorization": f"Bearer {sim.admin_token}", "Accept-Encoding": "identity"}

    def raw(path: str) -> bytes:
        return pool.request("GET", sim.url + path, headers=headers).data

    pods = raw("/api/v1/pods")
    assert json.loads(pods)["items"], "the scenario has pods"
    events = raw("/api/v1/pods?watch=true&timeoutSeconds=1").splitlines()
    assert events and all(json.loads(line)["type"] == "ADDED" for line in events)
    for body in (pods, raw("/api/v1/namespaces/nope/pods/nope"), *events):
        assert body == json.dumps(json.loads(body), separators=(",", ":")).encode()
    assert b'},{"' in pods  # the fast path's separator


def test_built_in_list_items_carry_no_kind_as_kube_apiserver_sends_them(sim: SimHandle, kube: KubeClient) -> None:
    """kube-apiserver v1.36 (measured: PodList, NamespaceList, ClusterRoleList, from etcd and from the
    watch cache) sends a built-in kind's list items without apiVersion and kind; a custom resource's
    items (served as unstructured) keep theirs. A reader that needs an item's kind takes it from the
    list, as the gate's do; a single object says its own."""
    pods = kube.request("GET", "/api/v1/pods").body["items"]
    assert pods and not any("kind" in p or "apiVersion" in p for p in pods)
    one = kube.request("GET", f"/api/v1/namespaces/{pods[0]['metadata']['namespace']}/pods/"
                              f"{pods[0]['metadata']['name']}").body
    assert (one["apiVersion"], one["kind"]) == ("v1", "Pod")
    stages = kube.request("GET", "/apis/kargo.akuity.io/v1alpha1/stages").body["items"]
    assert stages and all(s["kind"] == "Stage" and s["apiVersion"] == "kargo.akuity.io/v1alpha1" for s in stages)
