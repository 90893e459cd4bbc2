"""Which Freight a fix may tell someone to promote, decided by the same availability answer `gate precheck`
gives (gate/kargo/availability.py), so a diagnosis never prints a `kargo promote` that precheck, or Kargo's
Promotion webhook, would refuse.

Kargo refuses a Promotion whose Freight is not available to the Stage (`IsFreightAvailable`,
api/v1alpha1/stage_types.go:174-207) and any Promotion to a control-flow Stage ("defines no promotion
steps", pkg/webhook/kubernetes/promotion/webhook.go:230-243).
"""

from __future__ import annotations

from gate.diagnose.view import View
from gate.kargo.availability import Availability, availability
from gate.kargo.freight import origin_of
from gate.kargo.rules import newest_terminal, phase_of
from gate.kargo.stages import short
from gate.kargo.steps import is_control_flow
from gate.kargo.timefmt import parse_time

CONTROL_FLOW = "pkg/webhook/kubernetes/promotion/webhook.go:230-243"


def control_flow(v: View) -> bool:
    """No promotion steps: Kargo promotes nothing into it and refuses every Promotion to it."""
    return is_control_flow(v.stage)


def label(v: View, name: str) -> str:
    alias = v.alias(name)
    return f"{short(name)} ({alias})" if alias else short(name)


def requested_freight(v: View) -> list[dict]:
    """Freight of the origins the Stage requests, newest first (Kargo's order: discoveredAt, else
    creationTimestamp, then name; api/v1alpha1/freight_types.go:59-67)."""
    origins = {f"{(r.get('origin') or {}).get('kind') or 'Warehouse'}/{(r.get('origin') or {}).get('name')}"
               for r in (v.stage.get("spec") or {}).get("requestedFreight") or []}

    def key(f: dict) -> tuple[str, str]:
        meta = f.get("metadata") or {}
        when = parse_time(f.get("discoveredAt")) or parse_time(meta.get("creationTimestamp"))
        return (when.isoformat() if when else "", meta.get("name", ""))

    return sorted((f for f in v.freight if origin_of(f) in origins), key=key, reverse=True)


def judge(v: View, name: str) -> Availability:
    obj = v.freight_obj(name) or {"metadata": {"name": name}}
    upstreams = {s["metadata"]["name"]: s for s in v.stages}
    return availability(v.stage, obj, upstreams, v.now)


def newest_promotable(v: View) -> tuple[str | None, str]:
    """(the newest Freight precheck would let through to this Stage, why) or (None, why none is)."""
    if control_flow(v):
        return None, (f"Stage {v.name} is control-flow (no promotion steps): Kargo refuses Promotions to it "
                      f"({CONTROL_FLOW}); it routes Freight verified upstream")
    if "freight" in v.unread:
        return None, f"the Freight could not be read ({v.unread['freight']})"
    items = requested_freight(v)
    if not items:
        return None, f"no Freight exists from {', '.join(v.warehouses_requested()) or 'the requested origins'}"
    for f in items:
        got = judge(v, f["metadata"]["name"])
        if got.ok:
            return f["metadata"]["name"], got.text
    newest = items[0]["metadata"]["name"]
    return None, f"none of the {len(items)} Freight is available to {v.name}; the newest, " \
                 f"{label(v, newest)}: {judge(v, newest).text}"


def failed_last(v: View, freight: str) -> dict | None:
    """The newest terminal Promotion of this Freight to this Stage, when it did not succeed (precheck's
    pre.no-failed-promotion: a retry is deliberate, `--retry-failed`)."""
    newest = newest_terminal(v.promotions, freight)
    return newest if newest is not None and phase_of(newest) != "Succeeded" else None


def promote_line(v: View, freight: str | None, *, after: str = "", note: str = "") -> str:
    """The `kargo promote` for this Freight, or, when precheck would refuse it, why not and what must happen
    first (no command). `after` names an earlier fix step the command depends on ("after aborting …")."""
    if control_flow(v):
        return newest_promotable(v)[1] + ": nothing to promote here"
    if not freight:
        freight, why = newest_promotable(v)
        if freight is None:
            return f"nothing to promote yet: {why}"
    got = judge(v, freight)
    if not got.ok:
        return f"do not promote {label(v, freight)} to {v.name} yet: {got.text}" + (
            f" ({'; '.join(what_first(v, freight, got))})" if what_first(v, freight, got) else "")
    alias = v.alias(freight)
    which = f"--freight-alias {alias}" if alias else f"--freight {freight}"
    line = f"kargo promote --project {v.project} --stage {v.name} {which}"
    notes = [x for x in (after, note) if x]
    failed = failed_last(v, freight)
    if failed is not None:
        notes.append(f"a deliberate retry: its last Promotion {failed['metadata']['name']} {phase_of(failed)} "
                     f"(`gate precheck --retry-failed` agrees once the cause is fixed)")
    return line + ("   # " + "; ".join(notes) if notes else "")


def what_first(v: View, freight: str, got: Availability) -> list[str]:
    """What must happen before the Freight is available: verification upstream, soak, or an approval."""
    out = []
    if got.soak_left is not None:
        out.append(f"wait {int(got.soak_left // 60) + 1} min for the soak time")
    elif got.blocking:
        out.append(f"its latest verification in {got.blocking} must succeed: kargo verify stage {got.blocking} "
                   f"--project {v.project}")
    elif got.upstreams:
        out.append(f"{' or '.join(got.upstreams)} must verify it first (promote it there, or wait for that "
                   "verification)")
    out.append(f"or, deliberately skipping that, approve it: kargo approve --project {v.project} "
               f"--freight {freight} --stage {v.name}")
    return out
