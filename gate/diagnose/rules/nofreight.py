"""Branch D4.2 "NoFreight": a stale freightHistory, a Warehouse that made no Freight, Freight never promoted."""

from __future__ import annotations

import re

from gate.diagnose.rules.base import GUIDE, LOW, MEDIUM, RS, Rule
from gate.diagnose.rules.common import (
    freight_of_warehouses,
    ns,
    promo_freight,
    readable,
    ready_cmd,
    refresh_cmds,
    resync_cmd,
    stale_history,
)
from gate.diagnose.rules.suggest import (
    control_flow,
    judge,
    label,
    newest_promotable,
    promote_line,
    requested_freight,
)
from gate.diagnose.view import (
    View,
    effective_reason,
)

CANDIDATES_SHOWN = 3


def no_freight(v: View) -> bool:
    """A regular Stage that never got Freight (a control-flow Stage never holds any: it routes it)."""
    return effective_reason(v) == "NoFreight" and not v.st.get("freightHistory") and not control_flow(v)


AUTH = re.compile(r"unauthori[sz]ed|authentication (required|failed)|invalid (username|credentials)|"
                  r"could not read Username|access denied|denied: requested access|\b401\b|permission denied "
                  r"\(publickey\)", re.I)
SUB_KINDS = {"image": "image", "git": "git", "chart": "helm"}


def auth_failures(v: View) -> list[tuple[str, str, str, str]]:
    """(Warehouse, repo URL, credential type, message) for each requested Warehouse whose condition says the
    registry or repository refused its credentials; the URL is the subscription the message names."""
    out = []
    for wh in v.warehouses:
        name = wh["metadata"]["name"]
        if name not in v.warehouses_requested():
            continue
        for c in (wh.get("status") or {}).get("conditions") or []:
            msg = c.get("message") or ""
            if c.get("status") == "True" or not AUTH.search(msg):
                continue
            subs = [(k, (s.get(k) or {}).get("repoURL") or "") for s in (wh.get("spec") or {}).get(
                "subscriptions") or [] for k in SUB_KINDS if s.get(k)]
            kind, url = next(((k, u) for k, u in subs if u and _bare(u) in msg), subs[0] if subs else ("git", "?"))
            out.append((name, url, SUB_KINDS[kind], msg))
            break
    return out


def _bare(url: str) -> str:
    return re.sub(r"^(https?|oci)://", "", url).removesuffix(".git")


def cred_name(url: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", _bare(url).lower()).strip("-")[:63]


def candidate_lines(v: View) -> list[str]:
    """The newest Freight the Stage requests, each with precheck's availability answer."""
    return [f"Freight {label(v, f['metadata']['name'])} from {(f.get('origin') or {}).get('name')}: "
            + ("available: " if (got := judge(v, f["metadata"]["name"])).ok else "") + got.text
            for f in requested_freight(v)[:CANDIDATES_SHOWN]]


def routed_lines(v: View) -> list[str]:
    """A control-flow Stage's routing: which requested Freight Kargo has marked verified in it."""
    out = []
    for f in requested_freight(v)[:CANDIDATES_SHOWN]:
        marked = v.name in ((f.get("status") or {}).get("verifiedIn") or {})
        out.append(f"Freight {label(v, f['metadata']['name'])} status.verifiedIn[{v.name}]: "
                   + ("set" if marked else "not set") + f"; available to it: {judge(v, f['metadata']['name']).text}")
    return out

RULES: list[Rule] = [
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
                       promote_line(v, promo_freight(stale_history(v) or {}))],
        verify=ready_cmd, risk=MEDIUM, ref=f"{GUIDE} D4.2 NoFreight/Stale + Gotcha 1; kargo {RS}:700-720 (L715)",
    ),
    Rule(
        id="no-freight-warehouse-auth", branch="D4.2 NoFreight, empty history, Warehouse cannot authenticate",
        when=lambda v: no_freight(v) and not freight_of_warehouses(v) and "freight" not in v.unread
        and bool(auth_failures(v)),
        cause=lambda v: "; ".join(f"Warehouse {w} cannot read {url}: the registry/repository refuses its "
                                  f"credentials ({kind} subscription)" for w, url, kind, _ in auth_failures(v)),
        evidence=lambda v: [f"Stage {v.name} status.freightHistory is empty; no Freight from "
                            f"{', '.join(v.warehouses_requested())}"]
        + [f"Warehouse {w} condition: {msg}" for w, _, _, msg in auth_failures(v)],
        fix=lambda v: [f"kargo create repo-credentials --project={v.project} {cred_name(url)} --{kind} "
                       f"--repo-url={url} --username=<user> --password=<token with read access>"
                       for _, url, kind, _ in auth_failures(v)]
        + [f"(or) a Secret in {ns(v)} labelled kargo.akuity.io/cred-type={kind} with data repoURL={url}, "
           "username, password (an existing one: fix its username/password)" for _, url, kind, _ in auth_failures(v)]
        + [f"kargo refresh warehouse {w} --project {v.project} --wait" for w, _, _, _ in auth_failures(v)],
        verify=lambda v: f"kargo get freight --project {v.project} --warehouse {auth_failures(v)[0][0]}",
        risk=LOW, ref=f"{GUIDE} D4.2 NoFreight/Empty/No freight (credentials); kargo api/v1alpha1/labels.go:14-30 "
                      "(kargo.akuity.io/cred-type), pkg/cli/cmd/create/repo_credentials.go:57-110",
    ),
    Rule(
        id="no-freight-warehouse-empty", branch="D4.2 NoFreight, empty history, Warehouse made no Freight",
        when=lambda v: no_freight(v) and not freight_of_warehouses(v) and "freight" not in v.unread,
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
        id="no-freight-not-promoted", branch="D4.2 NoFreight, empty history, Freight available",
        when=lambda v: no_freight(v) and newest_promotable(v)[0] is not None,
        cause=lambda v: f"Freight {label(v, newest_promotable(v)[0] or '')} is available to {v.name} but was never "
                        "promoted: " + ("auto-promotion is on, check the controller log for why it skipped"
                                        if v.st.get("autoPromotionEnabled") else "auto-promotion is off for this "
                                        "Stage (ProjectConfig), so someone has to promote"),
        evidence=lambda v: [f"Stage {v.name} status.freightHistory is empty, status.autoPromotionEnabled = "
                            f"{bool(v.st.get('autoPromotionEnabled'))}"] + candidate_lines(v)
        + [f"kargo-controller log: {readable(ln)}" for ln in v.controller_log[-3:]],
        fix=lambda v: [promote_line(v, newest_promotable(v)[0]),
                       "(or) enable auto-promotion for the Stage in the project's ProjectConfig "
                       "spec.promotionPolicies"],
        verify=ready_cmd, risk=LOW,
        ref=f"{GUIDE} D4.2 NoFreight/Empty/Freight exists; kargo {RS}:1893-2029, api/v1alpha1/stage_types.go:174-207",
    ),
    Rule(
        id="no-freight-none-available", branch="D4.2 NoFreight, empty history, Freight exists but none available",
        when=lambda v: no_freight(v) and bool(requested_freight(v)) and "freight" not in v.unread,
        cause=lambda v: f"{v.name} has never been promoted and nothing can be yet: {newest_promotable(v)[1]}",
        evidence=lambda v: [f"Stage {v.name} status.freightHistory is empty"] + candidate_lines(v),
        fix=lambda v: [promote_line(v, requested_freight(v)[0]["metadata"]["name"])],
        verify=lambda v: f"kargo get freight --project {v.project} --stage {v.name}   # the Freight available to it",
        risk=LOW, problem=False,
        ref=f"{GUIDE} D4.2 NoFreight/Empty; kargo api/v1alpha1/stage_types.go:174-207 (IsFreightAvailable), "
            "pkg/webhook/kubernetes/promotion/webhook.go (refuses unavailable Freight)",
    ),
    Rule(
        id="control-flow-not-routing", branch="D4.2 control-flow Stage not Ready",
        when=lambda v: control_flow(v) and not v.legacy and v.cond("Ready").get("status") == "False",
        cause=lambda v: f"control-flow Stage {v.name} cannot mark Freight verified in it "
                        f"({v.cond('Ready').get('reason')}): {v.cond('Ready').get('message') or 'no message'}",
        evidence=lambda v: [f"Stage {v.name} has no promotion steps (control-flow; Kargo refuses Promotions to it)",
                            f"Stage {v.name} condition Ready=False {v.cond('Ready').get('reason')}: "
                            f"{v.cond('Ready').get('message', '')}"] + routed_lines(v)
        + [f"kargo-controller log: {readable(ln)}" for ln in v.controller_log[-3:]],
        fix=lambda v: [f"kubectl logs -n {v.kargo_controller_ns} deploy/kargo-controller --tail=200 | grep {v.name}",
                       "fix what the message names (usually the controller's RBAC on freights/status), then:"]
        + refresh_cmds(v),
        verify=ready_cmd, risk=LOW,
        ref="kargo pkg/controller/stages/control_flow_stages.go:278-345 (Ready FreightRetrievalFailed / "
            "FreightVerificationFailed), :391-418",
    ),
]
