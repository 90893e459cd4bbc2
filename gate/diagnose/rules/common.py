"""Readings the rules of several branches share: the Stage's Promotions, verification, apps, controllers, and
the exact commands (kargo, argocd, kubectl) the fixes print."""

from __future__ import annotations

import json
import re

from gate.diagnose.gather import job_refs, latest_run
from gate.diagnose.rules.base import VERIFY_FAILED
from gate.diagnose.view import (
    View,
    effective_reason,
    pod_summary,
)
from gate.engine.durations import parse as parse_duration
from gate.kargo.stages import short


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


_FORBIDDEN_OBJ = re.compile(r'(?P<plural>[a-z0-9-]+)\.(?P<group>[a-z0-9.-]+\.[a-z]+) "[^"]*" is forbidden')


def controller_forbidden(texts: list[str], default_ns: str = "") -> list[dict]:
    """The refusals in the Kargo controller's own words (its log lines, a condition message): the API group
    from the object ("freights.kargo.akuity.io \"x\" is forbidden") when the message omits it, the namespace
    from the log line's "namespace" field, else `default_ns`."""
    out = []
    for raw in texts:
        text = readable(raw)
        try:
            line_ns = json.loads(raw).get("namespace") or ""
        except (ValueError, AttributeError):
            line_ns = ""
        for m in _FORBIDDEN.finditer(text):
            obj = _FORBIDDEN_OBJ.search(text[:m.start()])
            rule = {"user": m.group("user"), "verb": m.group("verb"), "resource": m.group("resource"),
                    "group": m.group("group") if m.group("group") is not None else (obj.group("group") if obj else ""),
                    "ns": m.group("ns") or line_ns or default_ns}
            if rule not in out:
                out.append(rule)
    return out


def rbac_rule(r: dict) -> str:
    """The one rule missing, as it goes in a Role/ClusterRole."""
    return (f"{{apiGroups: [\"{r['group']}\"], resources: [\"{r['resource']}\"], verbs: [\"{r['verb']}\"]}}"
            + (f" in namespace {r['ns']}" if r["ns"] else " (cluster-wide)"))


def can_i(r: dict) -> str:
    base, _, sub = r["resource"].partition("/")
    res = base + (f".{r['group']}" if r["group"] else "")
    return (f"kubectl auth can-i {r['verb']} {res}" + (f" --subresource={sub}" if sub else "")
            + (f" -n {r['ns']}" if r["ns"] else "") + f" --as={r['user']}")


def grant_cmd(r: dict) -> str:
    """kubectl commands that grant one refused rule to the ServiceAccount the log names."""
    base, _, sub = r["resource"].partition("/")
    res = base + (f".{r['group']}" if r["group"] else "") + (f"/{sub}" if sub else "")
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


def started_text(v: View, promo: dict) -> str:
    """When the Promotion started: status.startedAt, or (older Kargo never wrote it) its creation time."""
    st, meta = promo.get("status") or {}, promo.get("metadata") or {}
    ago = f"{int(active_age(v) // 60)} min ago"
    if st.get("startedAt"):
        return f"startedAt = {st['startedAt']} ({ago})"
    if meta.get("creationTimestamp"):
        return f"no status.startedAt (older Kargo does not record it); created {meta['creationTimestamp']} ({ago})"
    return "no status.startedAt and no creationTimestamp: its age is unknown"


def active_evidence(v: View) -> list[str]:
    promo = active_promotion(v)
    if not promo:
        return [f"Stage {v.name} condition Promoting: {v.cond('Promoting').get('message') or 'set'}"]
    name, st = promo["metadata"]["name"], promo.get("status") or {}
    idx, meta = failing_step(promo)
    lines = [f"Stage {v.name} status.currentPromotion.name = {name}",
             f"Promotion {name} status.phase = {st.get('phase')}, {started_text(v, promo)}",
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

