"""Reporters: every one renders a RunResult, and every piece of text goes through gate.redact."""

from gate.reports.github import write_github
from gate.reports.jsonreport import render_json, write_json
from gate.reports.junit import render_junit, write_junit
from gate.reports.text import render_text

__all__ = ["render_json", "render_junit", "render_text", "write_github", "write_json", "write_junit"]
