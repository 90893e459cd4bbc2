"""The guide's VERIFICATION REPORT block (SKILL.md, PHASE V4), for people and logs."""

from __future__ import annotations

from gate.engine import durations
from gate.model import CheckResult, LevelResult, RunResult, Section, Status
from gate.reports.common import MAX_EVIDENCE, clean, collapse, counted, iso_utc, level_label, one_line, verdict

INDENT = "  "
DETAIL = "      "


def _passed_line(row: CheckResult) -> str:
    text = f"{INDENT}[x] {one_line(row.name)}"
    if row.observed:
        text += f": {one_line(row.observed)}"
    if row.time_to_pass is not None:
        text += f" (passed after {durations.format(row.time_to_pass)}"
        text += f", {row.attempts} attempts)" if row.attempts > 1 else ")"
    return text


def _details(row: CheckResult, shown: str, said: str = "") -> list[str]:
    """Observed vs expected, the reason (unless the headline already says it), evidence, hint. Nothing is
    said twice: what the headline shows is not repeated, identical evidence lines are counted, and a long
    message the headline already carries is referred to (see collapse()); a hint that is the report's
    Action Required (`said`) is left to that line."""
    lines: list[str] = []
    observed, expected, reason = one_line(row.observed), one_line(row.expected), one_line(row.reason)
    if expected:  # the guide's observed vs expected; "(not stated)" is never printed
        lines.append(f"observed: {observed or '(nothing)'}; expected: {expected}")
    elif observed and observed != shown:
        lines.append(f"observed: {observed}")
    if reason and reason not in (observed, shown):
        lines.append(f"reason: {reason}")
    evidence = counted([one_line(e) for e in row.evidence if one_line(e)])
    lines += [f"- {e}" for e in evidence[:MAX_EVIDENCE]]
    if len(evidence) > MAX_EVIDENCE:
        lines.append(f"- … {len(evidence) - MAX_EVIDENCE} more (see the JUnit or JSON report)")
    if row.attempts > 1:
        lines.append(f"after {row.attempts} attempts in {durations.format(row.duration)}")
    hint = one_line(row.hint)
    if hint and hint not in (observed, reason, said) and hint not in shown:
        lines.append(f"hint: {hint}")
    return [DETAIL + collapse(line, shown) for line in lines]


def _problem_lines(row: CheckResult, said: str = "") -> list[str]:
    suffix = " FAILED" if row.status == Status.FAIL else " ERROR (could not evaluate)"
    summary = one_line(row.observed) or one_line(row.reason)
    head = f"{INDENT}[ ] {one_line(row.name)}" + (f": {summary}" if summary else "") + suffix
    return [head, *_details(row, summary, said)]


def _skipped_line(row: CheckResult) -> str:
    reason = one_line(row.reason)
    return f"{INDENT}[-] {one_line(row.name)} (skipped{': ' + reason if reason else ''})"


def render_row(row: CheckResult, said: str = "") -> list[str]:
    """The lines for one check: `[x]` passed, `[ ]` failed/errored with details, `[-]` skipped."""
    if row.status == Status.PASS:
        return [_passed_line(row)]
    if row.status == Status.SKIPPED:
        return [_skipped_line(row)]
    return _problem_lines(row, said)


def _block(header: str, rows: list[CheckResult], said: str) -> list[str]:
    lines = [header]
    for row in rows:
        lines += render_row(row, said)
    return lines


def _section(section: Section, said: str = "") -> list[str]:
    return _block(f"{one_line(section.title)}: {section.status.value}", section.rows, said)


def _level(level: LevelResult, said: str = "") -> list[str]:
    return _block(f"{level_label(level)}: {level.status.value}", level.checks, said)


def _header(result: RunResult) -> list[str]:
    lines = ["VERIFICATION REPORT", "===================", f"Stage: {one_line(result.stage)}"]
    if result.project:
        lines.append(f"Project: {one_line(result.project)}")
    lines.append(f"Timestamp: {iso_utc(result.started_at)}")
    if result.freight:
        lines.append(f"Freight: {one_line(result.freight)}")
    for key, value in result.context.items():
        lines.append(f"{one_line(key)}: {one_line(value)}")
    return lines


def _action_line(result: RunResult) -> str:
    """Action Required, without the long message the first problem's row already shows."""
    action = one_line(result.action_required)
    problem = result.first_problem()
    if problem is None or result.interrupted:
        return action
    return collapse(action, one_line(problem.observed) or one_line(problem.reason))


def _diagnosis(result: RunResult) -> list[str]:
    """A failed run's DIAGNOSIS block (gate/diagnose/attach.py), after the levels; nothing on a pass."""
    diag = getattr(result, "diagnosis", None)
    if diag is None:
        return []
    problem = result.first_problem()
    shown = (one_line(problem.observed) or one_line(problem.reason)) if problem is not None else ""
    return [collapse(line, shown) for line in diag.text.splitlines()]  # the failing row quoted it already


def render_text(result: RunResult) -> str:
    """The whole report, ending with a newline. Every piece of text is redacted and cleaned."""
    said = one_line(result.action_required)  # the last line says it: no row repeats it as its hint
    blocks = [_header(result)]
    blocks += [_section(s, said) for s in result.sections]
    blocks += [_level(lv, said) for lv in result.levels]
    blocks += [_section(s, said) for s in result.post_sections]
    if diagnosis := _diagnosis(result):
        blocks.append(diagnosis)
    footer = [f"Note: {one_line(note)}" for note in result.notes]
    if result.interrupted:
        footer.append("INCOMPLETE: interrupted before the run finished")
    footer += [f"Overall: {verdict(result)}", f"Action Required: {_action_line(result)}"]
    blocks.append(footer)
    text = "\n\n".join("\n".join(block) for block in blocks) + "\n"
    return clean(text)
