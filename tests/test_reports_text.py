"""The VERIFICATION REPORT block as a person reads it."""

from __future__ import annotations

import test_reports_samples as samples

from gate.model import LevelResult, Status
from gate.reports.text import render_text


def lines(result) -> list[str]:
    return render_text(result).splitlines()


def test_passing_report_has_the_v4_header_and_verdict() -> None:
    out = lines(samples.passing())
    assert out[:5] == ["VERIFICATION REPORT", "===================", "Stage: monitoring",
                       "Timestamp: 2026-11-23T10:00:00Z", "Freight: abc123"]
    assert "Level 1 (Infrastructure): PASS" in out
    assert "Level 4 (Functional): PASS" in out
    assert "  [x] check 1: 5/5 pods Ready (passed after 0.4s)" in out
    assert out[-2:] == ["Overall: PASS", "Action Required: None"]


def test_freight_line_only_when_set() -> None:
    assert not any(line.startswith("Freight:") for line in lines(samples.failing_l1()))


def test_failure_shows_observed_expected_reason_evidence_and_skipped_levels() -> None:
    out = lines(samples.failing_l1())
    assert "Level 1 (Infrastructure): FAIL" in out
    assert "  [ ] Pods ready in monitoring: 2/3 pods Ready FAILED" in out
    assert "      observed: 2/3 pods Ready; expected: >= 3 Ready" in out
    assert "      reason: still 2/3 pods Ready after 300s" in out
    evidence = [line for line in out if line.startswith("      - pod grafana-")]
    assert len(evidence) == 10
    assert "      - … 2 more (see the JUnit or JSON report)" in out
    for n, title in ((2, "Service Health"), (3, "Ingress & Auth"), (4, "Functional")):
        assert f"Level {n} ({title}): SKIPPED" in out
        assert f"  [-] check {n} (skipped: Level 1 did not pass)" in out
    assert out[-2:] == ["Overall: FAIL at Level 1", "Action Required: Look at the grafana pod logs."]


def test_error_level_says_could_not_evaluate() -> None:
    out = lines(samples.erroring_l2())
    assert "Level 2 (Service Health): ERROR" in out
    head = [line for line in out if line.startswith("  [ ] Grafana health")]
    assert head == ["  [ ] Grafana health: could not evaluate before the deadline: HTTP 503 Service "
                    "Unavailable ERROR (could not evaluate)"]
    assert "Overall: ERROR at Level 2 (could not evaluate)" in out


def test_first_bad_level_with_a_fail_beats_errors() -> None:
    result = samples.erroring_l2()
    result.levels[1].checks.append(samples.check("Prometheus targets", Status.FAIL, 2, observed="0 up",
                                                 expected=">= 1 up"))
    result.levels[1].status = Status.FAIL
    assert "Overall: FAIL at Level 2" in lines(result)


def test_sections_print_before_and_after_levels_with_notes_and_context() -> None:
    out = lines(samples.with_sections())
    assert "Project: shop" in out and "promotion: prod.01abc" in out
    pre, level1, post = (out.index("Pre-promotion: PASS"), out.index("Level 1 (Infrastructure): PASS"),
                         out.index("Post-promotion: PASS"))
    assert pre < level1 < post
    assert out[pre + 1] == "  [x] No running promotion: none running (passed after 0.4s)"
    assert "Note: Kargo verification is not configured" in out
    assert out[-2] == "Overall: PASS"


def test_failed_pre_promotion_section() -> None:
    out = lines(samples.with_sections(pre_fails=True))
    assert "Pre-promotion: FAIL" in out
    assert "  [ ] Freight verified upstream: not verified in staging FAILED" in out
    assert "Overall: FAIL (Pre-promotion)" in out


def test_interrupted_run_says_incomplete_before_overall() -> None:
    out = lines(samples.interrupted())
    assert out[-3:] == ["INCOMPLETE: interrupted before the run finished",
                        "Overall: ERROR (interrupted before the run finished)",
                        "Action Required: Run interrupted before it finished; run the gate again."]


def test_nothing_evaluated_is_never_a_pass() -> None:
    out = lines(samples.ALL["empty"]())
    assert "Overall: ERROR (nothing was evaluated)" in out


def test_skipped_level_without_checks_is_just_the_header() -> None:
    result = samples.failing_l1()
    result.levels[1] = LevelResult(2, Status.SKIPPED, [])
    out = lines(result)
    assert out[out.index("Level 2 (Service Health): SKIPPED") + 1] == ""


def test_ansi_and_control_characters_are_stripped_markup_kept() -> None:
    text = render_text(samples.nasty())
    assert "\x1b" not in text and "\x07" not in text and "\x00" not in text and "\r" not in text
    assert """  [ ] a<b & "c" 'd' red bell nul end: a<b & "c" 'd' red bell nul end FAILED""" in text
    assert "passed after 0.3s" in text


def test_passing_line_mentions_attempts_when_it_took_several() -> None:
    result = samples.passing()
    result.levels[0].checks[0].attempts, result.levels[0].checks[0].time_to_pass = 4, 12.0
    assert "  [x] check 1: 5/5 pods Ready (passed after 12s, 4 attempts)" in lines(result)
