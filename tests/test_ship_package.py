"""The distributions a release uploads: `python -m build` makes an sdist and a wheel that carry the licence
text and PEP 639 metadata, and `twine check --strict` (what the index checks) passes on both."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IGNORE = (".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis",
          ".ruff_cache", "out")


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(sdist, wheel) built as the release workflow builds them, from a copy of the tree (the build
    writes an egg-info next to the sources)."""
    src = tmp_path_factory.mktemp("src") / "promotion-gate"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(*IGNORE))
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(src)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,), (wheel,) = out.glob("*.tar.gz"), out.glob("*.whl")
    return sdist, wheel


def test_licence_text_is_in_the_sdist_and_the_wheel(dists: tuple[Path, Path]) -> None:
    sdist, wheel = dists
    licence = (ROOT / "LICENSE").read_text()
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence
    with tarfile.open(sdist) as tar:
        (member,) = [m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/LICENSE")]
        assert tar.extractfile(member).read().decode() == licence  # type: ignore[union-attr]
    with zipfile.ZipFile(wheel) as whl:
        (name,) = [n for n in whl.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
        assert whl.read(name).decode() == licence
        (meta,) = [n for n in whl.namelist() if n.endswith(".dist-info/METADATA")]
        headers = HeaderParser().parsestr(whl.read(meta).decode())
    assert headers["License-Expression"] == "Apache-2.0"
    assert headers.get_all("License-File") == ["LICENSE"]
    assert headers["Metadata-Version"] >= "2.4"
    urls = dict(u.split(", ", 1) for u in headers.get_all("Project-URL"))
    assert {"Source", "Issues", "Changelog", "Documentation"} <= set(urls)
    assert any(c.startswith("Programming Language :: Python :: 3.11") for c in headers.get_all("Classifier"))
    assert not any(c.startswith("License ::") for c in headers.get_all("Classifier"))  # PEP 639: the expression


def test_twine_check_strict_passes(dists: tuple[Path, Path]) -> None:
    proc = subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, dists)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("PASSED") == 2


def test_the_wheel_puts_no_top_level_checks_package_in_site_packages(dists: tuple[Path, Path]) -> None:
    # The repository keeps checks/ beside gate/; the wheel installs it as gate/checks (setup.py), so it
    # cannot collide with another distribution's top-level `checks`.
    _, wheel = dists
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"gate", next(t for t in tops if t.endswith(".dist-info"))}
    kinds = {Path(n).stem for n in names if n.startswith("gate/checks/") and n.endswith(".py")}
    assert {"__init__", "base", "pods", "http", "kargo_stage"} <= kinds
    with zipfile.ZipFile(wheel) as whl:
        top_level = [n for n in names if n.endswith("top_level.txt")]
        assert not top_level or whl.read(top_level[0]).decode().split() == ["gate"]


def test_the_installed_wheel_imports_gate_checks_from_itself(dists: tuple[Path, Path],
                                                            tmp_path: Path) -> None:
    _, wheel = dists
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
                           str(target), str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not (target / "checks").exists()
    probe = ("import gate.checks, gate.checks.pods, sys; print(gate.checks.__file__); "
             "print(sorted(gate.checks.registry())[:3]); print('checks' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    assert lines[0] == str(target / "gate" / "checks" / "__init__.py")
    assert lines[2] == "False"
