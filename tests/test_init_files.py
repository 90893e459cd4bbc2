"""`gate init` writes its two files by the report writers' rules (issue 19, item 6): all or nothing, a
regular file or a new one only, atomically, never through a symlink, never opening a FIFO. `gate scaffold`
writes to stdout; the files it reads are refused when they are not regular files (a FIFO never blocks it)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from test_init import gate

OFFLINE = ("init", "--offline", "--stage", "mon=loki", "--project", "platform")


def _quick(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A run that must end at once (a FIFO opened for writing would block it until the 20 s timeout)."""
    started = time.monotonic()
    try:
        proc = gate(*args, cwd=cwd, timeout=20)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"gate {' '.join(args)} hung (a FIFO opened?)") from None
    assert time.monotonic() - started < 15
    assert "internal error" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    return proc


def test_a_spec_in_a_missing_directory_is_written_with_its_settings(tmp_path: Path) -> None:
    """Old code: cfg.yaml written, then `internal error: FileNotFoundError` for no/such/gate.yaml. Like a
    report (--junit out/j.xml), the missing directories are created."""
    proc = _quick(*OFFLINE, "--spec", "no/such/gate.yaml", "--config", "cfg.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "no/such/gate.yaml").is_file() and (tmp_path / "cfg.yaml").is_file()


def test_all_or_nothing_when_one_file_cannot_be_written(tmp_path: Path) -> None:
    """The spec's directory is a regular file: exit 2 naming --spec, and the settings file is not written
    either (old code wrote cfg.yaml, then failed with an internal error)."""
    (tmp_path / "afile").write_text("x")
    proc = _quick(*OFFLINE, "--spec", "afile/gate.yaml", "--config", "cfg.yaml", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "--spec" in proc.stderr and "afile" in proc.stderr
    assert not (tmp_path / "cfg.yaml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # no temp file left behind


def test_a_dangling_symlink_is_refused_not_written_through(tmp_path: Path) -> None:
    """Old code (no --force): `os.path.exists` is False for a dangling link, so gate.yaml was written
    through it, creating the link's target."""
    (tmp_path / "gate.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    proc = _quick(*OFFLINE, cwd=tmp_path)
    assert proc.returncode == 2 and "symbolic link" in proc.stderr, proc.stderr
    assert not (tmp_path / "elsewhere.yaml").exists() and not (tmp_path / ".gitops-config.yaml").exists()


def test_force_never_writes_through_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "precious.yaml"
    target.write_text("keep: me\n")
    (tmp_path / ".gitops-config.yaml").symlink_to(target)
    proc = _quick(*OFFLINE, "--force", cwd=tmp_path)
    assert proc.returncode == 2 and "symbolic link" in proc.stderr and "--config" in proc.stderr, proc.stderr
    assert target.read_text() == "keep: me\n"
    assert not (tmp_path / "gate.yaml").exists()


def test_force_with_a_fifo_is_refused_at_once(tmp_path: Path) -> None:
    """Old code: open(gate.yaml, "w") on the FIFO blocked until a reader came: a hang."""
    os.mkfifo(tmp_path / "gate.yaml")
    proc = _quick(*OFFLINE, "--force", cwd=tmp_path)
    assert proc.returncode == 2 and "FIFO" in proc.stderr, proc.stderr


def test_force_replaces_a_regular_file_atomically(tmp_path: Path) -> None:
    (tmp_path / "gate.yaml").write_text("old: spec\n")
    inode = (tmp_path / "gate.yaml").stat().st_ino
    proc = _quick(*OFFLINE, "--force", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "stages:" in (tmp_path / "gate.yaml").read_text()
    assert (tmp_path / "gate.yaml").stat().st_ino != inode  # a new file renamed into place, not rewritten


def test_scaffold_refuses_a_fifo_it_would_read(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo")
    for flag in ("--spec", "--config"):
        proc = _quick("scaffold", "stage", "mon", "--app", "loki", "--image", "x:1", "--project", "platform",
                      "--warehouse", "w", flag, "fifo", cwd=tmp_path)
        assert proc.returncode == 2 and "not a regular file" in proc.stderr and flag in proc.stderr, proc.stderr
        assert proc.stdout == ""


def test_init_refuses_a_settings_file_that_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / ".gitops-config.yaml").mkdir()
    proc = _quick(*OFFLINE, "--force", cwd=tmp_path)
    assert proc.returncode == 2 and "directory" in proc.stderr, proc.stderr
    assert not (tmp_path / "gate.yaml").exists()
