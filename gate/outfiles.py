"""Files a command writes for the user (`gate init`'s spec and settings), by the report writers' rules
(gate/reports/common.py): a regular file or a new one only, never through a symlink, never opening a FIFO or
a device; written atomically (a temp file in the same directory, then a rename); and a set of files all or
nothing: every temp file is written before the first rename, so a problem with any of them leaves none."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gate.errors import ConfigError


def check_target(path: str, flag: str) -> bool:
    """Whether a regular file is at `path` (the caller decides whether to replace it); ConfigError (exit 2)
    naming `flag` for a symlink (dangling or not), anything that is not a regular file, or a directory in
    which no file can be created: the report writers' check (gate/reports/common.py), which only lstats."""
    from gate.reports.common import check_report_path

    check_report_path(path, flag, what="the file")
    return os.path.lexists(path)


def write_all(files: Sequence[tuple[str, str, str]]) -> None:
    """Write (path, flag, text) triples all or nothing: each to a temp file beside its target (parent
    directories created), then each renamed over its target once every temp file is complete. A target
    that turned into something else meanwhile is refused, and no file is left half written."""
    temps: list[tuple[str, str, str]] = []  # (temp, path, flag)
    try:
        for path, flag, text in files:
            target = Path(path)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            except OSError as exc:
                raise ConfigError(f"cannot be written: {exc.strerror or exc}", file=path, key=flag) from None
            temps.append((tmp, path, flag))
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                    handle.write(text)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.chmod(tmp, 0o644)
            except OSError as exc:
                raise ConfigError(f"cannot be written: {exc.strerror or exc}", file=path, key=flag) from None
        for _, path, flag in temps:
            check_target(path, flag)  # still a regular file or nothing
        for tmp, path, flag in temps:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise ConfigError(f"cannot be written: {exc.strerror or exc}", file=path, key=flag) from None
    finally:
        for tmp, _, _ in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)  # already renamed: gone; otherwise the half of an all-or-nothing that failed
