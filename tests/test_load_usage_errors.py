"""Inputs that are usage errors at load (exit 2 naming the file and line), never an "internal error" inside
a check (issue 19, item 5). The message is looked for on stdout as well as stderr: a check's internal error
is a report line on stdout, which a test reading stderr alone never saw."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate" / "demo" / "config.yaml")


def _verify(tmp: Path, spec: str, config: str | None = None) -> tuple[int, str]:
    (tmp / "gate.yaml").write_text(spec)
    if config is not None:
        (tmp / "settings.yaml").write_text(config)
    proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec", "gate.yaml",
                           "--config", "settings.yaml" if config is not None else CONFIG, "--timeout", "3s",
                           "--no-preflight"], capture_output=True, text=True, timeout=60, cwd=tmp)
    text = proc.stdout + proc.stderr
    assert "internal error" not in text and "Traceback" not in text, text
    return proc.returncode, text


def test_a_non_ascii_header_name_is_exit_2_at_load(tmp_path: Path) -> None:
    """Old code: UnicodeEncodeError inside the http check, an "internal error" row on stdout."""
    code, text = _verify(tmp_path, "stages:\n  monitoring:\n    levels:\n      2:\n"
                                   "        - http: {url: 'http://127.0.0.1:9/', headers: {ünï: x}}\n")
    assert code == 2, text
    assert "gate.yaml:5" in text and "headers" in text and "ünï" in text


def test_a_header_value_http_cannot_carry_is_exit_2_at_load(tmp_path: Path) -> None:
    code, text = _verify(tmp_path, "stages:\n  monitoring:\n    levels:\n      2:\n"
                                   "        - http: {url: 'http://127.0.0.1:9/', headers: {X-A: '€'}}\n")
    assert code == 2, text
    assert "gate.yaml:5" in text and "X-A" in text


def test_a_setting_that_cannot_be_a_name_is_exit_2_naming_its_line(tmp_path: Path) -> None:
    """Old code: "internal error in kargo_stage check: ConfigError …" on stdout, exit 3."""
    code, text = _verify(tmp_path, "stages:\n  monitoring:\n    levels:\n      1:\n"
                                   "        - kargo_stage: {stage: monitoring}\n",
                         config="kargo_project: platform\nkargo_namespace: ${\n")
    assert code == 2, text
    assert "settings.yaml:2" in text and "kargo_namespace" in text


def test_a_header_value_from_the_environment_http_cannot_carry_is_exit_2_without_the_value(tmp_path: Path) -> None:
    """The schema does not read `${env:…}` values (it would quote them): the check refuses one with a line
    break at load, naming the header and the line but not the value. Old code: exit 3, an ERROR row."""
    (tmp_path / "gate.yaml").write_text("stages:\n  monitoring:\n    levels:\n      2:\n        - http: {url: "
                                        "'http://127.0.0.1:9/', headers: {Authorization: 'Bearer ${env:TOKX}'}}\n")
    proc = subprocess.run([sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--spec", "gate.yaml",
                           "--config", CONFIG, "--timeout", "3s"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={**os.environ, "TOKX": "sekrit-value-123\n"})
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2, text
    assert "gate.yaml:5" in text and "Authorization" in text and "line break" in text
    assert "sekrit-value-123" not in text and "internal error" not in text
