"""The pipeline as a diagram (the guide's S1): Mermaid for a pull request comment, dot for Graphviz.

Warehouses and Stages are nodes; an edge runs from each Freight source to the Stage that requests it (from
a Warehouse only when the Stage takes its Freight directly, `sources.direct: true`; otherwise the Freight
arrives through the upstream Stages); each Stage lists the Argo CD apps it updates, names resolved as
Kargo would for that Stage (a part known only at promotion shown as a placeholder), and the
AnalysisTemplates that verify it.
"""

from __future__ import annotations

import re

from gate.lint.manifests import Manifest
from gate.lint.pipeline import AppRef, Pipeline


def _id(kind: str, name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"{kind[0].lower()}_{name}")


def _stage_label(p: Pipeline, stage: Manifest) -> list[str]:
    apps = list(dict.fromkeys(_app_label(r) for r in p.apps(stage)))
    checks = [name for _, name, _ in p.verification(stage)]
    lines = [f"Stage {stage.name}"]
    if p.is_control_flow(stage):
        lines.append("(control flow)")
    if apps:
        lines.append("apps: " + ", ".join(apps))
    if checks:
        lines.append("verify: " + ", ".join(checks))
    return lines


def _app_label(ref: AppRef) -> str:
    if ref.selector is not None:
        labels = ref.selector.get("matchLabels") if isinstance(ref.selector.get("matchLabels"), dict) else {}
        return "selector " + (",".join(f"{k}={v}" for k, v in labels.items()) or "(expressions)")
    return ref.name


def _edges(p: Pipeline) -> list[tuple[str, str]]:
    edges = []
    for stage in p.stages:
        for src in p.sources(stage):
            if src.kind == "Warehouse" and not src.direct:
                continue
            edge = (_id(src.kind, src.name), _id("Stage", stage.name))
            if edge not in edges:
                edges.append(edge)
    return edges


def mermaid(p: Pipeline) -> str:
    lines = ["flowchart LR"]
    for wh in p.of("Warehouse"):
        lines.append(f'  {_id("Warehouse", wh.name)}[("Warehouse {wh.name}")]')
    for stage in p.stages:
        label = "<br/>".join(_stage_label(p, stage)).replace('"', "'")
        lines.append(f'  {_id("Stage", stage.name)}["{label}"]')
    lines += [f"  {a} --> {b}" for a, b in _edges(p)]
    return "\n".join(lines) + "\n"


def dot(p: Pipeline) -> str:
    lines = ["digraph pipeline {", "  rankdir=LR;"]
    for wh in p.of("Warehouse"):
        lines.append(f'  {_id("Warehouse", wh.name)} [shape=cylinder, label="Warehouse {wh.name}"];')
    for stage in p.stages:
        label = "\\n".join(_stage_label(p, stage)).replace('"', "'")
        lines.append(f'  {_id("Stage", stage.name)} [shape=box, label="{label}"];')
    lines += [f"  {a} -> {b};" for a, b in _edges(p)]
    lines.append("}")
    return "\n".join(lines) + "\n"
