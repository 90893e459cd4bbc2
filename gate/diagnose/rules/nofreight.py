"""Branch D4.2 "NoFreight": a stale freightHistory, a Warehouse that made no Freight, Freight never promoted."""

from __future__ import annotations

from gate.diagnose.rules.base import GUIDE, LOW, MEDIUM, RS, Rule
from gate.diagnose.rules.common import (
    freight_of_warehouses,
    ns,
    promo_freight,
    promote_cmd,
    readable,
    ready_cmd,
    resync_cmd,
    stale_history,
)
from gate.diagnose.view import (
    effective_reason,
)
from gate.kargo.stages import short

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
]
