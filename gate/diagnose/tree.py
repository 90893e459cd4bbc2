"""D4/D5: the guide's decision tree as data, read against Kargo v1.11 (and the ≤ v1.4 `status.phase`).

Each Rule says when it applies (a predicate over a View), the root cause, the evidence (objects and fields
read), the fix as exact commands (Kargo's and Argo CD's CLIs, kubectl for reads, annotations and
deletions; never "create a Promotion with kubectl", Gotcha 1), how to confirm the fix, and its risk.
`CAUSES` are walked in the guide's order and the first that applies is the root cause; every `GOTCHAS`
entry that applies is added as a note. `ref` names the guide's branch and the upstream code it rests on
(akuity/kargo v1.11.2 unless said otherwise). `scenario` is the simulator world that shows the rule
(gate/sim/scenarios/diagnose-<scenario>.yaml; `gate demo --diagnose --scenario <scenario>`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from gate.diagnose.gather import job_refs, latest_run
from gate.diagnose.view import (
    View,
    effective_reason,
    generated_name,
    health_text,
    is_fine,
    phase_text,
    pod_oomkilled,
    pod_ready,
    pod_restarts,
    pod_summary,
)
from gate.engine.durations import parse as parse_duration
from gate.kargo.stages import short

LOW, MEDIUM, HIGH = "LOW", "MEDIUM", "HIGH"
STUCK_AFTER = 15 * 60  # D4: an active Promotion older than 15 minutes is likely stuck
ERRORED = ("LastPromotionErrored", "LastPromotionFailed")
VERIFY_FAILED = ("VerificationFailed", "VerificationError", "VerificationAborted", "VerificationInconclusive")
IN_PROGRESS = ("VerificationPending", "VerificationRunning", "WaitingForVerification", "WaitingForHealthCheck",
               "PendingVerification")


@dataclass(frozen=True)
class Rule:
    id: str
    branch: str  # where in the guide's tree (D4 step / D5 gotcha)
    when: Callable[[View], bool]
    cause: Callable[[View], str]
    evidence: Callable[[View], list[str]]
    fix: Callable[[View], list[str]]
    verify: Callable[[View], str]
    risk: str
    ref: str
    problem: bool = True  # False: nothing to repair yet (wait); alone it does not make `diagnose` exit 1
    scenario: str = ""  # defaults to the id

    @property
    def world(self) -> str:
        return self.scenario or self.id


@dataclass
class Diagnosis:
    stage: str
    rule: str
    kind: str  # "root-cause" | "gotcha"
    phase: str
    health: str
    root_cause: str
    evidence: list[str]
    fix: list[str]
    verify: str
    risk: str
    ref: str
    problem: bool = True
    unread: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# -- readings the rules share ---------------------------------------------------------------------
def ns(v: View) -> str:
    return v.namespace


def last_promo(v: View) -> dict:
    """The Promotion object behind status.lastPromotion, else the status copy the Stage keeps."""
    lp = v.last_promotion
    obj = v.promotion(lp.get("name"))
    return obj or {"metadata": {"name": lp.get("name", "")}, "spec": {"freight": (lp.get("freight") or {}).get(
        "name")}, "status": lp.get("status") or {}}


def failing_step(promo: dict) -> tuple[int, dict]:
    """(index, stepExecutionMetadata entry) of the step that failed, else the current step."""
    status = promo.get("status") or {}
    steps = status.get("stepExecutionMetadata") or []
    for i, meta in enumerate(steps):
        if meta.get("status") in ("Errored", "Failed", "Aborted"):
            return i, meta
    idx = int(status.get("currentStep") or 0)
    return idx, (steps[idx] if idx < len(steps) else {})


def step_message(promo: dict) -> str:
    _, meta = failing_step(promo)
    return " ".join(filter(None, [meta.get("message"), (promo.get("status") or {}).get("message")]))


def promo_freight(promo: dict) -> str:
    return (promo.get("spec") or {}).get("freight") or ((promo.get("status") or {}).get("freight") or {}).get(
        "name") or ""


def promo_evidence(v: View, promo: dict) -> list[str]:
    name = promo["metadata"]["name"]
    status = promo.get("status") or {}
    idx, meta = failing_step(promo)
    lines = [f"Stage {v.name} status.lastPromotion.name = {name}, status.phase = {status.get('phase')}",
             f"Promotion {name} spec.freight = {short(promo_freight(promo))}"
             + (f" ({v.alias(promo_freight(promo))})" if v.alias(promo_freight(promo)) else "")]
    if meta:
        lines.append(f"Promotion {name} status.stepExecutionMetadata[{idx}]: step {meta.get('alias')!r} "
                     f"{meta.get('status')}, errorCount {meta.get('errorCount', 0)}: {meta.get('message') or ''}")
    if status.get("message"):
        lines.append(f"Promotion {name} status.message = {status['message']}")
    return lines


def promote_cmd(v: View, freight: str) -> str:
    alias = v.alias(freight)
    which = f"--freight-alias {alias}" if alias else f"--freight {freight}"
    return f"kargo promote --project {v.project} --stage {v.name} {which}"


def ready_cmd(v: View) -> str:
    return (f"kubectl get stage {v.name} -n {ns(v)} -o jsonpath="
            "'{range .status.conditions[*]}{.type}={.status} {.reason}{\"\\n\"}{end}'")


def owner_app(v: View) -> str:
    """The Argo CD Application that renders this Stage (its tracking label or annotation), if it says."""
    meta = v.stage.get("metadata") or {}
    tracking = (meta.get("annotations") or {}).get("argocd.argoproj.io/tracking-id", "")
    name = tracking.split(":", 1)[0] if tracking else (meta.get("labels") or {}).get("app.kubernetes.io/instance")
    return name or "<the app that renders your Kargo Stages>"


def resync_cmd(v: View) -> str:
    return f"argocd app sync {owner_app(v)}   # Argo CD recreates the Stage from git"


def refresh_cmds(v: View) -> list[str]:
    return [f"kargo refresh stage {v.name} --project {v.project} --wait",
            f"(or) kubectl annotate stage {v.name} -n {ns(v)} --overwrite kargo.akuity.io/refresh=$(date +%s)"]


def argocd_step(v: View) -> tuple[int, dict] | None:
    steps = ((((v.stage.get("spec") or {}).get("promotionTemplate") or {}).get("spec") or {}).get("steps")) or []
    return next(((i, s) for i, s in enumerate(steps) if s.get("uses") == "argocd-update"), None)


def step_timeout(step: dict) -> float:
    """retry.timeout in seconds; argocd-update's default is 5m (runner/builtin/argocd_updater.go:45)."""
    raw = (step.get("retry") or {}).get("timeout")
    try:
        return parse_duration(raw) if raw else 300.0
    except ValueError:
        return 300.0


def pods(v: View, component: str) -> list[dict]:
    return v.controllers.get(component) or []


def controller_evidence(v: View, component: str) -> list[str]:
    if component not in v.controllers:
        return [f"{component} pods: could not read ({v.unread.get('pods/' + component, 'not read')})"]
    found = pods(v, component)
    return [f"{component} {pod_summary(p)}" for p in found] or [f"{component}: no pod found"]


def log_has(v: View, pattern: str) -> list[str]:
    """The controller's lines matching, made readable: a JSON line becomes "msg: error (key=value …)"."""
    rx = re.compile(pattern, re.I)
    return [readable(ln) for ln in v.controller_log if rx.search(ln)]


def readable(line: str) -> str:
    try:
        doc = json.loads(line)
    except ValueError:
        return line
    if not isinstance(doc, dict):
        return line
    extra = {k: val for k, val in doc.items() if k not in ("level", "ts", "logger", "msg", "error", "namespace")}
    text = f"{doc.get('level', '')}: {doc.get('msg', '')}" + (f": {doc['error']}" if doc.get("error") else "")
    return text + (" (" + ", ".join(f"{k}={val}" for k, val in extra.items()) + ")" if extra else "")


def verification_failed(v: View) -> bool:
    return effective_reason(v) in VERIFY_FAILED


def run_text(v: View) -> str:
    """Everything the latest verification said: AnalysisRun message, metric messages, the Jobs' logs."""
    run = latest_run(v) or {}
    status = run.get("status") or {}
    parts = [status.get("message") or "", v.latest_verification.get("message") or ""]
    for metric in status.get("metricResults") or []:
        parts.append(metric.get("message") or "")
        parts += [m.get("message") or "" for m in metric.get("measurements") or []]
    return "\n".join(parts + list(v.job_logs.values()))


_FORBIDDEN = re.compile(
    r'User "(?P<user>[^"]+)" cannot (?P<verb>\w+) resource "(?P<resource>[^"]+)"'
    r'(?: in API group "(?P<group>[^"]*)")?(?: in the namespace "(?P<ns>[^"]+)")?')


def forbidden_rules(v: View) -> list[dict]:
    """Each "… is forbidden: User X cannot VERB resource R in API group G in the namespace N" in the logs."""
    out = []
    for m in _FORBIDDEN.finditer("\n".join(v.job_logs.values()) + "\n" + run_text(v)):
        rule = {k: (m.group(k) or "") for k in ("user", "verb", "resource", "group", "ns")}
        if rule not in out:
            out.append(rule)
    return out


def grant_cmd(r: dict) -> str:
    """kubectl commands that grant one refused rule to the ServiceAccount the log names."""
    res = r["resource"] + (f".{r['group']}" if r["group"] else "")
    sa = r["user"].removeprefix("system:serviceaccount:")
    sa_ref = sa if ":" in sa else f"<namespace>:{sa}"
    name = f"gate-verification-{r['resource'].replace('/', '-')}"
    if r["ns"]:
        return (f"kubectl create role {name} -n {r['ns']} --verb={r['verb']} --resource={res} && "
                f"kubectl create rolebinding {name} -n {r['ns']} --role={name} --serviceaccount={sa_ref}")
    return (f"kubectl create clusterrole {name} --verb={r['verb']} --resource={res} && "
            f"kubectl create clusterrolebinding {name} --clusterrole={name} --serviceaccount={sa_ref}")


def verification_evidence(v: View) -> list[str]:
    latest = v.latest_verification
    lines = [f"Stage {v.name} status.freightHistory[0].verificationHistory[0].phase = {latest.get('phase')}"
             + (f", message = {latest['message']}" if latest.get("message") else "")]
    run = latest_run(v)
    if run:
        st = run.get("status") or {}
        lines.append(f"AnalysisRun {run['metadata']['name']} status.phase = {st.get('phase')}"
                     + (f", status.message = {st['message']}" if st.get("message") else " (no message)"))
        for ref in job_refs(run, ns(v)):
            job = next((j for j in v.jobs if j["metadata"]["name"] == ref[1]), None)
            jst = (job or {}).get("status") or {}
            lines.append(f"Job {ref[0]}/{ref[1]}: " + (f"failed {jst.get('failed', 0)}, succeeded "
                                                       f"{jst.get('succeeded', 0)}" if job else "not found"))
        lines += failed_metrics(run)
    for pod, text in v.job_logs.items():
        tail = [ln for ln in text.splitlines() if ln.strip()][-5:]
        lines += [f"pods/log {pod}: {ln}" for ln in tail]
    return lines


FAILED_METRICS_SHOWN = 3


def failed_metrics(run: dict) -> list[str]:
    """The AnalysisRun's failed/errored metrics with their messages (argo-rollouts MetricResult.message, and
    the last measurement's), at most FAILED_METRICS_SHOWN."""
    out = []
    for metric in (run.get("status") or {}).get("metricResults") or []:
        if metric.get("phase") not in ("Failed", "Error", "Inconclusive"):
            continue
        last = (metric.get("measurements") or [{}])[-1]
        message = metric.get("message") or last.get("message") or "no message"
        out.append(f"AnalysisRun {run['metadata']['name']} metric {metric.get('name')!r} {metric.get('phase')} "
                   f"(failed {metric.get('failed', 0)}, error {metric.get('error', 0)}): {message}")
    return out[:FAILED_METRICS_SHOWN]


def rerun_verification(v: View) -> str:
    return f"kargo verify stage {v.name} --project {v.project}"


def templates_named(v: View) -> list[str]:
    return [t.get("name", "") for t in ((v.stage.get("spec") or {}).get("verification") or {}).get(
        "analysisTemplates") or []]


def template_sa(v: View) -> list[str]:
    """ServiceAccounts the Stage's job metrics run as."""
    names = set(templates_named(v))
    out = []
    for t in v.templates:
        if t["metadata"]["name"] not in names:
            continue
        for metric in (t.get("spec") or {}).get("metrics") or []:
            job = ((metric.get("provider") or {}).get("job") or {}).get("spec") or {}
            sa = ((job.get("template") or {}).get("spec") or {}).get("serviceAccountName")
            if sa and sa not in out:
                out.append(sa)
    return out or ["default"]


def active_promotion(v: View) -> dict:
    name = (v.st.get("currentPromotion") or {}).get("name")
    promo = v.promotion(name)
    if not promo:
        running = [p for p in v.promotions if (p.get("status") or {}).get("phase") == "Running"]
        promo = running[0] if running else {}
    return promo


def active_age(v: View) -> float:
    promo = active_promotion(v)
    st = promo.get("status") or {}
    return v.age(st.get("startedAt") or (promo.get("metadata") or {}).get("creationTimestamp")) or 0.0


def active_evidence(v: View) -> list[str]:
    promo = active_promotion(v)
    if not promo:
        return [f"Stage {v.name} condition Promoting: {v.cond('Promoting').get('message') or 'set'}"]
    name, st = promo["metadata"]["name"], promo.get("status") or {}
    idx, meta = failing_step(promo)
    lines = [f"Stage {v.name} status.currentPromotion.name = {name}",
             f"Promotion {name} status.phase = {st.get('phase')}, startedAt = {st.get('startedAt')} "
             f"({int(active_age(v) // 60)} min ago)",
             f"Promotion {name} status.currentStep = {idx}: step {meta.get('alias', '?')!r} "
             f"{meta.get('status', '')} {meta.get('message') or ''}".rstrip()]
    return lines + [f"kargo-controller log: {readable(ln)}" for ln in v.controller_log[-3:]]


def stale_history(v: View) -> dict | None:
    """A terminal Promotion newer than lastPromotion (by creation time) whose name sorts at or before it:
    syncPromotions stops at names <= lastPromotion.name (regular_stages.go:715), so it is never recorded."""
    last = v.last_promotion.get("name")
    lp = v.promotion(last)
    if not last or not lp:
        return None
    born = lp["metadata"].get("creationTimestamp") or ""
    for p in v.promotions:
        phase = (p.get("status") or {}).get("phase")
        if (p["metadata"].get("creationTimestamp") or "") > born and p["metadata"]["name"] <= last and \
                phase in ("Succeeded", "Failed", "Errored", "Aborted"):
            return p
    return None


def freight_of_warehouses(v: View) -> list[dict]:
    whs = set(v.warehouses_requested())
    return [f for f in v.freight if (f.get("origin") or {}).get("name") in whs]


def app_lines(v: View) -> list[str]:
    lines = []
    for app in v.apps:
        st = app.get("status") or {}
        op = st.get("operationState") or {}
        lines.append(
            f"Application {app['metadata'].get('namespace')}/{app['metadata']['name']}: sync "
            f"{(st.get('sync') or {}).get('status')}, health {(st.get('health') or {}).get('status')}, "
            f"operationState.phase {op.get('phase')} finishedAt {op.get('finishedAt')}, reconciledAt "
            f"{st.get('reconciledAt')}" + (f": {op['message']}" if op.get("message") else ""))
    return lines or [f"Applications of {v.name}: " + (v.unread.get("applications") or "none named by its steps")]


def failed_resources(app: dict) -> list[str]:
    res = (((app.get("status") or {}).get("operationState") or {}).get("syncResult") or {}).get("resources") or []
    return [f"{r.get('kind')} {r.get('namespace', '')}/{r.get('name')}: {r.get('status')} {r.get('message', '')}"
            for r in res if r.get("status") not in ("Synced", "Pruned", None) or r.get("hookPhase") in (
                "Failed", "Error")]


def failing_app(v: View) -> str:
    """The app whose last operation failed (operationState.phase Failed/Error), else the first one named."""
    bad = [a for a in v.apps
           if ((a.get("status") or {}).get("operationState") or {}).get("phase") in ("Failed", "Error")]
    return bad[0]["metadata"]["name"] if bad else app_names(v)[0]


def app_names(v: View) -> list[str]:
    return [a for _, a in v.app_refs] or ["<app>"]


def unhealthy_apps(v: View) -> list[dict]:
    return [a for a in v.apps if ((a.get("status") or {}).get("health") or {}).get("status") != "Healthy"
            or ((a.get("status") or {}).get("sync") or {}).get("status") != "Synced"]


def names(objs: list[dict]) -> str:
    return ", ".join(o["metadata"]["name"] for o in objs)


def app_lines_for(v: View, apps: list[dict]) -> list[str]:
    wanted = {a["metadata"]["name"] for a in apps}
    return [ln for ln in app_lines(v) if any(f"/{n}:" in ln for n in wanted)]


def retry_fix(v: View) -> str:
    return f"in git, on Stage {v.name}'s argocd-update step set: retry: {{timeout: 10m, errorThreshold: 3}}"


def job_name(v: View) -> str:
    run = latest_run(v)
    refs = job_refs(run, ns(v)) if run else []
    return refs[-1][1] if refs else "<job>"


def run_name(v: View) -> str:
    return ((latest_run(v) or {}).get("metadata") or {}).get("name") or "<analysisrun>"


def reconcile_message(v: View) -> str:
    return (v.cond("Ready").get("message") or v.cond("Reconciling").get("message") or v.st.get("message")
            or "error reconciling Stage")


def step_alias(promo: dict) -> str:
    return failing_step(promo)[1].get("alias", "?")


def errored_names(v: View) -> str:
    bad = [p["metadata"]["name"] for p in v.promotions if (p.get("status") or {}).get("phase") in ("Errored", "Failed")]
    return " ".join(bad) or "<errored promotion>"


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


def selfheal_apps(v: View) -> list[dict]:
    return [a for a in v.apps
            if (((a.get("spec") or {}).get("syncPolicy") or {}).get("automated") or {}).get("selfHeal")
            and ((a.get("status") or {}).get("sync") or {}).get("status") == "OutOfSync"]


HEAVY_CHARTS = re.compile(r"prometheus|loki|thanos|mimir|tempo|elastic|opensearch|kafka|istio|cilium", re.I)


def heavy_apps(v: View) -> list[dict]:
    """Apps the guide calls heavy: big monitoring/logging/mesh charts, or many resources per sync."""
    return [a for a in v.apps if HEAVY_CHARTS.search(a["metadata"]["name"]) or len(
        (((a.get("status") or {}).get("operationState") or {}).get("syncResult") or {}).get("resources") or []) >= 50]


def repo_server_struggles(v: View) -> list[dict]:
    return [p for p in pods(v, "argocd-repo-server") if pod_oomkilled(p) or pod_restarts(p) > 0]


def foundation_apps(v: View) -> list[dict]:
    """Gotcha 8: the Stage promotes Argo CD or Kargo themselves."""
    own = {v.kargo_controller_ns, v.argocd_ns}
    rx = re.compile(r"^(argo-?cd|kargo)(-.*)?$")
    return [a for a in v.apps if rx.match(a["metadata"]["name"])
            or ((a.get("spec") or {}).get("destination") or {}).get("namespace") in own]


def manual_promotions(v: View) -> list[dict]:
    return [p for p in v.promotions if not generated_name(p["metadata"]["name"], v.name)]


# -- D4: the decision tree, in the guide's order ---------------------------------------------------
GUIDE = "seeds/gitops-master/SKILL.md"
RS = "pkg/controller/stages/regular_stages.go"

CAUSES: list[Rule] = [
    Rule(
        id="kargo-controller-unavailable", branch="D1 controller health",
        when=lambda v: bool(pods(v, "kargo-controller")) and not any(pod_ready(p) for p in pods(v, "kargo-controller")),
        cause=lambda v: "the Kargo controller is not running (no Ready pod): no Stage or Promotion is reconciled, "
                        "every status is stale",
        evidence=lambda v: controller_evidence(v, "kargo-controller"),
        fix=lambda v: [f"kubectl logs -n {v.kargo_controller_ns} deploy/kargo-controller --previous --tail=100",
                       f"kubectl describe pods -n {v.kargo_controller_ns} -l app.kubernetes.io/component=controller",
                       f"kubectl rollout restart deployment/kargo-controller -n {v.kargo_controller_ns}"],
        verify=lambda v: f"kubectl rollout status deployment/kargo-controller -n {v.kargo_controller_ns} --timeout=2m",
        risk=MEDIUM, ref=f"{GUIDE} D1 group 3 (controller health)",
    ),
    Rule(
        id="promotion-errored-manual", branch="D4.2 LastPromotionErrored, non-generated name",
        when=lambda v: effective_reason(v) in ERRORED and not generated_name(v.last_promotion.get("name", ""), v.name),
        cause=lambda v: f"poisoned Stage state: lastPromotion {v.last_promotion.get('name')!r} was created by hand "
                        f"(not <stage>.<ULID>.<freight[:7]>); it sorts after generated names, so Kargo never "
                        f"records a newer Promotion",
        evidence=lambda v: promo_evidence(v, last_promo(v)) + [
            f"name {v.last_promotion.get('name')!r} does not match {v.name}.<ULID>.<freight[:7]> "
            "(pkg/api/promotion.go:91); syncPromotions stops at names <= lastPromotion.name ("
            f"{RS}:715)"],
        fix=lambda v: [f"kubectl get stage {v.name} -n {ns(v)} -o yaml > stage-{v.name}.backup.yaml",
                       f"kubectl delete stage {v.name} -n {ns(v)}   # its Promotions go with it (ownerReference)",
                       resync_cmd(v),
                       promote_cmd(v, promo_freight(last_promo(v)))],
        verify=ready_cmd, risk=MEDIUM,
        ref=f"{GUIDE} D4.2 + Gotcha 1; kargo {RS}:715, pkg/api/promotion.go:91, issues #6214 #6741",
    ),
    Rule(
        id="promotion-errored-refused", branch="D4.2 LastPromotionErrored, \"connection refused :8081\"",
        when=lambda v: effective_reason(v) in ERRORED and bool(re.search(r"connection refused", step_message(
            last_promo(v)), re.I)) and ":8081" in step_message(last_promo(v)),
        cause=lambda v: "the argocd-update step hit the Argo CD repo-server while it was down or restarting "
                        "(connection refused :8081), and the step has no retry",
        evidence=lambda v: promo_evidence(v, last_promo(v)) + controller_evidence(v, "argocd-repo-server") + [
            f"Stage {v.name} spec.promotionTemplate.spec.steps[{(argocd_step(v) or (0, {}))[0]}].retry = "
            f"{(argocd_step(v) or (0, {}))[1].get('retry') or 'unset (errorThreshold 1: no retry)'}"],
        fix=lambda v: [retry_fix(v),
                       resync_cmd(v).split("   #")[0] + "   # or wait for auto-sync",
                       promote_cmd(v, promo_freight(last_promo(v))) + "   # auto-promotion will not retry it"],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} D4.2, references/kargo-state-machine.md (retry); kargo "
                      "pkg/promotion/local_orchestrator.go:302-310, api/v1alpha1/promotion_types.go:239",
    ),
    Rule(
        id="promotion-errored-sync-failed", branch="D4.2 LastPromotionErrored, \"sync tasks failed\"",
        when=lambda v: effective_reason(v) in ERRORED and bool(re.search(
            r"sync(hronization)? tasks? (failed|completed unsuccessfully)|one or more (sync|synchronization) tasks",
            step_message(last_promo(v)), re.I)),
        cause=lambda v: "Argo CD could not apply the stage's manifests (a sync task or hook failed); the "
                        "Application's operationState says which resource",
        evidence=lambda v: promo_evidence(v, last_promo(v)) + app_lines(v) + [
            f"failed resource {r}" for a in v.apps for r in failed_resources(a)],
        fix=lambda v: [f"argocd app get {failing_app(v)} --show-operation",
                       f"kubectl get app {failing_app(v)} -n {v.argocd_ns} -o jsonpath="
                       "'{.status.operationState.syncResult.resources}'",
                       "fix the failing resource in git, then: "
                       + promote_cmd(v, promo_freight(last_promo(v)))],
        verify=lambda v: f"argocd app wait {failing_app(v)} --sync --health --timeout 300",
        risk=MEDIUM, ref=f"{GUIDE} D4.2, references/argocd-troubleshooting.md; kargo "
                         "pkg/promotion/runner/builtin/argocd_updater.go:343",
    ),
    Rule(
        id="promotion-errored-step-timeout", branch="D4.2 LastPromotionErrored, step timed out (Gotcha 7)",
        when=lambda v: effective_reason(v) in ERRORED and bool(re.search(
            r"timed out|timeout|deadline exceeded", step_message(last_promo(v)), re.I)),
        cause=lambda v: "the argocd-update step ran out of time: a heavy chart needs longer than the "
                        f"{int(step_timeout((argocd_step(v) or (0, {}))[1]) // 60)}m step timeout",
        evidence=lambda v: promo_evidence(v, last_promo(v)) + [
            f"Stage {v.name} argocd-update retry.timeout = "
            f"{((argocd_step(v) or (0, {}))[1].get('retry') or {}).get('timeout') or 'unset (default 5m)'}"]
            + controller_evidence(v, "argocd-repo-server"),
        fix=lambda v: [retry_fix(v),
                       promote_cmd(v, promo_freight(last_promo(v)))],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} Gotcha 7; kargo pkg/promotion/local_orchestrator.go:323, "
                      "pkg/promotion/runner/builtin/argocd_updater.go:45 (DefaultTimeout 5m)",
    ),
    Rule(
        id="promotion-errored-other", branch="D4.2 LastPromotionErrored, other step error",
        when=lambda v: effective_reason(v) in (*ERRORED, "LastPromotionAborted"),
        cause=lambda v: f"Promotion {v.last_promotion.get('name')} ended {v.last_promotion_phase} at step "
                        f"{failing_step(last_promo(v))[1].get('alias', '?')!r}: "
                        f"{failing_step(last_promo(v))[1].get('message') or step_message(last_promo(v)) or '-'}",
        evidence=lambda v: promo_evidence(v, last_promo(v)) + app_lines(v),
        fix=lambda v: [f"kargo get promotion {v.last_promotion.get('name')} --project {v.project} -o yaml",
                       "fix the cause the step message names (credentials, repository, manifests)",
                       promote_cmd(v, promo_freight(last_promo(v)))
                       + "   # or push a new commit so the Warehouse makes new Freight"],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} D4.2 (Other); kargo {RS}:928, :2341-2346 (Ready/Healthy LastPromotion<Phase>)",
        scenario="promote-errored",
    ),
    Rule(
        id="no-freight-stale-history", branch="D4.2 NoFreight, stale freightHistory",
        when=lambda v: stale_history(v) is not None,
        cause=lambda v: f"freightHistory is stale: Promotion {stale_history(v)['metadata']['name']} is newer than "
                        f"lastPromotion {v.last_promotion.get('name')} but sorts before it, so Kargo never "
                        "records it (poisoned lastPromotion)",
        evidence=lambda v: [f"Stage {v.name} status.lastPromotion.name = {v.last_promotion.get('name')}",
                            f"Promotion {stale_history(v)['metadata']['name']} created "
                            f"{stale_history(v)['metadata'].get('creationTimestamp')}, phase "
                            f"{(stale_history(v).get('status') or {}).get('phase')}, not in status.freightHistory",
                            f"kargo {RS}:715 stops at names <= lastPromotion.name"],
        fix=lambda v: [f"kubectl get stage {v.name} -n {ns(v)} -o yaml > stage-{v.name}.backup.yaml",
                       f"kubectl delete stage {v.name} -n {ns(v)}",
                       resync_cmd(v),
                       promote_cmd(v, promo_freight(stale_history(v) or {}))],
        verify=ready_cmd, risk=MEDIUM, ref=f"{GUIDE} D4.2 NoFreight/Stale + Gotcha 1; kargo {RS}:700-720 (L715)",
    ),
    Rule(
        id="no-freight-warehouse-empty", branch="D4.2 NoFreight, empty history, Warehouse made no Freight",
        when=lambda v: effective_reason(v) == "NoFreight" and not v.st.get("freightHistory")
        and not freight_of_warehouses(v) and "freight" not in v.unread,
        cause=lambda v: f"no Freight exists for Warehouse {', '.join(v.warehouses_requested())}: the Warehouse "
                        "subscription finds nothing (repo URL, credentials, tag/semver constraint, paths)",
        evidence=lambda v: [f"Stage {v.name} status.freightHistory is empty; Healthy/Verified reason NoFreight",
                            f"Freight with origin Warehouse/{', '.join(v.warehouses_requested())}: 0"] + [
            f"Warehouse {w['metadata']['name']} condition {c.get('type')}={c.get('status')} {c.get('reason')}: "
            f"{c.get('message', '')}" for w in v.warehouses if w["metadata"]["name"] in v.warehouses_requested()
            for c in (w.get("status") or {}).get("conditions") or []],
        fix=lambda v: [f"kubectl describe warehouse {w} -n {ns(v)}" for w in v.warehouses_requested()]
        + [f"kargo refresh warehouse {w} --project {v.project} --wait" for w in v.warehouses_requested()],
        verify=lambda v: f"kargo get freight --project {v.project} --warehouse {v.warehouses_requested()[0]}",
        risk=LOW, ref=f"{GUIDE} D4.2 NoFreight/Empty/No freight; kargo {RS}:907, :1089",
    ),
    Rule(
        id="no-freight-not-promoted", branch="D4.2 NoFreight, empty history, Freight exists",
        when=lambda v: effective_reason(v) == "NoFreight" and not v.st.get("freightHistory"),
        cause=lambda v: f"Freight exists but was never promoted to {v.name}: " + (
            "auto-promotion is on, check the controller log for why it skipped"
            if v.st.get("autoPromotionEnabled") else "auto-promotion is off for this Stage (ProjectConfig), "
            "so someone has to promote"),
        evidence=lambda v: [f"Stage {v.name} status.freightHistory is empty, status.autoPromotionEnabled = "
                            f"{bool(v.st.get('autoPromotionEnabled'))}",
                            f"newest Freight {short(freight_of_warehouses(v)[0]['metadata']['name'])} "
                            f"({v.alias(freight_of_warehouses(v)[0]['metadata']['name'])})"]
        + [f"kargo-controller log: {readable(ln)}" for ln in v.controller_log[-3:]],
        fix=lambda v: [promote_cmd(v, freight_of_warehouses(v)[0]["metadata"]["name"]),
                       "(or) enable auto-promotion for the Stage in the project's ProjectConfig "
                       "spec.promotionPolicies"],
        verify=ready_cmd, risk=LOW, ref=f"{GUIDE} D4.2 NoFreight/Empty/Freight exists; kargo {RS}:1893-2029",
    ),
    Rule(
        id="verification-no-analysisrun", branch="D4.2 VerificationFailed, no AnalysisRun",
        when=lambda v: verification_failed(v) and latest_run(v) is None and "analysisruns" not in v.unread,
        cause=lambda v: "verification failed without an AnalysisRun: the AnalysisTemplate or its "
                        "ServiceAccount is misconfigured (missing template, undeclared arg, Rollouts "
                        "integration off)",
        evidence=lambda v: verification_evidence(v) + [
            f"AnalysisTemplate {t} in {ns(v)}: " + ("present" if any(x["metadata"]["name"] == t for x in v.templates)
                                                    else "NOT FOUND") for t in templates_named(v)]
        + [f"AnalysisRuns of {v.name}: none"],
        fix=lambda v: [f"kubectl get analysistemplates -n {ns(v)}",
                       f"kubectl get serviceaccount {template_sa(v)[0]} -n {ns(v)}",
                       "create or fix the AnalysisTemplate (every spec.verification.args name declared), then: "
                       + rerun_verification(v)],
        verify=lambda v: f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} "
                         "--sort-by=.metadata.creationTimestamp",
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed/No AnalysisRun; kargo {RS}:1149, :1427",
    ),
    Rule(
        id="verification-rbac-forbidden", branch="D4.2 VerificationFailed, Job log \"forbidden\"",
        when=lambda v: verification_failed(v) and bool(forbidden_rules(v)),
        cause=lambda v: "the verification Job's ServiceAccount lacks RBAC: " + "; ".join(
            f"{r['user']} may not {r['verb']} {r['resource']}"
            + (f".{r['group']}" if r["group"] else "") + (f" in {r['ns']}" if r["ns"] else " (cluster-wide)")
            for r in forbidden_rules(v)),
        evidence=verification_evidence,
        fix=lambda v: [grant_cmd(r) for r in forbidden_rules(v)] + [rerun_verification(v)],
        verify=lambda v: " && ".join(
            f"kubectl auth can-i {r['verb']} {r['resource']}" + (f".{r['group']}" if r["group"] else "")
            + (f" -n {r['ns']}" if r["ns"] else "") + f" --as={r['user']}" for r in forbidden_rules(v)),
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed/RBAC + Gotcha 4; Argo Rollouts job provider",
    ),
    Rule(
        id="verification-http-failed", branch="D4.2 VerificationFailed, HTTP check failed",
        when=lambda v: verification_failed(v) and latest_run(v) is not None and bool(re.search(
            r"\bHTTP\b|status code|\b[45]\d\d\b|no such host|connection refused|certificate|Level [23]",
            run_text(v))),
        cause=lambda v: "verification failed on an HTTP check: the service, ingress or SSO in front of it "
                        "did not answer as expected",
        evidence=verification_evidence,
        fix=lambda v: [f"kubectl logs job/{job_name(v)} -n {ns(v)}",
                       "kubectl get ingress,svc,endpoints -n <app namespace>   # is the backend reachable?",
                       "fix the service / ingress / SSO, then: " + rerun_verification(v)],
        verify=lambda v: f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} "
                         "--sort-by=.metadata.creationTimestamp",
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed/HTTP check failed",
    ),
    Rule(
        id="verification-pod-failed", branch="D4.2 VerificationFailed, pod check failed",
        when=lambda v: verification_failed(v) and latest_run(v) is not None and bool(re.search(
            r"\bpods?\b|not ready|CrashLoopBackOff|ImagePull|Level 1", run_text(v), re.I)),
        cause=lambda v: "verification failed on a pod check: the pods it looks for are missing or not ready "
                        "(namespace or label selector wrong, or the workload is broken)",
        evidence=verification_evidence,
        fix=lambda v: ["kubectl get pods -n <namespace the check reads> -l <its selector>",
                       "fix the namespace/selector in the check, or the workload, then: " + rerun_verification(v)],
        verify=lambda v: f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} "
                         "--sort-by=.metadata.creationTimestamp",
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed/Pod check failed",
    ),
    Rule(
        id="verification-failed-other", branch="D4.2 VerificationFailed, AnalysisRun failed",
        when=verification_failed,
        cause=lambda v: f"verification {v.latest_verification.get('phase') or 'failed'}: "
                        f"{v.latest_verification.get('message') or 'the AnalysisRun gives no reason'}",
        evidence=verification_evidence,
        fix=lambda v: [f"kubectl get analysisrun {run_name(v)} -n {ns(v)} -o yaml",
                       "fix what the metric reports, then: " + rerun_verification(v)],
        verify=lambda v: f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name}",
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed; kargo {RS}:1140-1152",
    ),
    Rule(
        id="reconcile-error", branch="D4.2 ReconcileError",
        when=lambda v: effective_reason(v) == "ReconcileError",
        cause=lambda v: f"the Stage's reconcile fails: {reconcile_message(v)}",
        evidence=lambda v: [f"Stage {v.name} condition {c}={v.cond(c).get('status')} {v.cond(c).get('reason')}: "
                            f"{v.cond(c).get('message', '')}" for c in ("Ready", "Reconciling") if v.cond(c)]
        + ([f"Stage {v.name} status.phase = {v.st.get('phase')}: {v.st.get('message', '')}"] if v.legacy else [])
        + [f"kargo-controller log: {readable(ln)}" for ln in v.controller_log[-3:]],
        fix=refresh_cmds, verify=ready_cmd,
        risk=LOW, ref=f"{GUIDE} D4.2 ReconcileError; kargo {RS}:2300-2320, api/v1alpha1/annotations.go:27",
    ),
    Rule(
        id="promotion-stuck", branch="D4.2 ActivePromotion, running > 15 min",
        when=lambda v: effective_reason(v) == "ActivePromotion" and active_age(v) > STUCK_AFTER,
        cause=lambda v: f"Promotion {active_promotion(v).get('metadata', {}).get('name')} has been running "
                        f"{int(active_age(v) // 60)} min (step {step_alias(active_promotion(v))!r}): likely stuck",
        evidence=active_evidence,
        fix=lambda v: [f"kubectl logs -n {v.kargo_controller_ns} deploy/kargo-controller --tail=200 | grep {v.name}",
                       f"kargo promote --project {v.project} --abort --name "
                       f"{active_promotion(v).get('metadata', {}).get('name')}   # only once the log explains it",
                       promote_cmd(v, promo_freight(active_promotion(v)))],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=MEDIUM, ref=f"{GUIDE} D4.2 ActivePromotion (> 15 min); kargo {RS}:854",
    ),
    Rule(
        id="promotion-running", branch="D4.2 ActivePromotion, running < 15 min",
        when=lambda v: effective_reason(v) == "ActivePromotion",
        cause=lambda v: f"Promotion {active_promotion(v).get('metadata', {}).get('name')} is running "
                        f"(step {failing_step(active_promotion(v))[1].get('alias', '?')!r}, "
                        f"{int(active_age(v))} s): wait for it",
        evidence=active_evidence,
        fix=lambda v: [f"kargo get promotion {active_promotion(v).get('metadata', {}).get('name')} "
                       f"--project {v.project} -o yaml   # wait; look again after 15 min"],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} D4.2 ActivePromotion (< 15 min); kargo {RS}:854", problem=False,
    ),
    # -- D4.3: the Kargo controller's log about this Stage --------------------------------------------
    Rule(
        id="log-promotion-exists", branch="D4.3 \"Promotion already exists for Freight\"",
        when=lambda v: bool(log_has(v, r"already exists for|avoid an infinite loop")),
        cause=lambda v: "auto-promotion is blocked for this Freight: an earlier Promotion of it is still "
                        "unprocessed, or the newest one for it did not succeed (anti-loop)",
        evidence=lambda v: [f"kargo-controller log: {ln}" for ln in log_has(v, r"already exists for|infinite loop")]
        + [f"Promotion {p['metadata']['name']} freight {short(promo_freight(p))}: "
           f"{(p.get('status') or {}).get('phase')}" for p in v.promotions[:3]],
        fix=lambda v: [promote_cmd(v, promo_freight(v.promotions[0]) if v.promotions else "<freight>")
                       + "   # an explicit promotion is not subject to the anti-loop",
                       f"(or) kubectl delete promotion {errored_names(v)} -n {ns(v)}"],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} D4.3; kargo {RS}:1972, :1994 (no kargo.akuity.io/freight label exists in v1.11)",
    ),
    Rule(
        id="log-needs-verification", branch="D4.3 \"current Freight needs to be verified\"",
        when=lambda v: bool(log_has(v, r"needs to be verified")),
        cause=lambda v: "new Promotions wait: the current Freight must finish verification first",
        evidence=lambda v: [f"kargo-controller log: {ln}" for ln in log_has(v, r"needs to be verified")]
        + verification_evidence(v)
        + [f"Promotion {p['metadata']['name']} waiting: {(p.get('status') or {}).get('phase') or 'Pending'}"
           for p in v.promotions if (p.get("status") or {}).get("phase") in (None, "", "Pending")],
        fix=lambda v: [f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name}",
                       rerun_verification(v) + "   # once the verification's cause is fixed"],
        verify=lambda v: f"kargo get promotions --project {v.project} --stage {v.name}",
        risk=LOW, ref=f"{GUIDE} D4.3; kargo {RS}:833-845",
    ),
    Rule(
        id="health-checks-not-passed", branch="D4.3 \"Stage has not passed health checks\"",
        when=lambda v: bool(log_has(v, r"has not passed health checks")) or (
            effective_reason(v) in ("Unhealthy", "Progressing", "Unknown") and v.last_promotion_phase == "Succeeded"),
        cause=lambda v: "the health gate blocks verification: the Stage's Argo CD apps are not Healthy "
                        "(" + (names(unhealthy_apps(v)) or "see health.issues") + ")",
        evidence=lambda v: [f"Stage {v.name} status.health.status = {(v.st.get('health') or {}).get('status')}"]
        + [f"Stage {v.name} status.health.issues: {i}" for i in (v.st.get("health") or {}).get("issues") or []]
        + app_lines(v) + [f"kargo-controller log: {ln}" for ln in log_has(v, r"health checks")],
        fix=lambda v: [f"argocd app get {a}" for a in app_names(v)] + [
            "fix what makes the app unhealthy (pods, rollout, resources); Kargo verifies once it is Healthy"],
        verify=lambda v: f"argocd app wait {' '.join(app_names(v))} --health --timeout 300",
        risk=LOW, ref=f"{GUIDE} D4.3; kargo {RS}:1233-1237",
    ),
    Rule(
        id="log-reconcile-error", branch="D4.3 \"error reconciling Stage\"",
        when=lambda v: bool(log_has(v, r"error reconciling|level=error|\"level\":\s*\"error\"")),
        cause=lambda v: "the Kargo controller logs an error for this Stage: " + log_has(
            v, r"error reconciling|level=error|\"level\":\s*\"error\"")[-1][:300],
        evidence=lambda v: [f"kargo-controller log: {ln}" for ln in log_has(v, r"error")[-5:]],
        fix=lambda v: [f"kubectl logs -n {v.kargo_controller_ns} deploy/kargo-controller --tail=200 | grep {v.name}",
                       "fix what the full error names, then:"] + refresh_cmds(v),
        verify=ready_cmd, risk=LOW, ref=f"{GUIDE} D4.3 \"error reconciling Stage\"",
    ),
    Rule(
        id="verification-in-progress", branch="D4.1 not yet Verified: verification pending or running",
        when=lambda v: effective_reason(v) in IN_PROGRESS or (
            v.legacy and v.st.get("phase") == "Verifying"),
        cause=lambda v: f"verification of the current Freight is {v.latest_verification.get('phase') or 'pending'}"
                        ": wait for it",
        evidence=verification_evidence,
        fix=lambda v: [f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} -w"],
        verify=ready_cmd, risk=LOW, ref=f"{GUIDE} D4.1; kargo {RS}:1140", problem=False,
    ),
    Rule(
        id="nuclear", branch="D4.4 nuclear option (last resort)",
        when=lambda v: not is_fine(v),
        cause=lambda v: f"no branch of the tree explains why {v.name} is not Ready "
                        f"({effective_reason(v) or 'no reason'}): overlapping issues, unclear root cause",
        evidence=lambda v: [f"Stage {v.name} conditions: " + "; ".join(
            f"{c.get('type')}={c.get('status')}/{c.get('reason')}" for c in v.st.get("conditions") or [])]
        + app_lines(v),
        fix=lambda v: [f"kubectl get stage {v.name} -n {ns(v)} -o yaml > stage-{v.name}.backup.yaml",
                       f"kubectl delete stage {v.name} -n {ns(v)}",
                       f"kubectl delete promotions -n {ns(v)} -l kargo.akuity.io/stage={v.name}",
                       resync_cmd(v),
                       promote_cmd(v, (v.freight[0]["metadata"]["name"] if v.freight else "<freight>"))],
        verify=ready_cmd, risk=HIGH, ref=f"{GUIDE} D4.4, D6 \"All else fails\"",
    ),
]


# -- D5: gotchas, detected -------------------------------------------------------------------------
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
        id="gotcha-empty-commit", branch="D5 Gotcha 5: a commit that made no Freight",
        when=lambda v: bool(empty_commit_warehouses(v)),
        cause=lambda v: "the newest commit the Warehouse saw made no Freight: a commit that changes no file the "
                        "subscription watches (an empty commit, or outside includePaths) is skipped",
        evidence=lambda v: [f"Warehouse {w['metadata']['name']} status.discoveredArtifacts.git[].commits[0].id = "
                            f"{cid[:12]}, in no Freight" for w, cid in empty_commit_warehouses(v)],
        fix=lambda v: ["commit a real change under the subscribed paths (touch a file), push",
                       f"kargo refresh warehouse {empty_commit_warehouses(v)[0][0]['metadata']['name']} "
                       f"--project {v.project} --wait"],
        verify=lambda v: f"kargo get freight --project {v.project} "
                         f"--warehouse {empty_commit_warehouses(v)[0][0]['metadata']['name']}",
        risk=LOW, ref=f"{GUIDE} Gotcha 5",
    ),
    Rule(
        id="gotcha-selfheal-delay", branch="D5 Gotcha 6: selfHeal is not immediate",
        when=lambda v: bool(selfheal_apps(v)),
        cause=lambda v: ", ".join(a["metadata"]["name"] for a in selfheal_apps(v)) + " is OutOfSync with selfHeal "
                        "on: Argo CD recreates deleted resources on its next reconcile (default every 3 min)",
        evidence=lambda v: app_lines_for(v, selfheal_apps(v)),
        fix=lambda v: ["wait up to 3 minutes (timeout.reconciliation)",
                       f"(or) argocd app sync {selfheal_apps(v)[0]['metadata']['name']}"],
        verify=lambda v: f"argocd app wait {selfheal_apps(v)[0]['metadata']['name']} --sync --timeout 300",
        risk=LOW, ref=f"{GUIDE} Gotcha 6", problem=False,
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
        evidence=lambda v: [f"Application {a['metadata']['name']} destination.namespace "
                            f"{((a.get('spec') or {}).get('destination') or {}).get('namespace')}"
                            for a in foundation_apps(v)],
        fix=lambda v: ["move these apps out of the Stage's argocd-update step and give them "
                       "syncPolicy.automated in git"],
        verify=lambda v: f"argocd app get {foundation_apps(v)[0]['metadata']['name']}",
        risk=MEDIUM, ref=f"{GUIDE} Gotcha 8",
    ),
]

RULES: list[Rule] = CAUSES + GOTCHAS


EVENTS_SHOWN = 3


def related_events(v: View) -> list[str]:
    """Recent Warning events about the Stage, its last/current Promotion or its latest AnalysisRun."""
    objs = {v.name, v.last_promotion.get("name"), (v.st.get("currentPromotion") or {}).get("name"), run_name(v),
            *v.current_freight}
    out = []
    for ev in v.events:
        obj = ev.get("involvedObject") or {}
        if obj.get("name") in objs:
            when = ev.get("lastTimestamp") or ev.get("eventTime") or ""
            out.append(f"Event {ev.get('reason')} on {obj.get('kind')} {obj.get('name')} ({when}): "
                       f"{ev.get('message', '')}")
    return out[:EVENTS_SHOWN]


def _diagnosis(rule: Rule, v: View, kind: str) -> Diagnosis:
    evidence = rule.evidence(v) + (related_events(v) if kind == "root-cause" else [])
    return Diagnosis(stage=v.name, rule=rule.id, kind=kind, phase=phase_text(v), health=health_text(v),
                     root_cause=rule.cause(v), evidence=evidence, fix=rule.fix(v), verify=rule.verify(v),
                     risk=rule.risk, ref=rule.ref, problem=rule.problem, unread=dict(v.unread))


def diagnose(view: View) -> list[Diagnosis]:
    """The first D4 cause that applies (if any), then every D5 gotcha that applies."""
    out: list[Diagnosis] = []
    cause = next((r for r in CAUSES if r.when(view)), None)
    if cause is not None:
        out.append(_diagnosis(cause, view, "root-cause"))
    out += [_diagnosis(r, view, "gotcha") for r in GOTCHAS if r.when(view)]
    return out
