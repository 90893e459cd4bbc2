"""argocd_apps check: the stale-proof readiness rule of notes/argo.md §7a, one failure reason at a time."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
from gate.checks.argocd_apps import ArgocdAppsCheck
from gate.checks.base import Clients

from gate.cluster.kube import Permission
from gate.cluster.resources import APPLICATIONS
from tests.fakeview import FakeView, meta

SHA = "ea8759964626a583667a2bfd08f334ec2070040a"


def app(name: str = "loki", namespace: str = "argocd", labels: dict | None = None) -> dict:
    """Shaped after reference/argocd/examples/application-full-status-diff-cache.yaml (trimmed)."""
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": meta(name, namespace, labels or {"stage": "monitoring"}),
        "spec": {"destination": {"namespace": "monitoring", "server": "https://kubernetes.default.svc"},
                 "source": {"repoURL": "https://github.com/example/gitops.git", "path": name,
                            "targetRevision": "main"}},
        "status": {
            "sync": {"status": "Synced", "revision": SHA},
            "health": {"status": "Healthy"},
            "reconciledAt": "2024-03-05T07:33:04Z",
            "operationState": {
                "phase": "Succeeded", "message": "successfully synced (all tasks run)",
                "startedAt": "2024-03-05T07:33:03Z", "finishedAt": "2024-03-05T07:33:04Z",
                "operation": {"initiatedBy": {"username": "foo@example.com"}, "sync": {"revision": SHA}},
                "syncResult": {"revision": SHA, "resources": [
                    {"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "monitoring",
                     "name": name, "status": "Synced", "hookPhase": "Running", "syncPhase": "Sync",
                     "message": f"deployment.apps/{name} serverside-applied"}]},
            },
        },
    }


def observe(apps: list[dict], settings=None, **params):
    view = FakeView().add(APPLICATIONS, *apps)
    check = ArgocdAppsCheck(ArgocdAppsCheck.normalize(params.pop("raw", None) or params))
    return check.observe(Clients(view=view, settings=settings)), view


def test_named_apps_are_read_by_name_not_by_listing_the_namespace():
    obs, view = observe([app("kube-prometheus-stack"), app("loki"), app("api")],
                        raw=["kube-prometheus-stack", "loki"])
    assert obs.ok and obs.observed == "2/2 apps ready"
    assert view.calls == [("get", "applications", "argocd", "kube-prometheus-stack"),
                          ("get", "applications", "argocd", "loki")]


def test_many_named_apps_share_one_list_from_the_threshold_on():
    from gate.cluster.named import LIST_FROM

    names = [f"app-{i}" for i in range(LIST_FROM)]
    obs, view = observe([app(n) for n in names], raw=names)
    assert obs.ok and view.calls == [("list", "applications", "argocd", None, None)]
    assert ArgocdAppsCheck({"names": names}).permissions() == [
        Permission("list", "applications", "argoproj.io", "argocd")]
    obs, view = observe([app(n) for n in names], raw=names[:-1])
    assert obs.ok and [c[0] for c in view.calls] == ["get"] * (LIST_FROM - 1)


def test_selector_apps_are_listed_by_selector():
    obs, view = observe([app("loki")], selector="stage=monitoring")
    assert obs.ok and view.calls == [("list", "applications", "argocd", "stage=monitoring", None)]


def broken(mutate) -> dict:
    obj = app()
    mutate(obj)
    return obj


def _requested(a: dict) -> None:
    a["operation"] = {"sync": {"revision": SHA}}


def _running(a: dict) -> None:
    a["operation"] = {"sync": {}}
    op = a["status"]["operationState"]
    op.pop("finishedAt")
    op.update(phase="Running", message="one or more tasks are running")


def _sync_failed(a: dict) -> None:
    a["status"]["sync"]["status"] = "OutOfSync"
    op = a["status"]["operationState"]
    op.update(phase="Failed", message="one or more objects failed to apply")
    op["syncResult"]["resources"][0].update(status="SyncFailed",
                                            message="admission webhook denied the request")


def _hook_error(a: dict) -> None:
    a["status"]["health"] = {"status": "Degraded"}
    op = a["status"]["operationState"]
    op.update(phase="Error", message="hook failed")
    op["syncResult"]["resources"].append({"kind": "Job", "namespace": "monitoring", "name": "migrate",
                                          "hookType": "PreSync", "hookPhase": "Error",
                                          "message": "Job failed"})


def _status(**values):
    return lambda a: a["status"].update(values)


STALE = "status not refreshed since the sync finished (reconciledAt < finishedAt)"
CASES = {
    "operation requested": (_requested, "sync requested, not started yet (.operation set)"),
    "sync running": (_running, "sync Running: one or more tasks are running"),
    "stale": (_status(reconciledAt="2024-03-05T07:30:00Z"), STALE),
    "no reconciledAt": (lambda a: a["status"].pop("reconciledAt"), STALE),
    # a failed last operation is context for another problem, never a reason on its own (Kargo v1.11.2
    # pkg/health/checker/builtin/argocd.go:166-279 does not read operationState.phase)
    "sync failed": (_sync_failed, "sync OutOfSync; last sync Failed: one or more objects failed to apply "
                                  "[Deployment monitoring/loki: admission webhook denied the request]"),
    "hook error": (_hook_error, "health Degraded; last sync Error: hook failed "
                                "[Job monitoring/migrate: Job failed]"),
    "comparison error": (_status(conditions=[
        {"type": "ComparisonError", "message": "rpc error: repository not found"},
        {"type": "OrphanedResourceWarning", "message": "ignored"}]),
        "ComparisonError: rpc error: repository not found"),
    "invalid spec": (_status(conditions=[{"type": "InvalidSpecError", "message": "project x not found"}]),
                     "InvalidSpecError: project x not found"),
    "out of sync": (_status(sync={"status": "OutOfSync", "revision": SHA}), "sync OutOfSync"),
    "degraded": (_status(health={"status": "Degraded",
                                 "message": "Caused by apps/Deployment:monitoring/loki"}),
                 "health Degraded: Caused by apps/Deployment:monitoring/loki"),
    "suspended": (_status(health={"status": "Suspended"}), "health Suspended"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_not_ready_reason_is_named(case: str):
    mutate, reason = CASES[case]
    obs, _ = observe([broken(mutate), app("kube-prometheus-stack")], names=["kube-prometheus-stack", "loki"])
    assert not obs.ok and not obs.final
    assert obs.observed == "1/2 apps ready"
    assert obs.evidence == [f"argocd/loki: {reason}"]
    assert "loki" in obs.hint


def test_stale_status_is_not_ready_even_though_synced_and_healthy_and_hint_says_refresh():
    obs, _ = observe([broken(CASES["stale"][0])], names=["loki"])
    assert not obs.ok
    assert "argocd.argoproj.io/refresh=normal" in obs.hint


def test_reconciled_same_second_as_finished_is_fresh():
    obs, _ = observe([app()], names=["loki"])  # reconciledAt == finishedAt in the reference example
    assert obs.ok


def test_several_problems_are_joined():
    mutate = _status(sync={"status": "OutOfSync"}, health={"status": "Progressing"})
    obs, _ = observe([broken(mutate)], names=["loki"])
    assert obs.evidence == ["argocd/loki: sync OutOfSync; health Progressing"]


def test_missing_app_is_named():
    obs, _ = observe([app("loki")], raw=["loki", "kube-prometheus-stack"])
    assert not obs.ok and obs.evidence == ["argocd/kube-prometheus-stack: not found"]


def test_revision_single_short_and_per_app():
    assert observe([app()], names=["loki"], revision=SHA)[0].ok
    assert observe([app()], names=["loki"], revision=SHA[:7])[0].ok
    obs, _ = observe([app()], names=["loki"], revision="0123456789abcdef")
    assert not obs.ok and obs.evidence == [f"argocd/loki: synced to revision {SHA}, expected 0123456789abcdef"]
    assert "expected revision" in obs.expected
    other = app("api")
    obs, _ = observe([app(), other], names=["loki", "api"], revision={"loki": SHA})
    assert obs.ok  # api has no expected revision in the map


def multi_source(revisions: list[str]) -> dict:
    obj = app()
    obj["spec"]["sources"] = [{"repoURL": "https://grafana.github.io/helm-charts", "chart": "loki",
                               "targetRevision": "1.2.3"}, obj["spec"].pop("source")]
    obj["status"]["sync"] = {"status": "Synced", "revisions": revisions}
    return obj


def test_multi_source_revisions_compared_at_their_own_index():
    # Kargo v1.11.2 pkg/health/checker/builtin/argocd.go:344-361: source i against desired[i], "" skips
    obj = multi_source(["1.2.3", SHA])
    assert observe([obj], names=["loki"], revision={"loki": ["1.2.3", SHA]})[0].ok
    assert observe([obj], names=["loki"], revision={"loki": ["", SHA[:7]]})[0].ok
    obs, _ = observe([obj], names=["loki"], revision={"loki": [SHA, "1.2.3"]})  # swapped: both wrong
    assert not obs.ok and obs.evidence == [
        f"argocd/loki: source 0 (https://grafana.github.io/helm-charts) synced to revision 1.2.3, "
        f"expected {SHA}; source 1 (https://github.com/example/gitops.git) synced to revision {SHA}, "
        f"expected 1.2.3"]
    # one string for a two-source app cannot be placed: final, and says how to write it
    obs, _ = observe([obj], names=["loki"], revision="1.2.3")
    assert not obs.ok and obs.final
    assert "2 sources: give its `revision` as a list" in obs.evidence[0]
    obs, _ = observe([obj], names=["loki"], revision=["1.2.3"])  # argocd.go:322-330
    assert not obs.ok and obs.final and obs.evidence == ["argocd/loki: 2 sources but 1 expected revisions"]


def test_selector_and_empty_selector():
    apps = [app("loki", labels={"stage": "monitoring"}), app("api", labels={"stage": "services"})]
    obs, view = observe(apps, selector="stage=monitoring")
    assert obs.ok and obs.observed == "1/1 apps ready"
    assert view.calls == [("list", "applications", "argocd", "stage=monitoring", None)]
    obs, _ = observe(apps, selector="stage=nothing")
    assert not obs.ok and obs.evidence == ["no Applications in namespace argocd match selector stage=nothing"]
    assert obs.hint == "Check the selector: kubectl get applications -n argocd --show-labels"


def test_namespace_from_param_then_settings_then_default():
    obj = app(namespace="gitops")
    obs, view = observe([obj], settings=SimpleNamespace(argocd_namespace="gitops"), names=["loki"])
    assert obs.ok and view.calls[0][2] == "gitops"
    obs, view = observe([obj], settings=SimpleNamespace(argocd_namespace=None), names=["loki"])
    assert not obs.ok and view.calls[0][2] == "argocd"
    check = ArgocdAppsCheck({"names": ["loki"]})
    assert check.permissions() == [Permission("get", "applications", "argoproj.io", "argocd", "loki")]
    check.apply_settings(SimpleNamespace(argocd_namespace="gitops"))
    assert check.permissions() == [Permission("get", "applications", "argoproj.io", "gitops", "loki")]
    assert ArgocdAppsCheck({"names": ["a"], "namespace": "x"}).permissions()[0].namespace == "x"


def test_default_name_and_ident():
    check = ArgocdAppsCheck(ArgocdAppsCheck.normalize(["kube-prometheus-stack", "loki"]))
    assert check.name == "Argo CD apps synced and healthy: kube-prometheus-stack, loki"
    assert check.ident() == "kube-prometheus-stack-loki"


def test_input_objects_are_not_modified():
    obj = app()
    before = copy.deepcopy(obj)
    observe([obj], names=["loki"], revision="x" * 40)
    assert obj == before


# -- Kargo v1.11.2 pkg/health/checker/builtin/argocd.go and Argo CD v3.5.1 types (scenario twins:
#    tests/test_checks_l1_upstream.py) ---------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["DeletionError", "SyncError", "UnknownError", "SomeFutureError"])
def test_every_condition_ending_in_error_is_an_error(kind: str):
    # argo-cd pkg/apis/application/v1alpha1/types.go:3768-3771: IsError is HasSuffix(type, "Error")
    obs, _ = observe([broken(_status(conditions=[{"type": kind, "message": "boom"}]))], names=["loki"])
    assert not obs.ok and obs.evidence == [f"argocd/loki: {kind}: boom"]


def test_no_operation_state_passes_unless_a_revision_is_expected():
    # argocd.go:228-230 distrusts health only while reconciledAt < finishedAt; with desired revisions,
    # no finished operation is "being synced" (argocd.go:309-316)
    obj = broken(lambda a: a["status"].pop("operationState"))
    assert observe([obj], names=["loki"])[0].ok
    obs, _ = observe([obj], names=["loki"], revision=SHA)
    assert not obs.ok and not obs.final
    assert obs.evidence == ["argocd/loki: no finished sync operation recorded: Kargo counts the app as being synced"]


def test_an_old_failed_operation_does_not_fail_a_synced_healthy_app():
    def failed_then_reconciled(a: dict) -> None:
        _sync_failed(a)
        a["status"]["sync"]["status"] = "Synced"
    assert observe([broken(failed_then_reconciled)], names=["loki"])[0].ok


def test_revision_is_read_from_status_sync_not_from_the_last_operation():
    # argocd.go:331-334: observed revisions are app.Status.Sync.Revision(s)
    newer = "c0ffee1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f6a7b"
    obj = broken(lambda a: a["status"]["sync"].update(revision=newer))  # the operation applied SHA
    assert observe([obj], names=["loki"], revision=newer)[0].ok
    obs, _ = observe([obj], names=["loki"], revision=SHA)
    assert not obs.ok and obs.evidence == [f"argocd/loki: synced to revision {newer}, expected {SHA}"]


def test_an_abbreviation_must_be_a_git_sha_prefix():
    obj = broken(lambda a: a["status"]["sync"].update(revision="1.2.30"))
    assert not observe([obj], names=["loki"], revision="1.2.3")[0].ok  # not hex: exact only
    assert observe([obj], names=["loki"], revision="1.2.30")[0].ok


def test_health_reason_from_persisted_resource_health_when_the_app_message_is_gone():
    # argo-cd types.go:1957-1960: AppHealthStatus.Message deprecated, not written by 3.x
    resources = [{"kind": "Service", "namespace": "monitoring", "name": "loki", "health": {"status": "Healthy"}}]
    resources += [{"kind": "Pod", "namespace": "monitoring", "name": f"loki-{i}",
                   "health": {"status": "Degraded", "message": f"crash {i}"}} for i in range(5)]
    obs, _ = observe([broken(_status(health={"status": "Degraded"}, resources=resources))], names=["loki"])
    assert obs.evidence == ["argocd/loki: health Degraded: Pod monitoring/loki-0 Degraded: crash 0; "
                            "Pod monitoring/loki-1 Degraded: crash 1; Pod monitoring/loki-2 Degraded: crash 2; "
                            "2 more"]


def test_a_sync_in_flight_is_not_ready_even_without_a_revision():
    # gate rule; Kargo applies it when it knows the desired revisions (argocd.go:309-316)
    obs, _ = observe([broken(_running)], names=["loki"])
    assert not obs.ok and obs.evidence == ["argocd/loki: sync Running: one or more tasks are running"]
