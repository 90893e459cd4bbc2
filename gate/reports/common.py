"""Helpers every reporter shares: cleaning text for output, the verdict wording, atomic writes."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from gate.model import CheckResult, LevelResult, RunResult, Section, Status
from gate.redact import redact

# CSI/OSC/other escape sequences, then every C0/C1 control character except tab and newline.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_INVALID_XML = re.compile("[\ufffe\uffff\ud800-\udfff]")

MAX_EVIDENCE = 10


def clean(text: str | None) -> str:
    """Redacted text with ANSI escapes and control characters removed (tab and newline kept)."""
    if not text:
        return ""
    text = redact(str(text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ANSI.sub("", text)
    text = _CONTROL.sub("", text)
    return redact(_INVALID_XML.sub("", text))  # again: escapes could have split a secret


def one_line(text: str | None) -> str:
    """clean() and fold onto a single line (reports promise one line for observed/expected/reason)."""
    return " ".join(clean(text).split())


def iso_utc(moment: datetime | None) -> str:
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seconds(value: float | None) -> float:
    """A duration as reports show it: never negative, at most 3 decimals (0.1+0.2 -> 0.3)."""
    return round(max(0.0, float(value or 0.0)), 3)


def level_label(level: LevelResult) -> str:
    return f"Level {level.number} ({level.title})"


def has_status(rows: list[CheckResult], status: Status) -> bool:
    return any(r.status == status for r in rows)


def _bad(status: Status, rows: list[CheckResult]) -> Status | None:
    """FAIL if anything failed, ERROR if it only errored, None when it is fine or skipped."""
    if status == Status.FAIL or has_status(rows, Status.FAIL):
        return Status.FAIL
    if status == Status.ERROR or has_status(rows, Status.ERROR):
        return Status.ERROR
    return None


def _section_verdict(section: Section) -> str | None:
    bad = _bad(section.status, section.rows)
    if bad == Status.FAIL:
        return f"FAIL ({section.title})"
    if bad == Status.ERROR:
        return f"ERROR ({section.title}, could not evaluate)"
    return None


def verdict(result: RunResult) -> str:
    """The `Overall:` wording: PASS, FAIL at Level N, FAIL (Pre-promotion), ERROR at Level N (...)."""
    if result.overall == Status.PASS and not result.interrupted:
        return "PASS"
    for section in result.sections:
        if (text := _section_verdict(section)) is not None:
            return text
    for level in result.levels:
        bad = _bad(level.status, level.checks)
        if bad == Status.FAIL:
            return f"FAIL at Level {level.number}"
        if bad == Status.ERROR:
            return f"ERROR at Level {level.number} (could not evaluate)"
    for section in result.post_sections:
        if (text := _section_verdict(section)) is not None:
            return text
    if result.interrupted:
        return "ERROR (interrupted before the run finished)"
    return "ERROR (nothing was evaluated)"


def all_rows(result: RunResult) -> Iterator[tuple[str, CheckResult]]:
    """Every check with the label of the block it belongs to, in report order."""
    for section in result.sections:
        for row in section.rows:
            yield section.title, row
    for level in result.levels:
        for check in level.checks:
            yield level_label(level), check
    for section in result.post_sections:
        for row in section.rows:
            yield section.title, row


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write via a temp file in the same directory and rename, creating parent directories."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
