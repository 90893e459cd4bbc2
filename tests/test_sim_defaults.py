"""CRD schema defaults are applied before validation, as the apiserver's structural defaulting does
(k8s.io/apiextensions-apiserver pkg/apiserver/schema/defaulting/algorithm.go:34-69), on create and update.
Driven through the real kubernetes client."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from gate.sim.server import SimHandle, start

K, V, NS = "kargo.akuity.io", "v1alpha1", "platform"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHandle]:
    with start({"extends": "healthy", "controllers": False}) as handle:
        yield handle


@pytest.fixture(scope="module")
def custom(sim: SimHandle) -> client.CustomObjectsApi:
    cfg = client.Configuration()
    config.load_kube_config(config_file=sim.admin_kubeconfig, client_configuration=cfg, persist_config=False)
    cfg.retries = False
    return client.CustomObjectsApi(client.ApiClient(cfg))


def warehouse(name: str, **spec: object) -> dict:
    return {
        "apiVersion": f"{K}/{V}",
        "kind": "Warehouse",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"subscriptions": [{"image": {"repoURL": "ghcr.io/acme/app"}}], **spec},
    }


def test_warehouse_without_interval_takes_the_schema_default(custom: client.CustomObjectsApi) -> None:
    made = custom.create_namespaced_custom_object(K, V, NS, "warehouses", warehouse("no-interval"))
    assert made["spec"]["interval"] == "5m0s" and made["spec"]["freightCreationPolicy"] == "Automatic"
    stored = custom.get_namespaced_custom_object(K, V, NS, "warehouses", "no-interval")
    assert stored["spec"]["interval"] == "5m0s"


def test_given_values_win_over_defaults(custom: client.CustomObjectsApi) -> None:
    made = custom.create_namespaced_custom_object(
        K, V, NS, "warehouses", warehouse("hourly", interval="1h0m0s", freightCreationPolicy="Manual")
    )
    assert (made["spec"]["interval"], made["spec"]["freightCreationPolicy"]) == ("1h0m0s", "Manual")


def test_defaults_on_update_and_required_fields_without_default_still_fail(
    custom: client.CustomObjectsApi,
) -> None:
    custom.create_namespaced_custom_object(K, V, NS, "warehouses", warehouse("updated", interval="10m"))
    body = warehouse("updated")  # a replace that drops interval: defaulted again, not rejected
    body["metadata"]["resourceVersion"] = custom.get_namespaced_custom_object(
        K, V, NS, "warehouses", "updated"
    )["metadata"]["resourceVersion"]
    replaced = custom.replace_namespaced_custom_object(K, V, NS, "warehouses", "updated", body)
    assert replaced["spec"]["interval"] == "5m0s"
    bad = warehouse("no-subscriptions")
    del bad["spec"]["subscriptions"]
    with pytest.raises(ApiException) as err:
        custom.create_namespaced_custom_object(K, V, NS, "warehouses", bad)
    assert err.value.status == 422 and "spec.subscriptions: Required value" in err.value.body


def test_defaults_reach_array_items_of_present_parents_only(custom: client.CustomObjectsApi) -> None:
    container = {"name": "gate", "image": "ghcr.io/acme/promotion-gate:1", "ports": [{"containerPort": 8080}]}
    template = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisTemplate",
        "metadata": {"name": "with-job", "namespace": NS},
        "spec": {
            "metrics": [
                {
                    "name": "gate",
                    "provider": {"job": {"spec": {"template": {"spec": {
                        "containers": [container], "restartPolicy": "Never"}}}}},
                }
            ]
        },
    }
    made = custom.create_namespaced_custom_object("argoproj.io", V, NS, "analysistemplates", template)
    pod = made["spec"]["metrics"][0]["provider"]["job"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["ports"][0]["protocol"] == "TCP"  # items of a present array
    assert "web" not in made["spec"]["metrics"][0]["provider"]  # absent parents are not created
