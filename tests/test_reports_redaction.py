"""A registered secret never reaches any output."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
import test_reports_samples as samples

from gate import redact
from gate.reports import github, render_json, render_junit, render_text


@pytest.fixture(autouse=True)
def canary() -> Iterator[None]:
    redact.register(samples.CANARY)
    yield
    redact.clear()


def test_canary_absent_from_text_junit_and_json() -> None:
    result = samples.leaky()
    for rendered in (render_text(result), render_junit(result), render_json(result)):
        assert samples.CANARY not in rendered
        assert redact.MASK in rendered


def test_canary_split_by_an_ansi_escape_is_still_caught() -> None:
    result = samples.leaky()
    result.levels[0].checks[0].observed = "s3cr3t\x1b[0m-canary"
    assert "s3cr3t-canary" not in render_text(result)


def test_canary_absent_from_github_files_and_annotations(tmp_path) -> None:
    summary, output = tmp_path / "summary.md", tmp_path / "output"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    stream = io.StringIO()
    github.write_github(samples.leaky(), env=env, junit_path=f"out/{samples.CANARY}.xml", stream=stream)
    for text in (summary.read_text(), output.read_text(), stream.getvalue()):
        assert samples.CANARY not in text
    assert "::error" in stream.getvalue()
