"""A short secret value (a `secret` check's `admin`) is masked in free text but not inside the object and key
names the gate itself prints (issue 19, item 8): "Secret monitoring/grafana-*** has ***-user" in the first
demo report."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gate import redact
from gate.spec.load import load_spec
from gate.spec.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    redact.clear()
    yield
    redact.clear()


def test_the_first_demo_report_names_the_secret_and_its_keys_whole() -> None:
    """Old code: `Secret monitoring/grafana-*** has ***-user, ***-password`."""
    proc = subprocess.run([sys.executable, "-m", "gate", "demo"], capture_output=True, text=True, timeout=300,
                          cwd=ROOT)
    line = next(x for x in proc.stdout.splitlines() if "Secret monitoring/" in x)
    assert "Secret monitoring/grafana-admin has admin-user, admin-password" in line, line
    assert "***" not in line


def _spec(tmp: Path, name: str, env: dict[str, str]) -> None:
    path = tmp / "gate.yaml"
    path.write_text("stages:\n  monitoring:\n    levels:\n      1:\n        - secret: {namespace: monitoring, "
                    f"name: '{name}', keys: [admin-user, admin-password]}}\n")
    load_spec(str(path), Settings(), env=env)


def test_free_text_is_still_masked_around_the_names(tmp_path: Path) -> None:
    _spec(tmp_path, "grafana-admin", {})
    redact.register("admin")  # as the secret check registers the values it reads
    text = "Secret monitoring/grafana-admin has admin-user; login as admin failed; body {\"pw\": \"admin\"}"
    assert redact.redact(text) == ("Secret monitoring/grafana-admin has admin-user; login as *** failed; "
                                   "body {\"pw\": \"***\"}")
    assert redact.cut(text, 40) == "Secret monitoring/grafana-admin has adm…"


def test_a_name_written_with_an_env_secret_is_never_protected(tmp_path: Path) -> None:
    _spec(tmp_path, "grafana-${env:PIN}", {"PIN": "adm1n"})
    redact.register("adm1n")
    assert redact.redact("Secret monitoring/grafana-adm1n") == "Secret monitoring/grafana-***"


def test_a_name_that_is_a_secret_or_holds_a_long_one_is_never_protected(tmp_path: Path) -> None:
    _spec(tmp_path, "grafana-hunter22", {})
    redact.register("hunter22")
    assert redact.redact("Secret monitoring/grafana-hunter22") == "Secret monitoring/grafana-***"
    redact.register_identifier("admin")
    redact.register("admin")
    assert redact.redact("key admin") == "key ***"


def test_a_long_secret_overlapping_a_name_is_masked_whole(tmp_path: Path) -> None:
    _spec(tmp_path, "grafana-admin", {})
    redact.register("admin")
    redact.register("grafana-admin-password-9")
    assert "grafana-admin-password-9" not in redact.redact("value grafana-admin-password-9 here")
