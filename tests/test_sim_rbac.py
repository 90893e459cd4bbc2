"""The simulator authorizes from RBAC objects (Role, ClusterRole, RoleBinding, ClusterRoleBinding) as the
apiserver's RBAC authorizer does, besides the scenario's `rbac:` table; driven by the real kubernetes
client over HTTPS."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from gate.sim.server import SimHandle, start

GROUP = "rbac.authorization.k8s.io"
GATE = "system:serviceaccount:platform:gate"
CI = "system:serviceaccount:apps:ci"

SCENARIO = {
    "name": "rbac-objects",
    "extends": "healthy",
    "rbac": {GATE: []},  # the gate's ServiceAccount gets nothing from the table here
    "tokens": {
        "alice-token": {"user": "alice", "groups": ["team-obs"]},
        "bob-token": {"user": "bob"},
        "ci-token": {"user": CI},
    },
    "objects": [  # RBAC objects in the scenario count like those created at run time
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Role",
            "metadata": {"name": "stage-reader", "namespace": "platform"},
            "rules": [{"apiGroups": ["kargo.akuity.io"], "resources": ["stages"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "bob-reads-stages", "namespace": "platform"},
            "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": "stage-reader"},
            "subjects": [{"kind": "User", "name": "bob", "apiGroup": GROUP}],
        },
    ],
}


@pytest.fixture
def sim() -> Iterator[SimHandle]:
    with start(SCENARIO) as handle:
        yield handle


Connect = Callable[[str], client.ApiClient]


@pytest.fixture
def as_token(sim: SimHandle) -> Connect:
    def connect(token: str) -> client.ApiClient:
        cfg = client.Configuration()
        cfg.host = sim.url
        cfg.ssl_ca_cert = sim.ca_file
        cfg.api_key = {"authorization": f"Bearer {token}"}
        cfg.retries = False
        return client.ApiClient(cfg)

    return connect


@pytest.fixture
def rbac(sim: SimHandle, as_token: Connect) -> client.RbacAuthorizationV1Api:
    return client.RbacAuthorizationV1Api(as_token(sim.admin_token))


def role(name: str, rules: list[dict], namespace: str | None = None) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    kind = "Role" if namespace else "ClusterRole"
    return {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": meta, "rules": rules}


def binding(name: str, role_kind: str, role_name: str, subjects: list[dict], namespace: str | None = None) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {
        "apiVersion": f"{GROUP}/v1",
        "kind": "RoleBinding" if namespace else "ClusterRoleBinding",
        "metadata": meta,
        "roleRef": {"apiGroup": GROUP, "kind": role_kind, "name": role_name},
        "subjects": subjects,
    }


def user(name: str) -> dict:
    return {"kind": "User", "name": name, "apiGroup": GROUP}


def group(name: str) -> dict:
    return {"kind": "Group", "name": name, "apiGroup": GROUP}


def create(rbac: client.RbacAuthorizationV1Api, *objs: dict) -> None:
    for obj in objs:
        ns = obj["metadata"].get("namespace")
        {
            "Role": lambda o, ns=ns: rbac.create_namespaced_role(ns, o),
            "RoleBinding": lambda o, ns=ns: rbac.create_namespaced_role_binding(ns, o),
            "ClusterRole": rbac.create_cluster_role,
            "ClusterRoleBinding": rbac.create_cluster_role_binding,
        }[obj["kind"]](obj)


def status_of(call: Callable[[], object]) -> int:
    try:
        call()
    except ApiException as err:
        return err.status
    return 200


def forbidden(call: Callable[[], object]) -> str:
    with pytest.raises(ApiException) as err:
        call()
    assert err.value.status == 403
    return err.value.body.decode() if isinstance(err.value.body, bytes) else err.value.body


def can(api: client.ApiClient, verb: str, resource: str, namespace: str = "", *, group: str = "",
        name: str = "", subresource: str = "") -> client.V1SubjectAccessReviewStatus:
    attrs = client.V1ResourceAttributes(verb=verb, group=group, resource=resource, namespace=namespace,
                                        name=name, subresource=subresource)
    review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attrs))
    return client.AuthorizationV1Api(api).create_self_subject_access_review(review).status


# -- served like any kind ---------------------------------------------------------------------------------
def test_rbac_kinds_are_discovered_and_served(rbac: client.RbacAuthorizationV1Api, as_token: Connect,
                                              sim: SimHandle) -> None:
    admin = as_token(sim.admin_token)
    groups = {g.name for g in client.ApisApi(admin).get_api_versions().groups}
    assert GROUP in groups
    resources = {r.name: r for r in rbac.get_api_resources().resources}
    assert {n: resources[n].namespaced for n in ("roles", "rolebindings", "clusterroles", "clusterrolebindings")} \
        == {"roles": True, "rolebindings": True, "clusterroles": False, "clusterrolebindings": False}
    create(rbac, role("viewer", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}]))
    got = rbac.read_cluster_role("viewer")
    got.rules[0].verbs = ["get", "list"]
    rbac.replace_cluster_role("viewer", got)
    assert rbac.read_cluster_role("viewer").rules[0].verbs == ["get", "list"]
    assert "viewer" in {r.metadata.name for r in rbac.list_cluster_role().items}
    assert [b.metadata.name for b in rbac.list_namespaced_role_binding("platform").items] == ["bob-reads-stages"]
    rbac.delete_cluster_role("viewer")
    assert status_of(lambda: rbac.read_cluster_role("viewer")) == 404


def test_bindings_are_validated_and_role_ref_is_immutable(rbac: client.RbacAuthorizationV1Api) -> None:
    bad = binding("bad", "Deployment", "x", [user("alice")], "apps")
    assert status_of(lambda: create(rbac, bad)) == 422
    bad = binding("bad", "Role", "x", [user("alice")])  # a ClusterRoleBinding cannot reference a Role
    assert status_of(lambda: create(rbac, bad)) == 422
    create(rbac, binding("ok", "ClusterRole", "view", [user("alice")], "apps"))
    changed = binding("ok", "ClusterRole", "edit", [user("alice")], "apps")
    with pytest.raises(ApiException) as err:
        rbac.replace_namespaced_role_binding("ok", "apps", changed)
    assert err.value.status == 422 and "cannot change roleRef" in err.value.body


# -- Role + RoleBinding -------------------------------------------------------------------------------------
def test_role_and_role_binding_grant_in_their_namespace(rbac: client.RbacAuthorizationV1Api,
                                                        as_token: Connect) -> None:
    core = client.CoreV1Api(as_token("alice-token"))
    body = forbidden(lambda: core.list_namespaced_pod("monitoring"))
    assert ('pods is forbidden: User \\"alice\\" cannot list resource \\"pods\\" in API group \\"\\" in the '
            'namespace \\"monitoring\\"') in body
    create(rbac,
           role("pod-lister", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}], "monitoring"),
           binding("alice-lists-pods", "Role", "pod-lister", [user("alice")], "monitoring"))
    assert "grafana-7c9d8f6b5-x2k4p" in {p.metadata.name for p in core.list_namespaced_pod("monitoring").items}
    forbidden(lambda: core.read_namespaced_pod("grafana-7c9d8f6b5-x2k4p", "monitoring"))  # list only
    forbidden(lambda: core.list_namespaced_pod("apps"))
    forbidden(lambda: core.list_pod_for_all_namespaces())
    # another user is not bound
    forbidden(lambda: client.CoreV1Api(as_token("bob-token")).list_namespaced_pod("monitoring"))


def test_rbac_objects_from_the_scenario_grant(as_token: Connect) -> None:
    custom = client.CustomObjectsApi(as_token("bob-token"))
    stage = custom.get_namespaced_custom_object("kargo.akuity.io", "v1alpha1", "platform", "stages", "monitoring")
    assert stage["metadata"]["name"] == "monitoring"
    forbidden(lambda: custom.list_cluster_custom_object("kargo.akuity.io", "v1alpha1", "stages"))


def test_cluster_role_through_a_role_binding_applies_in_that_namespace_only(
    rbac: client.RbacAuthorizationV1Api, as_token: Connect
) -> None:
    create(rbac,
           role("pod-reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]),
           binding("ci-reads-pods", "ClusterRole", "pod-reader",
                   [{"kind": "ServiceAccount", "name": "ci"}], "apps"))  # namespace: the binding's
    core = client.CoreV1Api(as_token("ci-token"))
    core.list_namespaced_pod("apps")
    forbidden(lambda: core.list_namespaced_pod("monitoring"))
    forbidden(lambda: core.list_pod_for_all_namespaces())
    forbidden(lambda: core.list_namespace())  # a RoleBinding never grants at the cluster scope


# -- ClusterRoleBinding ---------------------------------------------------------------------------------------
def test_cluster_role_binding_grants_everywhere(rbac: client.RbacAuthorizationV1Api, as_token: Connect) -> None:
    apps = client.AppsV1Api(as_token("alice-token"))
    forbidden(lambda: apps.list_deployment_for_all_namespaces())
    create(rbac,
           role("apps-reader", [{"apiGroups": ["apps"], "resources": ["*"], "verbs": ["get", "list"]}]),
           binding("obs-reads-apps", "ClusterRole", "apps-reader", [group("team-obs")]))
    assert "grafana" in {d.metadata.name for d in apps.list_deployment_for_all_namespaces().items}
    apps.read_namespaced_deployment("grafana", "monitoring")
    apps.list_namespaced_stateful_set("monitoring")
    forbidden(lambda: apps.delete_namespaced_deployment("grafana", "monitoring"))
    forbidden(lambda: client.CoreV1Api(as_token("alice-token")).list_namespaced_pod("monitoring"))  # group ""


def test_wildcards(rbac: client.RbacAuthorizationV1Api, as_token: Connect) -> None:
    create(rbac,
           role("everything", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}], "apps"),
           binding("bob-owns-apps", "Role", "everything", [user("bob")], "apps"))
    api = as_token("bob-token")
    client.CoreV1Api(api).list_namespaced_config_map("apps")
    client.AppsV1Api(api).list_namespaced_deployment("apps")
    client.CustomObjectsApi(api).list_namespaced_custom_object("argoproj.io", "v1alpha1", "apps", "analysisruns")
    forbidden(lambda: client.CoreV1Api(api).list_namespaced_config_map("monitoring"))


# -- resourceNames and subresources ------------------------------------------------------------------------
def test_resource_names_limit_to_the_named_objects(rbac: client.RbacAuthorizationV1Api,
                                                   as_token: Connect) -> None:
    create(rbac,
           role("admin-secret", [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["grafana-admin"],
                                  "verbs": ["get", "list"]}], "monitoring"),
           binding("alice-admin-secret", "Role", "admin-secret", [user("alice")], "monitoring"))
    core = client.CoreV1Api(as_token("alice-token"))
    assert core.read_namespaced_secret("grafana-admin", "monitoring").metadata.name == "grafana-admin"
    body = forbidden(lambda: core.read_namespaced_secret("grafana-tls", "monitoring"))
    assert 'secrets \\"grafana-tls\\" is forbidden: User \\"alice\\" cannot get resource \\"secrets\\"' in body
    forbidden(lambda: core.list_namespaced_secret("monitoring"))  # a list names no object


def test_subresources_are_their_own_resource(rbac: client.RbacAuthorizationV1Api, as_token: Connect) -> None:
    create(rbac,
           role("logs", [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
                         {"apiGroups": ["apps"], "resources": ["*/status"], "verbs": ["get"]}], "monitoring"),
           binding("alice-logs", "Role", "logs", [user("alice")], "monitoring"))
    api = as_token("alice-token")
    core = client.CoreV1Api(api)
    assert "Starting Grafana" in core.read_namespaced_pod_log("grafana-7c9d8f6b5-x2k4p", "monitoring")
    body = forbidden(lambda: core.read_namespaced_pod("grafana-7c9d8f6b5-x2k4p", "monitoring"))
    assert 'cannot get resource \\"pods\\"' in body
    apps = client.AppsV1Api(api)
    apps.read_namespaced_deployment_status("grafana", "monitoring")
    forbidden(lambda: apps.read_namespaced_deployment("grafana", "monitoring"))
    body = forbidden(lambda: core.read_namespaced_pod_status("grafana-7c9d8f6b5-x2k4p", "monitoring"))
    assert 'cannot get resource \\"pods/status\\"' in body  # */status was granted in group apps only


# -- subjects: groups and ServiceAccounts ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("subject", "allowed"),
    [
        (group("system:serviceaccounts:apps"), {"ci-token"}),
        (group("system:serviceaccounts"), {"ci-token", "gate-token"}),
        (group("system:authenticated"), {"ci-token", "gate-token", "alice-token", "bob-token"}),
        (group("team-obs"), {"alice-token"}),
        ({"kind": "ServiceAccount", "name": "gate", "namespace": "platform"}, {"gate-token"}),
        ({"kind": "ServiceAccount", "name": "gate", "namespace": "apps"}, set()),
        (user(GATE), {"gate-token"}),
    ],
)
def test_subjects_match_users_groups_and_service_accounts(
    rbac: client.RbacAuthorizationV1Api, as_token: Connect, subject: dict, allowed: set[str]
) -> None:
    create(rbac,
           role("cm-reader", [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
           binding("cm-readers", "ClusterRole", "cm-reader", [subject]))
    tokens = ("ci-token", "gate-token", "alice-token", "bob-token")
    got = {t for t in tokens
           if status_of(lambda t=t: client.CoreV1Api(as_token(t)).list_namespaced_config_map("monitoring")) == 200}
    assert got == allowed


# -- SelfSubjectAccessReview ---------------------------------------------------------------------------------
def test_self_subject_access_review_agrees_with_the_request_path(
    rbac: client.RbacAuthorizationV1Api, as_token: Connect
) -> None:
    create(rbac,
           role("pod-reader", [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]),
           binding("ci-reads-pods", "ClusterRole", "pod-reader",
                   [{"kind": "ServiceAccount", "name": "ci", "namespace": "apps"}], "apps"),
           role("admin-secret", [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["grafana-admin"],
                                  "verbs": ["get"]}], "monitoring"),
           binding("ci-admin-secret", "Role", "admin-secret", [group("system:serviceaccounts:apps")], "monitoring"),
           role("logs", [{"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]}], "monitoring"),
           binding("ci-logs", "Role", "logs", [group("system:authenticated")], "monitoring"))
    api = as_token("ci-token")
    core = client.CoreV1Api(api)
    pod = "grafana-7c9d8f6b5-x2k4p"
    cases = [
        (("list", "pods", "apps"), lambda: core.list_namespaced_pod("apps")),
        (("list", "pods", "monitoring"), lambda: core.list_namespaced_pod("monitoring")),
        (("list", "pods", ""), lambda: core.list_pod_for_all_namespaces()),
        (("get", "secrets", "monitoring", "grafana-admin"), lambda: core.read_namespaced_secret("grafana-admin",
                                                                                              "monitoring")),
        (("get", "secrets", "monitoring", "grafana-tls"), lambda: core.read_namespaced_secret("grafana-tls",
                                                                                            "monitoring")),
        (("list", "secrets", "monitoring"), lambda: core.list_namespaced_secret("monitoring")),
        (("get", "pods", "monitoring", pod, "log"), lambda: core.read_namespaced_pod_log(pod, "monitoring")),
        (("get", "pods", "monitoring", pod), lambda: core.read_namespaced_pod(pod, "monitoring")),
    ]
    answers = {}
    for (verb, resource, ns, *rest), call in cases:
        name, sub = (rest + ["", ""])[:2]
        review = can(api, verb, resource, ns, name=name, subresource=sub)
        answers[(verb, resource, ns, name, sub)] = review.allowed
        assert review.allowed == (status_of(call) == 200), (verb, resource, ns, name, sub)
    assert list(answers.values()) == [True, False, False, True, False, False, True, False]
    review = can(api, "list", "pods", "apps")
    assert review.reason == ('RBAC: allowed by RoleBinding "ci-reads-pods/apps" of ClusterRole "pod-reader" '
                             'to ServiceAccount "ci/apps"')


# -- changes at run time ---------------------------------------------------------------------------------------
def test_deleting_or_changing_rbac_objects_revokes(rbac: client.RbacAuthorizationV1Api, as_token: Connect) -> None:
    api = as_token("alice-token")
    core = client.CoreV1Api(api)
    rules = [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}]
    create(rbac, role("svc", rules, "monitoring"), binding("svc", "Role", "svc", [user("alice")], "monitoring"))
    core.list_namespaced_service("monitoring")
    rbac.delete_namespaced_role_binding("svc", "monitoring")
    forbidden(lambda: core.list_namespaced_service("monitoring"))
    assert can(api, "list", "services", "monitoring").allowed is False

    create(rbac, binding("svc", "Role", "svc", [user("alice")], "monitoring"))
    core.list_namespaced_service("monitoring")
    rbac.delete_namespaced_role("svc", "monitoring")  # a binding to a missing role grants nothing
    forbidden(lambda: core.list_namespaced_service("monitoring"))

    create(rbac, role("svc", rules, "monitoring"))
    core.list_namespaced_service("monitoring")
    rbac.patch_namespaced_role("svc", "monitoring", {"rules": [{**rules[0], "verbs": ["get"]}]})
    forbidden(lambda: core.list_namespaced_service("monitoring"))

    create(rbac, role("svc-all", rules), binding("svc-all", "ClusterRole", "svc-all", [group("team-obs")]))
    core.list_service_for_all_namespaces()
    rbac.delete_cluster_role_binding("svc-all")
    forbidden(lambda: core.list_service_for_all_namespaces())


def test_a_non_admin_may_manage_rbac_only_when_granted(rbac: client.RbacAuthorizationV1Api,
                                                       as_token: Connect) -> None:
    bob = client.RbacAuthorizationV1Api(as_token("bob-token"))
    rules = [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]
    forbidden(lambda: create(bob, role("cm", rules, "apps")))
    create(rbac,
           role("rbac-admin", [{"apiGroups": [GROUP], "resources": ["roles", "rolebindings"], "verbs": ["*"]}], "apps"),
           binding("bob-rbac-admin", "Role", "rbac-admin", [user("bob")], "apps"))
    create(bob, role("cm", rules, "apps"), binding("alice-cm", "Role", "cm", [user("alice")], "apps"))
    client.CoreV1Api(as_token("alice-token")).list_namespaced_config_map("apps")
