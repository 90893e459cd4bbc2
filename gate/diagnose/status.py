"""`gate status`: the pipeline in one table, one row per Stage, from the same read-only view as diagnose.

`stage_status(view)` is one Stage as data (one field per fact, nothing cut); `render_json` prints those
("gate.status/v2", documented by docs/status.schema.json) and `render_table` lays them out for a terminal.

The table fits the terminal width (COLUMNS, else the terminal, else FALLBACK_WIDTH): long cells wrap inside
their column, never cut; when the columns still do not fit, they are dropped in DROP_ORDER (APPS first,
then HEALTH, VERIFICATION, LAST PROMOTION, READY), and a line under the table names what was dropped.
STAGE, FREIGHT, RUNNING and BLOCKS NEXT PROMOTION are never dropped.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from datetime import datetime
from typing import Any

from gate.diagnose.rules.suggest import control_flow
from gate.diagnose.tree import diagnose
from gate.diagnose.view import View, effective_reason
from gate.kargo.stages import short
from gate.redact import redact

SCHEMA = "gate.status/v2"
COLUMNS = ["STAGE", "FREIGHT", "VERIFICATION", "HEALTH", "READY", "LAST PROMOTION", "RUNNING", "APPS",
           "BLOCKS NEXT PROMOTION"]
DROP_ORDER = ("APPS", "HEALTH", "VERIFICATION", "LAST PROMOTION", "READY")
MAX_WIDTH = {"STAGE": 24, "FREIGHT": 26, "VERIFICATION": 14, "HEALTH": 12, "READY": 22, "LAST PROMOTION": 30,
             "RUNNING": 30, "APPS": 34}
LAST = "BLOCKS NEXT PROMOTION"
MIN_LAST = 30  # narrower than this, the next column in DROP_ORDER goes
GAP = "  "
FALLBACK_WIDTH = 160  # not a terminal and no COLUMNS: wide enough for a log, still wrapped


# -- one Stage as data ------------------------------------------------------------------------------------
def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    s = int(max(0, seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


def _iso(v: View, stamp: Any) -> str | None:
    return stamp if isinstance(stamp, str) and v.age(stamp) is not None else None


def _freight(v: View, name: str) -> dict[str, Any]:
    obj = v.freight_obj(name)
    meta = obj.get("metadata") or {}
    created = _iso(v, obj.get("discoveredAt")) or _iso(v, meta.get("creationTimestamp"))
    return {"name": name, "alias": v.alias(name) or None, "origin": (obj.get("origin") or {}).get("name"),
            "created": created, "age_seconds": _seconds(v, created)}


def _seconds(v: View, stamp: str | None) -> int | None:
    age = v.age(stamp)
    return None if age is None else int(age)


def _routed(v: View) -> list[str]:
    """A control-flow Stage holds nothing: what it routes is the Freight Kargo marked verified in it."""
    return [f["metadata"]["name"] for f in v.freight if v.name in ((f.get("status") or {}).get("verifiedIn") or {})]


def _running(v: View) -> dict[str, Any] | None:
    from gate.diagnose.rules.common import active_promotion, failing_step, promo_freight

    current = (v.st.get("currentPromotion") or {}).get("name")
    promo = active_promotion(v) if current or v.cond("Promoting").get("status") == "True" else {}
    if not promo and not current:
        return None
    st, meta = promo.get("status") or {}, promo.get("metadata") or {}
    started = _iso(v, st.get("startedAt")) or _iso(v, meta.get("creationTimestamp"))
    step = failing_step(promo)[1] if promo else {}
    return {"name": meta.get("name") or current, "phase": st.get("phase") or "Running",
            "freight": promo_freight(promo) or ((v.st.get("currentPromotion") or {}).get("freight") or {}).get("name"),
            "started_at": started, "started_at_recorded": bool(st.get("startedAt")),
            "running_seconds": _seconds(v, started), "step": step.get("alias")}


def _last(v: View) -> dict[str, Any] | None:
    last = v.last_promotion
    if not last.get("name"):
        return None
    st = last.get("status") or {}
    finished = _iso(v, st.get("finishedAt")) or _iso(v, last.get("finishedAt"))
    return {"name": last["name"], "phase": st.get("phase") or None,
            "freight": (last.get("freight") or {}).get("name"), "message": st.get("message") or None,
            "finished_at": finished, "age_seconds": _seconds(v, finished)}


def stage_status(v: View, now: datetime | None = None) -> dict[str, Any]:
    """Everything the row shows, one field per fact, as the JSON prints it."""
    if now is not None:
        v.now = now
    flow = control_flow(v) and not v.legacy
    names = _routed(v) if flow else v.current_freight
    latest = v.latest_verification
    ready, healthy = v.cond("Ready"), v.cond("Healthy")
    found = diagnose(v)
    main = next((d for d in found if d.problem), None) or next(iter(found), None)
    blocks = None if main is None else {
        "rule": main.rule, "kind": main.kind, "problem": main.problem, "root_cause": main.root_cause,
        "fix": list(main.fix), "risk": main.risk}
    return {
        "stage": v.name,
        "control_flow": flow,
        "freight": [_freight(v, n) for n in names],
        "verification": None if not latest else {
            "phase": latest.get("phase") or None, "message": latest.get("message") or None,
            "analysis_run": (latest.get("analysisRun") or {}).get("name"),
            "finished_at": _iso(v, latest.get("finishTime"))},
        "health": {"status": (v.st.get("health") or {}).get("status") or None,
                   "reason": healthy.get("reason") or None, "message": healthy.get("message") or None},
        "ready": {"status": ready.get("status") or None, "reason": ready.get("reason") or None,
                  "message": ready.get("message") or None, "legacy_phase": v.st.get("phase") if v.legacy else None},
        "last_promotion": _last(v),
        "running_promotion": _running(v),
        "apps": [{"namespace": a["metadata"].get("namespace"), "name": a["metadata"]["name"],
                  "sync": ((a.get("status") or {}).get("sync") or {}).get("status"),
                  "health": ((a.get("status") or {}).get("health") or {}).get("status"),
                  "operation_phase": ((a.get("status") or {}).get("operationState") or {}).get("phase")}
                 for a in v.apps],
        "blocks_next_promotion": blocks,
        "reason": effective_reason(v) or None,
        "unread": dict(sorted(v.unread.items())),
    }


# -- the table ----------------------------------------------------------------------------------------------
def cells(s: dict[str, Any]) -> dict[str, str]:
    """One row's text per column, from stage_status (never cut; the layout wraps it)."""
    fr = ", ".join(f"{f['alias'] or short(f['name'])} ({age_text(f['age_seconds'])})" for f in s["freight"])
    freight = (("routes " + fr) if fr else "routes nothing yet") if s["control_flow"] else (fr or "-")
    ver = s["verification"]
    verification = "n/a" if s["control_flow"] else (ver["phase"] or "Pending") if ver else (
        "none yet" if s["freight"] else "-")
    health = s["health"]["status"] or s["health"]["reason"] or "-"
    r = s["ready"]
    ready = "-" if not r["status"] else f"{r['status']}" + (f" {r['reason']}" if r["reason"] else "")
    if r["legacy_phase"]:
        ready += f" (phase {r['legacy_phase']})"
    last = s["last_promotion"]
    last_text = "-" if not last else f"{last['name']} {last['phase'] or '?'}" + (
        f" ({age_text(last['age_seconds'])} ago)" if last["age_seconds"] is not None else "")
    run = s["running_promotion"]
    running = "-" if not run else f"{run['name']} {run['phase']} for {age_text(run['running_seconds'])}" + (
        f" at {run['step']}" if run["step"] else "")
    apps = ", ".join(f"{a['name']} {a['sync'] or '?'}/{a['health'] or '?'}" for a in s["apps"]) or "-"
    b = s["blocks_next_promotion"]
    if b and b["problem"]:
        blocks = f"{b['rule']}: {b['root_cause']}"
    elif b:
        blocks = f"(wait) {b['rule']}: {b['root_cause']}"
    elif s["control_flow"] and r["status"] == "True":  # routes Freight; never holds any ("NoFreight")
        blocks = "nothing"
    else:
        blocks = "nothing" if (s["reason"] or "") in ("Verified", "Steady", "Ready", "") else s["reason"]
    if r["status"] == "False" and r["message"] and not (b and b["problem"]):  # a root cause says more
        blocks += f" | Ready: {r['message']}"
    return dict(zip(COLUMNS, [s["stage"], freight, verification, health, ready, last_text, running, apps, blocks],
                    strict=True))


def terminal_width() -> int:
    return shutil.get_terminal_size((FALLBACK_WIDTH, 24)).columns


def layout(rows: list[dict[str, str]], width: int) -> tuple[list[str], dict[str, int]]:
    """The columns kept and their widths: every column at its natural width when that fits; else each at most
    MAX_WIDTH (its text wraps) and the last column takes the rest; columns go in DROP_ORDER while the last
    would be narrower than MIN_LAST."""
    columns = list(COLUMNS)
    natural = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in COLUMNS}
    if sum(natural.values()) + len(GAP) * (len(columns) - 1) <= width:
        return columns, natural
    used = 0
    for drop in (None, *DROP_ORDER):
        if drop:
            columns.remove(drop)
        widths = {c: min(MAX_WIDTH.get(c, natural[c]), natural[c]) for c in columns}
        used = sum(widths[c] for c in columns if c != LAST) + len(GAP) * (len(columns) - 1)
        if width - used >= min(natural[LAST], MIN_LAST):
            widths[LAST] = max(1, min(natural[LAST], width - used))
            return columns, widths
    widths[LAST] = max(MIN_LAST, width - used)
    return columns, widths


def _wrap(text: str, width: int) -> list[str]:
    return textwrap.wrap(text, width, break_long_words=True, break_on_hyphens=False) or [""]


def render_table(rows: list[dict[str, str]], width: int | None = None) -> str:
    width = width or terminal_width()
    columns, widths = layout(rows, width)
    lines = [GAP.join(c.ljust(widths[c]) for c in columns).rstrip()]
    for r in rows:
        wrapped = {c: _wrap(r[c], widths[c]) for c in columns}
        for i in range(max(len(w) for w in wrapped.values())):
            lines.append(GAP.join((wrapped[c][i] if i < len(wrapped[c]) else "").ljust(widths[c])
                                  for c in columns).rstrip())
    dropped = [c for c in COLUMNS if c not in columns]
    if dropped:
        lines += _wrap(f"(not shown to fit {width} columns: {', '.join(dropped)}; widen the terminal or use "
                       "--output json)", width)
    return redact("\n".join(lines))


def render_json(stages: list[dict[str, Any]], *, project: str, namespace: str = "") -> str:
    return redact(json.dumps({"schema": SCHEMA, "project": project, "namespace": namespace or project,
                              "stages": stages}, indent=2))


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
