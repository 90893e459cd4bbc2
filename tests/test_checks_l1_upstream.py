"""Level-1 verdicts as Kargo v1.11.2 and Argo CD v3.5.1 (gitops-engine pkg/health) decide them.

Each case is a scenario file in gate/sim/scenarios/ (a static world: the objects as written) and its
twin, read twice: through the simulator with the real kubernetes client, and straight from the file (the
objects as a bare API server would hold them). Both readings must give the same verdict, and that
verdict is the one the upstream line cited next to the case gives. Upstream paths: akuity/kargo at
v1.11.2, argoproj/argo-cd at v3.5.1, argoproj/gitops-engine at 5baed56.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from gate.checks.argocd_apps import ArgocdAppsCheck
from gate.checks.base import Check, Clients
from gate.checks.kargo_stage import KargoStageCheck
from gate.checks.pods import PodsCheck

from gate.cluster.kube import ClusterView, KubeClient, connect
from gate.cluster.resources import ALL
from gate.model import Observation
from gate.sim import scenario as scen
from gate.sim import server as sim_server
from tests.fakeview import FakeView

SETTINGS = SimpleNamespace(argocd_namespace="argocd", kargo_namespace="platform", kargo_project="platform")
SELECTOR = "app.kubernetes.io/part-of=kube-prometheus-stack"
OLD, NEW = "4f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39", "c0ffee1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b"
APPS = ["kube-prometheus-stack", "loki"]
F1 = "0b60e85e2b8477acd27f894785b4a956cace538f"  # brave-badger, current in monitoring
STALE = "status not refreshed since the sync finished (reconciledAt < finishedAt)"
STICKY_NOTE = ("Ready=True is not enough: Kargo keeps Verified and Ready True after a failed re-verification "
               "once an earlier verification of this Freight succeeded")


def file_view(scenario: str | dict) -> FakeView:
    """The scenario's objects as written (times rendered), with no simulator in between."""
    by_kind = {res.kind: res for res in ALL}
    view = FakeView()
    for obj in scen.render_time(scen.resolve(scenario)["objects"]):
        res = by_kind.get(obj.get("kind"))
        if res is not None and obj.get("apiVersion", "").split("/")[0] in (res.group or "v1", "v1"):
            view.add(res, obj)
    return view


_SIMS: dict[str, tuple[sim_server.SimHandle, KubeClient]] = {}


@pytest.fixture(scope="module", autouse=True)
def _simulators() -> Iterator[None]:
    """One simulator per scenario for the whole module (the worlds are static: nothing changes them)."""
    yield
    for handle, _ in _SIMS.values():
        handle.stop()
    _SIMS.clear()


def served_by(scenario: str | dict) -> KubeClient:
    key = scenario if isinstance(scenario, str) else scenario["name"]
    if key not in _SIMS:
        handle = sim_server.start(scenario)
        _SIMS[key] = (handle, connect(kubeconfig=handle.kubeconfig))
    return _SIMS[key][1]


def observe(scenario: str | dict, check: Check, freight: str | None = None) -> Observation:
    """The check's observation through the simulator; asserts the file reading agrees."""
    kube = served_by(scenario)
    served = check.observe(Clients(kube=kube, view=ClusterView(kube), settings=SETTINGS, freight=freight))
    written = check.observe(Clients(view=file_view(scenario), settings=SETTINGS, freight=freight))
    assert (written.ok, written.observed, written.evidence) == (served.ok, served.observed, served.evidence)
    return served


def stage_check() -> KargoStageCheck:
    return KargoStageCheck({"stage": "monitoring", "namespace": "platform"})


def apps_check(**params) -> ArgocdAppsCheck:
    return ArgocdAppsCheck({"names": APPS, "namespace": "argocd", **params})


# -- item 1: Ready=True is sticky after a failed re-verification ----------------------------------------
# regular_stages.go:1109-1121 sets Verified=True when *any* entry of the current collection's
# verificationHistory is Successful; Ready copies Verified (:2390-2397). verificationHistory[0] is the latest.
RUN_FAILED = "platform/monitoring.01k3zr7q1m2n3p4r5s6t7v8w9x.6d30631"


@pytest.mark.parametrize(("scenario", "ok", "observed"), [
    ("stage-reverify-failed", False, "current Freight not verified (latest verification: Failed)"),
    ("stage-reverify-running", False, "current Freight not verified (latest verification: Running)"),
    ("stage-reverify-passed", True, "Ready (Verified)"),
])
def test_latest_verification_decides_not_the_sticky_ready_condition(scenario: str, ok: bool, observed: str):
    obs = observe(scenario, stage_check())
    assert (obs.ok, obs.observed) == (ok, observed)
    assert "Ready=True (Verified): Freight has been verified" in obs.evidence  # what Kargo wrote
    assert (STICKY_NOTE in obs.evidence) is not ok


def test_failed_reverification_names_the_analysis_run_its_phase_and_message():
    obs = observe("stage-reverify-failed", stage_check())
    assert (f"latest verification: Failed (AnalysisRun {RUN_FAILED}, phase Failed): "
            'Metric "error-rate" assessed Failed due to failed (1) > failureLimit (0)') in obs.evidence
    assert obs.hint == ("Read why the verification did not succeed: kubectl get analysisrun -n platform "
                        "monitoring.01k3zr7q1m2n3p4r5s6t7v8w9x.6d30631 -o yaml (status.metricResults)")


def test_no_verification_configured_is_one_successful_entry_without_analysis_run():
    # regular_stages.go:1242-1255: no spec.verification -> a Successful VerificationInfo, no AnalysisRun
    obs = observe("stage-no-verification", stage_check())
    assert obs.ok and obs.observed == "Ready (Verified)"
    assert "latest verification: Successful (no AnalysisRun: no verification configured)" in obs.evidence
    assert observe("stage-no-verification", stage_check(), freight="brave-badger").ok


def test_legacy_status_phase_reading_is_kept_and_the_latest_verification_still_counts():
    # Kargo <= v1.4 (internal/controller/stages/regular_stages.go at v1.4.4: Phase=Steady iff Ready)
    obs = observe("legacy-stage", stage_check())
    assert obs.ok and obs.observed == "Steady (legacy status.phase)"
    failed = {"extends": "legacy-stage", "name": "legacy-reverify-failed", "controllers": False,
              "patches": [{"apiVersion": "kargo.akuity.io/v1alpha1", "kind": "Stage",
                           "metadata": {"name": "monitoring", "namespace": "platform"},
                           "status": {"freightHistory": [{"id": "6d30631", "items": {"Warehouse/platform-apps": {
                               "name": F1, "origin": {"kind": "Warehouse", "name": "platform-apps"}}},
                               "verificationHistory": [{"id": "b", "phase": "Failed"},
                                                       {"id": "a", "phase": "Successful"}]}]}}]}
    obs = observe(failed, stage_check())
    assert not obs.ok and obs.observed == "current Freight not verified (latest verification: Failed)"


# -- item 2: a status older than the spec ---------------------------------------------------------------
# regular_stages.go:2392-2402: Ready's observedGeneration on every pass, status.observedGeneration when Ready.
@pytest.mark.parametrize(("scenario", "ok", "observed"), [
    ("stage-spec-ahead", False, "status stale: Ready.observedGeneration 1 < metadata.generation 2"),
    ("stage-spec-observed", True, "Ready (Verified)"),
])
def test_status_behind_the_spec_generation_does_not_pass(scenario: str, ok: bool, observed: str):
    obs = observe(scenario, stage_check())
    assert (obs.ok, obs.observed) == (ok, observed)
    assert not obs.final  # the controller catches up: keep polling


# -- item 4: each source at its own index --------------------------------------------------------------
# kargo pkg/health/checker/builtin/argocd.go:318-361
def test_multi_source_revisions_are_compared_source_by_source():
    wanted = {"loki": ["6.6.2", NEW]}
    obs = observe("argocd-multisource-partial", apps_check(revision=wanted))
    assert not obs.ok and obs.observed == "1/2 apps ready"
    assert obs.evidence == ["argocd/loki: source 0 (https://grafana.github.io/helm-charts) synced to "
                            "revision 6.6.1, expected 6.6.2"]
    assert observe("argocd-multisource-synced", apps_check(revision=wanted)).ok
    # "" leaves a source out (argocd.go:347-350)
    assert observe("argocd-multisource-partial", apps_check(revision={"loki": ["", NEW]})).ok


def test_one_revision_for_a_multi_source_app_is_not_matched_against_any_source():
    obs = observe("argocd-multisource-partial", apps_check(revision={"loki": NEW}))
    assert not obs.ok and obs.final
    assert obs.evidence == ['argocd/loki: 2 sources: give its `revision` as a list, one per source in '
                            'spec.sources order ("" for a source not to compare)']


# -- item 9: status.sync.revision, not the last operation's ---------------------------------------------
# kargo argocd.go:331-334 reads app.Status.Sync.Revision(s)
@pytest.mark.parametrize(("scenario", "ok", "evidence"), [
    ("argocd-autosync-untouched", True, []),
    ("argocd-revision-moved-on", False, [f"argocd/loki: synced to revision {OLD}, expected {NEW}"]),
])
def test_expected_revision_is_the_one_argo_cd_compared_against(scenario: str, ok: bool, evidence: list[str]):
    obs = observe(scenario, apps_check(revision={"loki": NEW}))
    assert (obs.ok, obs.evidence) == (ok, evidence)


# -- item 11: only reconciledAt < finishedAt makes health untrusted -------------------------------------
# kargo argocd.go:228-230; with a desired revision, no finished operation is "being synced" (:309-316)
@pytest.mark.parametrize(("scenario", "revision", "ok", "evidence"), [
    ("argocd-never-operated", None, True, []),
    ("argocd-never-operated", OLD, False,
     ["argocd/loki: no finished sync operation recorded: Kargo counts the app as being synced"]),
    ("argocd-old-failed-operation", None, True, []),
    ("argocd-failed-operation-unreconciled", None, False, [f"argocd/loki: {STALE}"]),
])
def test_operation_state_matters_only_while_health_is_older_than_it(scenario: str, revision: str | None,
                                                                    ok: bool, evidence: list[str]):
    obs = observe(scenario, apps_check(**({"revision": {"loki": revision}} if revision else {})))
    assert (obs.ok, obs.evidence) == (ok, evidence)


# -- error conditions: Argo CD's IsError (argo-cd types.go:3768-3771) -------------------------------------
@pytest.mark.parametrize(("scenario", "ok", "evidence"), [
    ("argocd-deletion-error", False, ['argocd/loki: DeletionError: failed to delete resource: '
                                      'persistentvolumeclaims "storage-loki-1" is forbidden']),
    ("argocd-warning-condition", True, []),
])
def test_every_error_condition_type_counts(scenario: str, ok: bool, evidence: list[str]):
    obs = observe(scenario, apps_check())
    assert (obs.ok, obs.evidence) == (ok, evidence)


# -- health message: status.health.message is gone in Argo CD 3.x (argo-cd types.go:1957-1960) -----------
@pytest.mark.parametrize(("scenario", "line"), [
    ("argocd-degraded-resource-health",
     "argocd/loki: health Degraded: StatefulSet monitoring/loki Degraded: Waiting for 1 pods to be ready..."),
    ("argocd-degraded-app-message", "argocd/loki: health Degraded: Waiting for 1 pods to be ready..."),
])
def test_health_reason_is_read_where_each_argo_cd_version_writes_it(scenario: str, line: str):
    obs = observe(scenario, apps_check())
    assert not obs.ok and obs.evidence == [line]


# -- pods: a finite pod that is still running is Progressing (gitops-engine health_pod.go:120-127) -------
HOOK_POD = "monitoring/kube-prometheus-stack-admission-patch-7qz4m"


@pytest.mark.parametrize(("scenario", "ok", "observed", "evidence"), [
    ("pods-hook-running", False, "4/5 pods Ready",
     [f"{HOOK_POD}: Progressing: Running with restartPolicy OnFailure, not finished yet"]),
    ("pods-hook-succeeded", True, "4/4 pods Ready", []),  # Succeeded: Healthy (health_pod.go:79-83)
])
def test_running_pod_with_a_finite_restart_policy_is_not_ready(scenario: str, ok: bool, observed: str,
                                                              evidence: list[str]):
    obs = observe(scenario, PodsCheck({"namespace": "monitoring", "selector": SELECTOR}))
    assert (obs.ok, obs.observed, obs.evidence) == (ok, observed, evidence)
