"""The machine-readable result, versioned ("promotion-gate/result/v1"; gate/result_schema.json)."""

from __future__ import annotations

import json
import os
from importlib import resources
from typing import Any

import gate
from gate.model import CheckResult, LevelResult, RunResult, Section
from gate.reports.common import clean, iso_utc, one_line, seconds, verdict, write_atomic

SCHEMA_ID = "promotion-gate/result/v1"


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that every render_json() document validates against."""
    return json.loads(resources.files("gate").joinpath("result_schema.json").read_text("utf-8"))


def _check(row: CheckResult) -> dict[str, Any]:
    return {
        "id": one_line(row.id), "name": one_line(row.name), "kind": one_line(row.kind),
        "level": row.level, "status": row.status.value, "attempts": row.attempts,
        "duration": seconds(row.duration),
        "time_to_pass": None if row.time_to_pass is None else seconds(row.time_to_pass),
        "observed": one_line(row.observed), "expected": one_line(row.expected),
        "reason": one_line(row.reason), "evidence": [one_line(e) for e in row.evidence],
        "output": clean(row.output), "hint": one_line(row.hint),
    }


def _section(section: Section) -> dict[str, Any]:
    return {"title": one_line(section.title), "status": section.status.value,
            "rows": [_check(r) for r in section.rows]}


def _level(level: LevelResult) -> dict[str, Any]:
    return {"level": level.number, "title": level.title, "status": level.status.value,
            "duration": seconds(level.duration), "checks": [_check(c) for c in level.checks]}


def _finding(d: Any) -> dict[str, Any]:
    return {"rule": one_line(d.rule), "kind": d.kind, "root_cause": one_line(d.root_cause),
            "evidence": [clean(e) for e in d.evidence], "fix": [one_line(f) for f in d.fix],
            "verify": one_line(d.verify), "risk": d.risk, "ref": one_line(d.ref), "problem": bool(d.problem)}


def _diagnosis(result: RunResult) -> dict[str, Any] | None:
    """A failed run's diagnosis (gate/diagnose/attach.py): the same rules and words as `gate diagnose`."""
    diag = getattr(result, "diagnosis", None)
    if diag is None:
        return None
    r = diag.report
    return {"stage": one_line(r.stage), "check": one_line(diag.check_id), "phase": one_line(r.phase),
            "health": one_line(r.health), "root_cause": _finding(r.cause) if r.cause else None,
            "diagnoses": [_finding(d) for d in r.diagnoses],
            "unread": {one_line(k): one_line(v) for k, v in r.unread.items()}, "text": clean(diag.text)}


def to_document(result: RunResult) -> dict[str, Any]:
    """The result as a plain dict, every string redacted and cleaned."""
    return {
        "schema": SCHEMA_ID,
        "gate_version": gate.__version__,
        "command": one_line(result.command),
        "stage": one_line(result.stage),
        "project": one_line(result.project) or None,
        "freight": one_line(result.freight) or None,
        "started_at": iso_utc(result.started_at),
        "finished_at": iso_utc(result.finished_at) or None,
        "overall": result.overall.value,
        "verdict": verdict(result),
        "exit_code": result.exit_code,
        "failed_level": result.failed_level,
        "action_required": one_line(result.action_required),
        "interrupted": result.interrupted,
        "notes": [one_line(n) for n in result.notes],
        "context": {one_line(k): one_line(v) for k, v in result.context.items()},
        "sections": [_section(s) for s in result.sections],
        "levels": [_level(lv) for lv in result.levels],
        "post_sections": [_section(s) for s in result.post_sections],
        "diagnosis": _diagnosis(result),
    }


def render_json(result: RunResult) -> str:
    return json.dumps(to_document(result), indent=2, ensure_ascii=False) + "\n"


def write_json(result: RunResult, path: str | os.PathLike[str]) -> None:
    """Write render_json() atomically, creating parent directories."""
    write_atomic(path, render_json(result))
