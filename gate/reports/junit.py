"""JUnit XML through `junit-xml`, post-processed to validate against the strict xunit junit-10.xsd.

One testsuite per section and per level, one testcase per check. junit-xml always writes `disabled`,
writes float sums with 17 digits and drops `time` when it is 0; the post-processing fixes all three
(see /work/shared/notes/ci-ecosystem.md §1.5 and §2).
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

import junit_xml

import gate
from gate.model import CheckResult, RunResult, Status
from gate.reports.common import clean, iso_utc, level_label, one_line, seconds, verdict, write_atomic

INTERRUPTED_NAME = "run interrupted"
_DROP_ATTRIBUTES = ("disabled", "file", "line", "assertions")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _unique(name: str, classname: str, seen: set[tuple[str, str]]) -> str:
    """GitLab keeps only the first of duplicate classname+name pairs, so number the later ones."""
    candidate, n = name, 1
    while (classname, candidate) in seen:
        n += 1
        candidate = f"{name} ({n})"
    seen.add((classname, candidate))
    return candidate


def _body(row: CheckResult) -> str:
    lines = []
    if row.observed:
        lines.append(f"observed: {one_line(row.observed)}")
    if row.expected:
        lines.append(f"expected: {one_line(row.expected)}")
    if row.reason:
        lines.append(f"reason: {one_line(row.reason)}")
    if row.evidence:
        lines.append("evidence:")
        lines += [f"  - {one_line(e)}" for e in row.evidence]
    lines.append(f"attempts: {row.attempts}, duration: {seconds(row.duration):.3f}s")
    if row.hint:
        lines.append(f"hint: {one_line(row.hint)}")
    return "\n".join(lines)


def _message(row: CheckResult) -> str:
    if row.status == Status.ERROR:
        return one_line(row.reason) or "could not evaluate"
    observed, expected = one_line(row.observed), one_line(row.expected)
    if observed and expected:
        return f"observed: {observed}; expected: {expected}"
    return one_line(row.reason) or observed or "failed"


def _diagnosed(row: CheckResult, diagnosis: str) -> tuple[str | None, str]:
    """(system-out, failure body) of a row: the failing row the run's DIAGNOSIS explains carries it in both
    (GitLab shows system-out, GitHub's JUnit reporters the failure body)."""
    out, body = clean(row.output), _body(row)
    if diagnosis:
        out = f"{out}\n\n{diagnosis}" if out else diagnosis
        body = f"{body}\n\n{diagnosis}"
    return out or None, body


def _case(row: CheckResult, classname: str, seen: set[tuple[str, str]], diagnosis: str = "") -> junit_xml.TestCase:
    stdout, body = _diagnosed(row, diagnosis if row.status == Status.FAIL else "")
    case = junit_xml.TestCase(
        _unique(one_line(row.name) or row.id, classname, seen), classname=classname,
        elapsed_sec=seconds(row.duration), stdout=stdout)
    if row.status == Status.FAIL:
        case.add_failure_info(message=_message(row), output=body, failure_type="CheckFailed")
    elif row.status == Status.ERROR:
        case.add_error_info(message=_message(row), output=_body(row), error_type="CouldNotEvaluate")
    elif row.status == Status.SKIPPED:
        reason = one_line(row.reason) or "skipped"
        case.add_skipped_info(message=reason, output=reason)  # GitLab shows only the body
    return case


def _properties(result: RunResult) -> dict[str, str]:
    props = {"stage": one_line(result.stage), "gate_version": gate.__version__,
             "command": one_line(result.command), "overall": verdict(result)}
    if result.project:
        props["project"] = one_line(result.project)
    if result.freight:
        props["freight"] = one_line(result.freight)
    for key, value in result.context.items():
        props[f"context.{one_line(key)}"] = one_line(value)
    if result.interrupted:
        props["incomplete"] = "true"
    return props


def _suites(result: RunResult) -> tuple[list[junit_xml.TestSuite], list[float]]:
    """The suites and, in the same order, each suite's wall-clock time."""
    stage, props, stamp = one_line(result.stage), _properties(result), iso_utc(result.started_at)
    seen: set[tuple[str, str]] = set()
    suites: list[junit_xml.TestSuite] = []
    times: list[float] = []

    diag = getattr(result, "diagnosis", None)

    def add(name: str, classname: str, rows: list[CheckResult], wall: float | None) -> None:
        cases = [_case(row, classname, seen, clean(diag.text) if diag and row.id == diag.check_id else "")
                 for row in rows]
        suites.append(junit_xml.TestSuite(name, cases, timestamp=stamp, properties=dict(props)))
        times.append(seconds(wall if wall else sum(seconds(r.duration) for r in rows)))

    for section in result.sections:
        add(one_line(section.title), f"gate.{stage}.{_slug(section.title)}", section.rows, None)
    for level in result.levels:
        add(level_label(level), f"gate.{stage}.L{level.number}", level.checks, level.duration)
    for section in result.post_sections:
        add(one_line(section.title), f"gate.{stage}.{_slug(section.title)}", section.rows, None)
    if result.interrupted or not suites:
        _add_run_suite(result, stage, props, stamp, suites, times)
    return suites, times


def _add_run_suite(result: RunResult, stage: str, props: dict[str, str], stamp: str,
                   suites: list[junit_xml.TestSuite], times: list[float]) -> None:
    """An interrupted (or empty) run still says so in the file, as an error testcase."""
    name, message = ((INTERRUPTED_NAME, "interrupted before the run finished") if result.interrupted
                     else ("nothing evaluated", "no check was evaluated"))
    case = junit_xml.TestCase(name, classname=f"gate.{stage}.run", elapsed_sec=0.0)
    case.add_error_info(message=message, output=f"{message}\nAction Required: "
                        f"{one_line(result.action_required)}", error_type="Incomplete")
    suites.append(junit_xml.TestSuite("Run", [case], timestamp=stamp, properties=dict(props)))
    times.append(0.0)


def _postprocess(xml: str, times: list[float]) -> str:
    root = ET.fromstring(xml)
    for element in root.iter():
        for attribute in _DROP_ATTRIBUTES:
            element.attrib.pop(attribute, None)
    suites = root.findall("testsuite")
    for suite, wall in zip(suites, times, strict=True):
        suite.set("time", f"{wall:.3f}")
        for case in suite.findall("testcase"):
            case.set("time", f"{float(case.get('time') or 0):.3f}")
    root.set("time", f"{sum(times):.3f}")
    root.set("name", "Promotion Gate")
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_junit(result: RunResult) -> str:
    """The JUnit XML document (a <testsuites> root) as a string."""
    suites, times = _suites(result)
    return _postprocess(junit_xml.to_xml_report_string(suites, prettyprint=False), times)


def write_junit(result: RunResult, path: str | os.PathLike[str]) -> None:
    """Write render_junit() atomically, creating parent directories."""
    write_atomic(path, render_junit(result))
