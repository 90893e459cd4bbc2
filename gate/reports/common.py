"""Helpers every reporter shares: cleaning text for output, the verdict wording, atomic writes."""

from __future__ import annotations

import difflib
import os
import re
import stat
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from gate.errors import ConfigError
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


REPEAT_MIN = 40  # characters of a message worth referring to instead of printing again
SEE_ABOVE = "(the message above)"


def collapse(text: str, shown: str, ref: str = SEE_ABOVE) -> str:
    """`text` with the longest stretch it shares with `shown` (already printed just above) replaced by a
    reference (`ref`), when that stretch is a message worth the words (REPEAT_MIN characters or more)."""
    if not text or not shown or text == shown:
        return text
    match = difflib.SequenceMatcher(None, text, shown, autojunk=False).find_longest_match(
        0, len(text), 0, len(shown))
    start, end = match.a, match.a + match.size
    lead = text.find(": ", start, min(end, start + REPEAT_MIN))
    if lead != -1 and end - (lead + 2) >= REPEAT_MIN:
        start = lead + 2  # keep a short lead ("Errored at step x: ") that says which message
    while start < end and (text[start - 1:start].isalnum() if start else False):
        start += 1  # not in the middle of a word
    while end > start and end < len(text) and text[end].isalnum():
        end -= 1
    if end - start < REPEAT_MIN:
        return text
    return text[:start] + ref + text[end:]


def counted(lines: list[str]) -> list[str]:
    """Identical consecutive lines once, with "(×N)"."""
    out: list[str] = []
    runs: list[int] = []
    for line in lines:
        if out and out[-1] == line:
            runs[-1] += 1
        else:
            out.append(line)
            runs.append(1)
    return [f"{line} (×{n})" if n > 1 else line for line, n in zip(out, runs, strict=True)]


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


def check_report_path(path: str | os.PathLike[str], flag: str = "", what: str = "report path") -> None:
    """Before the run: a report goes to a regular file or a new one in a directory the gate can write.

    A symlink, a device (/dev/full), a FIFO or a directory at the path, or a directory where no file can
    be created (/proc, read-only), is a ConfigError (exit 2) naming the flag, before any cluster access."""
    target = Path(path)
    where = {"file": str(target), "key": flag or None}
    try:
        info = target.lstat()
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise ConfigError(f"{what} cannot be used: {exc.strerror or exc}", **where) from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise ConfigError(f"{what} is a symbolic link; the gate writes only to regular files "
                              "(remove the link or choose another path)", **where)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"{what} is {_kind(info.st_mode)}, not a regular file", **where)
    parent = _existing_ancestor(target.parent)
    if not parent.is_dir():
        raise ConfigError(f"{what} cannot be created: {parent} is not a directory", **where)
    _probe(parent, where, what)  # what write_atomic will need: create a file there (or the missing directories)


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _existing_ancestor(directory: Path) -> Path:
    current = directory.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _probe(directory: Path, where: dict, what: str = "report path") -> None:
    """Create and remove a temp file where the report's temp file will go (what write_atomic needs)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".gate-probe.", dir=directory)
    except OSError as exc:
        raise ConfigError(f"{what} cannot be written: no file can be created in {directory} "
                          f"({exc.strerror or exc})", **where) from None
    os.close(fd)
    Path(tmp).unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write via a temp file in the same directory and rename, creating parent directories. The path
    must be a regular file or nothing: a symlink or a device there is never replaced (ConfigError)."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise ConfigError(f"cannot write the report: {exc.strerror or exc}", file=str(target)) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise ConfigError("report path is no longer a regular file; not replaced", file=str(target))
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"cannot write the report: {exc.strerror or exc}", file=str(target)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
