"""`gate demo`'s edges: the scenario --promote runs, SIGTERM at any moment, and no files left behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from refdata import JUNIT_XSD

ROOT = Path(__file__).resolve().parents[1]


def _env(tmpdir: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmpdir)}


def gate(*args: str, tmpdir: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True,
                          timeout=timeout, env=_env(tmpdir))


def test_promote_with_a_verify_scenario_names_the_promote_scenarios(tmp_path: Path) -> None:
    proc = gate("demo", "--promote", "--scenario", "healthy", tmpdir=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "'healthy' is a verify scenario" in proc.stderr
    assert "promote-ok" in proc.stderr and "promotion-running" in proc.stderr
    assert "VERIFICATION REPORT" not in proc.stdout  # nothing ran


def test_a_demo_leaves_nothing_in_the_temp_dir(tmp_path: Path) -> None:
    proc = gate("demo", "--scenario", "rbac-forbidden", "--timeout", "5s", tmpdir=tmp_path)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "JUnit report: not written" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_keep_keeps_the_demo_files_and_names_them(tmp_path: Path) -> None:
    proc = gate("demo", "--keep", tmpdir=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (kept,) = [p for p in tmp_path.iterdir() if p.name.startswith("gate-demo-")]
    assert f"demo files kept in {kept}" in proc.stderr
    assert f"JUnit report: {kept / 'junit.xml'}" in proc.stderr
    assert {"kubeconfig", "gate.yaml", "junit.xml"} <= {p.name for p in kept.iterdir()}


def test_demo_diagnose_leaves_nothing_and_honours_keep(tmp_path: Path) -> None:
    """The temp dir holds the simulator's CA private key and an admin kubeconfig: gone after the run,
    unless --keep, which names it."""
    gone, kept_dir = tmp_path / "gone", tmp_path / "kept"
    gone.mkdir()
    kept_dir.mkdir()
    proc = gate("demo", "--diagnose", tmpdir=gone)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(gone.iterdir()) == []
    proc = gate("demo", "--diagnose", "--scenario", "promote-errored", "--keep", tmpdir=kept_dir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    (kept,) = kept_dir.iterdir()
    assert f"demo files kept in {kept}" in proc.stderr
    assert {"kubeconfig", "junit.xml"} <= {p.name for p in kept.iterdir()}


def _wait_for(condition, deadline: float) -> None:
    while not condition():
        assert time.monotonic() < deadline, "the demo never got there"
        time.sleep(0.02)


@pytest.mark.parametrize("moment", ["setup", "levels"])
def test_sigterm_writes_the_reports_and_cleans_up(tmp_path: Path, moment: str) -> None:
    import xmlschema

    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    junit, result = tmp_path / "junit.xml", tmp_path / "result.json"
    proc = subprocess.Popen([sys.executable, "-m", "gate", "demo", "--scenario", "crashloop", "--timeout", "60s",
                             "--junit", str(junit), "--json", str(result)], env=_env(tmpdir),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60

    def workdirs() -> list[Path]:
        return [p for p in tmpdir.iterdir() if p.name.startswith("gate-demo-")]

    if moment == "setup":  # the demo made its working directory and is starting the simulator
        _wait_for(lambda: bool(workdirs()), deadline)
    else:  # the spec is written: the levels are running (crashloop keeps Level 1 waiting)
        _wait_for(lambda: any((d / "gate.yaml").exists() for d in workdirs()), deadline)
        time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, out + err
    assert "Traceback" not in err
    assert json.loads(result.read_text())["interrupted"] is True
    xmlschema.XMLSchema(str(JUNIT_XSD)).validate(str(junit))
    assert "interrupted" in junit.read_text()
    assert workdirs() == []
