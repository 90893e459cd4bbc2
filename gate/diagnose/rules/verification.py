"""Branch D4.1/D4.2 "verification": what the AnalysisRun, its Jobs and their logs say."""

from __future__ import annotations

import difflib
import re

from gate.diagnose.gather import empty_selectors, latest_run
from gate.diagnose.rules.base import GUIDE, IN_PROGRESS, LOW, RS, Rule
from gate.diagnose.rules.common import (
    forbidden_rules,
    grant_cmd,
    job_name,
    log_has,
    ns,
    ready_cmd,
    rerun_verification,
    run_name,
    run_text,
    template_sa,
    templates_named,
    verification_evidence,
    verification_failed,
)
from gate.diagnose.view import View, effective_reason

_METRIC = re.compile(r'Metric "(?P<name>[^"]+)" assessed (?P<phase>Failed|Error|Inconclusive)')


def recorded_ref(v: View) -> dict:
    """verificationHistory[0].analysisRun: {namespace, name, phase}, set only once Kargo created the run."""
    return v.latest_verification.get("analysisRun") or {}


def recorded_run(v: View) -> str:
    return recorded_ref(v).get("name") or ""


def recorded_phase(v: View) -> str:
    return recorded_ref(v).get("phase") or v.latest_verification.get("phase") or "Failed"


def failed_metric_names(v: View) -> list[str]:
    """The metrics the recorded message says failed (Argo Rollouts: 'Metric "x" assessed Failed due to …')."""
    return list(dict.fromkeys(m.group("name") for m in _METRIC.finditer(v.latest_verification.get("message") or "")))


_FAILING = re.compile(r"error|fail|denied|refused|timed? ?out|exceeded|forbidden|not found|✗|\[ \]", re.I)
_SUMMARY = re.compile(r"^\s*(result|overall|level \d+[^:]*:)\s*:?\s*(fail|error)", re.I)


def job_failure_line(v: View) -> str:
    """The line of the verification Jobs' logs that says what failed: the last one naming a failure that is
    not a bare summary ("result: FAIL", "Overall: FAIL"), else ""."""
    lines = [ln.strip() for text in v.job_logs.values() for ln in text.splitlines() if ln.strip()]
    hits = [ln for ln in lines if _FAILING.search(ln) and not _SUMMARY.match(ln)]
    return hits[-1][:300] if hits else ""


def in_progress(v: View) -> bool:
    return effective_reason(v) in IN_PROGRESS or (v.legacy and v.st.get("phase") == "Verifying")


def job_attempts(v: View, *, final: bool) -> list[tuple[str, str]]:
    """(Job, what happened) for the latest run's Jobs with a failed attempt: `final` those failed for good
    (condition Failed), else those still retrying (attempts left under backoffLimit)."""
    out = []
    for job in v.jobs:
        st, spec = job.get("status") or {}, job.get("spec") or {}
        failed = int(st.get("failed") or 0)
        if not failed:
            continue
        done = next((c for c in st.get("conditions") or [] if c.get("type") == "Failed"
                     and c.get("status") == "True"), None)
        limit = int(spec.get("backoffLimit") if spec.get("backoffLimit") is not None else 6)
        if final and done:
            out.append((job["metadata"]["name"], f"{done.get('reason') or 'Failed'}, {failed} attempt(s) of "
                                                 f"{limit + 1}"))
        elif not final and not done:
            out.append((job["metadata"]["name"], f"attempt {failed} of {limit + 1} failed, the Job is retrying "
                                                 f"({int(st.get('active') or 0)} pod active)"))
    return out


_POD_CHECK = re.compile(r"\bin (?P<ns>[a-z0-9][a-z0-9-]*) \((?P<sel>[^()\s]+=[^()\s]+)\): observed "
                        r"(?P<ready>\d+)/(?P<total>\d+)")


def pod_checks(v: View) -> list[tuple[str, str, str, str]]:
    """(namespace, selector, ready, total) of each failing pod check line in the verification Jobs' logs."""
    seen = [(m.group("ns"), m.group("sel"), m.group("ready"), m.group("total"))
            for text in v.job_logs.values() for m in _POD_CHECK.finditer(text)]
    return list(dict.fromkeys(seen))


def misconfig_fix(v: View) -> list[str]:
    """What Kargo's recorded message and the templates read say to fix, before any AnalysisRun could exist."""
    msg = v.latest_verification.get("message") or ""
    missing = [t for t in templates_named(v) if not any(x["metadata"]["name"] == t for x in v.templates)]
    if missing and "analysistemplates" not in v.unread:
        return [f"create AnalysisTemplate {t} in {ns(v)} (Stage {v.name} spec.verification.analysisTemplates "
                f"names it), or fix that name in the Stage, in git" for t in missing]
    if "Rollouts integration is disabled" in msg:
        return ["turn the Kargo controller's Argo Rollouts integration on (kargo chart "
                "controller.rollouts.integrationEnabled=true) and install Argo Rollouts' CRDs"]
    return [f"kubectl get analysistemplates {' '.join(templates_named(v))} -n {ns(v)} -o yaml",
            "fix what the message names in the AnalysisTemplate (every spec.verification.args name declared, its "
            f"ServiceAccount {template_sa(v)[0]} present), in git"]


_HTTP = re.compile(r"\bhttp (?P<ns>[a-z0-9][a-z0-9-]*)/(?P<svc>[a-z0-9][a-z0-9-]*):(?P<port>\d+)(?P<path>/\S*)?: "
                   r"observed (?P<got>[^;]+)")


def http_checks(v: View) -> list[tuple[str, str, str, str, str]]:
    """(namespace, service, port, path, observed) of each failing HTTP check line in the Jobs' logs."""
    return list(dict.fromkeys((m.group("ns"), m.group("svc"), m.group("port"), m.group("path") or "/",
                               m.group("got").strip()) for text in v.job_logs.values()
                              for m in _HTTP.finditer(text)))


def near_misses(v: View) -> list[tuple[str, str, str, str]]:
    """(namespace, label key, value the check asked for, the close value pods really carry) for each pod check
    of the verification Job that matched no pod, when one label value there is a near miss (difflib)."""
    out = []
    for where, selector in empty_selectors(v.job_logs):
        pods = v.check_pods.get(where) or []
        for part in selector.split(","):
            key, _, bad = part.partition("=")
            seen = sorted({((p.get("metadata") or {}).get("labels") or {}).get(key) for p in pods} - {None})
            close = difflib.get_close_matches(bad, seen, n=1, cutoff=0.75)
            if close and bad not in seen:
                out.append((where, key, bad, close[0]))
    return out


def pod_names(v: View, where: str, key: str, value: str) -> list[str]:
    return [p["metadata"]["name"] for p in v.check_pods.get(where) or []
            if ((p.get("metadata") or {}).get("labels") or {}).get(key) == value][:3]


def _paths(node: object, path: str = "") -> list[tuple[str, str]]:
    if isinstance(node, dict):
        return [x for k, val in node.items() for x in _paths(val, f"{path}.{k}" if path else str(k))]
    if isinstance(node, list):
        return [x for i, val in enumerate(node) for x in _paths(val, f"{path}[{i}]")]
    return [(path, node)] if isinstance(node, str) else []


def typo_field(v: View, where: str, key: str, bad: str, good: str) -> str:
    """Where the wrong value is written: the AnalysisTemplate field that holds it, else the gate spec."""
    for t in v.templates:
        if t["metadata"]["name"] not in templates_named(v):
            continue
        for path, text in _paths(t.get("spec") or {}, "spec"):
            if re.search(rf"(?<![\w.-]){re.escape(bad)}(?![\w.-])", text):
                return (f"in git, AnalysisTemplate {t['metadata']['name']} {path}: {text!r} -> "
                        f"{text.replace(bad, good)!r}")
    return (f"in git, the pod check's selector in the gate spec the verification Job runs ({key}={bad} -> "
            f"{key}={good}); AnalysisTemplate {', '.join(templates_named(v)) or '?'} does not hold it")


RULES: list[Rule] = [
    Rule(
        id="verification-run-deleted", branch="D4.2 VerificationFailed, its AnalysisRun is gone",
        when=lambda v: verification_failed(v) and bool(recorded_run(v)) and latest_run(v) is None
        and "analysisruns" not in v.unread,
        cause=lambda v: f"AnalysisRun {recorded_run(v)} ran and ended {recorded_phase(v)}"
                        + (f" (metric {', '.join(repr(m) for m in failed_metric_names(v))} failed)"
                           if failed_metric_names(v) else "")
                        + "; the run itself is gone now (garbage-collected or deleted), so its measurements and "
                        "Jobs cannot be read: verify again to get a run to read",
        evidence=lambda v: verification_evidence(v) + [
            f"Stage {v.name} status.freightHistory[0].verificationHistory[0].analysisRun = "
            f"{recorded_ref(v).get('namespace')}/{recorded_run(v)} (phase {recorded_ref(v).get('phase')}): Kargo "
            f"records the reference only after creating the run ({RS}:1575, :1659)",
            f"AnalysisRun {recorded_ref(v).get('namespace') or ns(v)}/{recorded_run(v)}: not found"],
        fix=lambda v: [rerun_verification(v) + "   # a new AnalysisRun, measured against the current Freight",
                       f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} -w",
                       "then read why the new run's metric"
                       + (f" {failed_metric_names(v)[0]!r}" if failed_metric_names(v) else "") + " fails: "
                       f"kubectl get analysisrun <new run> -n {ns(v)} -o yaml"],
        verify=ready_cmd,
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed; kargo {RS}:1427-1589 startVerification (reference set "
                      "after Create, :1575), :1591-1667 getVerificationResult",
    ),
    Rule(
        id="verification-no-analysisrun", branch="D4.2 VerificationFailed, no AnalysisRun",
        when=lambda v: verification_failed(v) and latest_run(v) is None and not recorded_run(v)
        and "analysisruns" not in v.unread,
        cause=lambda v: f"verification {v.latest_verification.get('phase') or 'failed'} before any AnalysisRun was "
                        "created: " + (v.latest_verification.get("message") or "the AnalysisTemplate or its "
                                       "ServiceAccount is misconfigured (missing template, undeclared arg, Rollouts "
                                       "integration off)"),
        evidence=lambda v: verification_evidence(v) + [
            f"AnalysisTemplate {t} in {ns(v)}: " + ("present" if any(x["metadata"]["name"] == t for x in v.templates)
                                                    else "NOT FOUND") for t in templates_named(v)]
        + [f"AnalysisRuns of {v.name}: none, and verificationHistory[0] names none (Kargo records phase Error "
           f"without a reference when it cannot build or create the run, {RS}:1447-1470, :1547-1569)"],
        fix=lambda v: misconfig_fix(v) + [rerun_verification(v)],
        verify=lambda v: f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} "
                         "--sort-by=.metadata.creationTimestamp",
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed/No AnalysisRun; kargo {RS}:1149, :1427-1470, :1547-1569",
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
                       *([f"kubectl get svc,endpoints {svc} -n {where}   # {observed} at :{port}{path}: is a "
                          "backend Ready behind it?" for where, svc, port, path, observed in http_checks(v)]
                         or ["kubectl get ingress,svc,endpoints -n <app namespace>   # is the backend reachable?"]),
                       "fix the service / ingress / SSO, then: " + rerun_verification(v)],
        verify=lambda v: f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} "
                         "--sort-by=.metadata.creationTimestamp",
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed/HTTP check failed",
    ),
    Rule(
        id="verification-selector-typo", branch="D4.2 VerificationFailed, pod check selects no pod (near-miss)",
        when=lambda v: verification_failed(v) and bool(near_misses(v)),
        cause=lambda v: "; ".join(
            f"the verification's pod check selects {key}={bad} in {where}, which matches no pod; pods there are "
            f"labelled {key}={good}: a typo" for where, key, bad, good in near_misses(v)),
        evidence=lambda v: [ln for ln in verification_evidence(v) if "pods/log" in ln or "AnalysisRun" in ln]
        + [f"pods in {where} with {key}={good}: {', '.join(pod_names(v, where, key, good))}"
           for where, key, bad, good in near_misses(v)],
        fix=lambda v: [typo_field(v, where, key, bad, good) for where, key, bad, good in near_misses(v)]
        + [rerun_verification(v)],
        verify=lambda v: " && ".join(f"kubectl get pods -n {where} -l {key}={good}"
                                     for where, key, _, good in near_misses(v)),
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed/Pod check failed (selector)",
    ),
    Rule(
        id="verification-pod-failed", branch="D4.2 VerificationFailed, pod check failed",
        when=lambda v: verification_failed(v) and latest_run(v) is not None and bool(re.search(
            r"\bpods?\b|not ready|CrashLoopBackOff|ImagePull|Level 1", run_text(v), re.I)),
        cause=lambda v: "verification failed on a pod check: " + ("; ".join(
            f"{ready} of {total} pods matching {sel} in {where} are ready"
            + (": the pods exist, the workload is not ready" if int(total) else ": no pod matches")
            for where, sel, ready, total in pod_checks(v)) or "the pods it looks for are missing or not ready "
            "(namespace or label selector wrong, or the workload is broken)"),
        evidence=verification_evidence,
        fix=lambda v: ([f"kubectl get pods -n {where} -l {sel}" + ("   # why not ready: kubectl describe pods -n "
                                                                   f"{where} -l {sel}" if int(total) else "")
                        for where, sel, _, total in pod_checks(v)]
                       or ["kubectl get pods -n <namespace the check reads> -l <its selector>"])
        + ["fix " + ("the workload (its pods are not ready)" if any(int(x[3]) for x in pod_checks(v))
                     else "the namespace/selector in the check, or the workload") + ", then: " + rerun_verification(v)],
        verify=lambda v: f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} "
                         "--sort-by=.metadata.creationTimestamp",
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed/Pod check failed",
    ),
    Rule(
        id="verification-failed-other", branch="D4.2 VerificationFailed, AnalysisRun failed",
        when=verification_failed,
        cause=lambda v: (f"the verification Job's log says why: {job_failure_line(v)} "
                         f"(AnalysisRun: {v.latest_verification.get('message') or 'no message'})"
                         if job_failure_line(v) else
                         f"verification {v.latest_verification.get('phase') or 'failed'}: "
                         f"{v.latest_verification.get('message') or 'the AnalysisRun gives no reason'}"),
        evidence=verification_evidence,
        fix=lambda v: ([f"kubectl logs job/{job_name(v)} -n {ns(v)}   # the whole log the line above comes from"]
                       if job_failure_line(v) else [])
        + [f"kubectl get analysisrun {run_name(v)} -n {ns(v)} -o yaml",
                       "fix what the metric reports, then: " + rerun_verification(v)],
        verify=lambda v: f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name}",
        risk=LOW, ref=f"{GUIDE} D4.2 VerificationFailed; kargo {RS}:1140-1152",
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
        id="verification-job-failed", branch="D4.1 verification Running, but its Job failed for good",
        when=lambda v: in_progress(v) and bool(job_attempts(v, final=True)),
        cause=lambda v: "verification is still Running, but " + "; ".join(
            f"Job {j} failed for good ({why})" for j, why in job_attempts(v, final=True))
        + ": the AnalysisRun will count a failed measurement" + (
            f"; its log says: {job_failure_line(v)}" if job_failure_line(v) else ""),
        evidence=verification_evidence,
        fix=lambda v: [f"kubectl logs job/{job_attempts(v, final=True)[0][0]} -n {ns(v)}",
                       "fix what the log names; once the run ends Failed: " + rerun_verification(v)],
        verify=lambda v: f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} -w",
        risk=LOW, ref=f"{GUIDE} D4.1; kubernetes Job status.conditions Failed (BackoffLimitExceeded); "
                      "Argo Rollouts job provider (a failed Job is a failed measurement)",
    ),
    Rule(
        id="verification-job-retrying", branch="D4.1 verification Running, a Job attempt failed, retrying",
        when=lambda v: in_progress(v) and bool(job_attempts(v, final=False)),
        cause=lambda v: "verification is Running; " + "; ".join(
            f"Job {j}: {why}" for j, why in job_attempts(v, final=False))
        + (f" (the failed attempt's log: {job_failure_line(v)})" if job_failure_line(v) else ""),
        evidence=verification_evidence,
        fix=lambda v: [f"kubectl logs job/{job_attempts(v, final=False)[0][0]} -n {ns(v)}   # why the attempt failed",
                       f"kubectl get job {job_attempts(v, final=False)[0][0]} -n {ns(v)} -w   # the retry"],
        verify=lambda v: f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} -w",
        risk=LOW, problem=False,
        ref=f"{GUIDE} D4.1; kubernetes Job spec.backoffLimit, status.failed/active",
    ),
    Rule(
        id="verification-in-progress", branch="D4.1 not yet Verified: verification pending or running",
        when=in_progress,
        cause=lambda v: f"verification of the current Freight is {v.latest_verification.get('phase') or 'pending'}"
                        ": wait for it",
        evidence=verification_evidence,
        fix=lambda v: [f"kubectl get analysisruns -n {ns(v)} -l kargo.akuity.io/stage={v.name} -w"],
        verify=ready_cmd, risk=LOW, ref=f"{GUIDE} D4.1; kargo {RS}:1140", problem=False,
    ),
]
