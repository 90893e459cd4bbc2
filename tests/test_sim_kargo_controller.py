"""The simulated Kargo controller behaves as Kargo v1.11.2 does, read back through the real kubernetes
client (an independent reading: no gate code). Each behaviour has a scenario file and its twin."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests
from kubernetes import client, config

from gate.sim import kargo_rules as rules
from gate.sim.kargo_api import mount
from gate.sim.server import SimHandle, start

K, V, NS = "kargo.akuity.io", "v1alpha1", "platform"
F1, F2 = "0b60e85e2b8477acd27f894785b4a956cace538f", "7539ab25fa8b285f5321128519e52887bdf8c7a1"
SPEED = 8.0


class World:
    """A running scenario with the Kargo API mounted, read with the kubernetes client."""

    def __init__(self, sim: SimHandle, token: str) -> None:
        self.sim, self.token = sim, token
        cfg = client.Configuration()
        config.load_kube_config(config_file=sim.admin_kubeconfig, client_configuration=cfg, persist_config=False)
        cfg.retries = False
        self.api = client.ApiClient(cfg)
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    def get(self, plural: str, name: str, group: str = K) -> dict:
        return self.custom.get_namespaced_custom_object(group, V, NS, plural, name)

    def items(self, plural: str, group: str = K) -> list[dict]:
        return self.custom.list_namespaced_custom_object(group, V, NS, plural)["items"]

    def stage(self, name: str = "monitoring") -> dict:
        return self.get("stages", name)

    def conditions(self, name: str = "monitoring") -> dict[str, dict]:
        return {c["type"]: c for c in self.stage(name)["status"].get("conditions") or []}

    def history(self, name: str = "monitoring") -> list[dict]:
        return self.stage(name)["status"]["freightHistory"][0].get("verificationHistory") or []

    def promotions(self) -> dict[str, dict]:
        return {p["spec"]["freight"]: p for p in self.items("promotions")}

    def events(self) -> list[Any]:
        return self.core.list_namespaced_event(NS).items

    def wait(self, what: str, predicate: Callable[[], Any], timeout: float = 8.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = predicate()
            if got:
                return got
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def world(scenario: str | dict, speed: float = SPEED) -> Iterator[World]:
    with start(scenario, speed=speed) as sim:
        info = mount(sim)
        yield World(sim, info.token)


# -- Verified is sticky (regular_stages.go:1106-1121), Ready copies it (~2394) -------------------------
def test_failed_reverification_keeps_verified_and_ready_true() -> None:
    with world("reverify-fails-after-success") as w:
        w.wait("the re-verification to fail", lambda: w.history()[0]["phase"] == "Failed")
        history = w.history()
        assert [h["phase"] for h in history] == ["Failed", "Successful"]
        assert history[0]["actor"] == "email:alice@acme.example" and history[0]["analysisRun"]["name"]
        conds = w.conditions()
        assert (conds["Verified"]["status"], conds["Verified"]["reason"]) == ("True", "Verified")
        assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("True", "Verified")
        run = w.get("analysisruns", history[0]["analysisRun"]["name"], group="argoproj.io")
        assert run["status"]["phase"] == "Failed"
        assert "monitoring" in w.get("freights", F1)["status"]["verifiedIn"]  # sticky too


def test_first_verification_failing_leaves_verified_and_ready_false() -> None:
    with world("verify-fails-first") as w:
        w.wait("the verification to fail", lambda: w.history() and w.history()[0]["phase"] == "Failed")
        assert [h["phase"] for h in w.history()] == ["Failed"]
        conds = w.conditions()
        assert (conds["Verified"]["status"], conds["Verified"]["reason"]) == ("False", "VerificationFailed")
        assert (conds["Ready"]["status"], conds["Ready"]["reason"]) == ("False", "VerificationFailed")
        assert "monitoring" not in (w.get("freights", F2)["status"].get("verifiedIn") or {})


# -- no verification configured: one Successful entry, no AnalysisRun (~1240-1256) ---------------------
def test_no_verification_records_one_successful_entry_without_analysisrun() -> None:
    with world("no-verification-recorded") as w:
        # the world starts with an earlier Freight verified (with an AnalysisRun): wait for calm-crane's entry
        w.wait("calm-crane to be verified", lambda: w.stage()["status"].get("freightSummary") == F2
               and w.history() and w.history()[0]["phase"] == "Successful")
        # verifiedIn and Ready may land a tick later (a loaded machine): wait for them, not a fixed sleep
        w.wait("verifiedIn and Ready", lambda: "monitoring" in (w.get("freights", F2)["status"].get("verifiedIn")
                                                                or {})
               and w.conditions().get("Ready", {}).get("status") == "True")
        time.sleep(0.3)  # a few more controller ticks: still exactly one entry
        history = w.history()
        assert len(history) == 1 and "analysisRun" not in history[0]
        assert history[0]["startTime"] and history[0]["finishTime"]
        assert w.items("analysisruns", group="argoproj.io") == [] or all(
            r["metadata"]["labels"].get(f"{K}/stage") != "monitoring" or F2[:7] not in r["metadata"]["name"]
            for r in w.items("analysisruns", group="argoproj.io")
        )
        assert "monitoring" in w.get("freights", F2)["status"]["verifiedIn"]
        assert w.conditions()["Ready"]["status"] == "True"


def test_configured_verification_runs_an_analysisrun() -> None:
    with world("verify-fails-first") as w:
        w.wait("an AnalysisRun entry for calm-crane", lambda: w.stage()["status"]["freightSummary"] == F2
               and w.history() and w.history()[0].get("analysisRun"))
        name = w.history()[0]["analysisRun"]["name"]
        run = w.get("analysisruns", name, group="argoproj.io")
        assert run["metadata"]["annotations"][f"{K}/promotion"] == "monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2"


# -- the queue waits for a running verification (regular_stages.go:822-845) ----------------------------
def test_queued_promotion_is_held_while_the_verification_runs() -> None:
    with world("queue-held-during-verification") as w:
        w.wait("calm-crane's verification to run", lambda: w.history() and w.history()[0]["phase"] == "Running"
               and w.promotions()[F2]["status"]["phase"] == "Succeeded")
        seen = set()
        while w.history()[0]["phase"] == "Running" and w.history()[0] is not None:
            seen.add((w.promotions()[F1].get("status") or {}).get("phase"))
            assert not w.stage()["status"].get("currentPromotion")
            if w.sim.now() > 20:
                break
            time.sleep(0.05)
        assert seen == {"Pending"}
        w.wait("brave-badger to run after the verification",
               lambda: w.promotions()[F1]["status"]["phase"] == "Succeeded", timeout=10)


def test_queue_moves_on_after_a_failed_verification() -> None:
    with world("queue-after-failed-verification") as w:
        w.wait("brave-badger to be promoted", lambda: (w.promotions()[F1].get("status") or {}).get("phase")
               == "Succeeded")
        promos = w.promotions()
        assert promos[F2]["status"]["phase"] == "Succeeded"
        failed = [e for e in w.events() if e.reason == "FreightVerificationFailed"]
        assert failed and failed[0].involved_object.name == F2
        assert rules.parse_time(promos[F1]["status"]["startedAt"]) >= rules.parse_time(
            failed[0].metadata.annotations["event.kargo.akuity.io/verification-finish-time"]
        )


# -- availability is checked again when the Promotion starts (promotions.go:567) -----------------------
def test_promotion_of_unavailable_freight_ends_errored() -> None:
    with world("promotion-unavailable") as w:
        promo = w.wait("the Promotion to end", lambda: next(
            (p for p in w.items("promotions") if (p.get("status") or {}).get("phase") in rules.TERMINAL_PROMOTION),
            None,
        ))
        assert promo["status"]["phase"] == "Errored"
        assert "is not available to Stage \"monitoring\"" in promo["status"]["message"]
        st = w.stage()["status"]
        assert st["freightSummary"] == F1 and st["lastPromotion"]["status"]["phase"] == "Errored"
        assert w.conditions()["Ready"]["reason"] == "LastPromotionErrored"


def test_promotion_of_available_freight_succeeds() -> None:
    with world("verify-fails-first") as w:
        w.wait("the Promotion to succeed", lambda: (w.promotions()[F2].get("status") or {}).get("phase")
               == "Succeeded")
        assert w.stage()["status"]["freightSummary"] == F2


# -- events: Kargo sends Normal only (pkg/event/kubernetes/sender.go:99) --------------------------------
def test_kargo_events_are_normal_with_kargo_reasons_and_annotations() -> None:
    with world("verify-fails-first") as w:
        w.wait("the verification event", lambda: any(e.reason == "FreightVerificationFailed" for e in w.events()))
        events = w.events()
        assert {e.type for e in events} == {"Normal"}
        by_reason = {e.reason: e for e in events}
        promo = by_reason["PromotionSucceeded"]
        assert promo.involved_object.kind == "Promotion" and promo.message == "Promotion Succeeded"
        notes = promo.metadata.annotations
        assert notes["event.kargo.akuity.io/actor"] == "email:alice@acme.example"  # the create-actor
        assert notes["event.kargo.akuity.io/freight-name"] == F2
        assert notes["event.kargo.akuity.io/verification-pending"] == "true"
        verif = by_reason["FreightVerificationFailed"]
        assert (verif.involved_object.kind, verif.involved_object.name) == ("Freight", F2)
        assert verif.metadata.annotations["event.kargo.akuity.io/stage-name"] == "monitoring"
        assert verif.metadata.annotations["event.kargo.akuity.io/analysis-run-name"]
        assert verif.source.component == "stage-controller"


def test_api_promotion_records_promotion_created() -> None:
    with world("promote-ok") as w:
        r = requests.post(
            f"{w.sim.url}/v1beta1/projects/{NS}/stages/monitoring/promotions",
            json={"freight": F2},
            headers={"Authorization": f"Bearer {w.token}"},
            verify=w.sim.ca_file,
            timeout=5,
        )
        assert r.status_code == 201, r.text
        created = [e for e in w.events() if e.reason == "PromotionCreated"]
        assert len(created) == 1 and created[0].type == "Normal"
        assert created[0].message == 'Promotion created for Stage "monitoring" by "subject:ci"'


# -- auto-promotion: candidate and the anti-loop rule (regular_stages.go:1893-2033, ~2127) -------------
def _terminal(name: str, created: str, phase: str, freight: str = F1, stage: str = "services") -> dict:
    return {
        "apiVersion": f"{K}/{V}",
        "kind": "Promotion",
        "metadata": {"name": name, "namespace": NS, "creationTimestamp": created,
                     "labels": {f"{K}/stage": stage}},
        "spec": {"stage": stage, "freight": freight, "steps": [{"uses": "argocd-update"}]},
        "status": {"phase": phase, "finishedAt": created},
    }


def _anti_loop_world(newest_phase: str, older_phase: str) -> dict:
    """services auto-promotes; brave-badger is not current there; two terminal Promotions for it: the
    one created last has the *smaller* name, so name order and creation order disagree."""
    return {
        "extends": "healthy",
        "kargo": {"promotion": {"pending": 0.2, "running": 0.5}},
        "objects": [
            # both names sort before the Stage's lastPromotion (services.01j9y…), so neither is "unprocessed"
            _terminal("services.01a0000000000000000000000.0b60e85", "${now-1m}", newest_phase),
            _terminal("services.01b0000000000000000000000.0b60e85", "${now-1h}", older_phase),
        ],
        "patches": [
            {
                "apiVersion": f"{K}/{V}",
                "kind": "Stage",
                "metadata": {"name": "services", "namespace": NS},
                "status": {
                    "autoPromotionEnabled": True,
                    "freightHistory": [{"id": "x", "items": {}, "verificationHistory": [
                        {"id": "v", "phase": "Successful", "startTime": "${now-2h}", "finishTime": "${now-2h}"}]}],
                    "freightSummary": "0/1 Fulfilled",
                },
            }
        ],
    }


def test_newest_terminal_promotion_is_by_creation_time_then_name() -> None:
    older = _terminal("services.01zzzzzzzzzzzzzzzzzzzzzzzz.0b60e85", "2026-01-01T00:00:00Z", "Failed")
    newer = _terminal("services.01aaaaaaaaaaaaaaaaaaaaaaaa.0b60e85", "2026-01-01T01:00:00Z", "Succeeded")
    same = _terminal("services.01bbbbbbbbbbbbbbbbbbbbbbbb.0b60e85", "2026-01-01T01:00:00Z", "Errored")
    assert rules.newest_terminal([older, newer])["metadata"]["name"] == newer["metadata"]["name"]
    assert rules.newest_terminal([older, newer, same])["status"]["phase"] == "Errored"  # name breaks the tie


LOADED = ("services.01a0", "services.01b0")


def test_auto_promotion_when_the_newest_terminal_promotion_succeeded() -> None:
    with world(_anti_loop_world("Succeeded", "Failed")) as w:
        w.wait("an auto-promotion of brave-badger to services", lambda: any(
            p["spec"]["stage"] == "services" and not p["metadata"]["name"].startswith(LOADED)
            for p in w.items("promotions")))
        created = [e for e in w.events() if e.reason == "PromotionCreated"]
        assert created and created[0].message == (
            'Automatically promoted Freight from origin "Warehouse/platform-apps" for Stage "services"'
        )


def test_no_auto_promotion_when_the_newest_terminal_promotion_failed() -> None:
    with world(_anti_loop_world("Failed", "Succeeded")) as w:
        time.sleep(1.0)  # 8 scenario seconds of controller ticks
        assert len([p for p in w.items("promotions") if p["spec"]["stage"] == "services"]) == 2


# -- availability rule itself (api/v1alpha1/stage_types.go:176) -----------------------------------------
@pytest.mark.parametrize(
    ("sources", "status", "available"),
    [
        ({"direct": True}, {}, True),
        ({"stages": ["a"]}, {"verifiedIn": {"a": {}}}, True),
        ({"stages": ["a"]}, {}, False),
        ({"stages": ["a"]}, {"approvedFor": {"s": {}}}, True),
        ({"stages": ["a", "b"], "availabilityStrategy": "All"}, {"verifiedIn": {"a": {}}}, False),
        ({"stages": ["a", "b"]}, {"verifiedIn": {"b": {}}}, True),
        ({"stages": ["a"], "requiredSoakTime": "1h"}, {"verifiedIn": {"a": {"longestSoak": "59m"}}}, False),
        ({"stages": ["a"], "requiredSoakTime": "1h"}, {"verifiedIn": {"a": {"longestSoak": "1h0m0s"}}}, True),
        ({"stages": ["a"], "requiredSoakTime": "1h"},
         {"verifiedIn": {"a": {}}, "currentlyIn": {"a": {"since": "2000-01-01T00:00:00Z"}}}, True),
    ],
)
def test_availability(sources: dict, status: dict, available: bool) -> None:
    stage = {"metadata": {"name": "s", "namespace": NS},
             "spec": {"requestedFreight": [{"origin": {"kind": "Warehouse", "name": "w"}, "sources": sources}]}}
    freight = {"metadata": {"name": "f", "namespace": NS}, "origin": {"kind": "Warehouse", "name": "w"},
               "status": status}
    assert rules.is_available(stage, freight) is available


def test_warnings_come_from_kubernetes_only_even_when_a_promotion_fails() -> None:
    from gate.sim import scenario as scen

    promo = next(o for o in scen.resolve("verify-fails-first")["objects"] if o["kind"] == "Promotion")
    failing = {
        "extends": "crashloop",
        "kargo": {"promotion": {"pending": 0.5, "running": 1, "outcome": "Failed", "message": "step 0 failed"}},
        "objects": [promo],
    }
    with world(failing) as w:
        w.wait("the Promotion to fail", lambda: (w.promotions()[F2].get("status") or {}).get("phase") == "Failed")
        failed = w.wait("the PromotionFailed event", lambda: [e for e in w.events() if e.reason == "PromotionFailed"])
        assert failed[0].type == "Normal" and failed[0].message == "Promotion Failed: step 0 failed"
        assert all(e.type == "Normal" for e in w.events())  # the project namespace: Kargo's events only
        kubelet = w.core.list_namespaced_event("monitoring").items
        assert [(e.type, e.reason, e.source.component) for e in kubelet] == [("Warning", "BackOff", "kubelet")]


# -- argocd-update: Kargo requests a sync, the simulated Argo CD records it in operationState -------------
def _app(w: World, name: str) -> dict:
    return w.custom.get_namespaced_custom_object("argoproj.io", V, "argocd", "applications", name)


def test_promotion_syncs_its_apps_and_argocd_records_the_operation() -> None:
    with world("promote-syncs-apps") as w:
        w.wait("the Promotion to succeed", lambda: (w.promotions()[F2].get("status") or {}).get("phase")
               == "Succeeded")
        for name in ("kube-prometheus-stack", "loki"):
            app = _app(w, name)
            state = app["status"]["operationState"]
            assert "operation" not in app and state["phase"] == "Succeeded"
            assert state["operation"]["initiatedBy"] == {"username": "email:alice@acme.example", "automated": False}
            assert {"name": "kargo.akuity.io/promotion", "value": w.promotions()[F2]["metadata"]["name"]} in \
                state["operation"]["info"]
            assert state["syncResult"]["revision"] == app["status"]["sync"]["revision"]
            assert rules.parse_time(app["status"]["reconciledAt"]) >= rules.parse_time(state["finishedAt"])
        assert _app(w, "api")["status"]["operationState"]["finishedAt"] < _app(w, "loki")["status"][
            "operationState"]["finishedAt"]  # apps of other Stages are left alone


def test_without_the_argocd_controller_applications_are_left_as_written() -> None:
    with world("verify-fails-first") as w:  # controllers not set: Kargo runs, Argo CD does not
        before = _app(w, "loki")
        w.wait("the Promotion to succeed", lambda: (w.promotions()[F2].get("status") or {}).get("phase")
               == "Succeeded")
        assert _app(w, "loki") == before


def test_conditions_and_status_observe_the_stage_generation() -> None:
    """Conditions carry metadata.generation; a Ready Stage's status.observedGeneration catches up
    (regular_stages.go:2303-2402)."""
    bumped = {
        "extends": "no-verification-recorded",
        "patches": [{"apiVersion": f"{K}/{V}", "kind": "Stage",
                     "metadata": {"name": "monitoring", "namespace": NS, "generation": 3}}],
    }
    with world(bumped) as w:
        w.wait("the Stage to be Ready", lambda: w.stage()["status"].get("freightSummary") == F2
               and w.conditions()["Ready"]["status"] == "True")
        stage = w.stage()
        assert stage["metadata"]["generation"] == 3 and stage["status"]["observedGeneration"] == 3
        conds = w.conditions()
        assert {conds[t]["observedGeneration"] for t in ("Ready", "Verified", "Healthy")} == {3}


# -- a verification Kargo did not start: the entry follows its AnalysisRun (regular_stages.go:1591-1665) --
def test_a_running_analysisrun_keeps_the_entry_running() -> None:
    with world("reverify-running") as w:
        time.sleep(0.6)  # about 5 scenario seconds of controller ticks
        assert [h["phase"] for h in w.history()] == ["Running", "Successful"]
        assert w.conditions()["Verified"]["status"] == "True"
        assert not [e for e in w.events() if e.reason.startswith("FreightVerification")]


def test_the_entry_takes_the_analysisruns_terminal_phase_and_message() -> None:
    with world("reverify-run-fails") as w:
        w.wait("the entry to fail", lambda: w.history()[0]["phase"] == "Failed")
        latest = w.history()[0]
        assert latest["message"] == 'Metric "error-rate" assessed Failed due to failed (1) > failureLimit (0)'
        assert latest["analysisRun"]["phase"] == "Failed" and latest["actor"] == "email:alice@acme.example"
        assert w.conditions()["Verified"]["status"] == "True" and w.conditions()["Ready"]["status"] == "True"
        events = [e for e in w.events() if e.reason == "FreightVerificationFailed"]
        assert len(events) == 1 and events[0].type == "Normal" and events[0].message == latest["message"]


def test_a_missing_analysisrun_is_an_error() -> None:
    gone = {"extends": "reverify-running", "remove": [
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
         "metadata": {"name": "monitoring.01k40a1b2c3d4e5f6g7h8j9k0m.6d30631", "namespace": NS}}]}
    with world(gone) as w:
        w.wait("the entry to error", lambda: w.history()[0]["phase"] == "Error")
        assert "not found" in w.history()[0]["message"]


# -- auto-promotion policy from the ProjectConfig (pkg/api/auto_promotion.go:21-84) -----------------------
def _policy_world(selector: dict, enabled: bool, status_flag: bool) -> dict:
    base = _anti_loop_world("Succeeded", "Succeeded")
    base["objects"] = [{
        "apiVersion": f"{K}/{V}", "kind": "ProjectConfig", "metadata": {"name": NS, "namespace": NS},
        "spec": {"promotionPolicies": [{"stageSelector": selector, "autoPromotionEnabled": enabled}]},
    }]
    base["patches"][0]["status"]["autoPromotionEnabled"] = status_flag
    return base


def test_project_config_policy_enables_auto_promotion() -> None:
    with world(_policy_world({"name": "glob:serv*"}, True, False)) as w:
        w.wait("status.autoPromotionEnabled", lambda: w.stage("services")["status"]["autoPromotionEnabled"])
        w.wait("an auto-promotion to services", lambda: any(
            p["spec"]["stage"] == "services" for p in w.items("promotions")))


def test_project_config_without_a_matching_policy_disables_it() -> None:
    with world(_policy_world({"name": "regex:^mon"}, True, True)) as w:
        w.wait("status.autoPromotionEnabled false",
               lambda: w.stage("services")["status"]["autoPromotionEnabled"] is False)
        time.sleep(0.5)
        assert not [p for p in w.items("promotions") if p["spec"]["stage"] == "services"]


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        ({"name": "services"}, {}, True),
        ({"name": "glob:s*"}, {}, True),
        ({"name": "regexp:ice"}, {}, True),
        ({"name": "svc"}, {}, False),
        ({"matchLabels": {"tier": "prod"}}, {"tier": "prod"}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["prod"]}]}, {"tier": "prod"}, False),
    ],
)
def test_policy_selector(selector: dict, labels: dict, matches: bool) -> None:
    stage = {"metadata": {"name": "services", "namespace": NS, "labels": labels}}
    config = {"spec": {"promotionPolicies": [{"stageSelector": selector, "autoPromotionEnabled": True}]}}
    assert rules.auto_promotion_enabled(stage, config) is matches


def test_verification_start_is_stamped_at_the_reconcile_pass_start() -> None:
    """regular_stages.go:367/1245: startTime is the start of the pass that saw the Promotion finish."""
    with world("no-verification-early-start") as w:
        w.wait("the entry", lambda: w.stage()["status"]["freightSummary"] == F2 and w.history())
        entry, promo = w.history()[0], w.promotions()[F2]
        lag = rules.parse_time(promo["status"]["finishedAt"]) - rules.parse_time(entry["startTime"])
        assert entry["phase"] == "Successful" and 0 < lag.total_seconds() <= 2


def test_rest_reverify_sets_kargos_annotation_and_reruns_the_verification() -> None:
    scenario = {"extends": "healthy", "kargo": {
        "verification": {"pending": 0.5, "running": 1, "outcome": "Failed"},
        "tokens": {"viewer.jwt.token": {"user": "viewer", "deny": ["patch-stages"]}}}}
    with world(scenario) as w:
        url = f"{w.sim.url}/v1beta1/projects/{NS}/stages/monitoring/verification"
        denied = requests.post(url, headers={"Authorization": "Bearer viewer.jwt.token"}, verify=w.sim.ca_file,
                               timeout=5)
        assert denied.status_code == 403 and "history" not in denied.text
        assert [h["phase"] for h in w.history()] == ["Successful"]
        r = requests.post(url, headers={"Authorization": f"Bearer {w.token}"}, verify=w.sim.ca_file, timeout=5)
        assert r.status_code == 200, r.text
        note = w.stage()["metadata"]["annotations"]["kargo.akuity.io/reverify"]
        assert '"id": "2f7e0c8a-5a51-4f0e-9d1d-6a2b3c4d5e6f"' in note
        w.wait("the re-verification to fail", lambda: w.history()[0]["phase"] == "Failed")
        assert w.history()[0]["actor"] == "subject:ci"


# -- control-flow Stages (pkg/controller/stages/control_flow_stages.go) -----------------------------------
F3 = "e3f1c2a9e0b7d4c5e6f708192a3b4c5d6e7f8091"


def test_control_flow_stage_marks_available_freight_verified_and_keeps_no_history() -> None:
    with world("control-flow-stage") as w:
        w.wait("calm-crane verified in gate", lambda: "gate" in (w.get("freights", F2)["status"].get("verifiedIn")
                                                                 or {}))
        assert "gate" in w.get("freights", F1)["status"]["verifiedIn"]
        assert "gate" not in (w.get("freights", F3).get("status") or {}).get("verifiedIn", {})  # not available
        st = w.stage("gate")["status"]
        assert st["freightSummary"] == "N/A" and "freightHistory" not in st
        assert [(c["type"], c["status"]) for c in st["conditions"]] == [("Ready", "True")]
        verified = [e for e in w.events() if e.reason == "FreightVerificationSucceeded"]
        assert {e.involved_object.name for e in verified} == {F1, F2}
        assert all(e.metadata.annotations["event.kargo.akuity.io/stage-name"] == "gate" for e in verified)
        r = requests.post(f"{w.sim.url}/v1beta1/projects/{NS}/stages/canary/promotions", json={"freight": F2},
                          headers={"Authorization": f"Bearer {w.token}"}, verify=w.sim.ca_file, timeout=5)
        assert r.status_code == 201, r.text  # available downstream through verifiedIn[gate]
        r = requests.post(f"{w.sim.url}/v1beta1/projects/{NS}/stages/canary/promotions", json={"freight": F3},
                          headers={"Authorization": f"Bearer {w.token}"}, verify=w.sim.ca_file, timeout=5)
        assert r.status_code == 400 and "not available" in r.json()["error"]


# -- auto-promotion holds (webhook.go:355-472, regular_stages.go:655-700, 1823-1890) ---------------------
ORIGIN = "Warehouse/platform-apps"


def _hold_world() -> dict:
    """services auto-promotes from monitoring; F1 and F2 are both verified in monitoring, so the candidate
    is the newer F2 (calm-crane), which is already current in services: nothing to auto-promote."""
    world_ = _anti_loop_world("Succeeded", "Succeeded")
    world_["objects"] = []
    world_["patches"].append({
        "apiVersion": f"{K}/{V}", "kind": "Freight", "metadata": {"name": F2, "namespace": NS},
        "status": {"verifiedIn": {"operators": {"verifiedAt": "${now-80m}"},
                                  "monitoring": {"verifiedAt": "${now-1m}"}}},
    })
    world_["patches"][0]["status"]["freightHistory"][0]["items"] = {
        ORIGIN: {"name": F2, "origin": {"kind": "Warehouse", "name": "platform-apps"}}}
    return world_


def _promote(w: World, stage: str, freight: str) -> dict:
    r = requests.post(f"{w.sim.url}/v1beta1/projects/{NS}/stages/{stage}/promotions", json={"freight": freight},
                      headers={"Authorization": f"Bearer {w.token}"}, verify=w.sim.ca_file, timeout=5)
    assert r.status_code == 201, r.text
    return r.json()


def _services(w: World) -> list[dict]:
    return [p for p in w.items("promotions") if p["spec"]["stage"] == "services"]


def test_a_user_rolling_back_holds_auto_promotion() -> None:
    with world(_hold_world()) as w:
        promo = _promote(w, "services", F1)  # roll back to the older Freight: not the candidate
        assert promo["metadata"]["annotations"]["kargo.akuity.io/auto-promotion-hold"] == ORIGIN
        w.wait("the rollback", lambda: w.stage("services")["status"].get("freightSummary") == F1)
        w.wait("the durable hold", lambda: ORIGIN in (w.stage("services")["status"].get("autoPromotionHolds") or {}))
        time.sleep(0.5)  # 4 scenario seconds: Kargo would have auto-promoted F2 back by now
        assert [p["spec"]["freight"] for p in _services(w)] == [F1]
        st = w.stage("services")["status"]
        assert st["autoPromotionHolds"][ORIGIN]["freightName"] == F1
        assert st["effectiveAutoPromotionHolds"][ORIGIN]["promotionName"] == promo["metadata"]["name"]
        resume = _promote(w, "services", F2)  # promoting the candidate releases the hold
        assert resume["metadata"]["annotations"]["kargo.akuity.io/auto-promotion-resume"] == ORIGIN
        w.wait("the hold to be released", lambda: not w.stage("services")["status"].get("autoPromotionHolds"))


def test_without_a_user_intent_auto_promotion_moves_back_to_the_candidate() -> None:
    with world(_hold_world()) as w:
        system = w.sim.kargo.controller.create_promotion(NS, w.stage("services"), F1, "")  # no create-actor
        assert "kargo.akuity.io/auto-promotion-hold" not in system["metadata"]["annotations"]
        w.wait("the auto-promotion back to F2", lambda: [p["spec"]["freight"] for p in _services(w)].count(F2) == 1)
