"""D5: the guide's gotchas, detected; each that applies is a note next to the root cause."""

from __future__ import annotations

import re

from gate.diagnose.gather import latest_run
from gate.diagnose.rules.base import GUIDE, LOW, MEDIUM, RS, Rule
from gate.diagnose.rules.common import (
    app_lines_for,
    argocd_step,
    controller_evidence,
    forbidden_rules,
    job_name,
    ns,
    pods,
    promote_cmd,
    ready_cmd,
    retry_fix,
    step_timeout,
    template_sa,
    verification_evidence,
)
from gate.diagnose.view import (
    View,
    generated_name,
    pod_oomkilled,
    pod_restarts,
)


# -- D5 gotcha readings ----------------------------------------------------------------------------
def stale_operation_apps(v: View) -> list[dict]:
    """Gotcha 2: an error in operationState, but the app has been reconciled since and is fine now."""
    out = []
    for app in v.apps:
        st = app.get("status") or {}
        op = st.get("operationState") or {}
        fine = (st.get("health") or {}).get("status") == "Healthy" and (st.get("sync") or {}).get(
            "status") == "Synced"
        newer = (st.get("reconciledAt") or "") > (op.get("finishedAt") or "")
        if op.get("phase") in ("Failed", "Error") and fine and newer:
            out.append(app)
    return out


def health_delay_apps(v: View) -> list[dict]:
    """Gotcha 3: Kargo does not trust app health yet: reconciledAt before operationState.finishedAt
    (v1.10+, pkg/health/checker/builtin/argocd.go:221-235), or finished < 10 s ago (≤ v1.9)."""
    out = []
    for app in v.apps:
        st = app.get("status") or {}
        finished = (st.get("operationState") or {}).get("finishedAt")
        if not finished:
            continue
        age, reconciled = v.age(finished), st.get("reconciledAt")
        if (reconciled and reconciled < finished and not v.legacy) or (age is not None and age < 10):
            out.append(app)
    return out


def empty_commit_warehouses(v: View) -> list[tuple[dict, str]]:
    """Gotcha 5: the Warehouse saw a newer commit than any Freight carries: no Freight was made for it."""
    known = {c.get("id") for f in v.freight for c in f.get("commits") or []}
    out = []
    direct = {(r.get("origin") or {}).get("name") for r in (v.stage.get("spec") or {}).get("requestedFreight") or []
              if (r.get("sources") or {}).get("direct")}
    for wh in v.warehouses:
        if wh["metadata"]["name"] not in direct:  # only the Stages the Warehouse feeds directly
            continue
        for git in ((wh.get("status") or {}).get("discoveredArtifacts") or {}).get("git") or []:
            commits = git.get("commits") or []
            if commits and commits[0].get("id") and commits[0]["id"] not in known and known:
                out.append((wh, commits[0]["id"]))
    return out


def _wh(v: View) -> dict:
    return empty_commit_warehouses(v)[0][0]


def _cid(v: View) -> str:
    return empty_commit_warehouses(v)[0][1]


def warehouse_creation_lines(wh: dict) -> list[str]:
    spec, name = wh.get("spec") or {}, wh["metadata"]["name"]
    lines = [f"Warehouse {name} spec.freightCreationPolicy = {spec.get('freightCreationPolicy') or 'Automatic'}"]
    expr = (spec.get("freightCreationCriteria") or {}).get("expression")
    if expr:
        lines.append(f"Warehouse {name} spec.freightCreationCriteria.expression = {expr}")
    for path in ("includePaths", "excludePaths"):
        for sub in spec.get("subscriptions") or []:
            if (sub.get("git") or {}).get(path):
                lines.append(f"Warehouse {name} git {sub['git'].get('repoURL')} {path} = {sub['git'][path]}")
    lines += [f"Warehouse {name} condition {c.get('type')}={c.get('status')} {c.get('reason')}: {c.get('message', '')}"
              for c in (wh.get("status") or {}).get("conditions") or [] if c.get("status") != "True"
              or c.get("type") == "FreightCreationCriteriaSatisfied"]
    return lines


def no_freight_why(wh: dict) -> tuple[str, list[str]]:
    """Why Kargo made no Freight of what the Warehouse discovered, and the fix (warehouses.go:331-372)."""
    spec, name = wh.get("spec") or {}, wh["metadata"]["name"]
    conds = {c.get("type"): c for c in (wh.get("status") or {}).get("conditions") or []}
    if spec.get("freightCreationPolicy") == "Manual":
        return ("spec.freightCreationPolicy is Manual, so Freight is made only when someone assembles it",
                [f"assemble Freight from it in the Kargo UI (Warehouse {name}, Freight assembly), or set "
                 "spec.freightCreationPolicy: Automatic on the Warehouse in git"])
    crit = conds.get("FreightCreationCriteriaSatisfied") or {}
    if crit.get("status") == "False":
        expr = (spec.get("freightCreationCriteria") or {}).get("expression") or "?"
        return (f"spec.freightCreationCriteria.expression ({expr}) is not satisfied by what it discovered",
                [f"fix Warehouse {name}'s spec.freightCreationCriteria.expression in git so it holds for the "
                 "artifacts you want promoted (or remove it)"])
    bad = next((c for c in conds.values() if c.get("type") in ("Ready", "Healthy") and c.get("status") == "False"),
               None)
    if bad:
        return (f"Freight creation failed: {bad.get('reason')}: {bad.get('message', '')}",
                [f"fix what Warehouse {name}'s {bad.get('type')} condition names"])
    return ("Freight creation has not run since the discovery (the Warehouse has not reconciled it yet)", [])


SELFHEAL_WINDOW = 180  # Argo CD's timeout.reconciliation default: a drift younger than this may heal on its own


def _selfheal_out_of_sync(v: View) -> list[dict]:
    return [a for a in v.apps
            if (((a.get("spec") or {}).get("syncPolicy") or {}).get("automated") or {}).get("selfHeal")
            and ((a.get("status") or {}).get("sync") or {}).get("status") == "OutOfSync"]


def drift_is_recent(v: View, app: dict) -> bool:
    """Argo CD has not yet had its chance: its last reconcile is older than the window (it has not looked
    since), or a sync (the self-heal) started within it. Otherwise it has reconciled, seen the drift and not
    healed it: a real cause."""
    st = app.get("status") or {}
    op = st.get("operationState") or {}
    reconciled = v.age(st.get("reconciledAt"))
    started = v.age(op.get("startedAt"))
    return (reconciled is None or reconciled > SELFHEAL_WINDOW or op.get("phase") in ("Running", "Terminating")
            or (started is not None and started < SELFHEAL_WINDOW))


def selfheal_apps(v: View) -> list[dict]:
    """Gotcha 6: OutOfSync with selfHeal on, and the drift is recent: wait for the next reconcile."""
    return [a for a in _selfheal_out_of_sync(v) if drift_is_recent(v, a)]


def selfheal_failing_apps(v: View) -> list[dict]:
    """OutOfSync with selfHeal on, although Argo CD reconciled since its last sync: it does not heal."""
    return [a for a in _selfheal_out_of_sync(v) if not drift_is_recent(v, a)]


def _since(v: View, stamp: str | None) -> str:
    age = v.age(stamp)
    return f"{stamp} ({int(age // 60)} min ago)" if age is not None else "never"


HEAVY_CHARTS = re.compile(r"prometheus|loki|thanos|mimir|tempo|elastic|opensearch|kafka|istio|cilium", re.I)


def heavy_apps(v: View) -> list[dict]:
    """Apps the guide calls heavy: big monitoring/logging/mesh charts, or many resources per sync."""
    return [a for a in v.apps if HEAVY_CHARTS.search(a["metadata"]["name"]) or len(
        (((a.get("status") or {}).get("operationState") or {}).get("syncResult") or {}).get("resources") or []) >= 50]


def repo_server_struggles(v: View) -> list[dict]:
    return [p for p in pods(v, "argocd-repo-server") if pod_oomkilled(p) or pod_restarts(p) > 0]


# What Argo CD and Kargo themselves are made of (their Helm charts' workloads and CRDs): an Application that
# deploys these is Argo CD/Kargo; one that merely renders Application CRs into `argocd` (app-of-apps) is not.
FOUNDATION_CHARTS = {"argo-cd": "Argo CD", "kargo": "Kargo"}
FOUNDATION_CRDS = {"applications.argoproj.io": "Argo CD", "appprojects.argoproj.io": "Argo CD",
                   "stages.kargo.akuity.io": "Kargo", "promotions.kargo.akuity.io": "Kargo",
                   "freights.kargo.akuity.io": "Kargo"}
FOUNDATION_WORKLOADS = {"argocd-server": "Argo CD", "argocd-repo-server": "Argo CD",
                        "argocd-application-controller": "Argo CD", "kargo-controller": "Kargo",
                        "kargo-api": "Kargo"}


def _sources(app: dict) -> list[dict]:
    spec = app.get("spec") or {}
    return ([spec["source"]] if spec.get("source") else []) + list(spec.get("sources") or [])


def foundation_signs(app: dict) -> list[str]:
    """Why this Application is Argo CD or Kargo: the chart it installs, the CRDs or controllers it deploys
    (status.resources), never its name or destination namespace alone."""
    signs = [f"spec.source chart {s['chart']!r} ({FOUNDATION_CHARTS[s['chart']]})" for s in _sources(app)
             if s.get("chart") in FOUNDATION_CHARTS]
    for res in (app.get("status") or {}).get("resources") or []:
        name, kind = res.get("name") or "", res.get("kind")
        if kind == "CustomResourceDefinition" and name in FOUNDATION_CRDS:
            signs.append(f"status.resources CRD {name} ({FOUNDATION_CRDS[name]})")
        elif kind in ("Deployment", "StatefulSet"):
            what = next((w for suffix, w in FOUNDATION_WORKLOADS.items()
                         if name == suffix or name.endswith("-" + suffix)), None)
            if what:
                signs.append(f"status.resources {kind} {res.get('namespace', '')}/{name} ({what})")
    return signs


def foundation_apps(v: View) -> list[dict]:
    """Gotcha 8: the Stage promotes Argo CD or Kargo themselves, judged by what the app deploys."""
    return [a for a in v.apps if foundation_signs(a)]


def manual_promotions(v: View) -> list[dict]:
    return [p for p in v.promotions if not generated_name(p["metadata"]["name"], v.name)]



GOTCHAS: list[Rule] = [
    Rule(
        id="gotcha-manual-promotion-name", branch="D5 Gotcha 1: Promotions made with kubectl",
        when=lambda v: bool(manual_promotions(v)),
        cause=lambda v: "Promotion(s) with hand-made names: " + ", ".join(
            p["metadata"]["name"] for p in manual_promotions(v)) + " (they break the lexicographic ordering)",
        evidence=lambda v: [f"Promotion {p['metadata']['name']} is not {v.name}.<ULID>.<freight[:7]>, created by "
                            f"{(p['metadata'].get('annotations') or {}).get('kargo.akuity.io/create-actor', 'unknown')}"
                            for p in manual_promotions(v)],
        fix=lambda v: ["promote only with the Kargo CLI/UI/API: " + promote_cmd(v, "<freight>"),
                       "never kubectl create/apply a Promotion"],
        verify=lambda v: f"kubectl get promotions -n {ns(v)} -l kargo.akuity.io/stage={v.name}",
        risk=LOW, ref=f"{GUIDE} Gotcha 1; kargo pkg/api/promotion.go:91, {RS}:715",
        scenario="promotion-errored-manual",
    ),
    Rule(
        id="gotcha-stale-operationstate", branch="D5 Gotcha 2: stale Argo CD operationState",
        when=lambda v: bool(stale_operation_apps(v)),
        cause=lambda v: "old Argo CD error, not the current state: " + ", ".join(
            a["metadata"]["name"] for a in stale_operation_apps(v)) + " reconciled since and is Synced/Healthy",
        evidence=lambda v: app_lines_for(v, stale_operation_apps(v)),
        fix=lambda v: ["ignore that operationState message; it predates the last reconcile"],
        verify=lambda v: f"kubectl get app {stale_operation_apps(v)[0]['metadata']['name']} -n {v.argocd_ns} "
                         "-o jsonpath='{.status.operationState.finishedAt} {.status.reconciledAt}'",
        risk=LOW, ref=f"{GUIDE} Gotcha 2, references/argocd-troubleshooting.md", problem=False,
    ),
    Rule(
        id="gotcha-health-delay", branch="D5 Gotcha 3: health not trusted right after a sync",
        when=lambda v: bool(health_delay_apps(v)),
        cause=lambda v: "Kargo does not trust the health of " + ", ".join(
            a["metadata"]["name"] for a in health_delay_apps(v)) + " yet: its sync finished after its last "
            "reconcile (v1.10+: reconciledAt < operationState.finishedAt; <= v1.9: the 10-second rule)",
        evidence=lambda v: app_lines_for(v, health_delay_apps(v)),
        fix=lambda v: ["wait for Argo CD's next reconcile (Kargo asks for a hard refresh itself)",
                       f"(or) argocd app get {health_delay_apps(v)[0]['metadata']['name']} --hard-refresh"],
        verify=ready_cmd, risk=LOW,
        ref=f"{GUIDE} Gotcha 3; kargo pkg/health/checker/builtin/argocd.go:221-235 (v1.10+ replaced the 10 s rule)",
        problem=False,
    ),
    Rule(
        id="gotcha-silent-verification-rbac", branch="D5 Gotcha 4: verification RBAC is silent",
        when=lambda v: bool(forbidden_rules(v)) and "forbidden" not in (
            ((latest_run(v) or {}).get("status") or {}).get("message") or "").lower(),
        cause=lambda v: "the AnalysisRun does not say why it failed; the Job's log does (forbidden)",
        evidence=lambda v: [ln for ln in verification_evidence(v) if "AnalysisRun" in ln or "forbidden" in ln],
        fix=lambda v: [f"kubectl logs job/{job_name(v)} -n {ns(v)}"],
        verify=lambda v: f"kubectl auth can-i --list --as=system:serviceaccount:{ns(v)}:{template_sa(v)[0]}",
        risk=LOW, ref=f"{GUIDE} Gotcha 4", scenario="verification-rbac-forbidden",
    ),
    Rule(
        id="gotcha-empty-commit", branch="D5 Gotcha 5: a discovered commit that made no Freight",
        when=lambda v: bool(empty_commit_warehouses(v)),
        cause=lambda v: f"Warehouse {_wh(v)['metadata']['name']} discovered commit {_cid(v)[:7]} but made no "
                        f"Freight from it: {no_freight_why(_wh(v))[0]} (not because the commit is empty: without "
                        "includePaths/excludePaths Kargo discovers every commit, empty or not, and makes Freight of "
                        "it; a commit outside the path filters is never discovered at all)",
        evidence=lambda v: [f"Warehouse {w['metadata']['name']} status.discoveredArtifacts.git[].commits[0].id = "
                            f"{cid[:12]}, in no Freight" for w, cid in empty_commit_warehouses(v)]
        + warehouse_creation_lines(_wh(v)),
        fix=lambda v: no_freight_why(_wh(v))[1] + [
            f"kargo refresh warehouse {_wh(v)['metadata']['name']} --project {v.project} --wait"],
        verify=lambda v: f"kargo get freight --project {v.project} --warehouse {_wh(v)['metadata']['name']}",
        risk=LOW, ref=f"{GUIDE} Gotcha 5 (wrong for Kargo v1.11: an empty commit does become Freight); kargo "
                      "pkg/controller/git/commit/newest_from_branch_selector.go:195-198 (no filters: every commit), "
                      ":210-224 (path filters drop a commit before discovery), "
                      "pkg/controller/warehouses/warehouses.go:331-372 (freightCreationPolicy, criteria)",
    ),
    Rule(
        id="gotcha-selfheal-delay", branch="D5 Gotcha 6: selfHeal is not immediate",
        when=lambda v: bool(selfheal_apps(v)),
        cause=lambda v: ", ".join(a["metadata"]["name"] for a in selfheal_apps(v)) + " is OutOfSync with selfHeal "
                        "on and Argo CD has not reconciled it since (last " + _since(v, (selfheal_apps(v)[0].get(
                            "status") or {}).get("reconciledAt")) + "): its next reconcile (default every 3 min) "
                        "heals it",
        evidence=lambda v: app_lines_for(v, selfheal_apps(v)),
        fix=lambda v: ["wait up to 3 minutes (timeout.reconciliation)",
                       f"(or) argocd app sync {selfheal_apps(v)[0]['metadata']['name']}"],
        verify=lambda v: f"argocd app wait {selfheal_apps(v)[0]['metadata']['name']} --sync --timeout 300",
        risk=LOW, ref=f"{GUIDE} Gotcha 6", problem=False,
    ),
    Rule(
        id="gotcha-selfheal-not-healing", branch="D5 Gotcha 6: selfHeal on, but the drift is not recent",
        when=lambda v: bool(selfheal_failing_apps(v)),
        cause=lambda v: "; ".join(
            f"{a['metadata']['name']} stays OutOfSync with selfHeal on: Argo CD reconciled it "
            f"{_since(v, (a.get('status') or {}).get('reconciledAt'))}, after its last sync "
            f"{_since(v, ((a.get('status') or {}).get('operationState') or {}).get('startedAt'))}, and did not "
            "heal it; waiting will not help: something keeps changing the live objects (a mutating webhook, an "
            "HPA or operator) or the difference is one Argo CD should ignore" for a in selfheal_failing_apps(v)),
        evidence=lambda v: app_lines_for(v, selfheal_failing_apps(v)),
        fix=lambda v: [f"argocd app diff {selfheal_failing_apps(v)[0]['metadata']['name']}   # which fields differ",
                       "a field another writer owns: add it to the Application's spec.ignoreDifferences (or "
                       "jqPathExpressions/managedFieldsManagers) in git",
                       "kubectl get mutatingwebhookconfigurations   # a webhook rewriting what Argo CD applies",
                       f"argocd app sync {selfheal_failing_apps(v)[0]['metadata']['name']}   # once the cause is "
                       "fixed"],
        verify=lambda v: f"argocd app wait {selfheal_failing_apps(v)[0]['metadata']['name']} --sync --timeout 300",
        risk=LOW, ref=f"{GUIDE} Gotcha 6 (only while the drift is recent), D3 OutOfSync; argo-cd "
                      "timeout.reconciliation (180s), spec.ignoreDifferences",
    ),
    Rule(
        id="gotcha-heavy-chart", branch="D5 Gotcha 7: heavy charts need longer step timeouts",
        when=lambda v: argocd_step(v) is not None and bool(repo_server_struggles(v)) and bool(heavy_apps(v)) and (
            step_timeout(argocd_step(v)[1]) < 600  # type: ignore[index]
            or int((argocd_step(v)[1].get("retry") or {}).get("errorThreshold") or 1) < 3),  # type: ignore[index]
        cause=lambda v: "the Argo CD repo-server restarts (OOM while rendering large charts such as "
                        + ", ".join(a["metadata"]["name"] for a in heavy_apps(v)) + ") and the Stage's "
                        "argocd-update step has no room for it (timeout < 10m or errorThreshold < 3)",
        evidence=lambda v: controller_evidence(v, "argocd-repo-server") + [
            f"Stage {v.name} argocd-update retry = {(argocd_step(v) or (0, {}))[1].get('retry') or 'unset'}"],
        fix=lambda v: [retry_fix(v),
                       "raise the repo-server's memory limit (argo-cd chart repoServer.resources.limits.memory)"],
        verify=lambda v: f"kubectl get pods -n {v.argocd_ns} -l app.kubernetes.io/name=argocd-repo-server",
        risk=LOW, ref=f"{GUIDE} Gotcha 7, references/kargo-state-machine.md",
    ),
    Rule(
        id="gotcha-foundation-chicken-egg", branch="D5 Gotcha 8: a Stage that deploys Argo CD or Kargo",
        when=lambda v: bool(foundation_apps(v)),
        cause=lambda v: f"Stage {v.name} promotes Argo CD/Kargo themselves ("
                        + ", ".join(a["metadata"]["name"] for a in foundation_apps(v)) + "): Kargo cannot promote "
                        "itself; use Argo CD auto-sync for them",
        evidence=lambda v: [f"Application {a['metadata']['name']} deploys {sign}"
                            for a in foundation_apps(v) for sign in foundation_signs(a)[:3]],
        fix=lambda v: ["move these apps out of the Stage's argocd-update step and give them "
                       "syncPolicy.automated in git"],
        verify=lambda v: f"argocd app get {foundation_apps(v)[0]['metadata']['name']}",
        risk=MEDIUM, ref=f"{GUIDE} Gotcha 8 (recognised by the chart, CRDs and controllers the app deploys, not "
                         "by its destination namespace)",
    ),
]
