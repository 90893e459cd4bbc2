"""GitHub Actions integration: step summary, `::error` annotations and step outputs.

Active only when GITHUB_ACTIONS == "true"; every file is optional. Limits and escaping follow
/work/shared/notes/ci-ecosystem.md §3.2 (10 error annotations per step, 1 MiB summary per step).
"""

from __future__ import annotations

import html
import os
import sys
import uuid
from collections.abc import Mapping
from typing import TextIO

from gate.model import CheckResult, RunResult, Status
from gate.reports.common import clean, collapse, counted, iso_utc, level_label, one_line, seconds, verdict

MAX_ANNOTATIONS = 10
SUMMARY_LIMIT = 256 * 1024  # bytes; GitHub rejects a step summary over 1 MiB
MAX_CELL = 500
MAX_DETAILS = 4000
_ICON = {Status.PASS: "✅", Status.FAIL: "❌", Status.ERROR: "⚠️", Status.SKIPPED: "⏭️"}
_RESULT = {Status.PASS: "passed", Status.FAIL: "failed", Status.ERROR: "error"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _cell(text: str, limit: int = MAX_CELL) -> str:
    """One Markdown table cell: HTML-escaped, pipes escaped, on one line, bounded."""
    text = one_line(text)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return html.escape(text, quote=False).replace("|", "&#124;")


def _problems(result: RunResult) -> list[tuple[str, CheckResult]]:
    rows = [(where, row) for where, row in _rows(result) if row.status in (Status.FAIL, Status.ERROR)]
    return sorted(rows, key=lambda item: item[1].status != Status.FAIL)  # failures first, stable


def _rows(result: RunResult) -> list[tuple[str, CheckResult]]:
    out = [(one_line(s.title), r) for s in result.sections for r in s.rows]
    out += [(level_label(lv), c) for lv in result.levels for c in lv.checks]
    out += [(one_line(s.title), r) for s in result.post_sections for r in s.rows]
    return out


# An annotation is read alone (on the run page, beside a diff): "above" would point at nothing there.
FIRST_LINE = "(as in the first line)"


def annotations(result: RunResult) -> list[str]:
    """At most MAX_ANNOTATIONS `::error` commands, failures before errors."""
    lines = []
    for where, row in _problems(result)[:MAX_ANNOTATIONS]:
        title = f"{where}: {one_line(row.name)}"
        word = "FAILED" if row.status == Status.FAIL else "could not evaluate"
        head = one_line(row.observed) or one_line(row.reason)
        parts = [f"{word}: {head}"]
        if row.expected:
            parts.append(f"expected: {one_line(row.expected)}")
        if row.reason and one_line(row.reason) != one_line(row.observed):
            parts.append(f"reason: {collapse(one_line(row.reason), head, FIRST_LINE)}")
        parts += _evidence_lines(row, head)[:5]
        lines.append(f"::error title={escape_property(title)}::{escape_data(clean(chr(10).join(parts)))}")
    return lines


def _evidence_lines(row: CheckResult, head: str) -> list[str]:
    """Evidence as "- line", identical lines counted, the headline's long message referred to."""
    return [f"- {collapse(e, head, FIRST_LINE)}"
            for e in counted([one_line(e) for e in row.evidence if one_line(e)])]


def _count(rows: list[CheckResult], status: Status) -> int:
    return sum(1 for r in rows if r.status == status)


def _blocks_table(result: RunResult) -> list[str]:
    lines = ["| | Block | Status | Passed | Failed | Errors | Skipped | Duration |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    blocks = [(one_line(s.title), s.status, s.rows, None) for s in result.sections]
    blocks += [(level_label(lv), lv.status, lv.checks, lv.duration) for lv in result.levels]
    blocks += [(one_line(s.title), s.status, s.rows, None) for s in result.post_sections]
    for name, status, rows, wall in blocks:
        took = seconds(wall if wall else sum(seconds(r.duration) for r in rows))
        lines.append(f"| {_ICON[status]} | {_cell(name)} | {status.value} | {_count(rows, Status.PASS)} | "
                     f"{_count(rows, Status.FAIL)} | {_count(rows, Status.ERROR)} | "
                     f"{_count(rows, Status.SKIPPED)} | {took:.3f}s |")
    return lines


def _details(row: CheckResult) -> str:
    head = one_line(row.observed) or one_line(row.reason)
    lines = [collapse(e, head) for e in counted([one_line(e) for e in row.evidence])]
    if row.output:
        lines += ["", "output:", *clean(row.output).splitlines()]
    if not any(lines):
        return ""
    body = html.escape("\n".join(lines), quote=False)
    if len(body) > MAX_DETAILS:
        body = body[:MAX_DETAILS] + "\n… (truncated; see the JUnit report)"
    body = body.replace("|", "&#124;").replace("\n", "<br>")
    return f"<details><summary>evidence</summary><code>{body}</code></details>"


def _diagnosis_section(result: RunResult) -> list[str]:
    """A failed run's DIAGNOSIS block, as a code block (escaped for HTML, bounded)."""
    diag = getattr(result, "diagnosis", None)
    if diag is None:
        return []
    body = clean(diag.text)
    if len(body) > MAX_DETAILS * 2:
        body = body[: MAX_DETAILS * 2] + "\n… (truncated; see the JUnit or JSON report)"
    return ["", "### Diagnosis", "", "<pre>", html.escape(body, quote=False), "</pre>"]


def _failures_table(result: RunResult) -> list[str]:
    problems = _problems(result)
    if not problems:
        return []
    lines = ["### Failures", "", "| Where | Check | Status | Observed | Expected | Reason | Evidence |",
             "|---|---|---|---|---|---|---|"]
    for where, row in problems:
        reason = "" if one_line(row.reason) == one_line(row.observed) else row.reason  # said once
        lines.append(f"| {_cell(where)} | {_cell(row.name)} | {row.status.value} | {_cell(row.observed)} | "
                     f"{_cell(row.expected)} | {_cell(reason)} | {_details(row)} |")
    return lines


def render_summary(result: RunResult, limit: int = SUMMARY_LIMIT) -> str:
    """The Markdown step summary, cut to fit `limit` bytes (UTF-8)."""
    icon = _ICON.get(result.overall, "⚠️")
    head = [f"## {icon} Promotion Gate: {_cell(verdict(result))}", "",
            f"Stage **{_cell(result.stage)}**" + (f", freight `{_cell(result.freight)}`" if result.freight
                                                  else "") + f", started {iso_utc(result.started_at)}", ""]
    if result.interrupted:
        head += ["**INCOMPLETE: interrupted before the run finished**", ""]
    head += [f"**Action required:** {_cell(result.action_required, 2000)}", ""]
    head += [f"> {_cell(note)}" for note in result.notes]
    body = [*_blocks_table(result), "", *_failures_table(result), *_diagnosis_section(result)]
    text = "\n".join([*head, *body]) + "\n"
    return clean(_fit(text, limit))


def _fit(text: str, limit: int) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = "\n\n… summary truncated; the JUnit and JSON reports have everything.\n"
    cut = data[: limit - len(marker.encode())].decode("utf-8", errors="ignore")
    return cut[: cut.rfind("\n") + 1] + marker


def _output_line(name: str, value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    delimiter = f"ghadelimiter_{uuid.uuid4()}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def outputs(result: RunResult, junit_path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """Step outputs: result=passed|failed|error, failed-level, junit-path (and `junit`, DESIGN.md's name)."""
    level = result.failed_level
    path = clean(os.fspath(junit_path)) if junit_path else ""
    return {"result": _RESULT.get(result.overall, "error"),
            "failed-level": "" if level is None else str(level), "junit-path": path, "junit": path}


def _append(path: str, text: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:  # e.g. EACCES in a non-root Docker action: never fail the gate for this
        print(f"warning: could not write {path}: {exc}", file=sys.stderr)


def write_github(result: RunResult, env: Mapping[str, str] = os.environ,
                 junit_path: str | os.PathLike[str] | None = None, stream: TextIO | None = None) -> None:
    """Summary, annotations (to `stream`, default stdout) and outputs; a no-op outside GitHub Actions."""
    if env.get("GITHUB_ACTIONS") != "true":
        return
    out = stream if stream is not None else sys.stdout
    for line in annotations(result):
        print(line, file=out)
    out.flush()
    if summary := env.get("GITHUB_STEP_SUMMARY"):
        _append(summary, render_summary(result))
    if output := env.get("GITHUB_OUTPUT"):
        _append(output, "".join(_output_line(k, v) for k, v in outputs(result, junit_path).items()))
