"""`gate status`: the pipeline in one table, one row per Stage, from the same read-only view as diagnose.

Columns: current Freight (alias), its latest verification, health, the last Promotion and its phase, the
Argo CD apps' sync/health, and what blocks the next promotion (the decision tree's root cause, if any).
"""

from __future__ import annotations

import json

from gate.diagnose.tree import diagnose
from gate.diagnose.view import View, effective_reason
from gate.kargo.stages import short
from gate.redact import redact

COLUMNS = ["STAGE", "FREIGHT", "VERIFICATION", "HEALTH", "LAST PROMOTION", "APPS", "BLOCKS NEXT PROMOTION"]
BLOCK_WIDTH = 70


def row(v: View) -> dict[str, str]:
    freight = v.current_freight
    current = ", ".join(f"{v.alias(f) or short(f)}" for f in freight) or "-"
    latest = v.latest_verification
    verification = latest.get("phase") or ("-" if not freight else "none yet")
    health = (v.st.get("health") or {}).get("status") or v.cond("Healthy").get("reason") or "-"
    active = (v.st.get("currentPromotion") or {}).get("name")
    last = v.last_promotion
    promo = (f"{active} Running" if active else
             f"{last.get('name')} {v.last_promotion_phase}" if last.get("name") else "-")
    apps = ", ".join(
        f"{a['metadata']['name']} {((a.get('status') or {}).get('sync') or {}).get('status', '?')}/"
        f"{((a.get('status') or {}).get('health') or {}).get('status', '?')}" for a in v.apps) or "-"
    found = diagnose(v)
    problem = next((d for d in found if d.problem), None)
    info = next(iter(found), None)
    if problem:
        blocks = f"{problem.rule}: {problem.root_cause}"
    elif info:
        blocks = f"(wait) {info.rule}: {info.root_cause}"
    else:
        blocks = "nothing" if effective_reason(v) in ("Verified", "Steady", "") else effective_reason(v)
    if len(blocks) > BLOCK_WIDTH:
        blocks = blocks[:BLOCK_WIDTH - 1] + "…"
    return dict(zip(COLUMNS, [v.name, current, verification, health, promo, apps, blocks], strict=True))


def render_table(rows: list[dict[str, str]]) -> str:
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in COLUMNS}
    lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip()]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in COLUMNS).rstrip() for r in rows]
    return redact("\n".join(lines))


def render_json(rows: list[dict[str, str]], *, project: str) -> str:
    return redact(json.dumps({"schema": "gate.status/v1", "project": project,
                              "stages": [{k.lower().replace(" ", "_"): val for k, val in r.items()} for r in rows]},
                             indent=2))


def pipeline_order(views: list[View]) -> list[View]:
    """Upstream before downstream (requestedFreight sources.stages), then by name."""
    from gate.kargo.stages import upstreams

    by_name = {v.name: v for v in views}
    depth: dict[str, int] = {}

    def level(name: str, seen: frozenset = frozenset()) -> int:
        if name not in depth:
            ups = [u for u in upstreams(by_name[name].stage) if u in by_name and u not in seen]
            depth[name] = 1 + max((level(u, seen | {name}) for u in ups), default=-1)
        return depth[name]

    return sorted(views, key=lambda v: (level(v.name), v.name))
