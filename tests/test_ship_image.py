"""The image's contract, tested without a Docker engine.

The package is installed exactly as the Dockerfile installs it (a wheel of this tree, `pip --python` into
a fresh venv made `--without-pip`), then `gate demo` runs as a non-root user from a read-only working
directory with no writable HOME and TMPDIR=/tmp: what a Kargo Job with runAsNonRoot and a read-only root
filesystem (plus an emptyDir on /tmp) gives it.

Two differences from the Dockerfile, both to stay offline and fast: the wheel is installed with
`--no-index --no-deps`, and the venv sees the dependencies already installed for the interpreter running
the tests (a .pth file listing its site-packages directories) instead of downloading them again (the
Dockerfile resolves them from PyPI). That works whether the suite runs in a venv (`.ci/run`'s .venv) or
not; `--system-site-packages` would not: made from a venv's python it sees the base interpreter's
site-packages, not the venv's.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOBODY = 65534


@pytest.fixture(scope="module")
def image_root() -> Iterator[Path]:
    """A world-readable directory holding /wheels and /opt/gate, as in the image."""
    base = Path(tempfile.mkdtemp(prefix="gate-image-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def venv(image_root: Path) -> Path:
    wheels, venv = image_root / "wheels", image_root / "opt-gate"
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_CACHE_DIR": "1"}
    def run(cmd: list[str]) -> None:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"

    # RUN pip wheel --no-deps --wheel-dir /wheels /src
    run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(ROOT)])
    # python -m venv --without-pip /opt/gate   (+ the running interpreter's dependencies: see the docstring)
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "gate-test-deps.pth").write_text("".join(f"{d}\n" for d in _site_dirs()))
    # pip --python /opt/gate/bin/python install /wheels/*.whl   (+ --no-index)
    # (+ --ignore-installed --no-deps: where this tree is also installed system-wide, as `.ci/run` does,
    # pip would otherwise call the wheel "already satisfied" and leave the venv without it.)
    run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet",
         "--no-index", "--ignore-installed", "--no-deps", *map(str, wheels.glob("*.whl"))])
    for path in image_root.rglob("*"):  # as COPY --from=build leaves it: readable, not writable
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IROTH | (stat.S_IXOTH if mode & stat.S_IXUSR else 0))
    return venv


def _site_dirs() -> list[str]:
    """Where the running interpreter finds its installed packages (a venv's, its base's, dist-packages)."""
    dirs = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    return [p for p in sys.path if p in dirs or Path(p).name in ("site-packages", "dist-packages")]


def _blocked_ancestor(path: Path) -> Path | None:
    """The first directory above `path` that other users may not enter (e.g. /root for pyenv)."""
    for parent in reversed(path.parents):
        if not parent.stat().st_mode & stat.S_IXOTH:
            return parent
    return None


def _as_nobody(cmd: list[str], *, cwd: Path, env: dict[str, str], stage: Path) -> list[str]:
    """Wrap `cmd` to run with uid/gid 65534, no supplementary groups, no capabilities."""
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--inh-caps=-all",
            "--bounding-set=-all", "--no-new-privs"]
    run = [*drop, "env", "-i", *(f"{k}={v}" for k, v in env.items()), *cmd]
    if os.geteuid() != 0:
        return ["env", "-i", *(f"{k}={v}" for k, v in env.items()), *cmd]  # already non-root (CI runners)
    # The interpreter, or the venv the suite runs in, may live under a directory only root may enter
    # (pyenv in /root here). In a private mount namespace, show each such directory as a world-traversable
    # one holding only the trees needed, the way /usr/local looks in the python:3.12-slim image. Nothing
    # outside the namespace changes.
    hidden: dict[Path, set[str]] = {}
    for needed in {Path(sys.base_prefix).resolve(), *(Path(d).resolve() for d in _site_dirs())}:
        blocked = _blocked_ancestor(needed)
        if blocked is not None:
            hidden.setdefault(blocked, set()).add(needed.relative_to(blocked).parts[0])
    if not hidden:
        return run
    keep, show = [], []
    for i, (blocked, inners) in enumerate(sorted(hidden.items())):
        view = stage / f"view{i}"
        view.mkdir(exist_ok=True)
        view.chmod(0o755)
        for j, inner in enumerate(sorted(inners)):
            real = stage / f"real{i}-{j}"
            real.mkdir(exist_ok=True)
            (view / inner).mkdir(exist_ok=True)
            keep.append(f'mount --bind "{blocked / inner}" "{real}"')
            show.append(f'mount --bind "{real}" "{blocked / inner}"')
        keep.append(f'mount --bind "{view}" "{blocked}"')
    script = "; ".join(["set -e", *keep, *show, f'cd "{cwd}"', 'exec "$@"'])
    return ["unshare", "--mount", "sh", "-c", script, "sh", *run]


def test_installed_like_the_dockerfile_runs_demo_as_nobody_from_a_read_only_dir(venv: Path,
                                                                               image_root: Path) -> None:
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.fail("setpriv (util-linux) is needed to drop to a non-root user")
    workdir = image_root / "readonly-cwd"
    workdir.mkdir()
    workdir.chmod(0o555)  # root-owned, r-x: the non-root user cannot write here
    stage = image_root / "ns"
    stage.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": "/nonexistent", "TMPDIR": "/tmp",
           "PYTHONDONTWRITEBYTECODE": "1", "PYTHONUNBUFFERED": "1", "LANG": "C.UTF-8"}
    probe = _as_nobody(["python", "-c", "import gate, os; print(os.getuid(), gate.__file__)"],
                       cwd=workdir, env=env, stage=stage)
    proc = subprocess.run(probe, cwd=workdir, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    uid, module = proc.stdout.split()
    assert int(uid) != 0
    assert module.startswith(str(venv)), f"gate imported from {module}, not the installed wheel"

    cmd = _as_nobody(["gate", "demo"], cwd=workdir, env=env, stage=stage)
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Overall: PASS" in proc.stdout
    assert not any(workdir.iterdir()), "nothing may be written to the working directory"


def test_installed_gate_has_the_console_script_and_version(venv: Path) -> None:
    proc = subprocess.run([str(venv / "bin" / "gate"), "--version"], capture_output=True, text=True,
                          timeout=60, cwd="/")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("gate, version ")
