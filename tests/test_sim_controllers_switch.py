"""`controllers: false` (or per controller) serves the world exactly as written, as a bare API server with
no Kargo running would: nothing is rewritten after the controller tick interval."""

from __future__ import annotations

import time

import pytest
from kubernetes import client, config

from gate.sim import scenario as scen
from gate.sim.kargo_api import mount
from gate.sim.server import start

K, V, NS = "kargo.akuity.io", "v1alpha1", "platform"
PROMO = "monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2"
SPEED = 20.0  # 1 s of wall time = 20 scenario seconds: longer than the Promotion (4 s) and verification


def snapshot(kubeconfig: str) -> tuple[dict, dict]:
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg, persist_config=False)
    cfg.retries = False
    api = client.CustomObjectsApi(client.ApiClient(cfg))
    return (
        api.get_namespaced_custom_object(K, V, NS, "stages", "monitoring"),
        api.get_namespaced_custom_object(K, V, NS, "promotions", PROMO),
    )


def served_before_and_after(scenario: str | dict) -> tuple[tuple[dict, dict], tuple[dict, dict]]:
    with start(scenario, speed=SPEED) as sim:
        mount(sim)
        before = snapshot(sim.admin_kubeconfig)
        time.sleep(1.0)
        return before, snapshot(sim.admin_kubeconfig)


@pytest.mark.parametrize(
    "scenario",
    ["static-world", {"extends": "promotion-running", "controllers": {"kargo": False, "argocd": True}}],
    ids=["controllers-false", "kargo-false"],
)
def test_static_world_is_served_unchanged(scenario: str | dict) -> None:
    (stage0, promo0), (stage1, promo1) = served_before_and_after(scenario)
    assert stage1 == stage0 and promo1 == promo0
    assert promo1["status"]["phase"] == "Running"
    assert stage1["status"]["currentPromotion"]["name"] == PROMO
    assert {c["type"] for c in stage1["status"]["conditions"]} == {"Ready", "Healthy", "Verified"}


def test_with_controllers_the_same_world_moves_on() -> None:
    (stage0, promo0), (stage1, promo1) = served_before_and_after("promotion-running")
    assert promo0["status"]["phase"] == "Running" and promo1["status"]["phase"] == "Succeeded"
    assert stage1["metadata"]["resourceVersion"] != stage0["metadata"]["resourceVersion"]
    assert not stage1["status"].get("currentPromotion")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("off", "expected true, false or a mapping"),
        ({"kargo": False, "rollouts": False}, "unknown controller 'rollouts'"),
        ({"kargo": "no"}, "controllers.kargo: expected true or false"),
    ],
)
def test_bad_controllers_value_is_a_scenario_error(raw: object, message: str) -> None:
    with pytest.raises(scen.ScenarioError, match=message):
        start({"extends": "healthy", "controllers": raw})


def test_sim_serve_rejects_a_bad_controllers_value_with_exit_2(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: healthy\ncontrollers: {kargo: maybe}\n")
    proc = subprocess.run([sys.executable, "-m", "gate", "sim", "serve", "--scenario", str(bad)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "controllers.kargo: expected true or false, got 'maybe'" in proc.stderr
    assert "Traceback" not in proc.stderr
