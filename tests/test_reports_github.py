"""GitHub Actions: step summary, annotations and outputs, only inside Actions."""

from __future__ import annotations

import io
import re

import test_reports_samples as samples

from gate.model import Status
from gate.reports import github


def run(result, tmp_path, junit_path=None, **extra):
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output),
           **extra}
    stream = io.StringIO()
    github.write_github(result, env=env, junit_path=junit_path, stream=stream)
    read = lambda p: p.read_text() if p.exists() else ""  # noqa: E731
    return read(summary), read(output), stream.getvalue()


def test_noop_outside_actions(tmp_path) -> None:
    stream = io.StringIO()
    summary = tmp_path / "s.md"
    github.write_github(samples.failing_l1(), env={"GITHUB_STEP_SUMMARY": str(summary)}, stream=stream)
    assert stream.getvalue() == "" and not summary.exists()


def test_variables_are_optional() -> None:
    stream = io.StringIO()
    github.write_github(samples.failing_l1(), env={"GITHUB_ACTIONS": "true"}, stream=stream)
    assert stream.getvalue().startswith("::error ")


def test_failing_run_outputs_summary_and_annotation(tmp_path) -> None:
    summary, output, log = run(samples.failing_l1(), tmp_path, junit_path="out/gate.xml")
    assert output == "result=failed\nfailed-level=1\njunit-path=out/gate.xml\njunit=out/gate.xml\n"
    assert summary.startswith("## ❌ Promotion Gate: FAIL at Level 1\n")
    assert "| ❌ | Level 1 (Infrastructure) | FAIL | 1 | 1 | 0 | 0 | 300.200s |" in summary
    assert "| ⏭️ | Level 2 (Service Health) | SKIPPED | 0 | 0 | 0 | 1 | 0.000s |" in summary
    assert "### Failures" in summary and "<details><summary>evidence</summary>" in summary
    assert "CRDs installed" not in summary.split("### Failures")[1]  # failures only
    [line] = log.splitlines()
    assert line.startswith("::error title=Level 1 (Infrastructure)%3A Pods ready in monitoring::FAILED: ")
    assert "%0Aexpected: >= 3 Ready%0A" in line


def test_passing_run(tmp_path) -> None:
    summary, output, log = run(samples.passing(), tmp_path)
    assert output == "result=passed\nfailed-level=\njunit-path=\njunit=\n"
    assert summary.startswith("## ✅ Promotion Gate: PASS") and "### Failures" not in summary
    assert log == ""


def test_error_run_result_output(tmp_path) -> None:
    _, output, log = run(samples.erroring_l2(), tmp_path)
    assert "result=error\nfailed-level=2\n" in output
    assert "::error title=Level 2 (Service Health)%3A Grafana health::could not evaluate: " in log


def test_annotations_capped_at_ten_failures_first(tmp_path) -> None:
    result = samples.failing_l1()
    checks = result.levels[0].checks
    checks[:] = [samples.check(f"err {i}", Status.ERROR, reason="boom") for i in range(5)] + [
        samples.check(f"fail {i}", Status.FAIL, observed="no", expected="yes") for i in range(15)]
    summary, _, log = run(result, tmp_path)
    titles = re.findall(r"::error title=[^:]*%3A ([^:]*)::", log)
    assert titles == [f"fail {i}" for i in range(10)]
    assert "err 4" in summary and "fail 14" in summary  # the summary lists them all


def test_escaping_of_data_and_properties(tmp_path) -> None:
    assert github.escape_data("100%\r\nx") == "100%25%0D%0Ax"
    assert github.escape_property("a: b, c%") == "a%3A b%2C c%25"
    summary, _, log = run(samples.nasty(), tmp_path)
    assert "\x1b" not in log and "\x1b" not in summary
    assert "a&lt;b &amp; \"c\"" in summary  # markup shown literally, not interpreted


def test_summary_is_truncated_below_the_limit(tmp_path) -> None:
    result = samples.failing_l1()
    result.levels[0].checks = [samples.check(f"fail {i}", Status.FAIL, observed="x" * 400,
                                             evidence=["e" * 300] * 10) for i in range(2000)]
    summary, _, _ = run(result, tmp_path)
    assert len(summary.encode()) <= github.SUMMARY_LIMIT
    assert summary.rstrip().endswith("the JUnit and JSON reports have everything.")


def test_multiline_output_uses_a_delimiter() -> None:
    line = github._output_line("junit-path", "a\nb")
    match = re.fullmatch(r"junit-path<<(ghadelimiter_[0-9a-f-]+)\na\nb\n\1\n", line)
    assert match is not None


def test_unwritable_file_warns_but_does_not_fail(tmp_path, capsys) -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "missing-dir" / "out")}
    github.write_github(samples.passing(), env=env, stream=io.StringIO())
    assert "warning: could not write" in capsys.readouterr().err


def test_an_annotation_never_points_above_itself(tmp_path) -> None:
    """An annotation is read alone: a reason or evidence repeating its headline refers to its own first
    line, never to "the message above" (which the text report uses)."""
    result = samples.failing_l1()
    row = result.levels[0].checks[-1]
    long = "pod grafana-7d9f8 in CrashLoopBackOff: back-off 5m0s restarting failed container grafana"
    row.status, row.observed, row.reason = Status.FAIL, long, f"Errored at step x: {long}"
    row.evidence = [f"event: {long}"]
    _, _, log = run(result, tmp_path)
    assert "(the message above)" not in log
    assert log.count(github.FIRST_LINE) >= 2, log
