"""Branch D3/D6 "the Stage's Argo CD Applications": what an app's own status says (conditions, sync, health,
the last operation), read from `status.conditions`, `status.sync`, `status.health` and
`status.operationState` as Argo CD writes them (argo-cd pkg/apis/application/v1alpha1/types.go).

Each rule names the app and the exact fix its evidence supports: the repository credentials for an
authentication error, the repo-server for `rpc error: code = Unavailable`, the manifest error's own text,
ServerSideApply for a CRD too large to apply, a later Stage for an app whose CRDs are not there yet.
"""

from __future__ import annotations

import re

from gate.diagnose.rules.base import GUIDE, LOW, MEDIUM, Rule
from gate.diagnose.rules.common import app_lines_for, failed_resources
from gate.diagnose.view import View

JUST_SYNCED = 180  # seconds: an OutOfSync this soon after a Succeeded sync is the sync not taking, not drift
AUTH = re.compile(r"authentication required|repository not accessible|invalid username or password|"
                  r"permission denied \(publickey\)|could not read Username|401 Unauthorized", re.I)
UNAVAILABLE = re.compile(r"rpc error: code = Unavailable", re.I)
NO_MATCH = re.compile(r'no matches for kind "?(?P<kind>[\w.]+)"? in version "?(?P<version>[\w./-]+)"?', re.I)
D3 = f"{GUIDE} D3 (Argo CD app states), references/argocd-troubleshooting.md"


def _st(app: dict) -> dict:
    return app.get("status") or {}


def conditions(app: dict, kind: str) -> list[str]:
    return [c.get("message") or "" for c in _st(app).get("conditions") or [] if c.get("type") == kind]


def op_text(app: dict) -> str:
    op = _st(app).get("operationState") or {}
    res = (op.get("syncResult") or {}).get("resources") or []
    return "\n".join([op.get("message") or ""] + [r.get("message") or "" for r in res])


def apps_where(v: View, test) -> list[dict]:  # noqa: ANN001 - a predicate over one Application
    return [a for a in v.apps if test(a)]


def name(app: dict) -> str:
    return app["metadata"]["name"]


def repo_url(app: dict) -> str:
    spec = app.get("spec") or {}
    sources = ([spec["source"]] if spec.get("source") else []) + list(spec.get("sources") or [])
    return next((s.get("repoURL") for s in sources if s.get("repoURL")), "<repo URL>")


# -- readings ---------------------------------------------------------------------------------------------
def unavailable_apps(v: View) -> list[dict]:
    return apps_where(v, lambda a: any(UNAVAILABLE.search(m) for m in conditions(a, "ComparisonError")
                                       + [op_text(a)]))


def comparison_apps(v: View) -> list[dict]:
    return apps_where(v, lambda a: bool(conditions(a, "ComparisonError")))


def no_match_apps(v: View) -> list[tuple[dict, str, str]]:
    out = []
    for a in v.apps:
        m = NO_MATCH.search(op_text(a) + "\n" + "\n".join(conditions(a, "SyncError")))
        if m:
            out.append((a, m.group("kind"), m.group("version")))
    return out


def crd_sync_errors(v: View) -> list[tuple[dict, str]]:
    """(app, message) for a CustomResourceDefinition that failed to sync (SyncFailed in the last operation)."""
    out = []
    for a in v.apps:
        res = ((_st(a).get("operationState") or {}).get("syncResult") or {}).get("resources") or []
        for r in res:
            if r.get("kind") == "CustomResourceDefinition" and r.get("status") == "SyncFailed":
                out.append((a, f"CustomResourceDefinition {r.get('name')}: {r.get('message') or 'SyncFailed'}"))
    return out


def outofsync_after_sync(v: View) -> list[dict]:
    """OutOfSync right after a Succeeded sync (no selfHeal: those are Gotcha 6)."""
    def test(a: dict) -> bool:
        op = _st(a).get("operationState") or {}
        age = v.age(op.get("finishedAt"))
        heal = (((a.get("spec") or {}).get("syncPolicy") or {}).get("automated") or {}).get("selfHeal")
        return ((_st(a).get("sync") or {}).get("status") == "OutOfSync" and op.get("phase") == "Succeeded"
                and age is not None and age < JUST_SYNCED and not heal)
    return apps_where(v, test)


def unknown_health(v: View) -> list[dict]:
    return apps_where(v, lambda a: (_st(a).get("health") or {}).get("status") == "Unknown")


def unknown_resources(app: dict) -> list[str]:
    return [f"{r.get('kind')} {r.get('namespace', '')}/{r.get('name')}" for r in _st(app).get("resources") or []
            if (r.get("health") or {}).get("status") == "Unknown"]


def _comparison_fix(v: View, app: dict) -> list[str]:
    msg = " ".join(conditions(app, "ComparisonError"))
    n = name(app)
    if AUTH.search(msg):
        return [f"argocd repo list   # is {repo_url(app)} there, with credentials that still work?",
                f"argocd repo add {repo_url(app)} --username <user> --password <token with read access> --upsert",
                f"argocd app get {n} --hard-refresh"]
    return [f"argocd app manifests {n} --source git   # renders it the way the repo-server does",
            f"kubectl logs -n {v.argocd_ns} deploy/argocd-repo-server --tail=200 | grep -i {n}",
            "fix the manifest error the message names in git (chart values, kustomization, path), then: "
            f"argocd app get {n} --hard-refresh"]


RULES: list[Rule] = [
    Rule(
        id="argocd-repo-server-unavailable", branch="D3 ComparisonError \"rpc error: code = Unavailable\"",
        when=lambda v: bool(unavailable_apps(v)),
        cause=lambda v: f"Argo CD's repo-server did not answer for {', '.join(map(name, unavailable_apps(v)))} "
                        "(rpc error: code = Unavailable): it is down or restarting, not a problem of the manifests",
        evidence=lambda v: app_lines_for(v, unavailable_apps(v)) + [
            f"Application {name(a)} condition ComparisonError: {m}" for a in unavailable_apps(v)
            for m in conditions(a, "ComparisonError")],
        fix=lambda v: [f"kubectl get pods -n {v.argocd_ns} -l app.kubernetes.io/name=argocd-repo-server",
                       f"kubectl logs -n {v.argocd_ns} deploy/argocd-repo-server --previous --tail=100",
                       "if it was OOMKilled: raise the argo-cd chart's repoServer.resources.limits.memory",
                       f"argocd app get {name(unavailable_apps(v)[0])} --hard-refresh   # once it is Ready"],
        verify=lambda v: f"kubectl rollout status deployment/argocd-repo-server -n {v.argocd_ns} --timeout=2m",
        risk=LOW, ref=f"{D3}: ComparisonError, rpc Unavailable (repo-server)",
    ),
    Rule(
        id="argocd-comparison-error", branch="D3 ComparisonError",
        when=lambda v: bool(comparison_apps(v)),
        cause=lambda v: "; ".join(f"Argo CD cannot render {name(a)}: {' '.join(conditions(a, 'ComparisonError'))}"
                                  for a in comparison_apps(v)[:2]),
        evidence=lambda v: app_lines_for(v, comparison_apps(v)) + [
            f"Application {name(a)} condition ComparisonError: {m}" for a in comparison_apps(v)
            for m in conditions(a, "ComparisonError")],
        fix=lambda v: _comparison_fix(v, comparison_apps(v)[0]),
        verify=lambda v: f"argocd app get {name(comparison_apps(v)[0])} --refresh",
        risk=LOW, ref=f"{D3}: ComparisonError (credentials, manifest generation)",
    ),
    Rule(
        id="argocd-crd-order", branch="D6 CRD ordering: \"no matches for kind\"",
        when=lambda v: bool(no_match_apps(v)),
        cause=lambda v: "; ".join(f"{name(a)} uses kind {k} ({ver}) whose CRD is not installed yet when it syncs"
                                  for a, k, ver in no_match_apps(v)),
        evidence=lambda v: app_lines_for(v, [a for a, _, _ in no_match_apps(v)])
        + [f"failed resource {r}" for a, _, _ in no_match_apps(v) for r in failed_resources(a)],
        fix=lambda v: [f"move {name(no_match_apps(v)[0][0])} to a later Stage than the app that installs the "
                       f"{no_match_apps(v)[0][1]} CRD (its Stage's verification then proves the CRD is there)",
                       "(or, within one app) give the CRD an earlier argocd.argoproj.io/sync-wave, and the custom "
                       "resources SkipDryRunOnMissingResource=true in argocd.argoproj.io/sync-options",
                       f"kubectl get crd | grep -i {no_match_apps(v)[0][1].lower()}"],
        verify=lambda v: f"argocd app wait {name(no_match_apps(v)[0][0])} --sync --health --timeout 300",
        risk=MEDIUM, ref=f"{GUIDE} D6 (CRD ordering: no matches for kind)",
    ),
    Rule(
        id="argocd-crd-sync-error", branch="D3 SyncError on a CustomResourceDefinition",
        when=lambda v: bool(crd_sync_errors(v)),
        cause=lambda v: "; ".join(f"{name(a)} cannot apply {msg}" for a, msg in crd_sync_errors(v)[:2]),
        evidence=lambda v: app_lines_for(v, [a for a, _ in crd_sync_errors(v)])
        + [f"failed resource {msg}" for _, msg in crd_sync_errors(v)],
        fix=lambda v: [f"add syncPolicy.syncOptions: [ServerSideApply=true] to {name(crd_sync_errors(v)[0][0])} in "
                       "git (a large CRD does not fit the last-applied-configuration annotation, 262144 bytes)"
                       if "Too long" in crd_sync_errors(v)[0][1] else
                       f"fix the CRD in git as the message says (argocd app get {name(crd_sync_errors(v)[0][0])} "
                       "--show-operation)",
                       f"argocd app sync {name(crd_sync_errors(v)[0][0])}"],
        verify=lambda v: f"argocd app wait {name(crd_sync_errors(v)[0][0])} --sync --timeout 300",
        risk=LOW, ref=f"{D3}: SyncError on CRDs (ServerSideApply)",
    ),
    Rule(
        id="argocd-outofsync-after-sync", branch="D3 OutOfSync right after a Succeeded sync",
        when=lambda v: bool(outofsync_after_sync(v)),
        cause=lambda v: f"{', '.join(map(name, outofsync_after_sync(v)))} is OutOfSync right after a Succeeded "
                        "sync: what Argo CD applied is changed at once (a mutating webhook, defaulting, an operator), "
                        "so it never matches git",
        evidence=lambda v: app_lines_for(v, outofsync_after_sync(v)),
        fix=lambda v: [f"argocd app diff {name(outofsync_after_sync(v)[0])}   # the fields that change",
                       "add those fields to spec.ignoreDifferences in git (or ServerSideApply=true, which compares "
                       "only the fields Argo CD manages)",
                       "kubectl get mutatingwebhookconfigurations"],
        verify=lambda v: f"argocd app get {name(outofsync_after_sync(v)[0])} --refresh",
        risk=LOW, ref=f"{D3}: OutOfSync after a successful sync (ignoreDifferences)",
    ),
    Rule(
        id="argocd-health-unknown", branch="D3 health Unknown",
        when=lambda v: bool(unknown_health(v)),
        cause=lambda v: "; ".join(
            f"Argo CD cannot assess the health of {name(a)}" + (
                f" (Unknown: {', '.join(unknown_resources(a)[:3])}, kinds without a health check)"
                if unknown_resources(a) else " (Unknown: it cannot reach the cluster or has not assessed it)")
            for a in unknown_health(v)),
        evidence=lambda v: app_lines_for(v, unknown_health(v)),
        fix=lambda v: [f"argocd app get {name(unknown_health(v)[0])}   # the resources with health Unknown",
                       "a custom kind: add a health check in argocd-cm resource.customizations.health.<group_Kind>"
                       if unknown_resources(unknown_health(v)[0]) else
                       "argocd cluster list   # is the destination cluster's connection Successful?"],
        verify=lambda v: f"argocd app wait {name(unknown_health(v)[0])} --health --timeout 300",
        risk=LOW, ref=f"{D3}: health Unknown",
    ),
]
