"""Reporters: every one renders a RunResult, and every piece of text goes through gate.redact.

The reporters load when first used (PEP 562), so a run that writes no JUnit never imports junit_xml."""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "render_json": "jsonreport", "write_json": "jsonreport", "render_junit": "junit", "write_junit": "junit",
    "render_text": "text", "write_github": "github",
}
__all__ = ["render_json", "render_junit", "render_text", "write_github", "write_json", "write_junit"]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"gate.reports.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'gate.reports' has no attribute {name!r}")
