"""`kubectl get` output: metav1 Table answers (server-side printing), with the usual columns."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from gate.sim.kinds import ResourceType


def age(timestamp: str | None) -> str:
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<unknown>"
    secs = int((datetime.now(UTC) - then).total_seconds())
    if secs < 120:
        return f"{max(secs, 0)}s"
    if secs < 7200:
        return f"{secs // 60}m"
    if secs < 172800:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


_SEG = re.compile(
    r"\.((?:\\.|[A-Za-z0-9_\-/])+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.\-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]"
)


def jsonpath(obj: Any, path: str) -> Any:
    """The subset of JSONPath CRD printer columns use: `.a.b`, `[0]`, `[?(@.type=="Ready")]`."""
    path = path.strip().lstrip("{").rstrip("}")
    if path.startswith("$"):
        path = path[1:]
    current: list[Any] = [obj]
    for m in _SEG.finditer(path):
        key, index, fkey, fval = m.groups()
        nxt: list[Any] = []
        for item in current:
            if key is not None:
                key = key.replace("\\.", ".")
            if key is not None and isinstance(item, dict) and key in item:
                nxt.append(item[key])
            elif index is not None and isinstance(item, list) and int(index) < len(item):
                nxt.append(item[int(index)])
            elif fkey is not None and isinstance(item, list):
                nxt.extend(e for e in item if isinstance(e, dict) and str(_dig(e, fkey)) == fval)
        current = nxt
    if not current:
        return None
    return current[0] if len(current) == 1 else current


def _dig(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _pod_row(o: dict) -> list[Any]:
    st = o.get("status") or {}
    cs = st.get("containerStatuses") or []
    total = len((o.get("spec") or {}).get("containers") or []) or len(cs)
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in cs)
    reason = st.get("reason") or st.get("phase") or ""
    for c in cs:
        waiting = (c.get("state") or {}).get("waiting")
        terminated = (c.get("state") or {}).get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
    return [f"{ready}/{total}", reason, restarts]


def _workload_row(o: dict) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    return [
        f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
        st.get("updatedReplicas", 0),
        st.get("availableReplicas", 0),
    ]


def _ds_row(o: dict) -> list[Any]:
    st = o.get("status") or {}
    return [
        st.get("desiredNumberScheduled", 0),
        st.get("currentNumberScheduled", 0),
        st.get("numberReady", 0),
        st.get("updatedNumberScheduled", 0),
        st.get("numberAvailable", 0),
    ]


_COLUMNS: dict[str, tuple[list[tuple[str, str]], Any]] = {
    "Pod": ([("Ready", "string"), ("Status", "string"), ("Restarts", "integer")], _pod_row),
    "Deployment": ([("Ready", "string"), ("Up-to-date", "integer"), ("Available", "integer")], _workload_row),
    "StatefulSet": ([("Ready", "string")], lambda o: _workload_row(o)[:1]),
    "DaemonSet": (
        [
            ("Desired", "integer"),
            ("Current", "integer"),
            ("Ready", "integer"),
            ("Up-to-date", "integer"),
            ("Available", "integer"),
        ],
        _ds_row,
    ),
    "PersistentVolumeClaim": ([("Status", "string")], lambda o: [(o.get("status") or {}).get("phase", "")]),
    "Secret": (
        [("Type", "string"), ("Data", "integer")],
        lambda o: [o.get("type", "Opaque"), len(o.get("data") or {})],
    ),
    "Namespace": ([("Status", "string")], lambda o: [(o.get("status") or {}).get("phase", "Active")]),
}


def table(rt: ResourceType, objects: list[dict], list_meta: dict | None = None) -> dict:
    defs: list[dict] = [
        {"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}
    ]
    if rt.kind == "CustomResourceDefinition":
        defs.append({"name": "Created At", "type": "date", "format": "", "description": "", "priority": 0})
        rows = [[o["metadata"]["name"], o["metadata"].get("creationTimestamp", "")] for o in objects]
    elif rt.printer_columns:
        cols = rt.printer_columns
        defs += [
            {
                "name": c["name"],
                "type": c.get("type", "string"),
                "format": c.get("format", ""),
                "description": c.get("description", ""),
                "priority": c.get("priority", 0),
            }
            for c in cols
        ]
        rows = [
            [o["metadata"]["name"], *[_cell(jsonpath(o, c.get("jsonPath", "")), c) for c in cols]]
            for o in objects
        ]
        if not any(c.get("jsonPath") == ".metadata.creationTimestamp" for c in cols):
            defs.append({"name": "Age", "type": "date", "format": "", "description": "", "priority": 0})
            for row, o in zip(rows, objects, strict=True):
                row.append(age(o["metadata"].get("creationTimestamp")))
    else:
        extra, fn = _COLUMNS.get(rt.kind, ([], lambda o: []))
        defs += [{"name": n, "type": t, "format": "", "description": "", "priority": 0} for n, t in extra]
        defs.append({"name": "Age", "type": "string", "format": "", "description": "", "priority": 0})
        rows = [[o["metadata"]["name"], *fn(o), age(o["metadata"].get("creationTimestamp"))] for o in objects]
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta or {},
        "columnDefinitions": defs,
        "rows": [
            {
                "cells": cells,
                "object": {
                    "kind": "PartialObjectMetadata",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": o["metadata"],
                },
            }
            for cells, o in zip(rows, objects, strict=True)
        ],
    }


def _cell(value: Any, column: dict) -> Any:
    if column.get("type") == "date" and isinstance(value, str):
        return age(value)
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value)
    return value


def wants_table(accept: str) -> bool:
    return "as=Table" in accept
