"""What every benchmark shares: which server it measures, which extras the gate has, runs of the gate
and its peer interleaved pair by pair, and the per-pair ratio (median, min, max).

Interleaving: a machine shared with other work drifts by tens of percent over minutes, so a ratio of two
medians taken one after the other measures the drift as much as the programs. Each pair runs the gate and
the peer back to back (which goes first alternates), and the figure is the median of the pairs' own ratios,
with their min and max.

Extras: the gate's optional `fast` extra (orjson) speeds up parsing big JSON answers. A run "as the default
install" hides it from the gate process (a stub `orjson` on PYTHONPATH whose import fails, which is how
gate/cluster/kube.py sees an install without it), so both are measured on one machine and the default
install is reported first.
"""

from __future__ import annotations

import importlib.metadata
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXTRAS = {"fast": ["orjson"]}  # pyproject.toml [project.optional-dependencies], the runtime ones
_BLOCK = Path(tempfile.mkdtemp(prefix="gate-bench-default-"))
for _extra in EXTRAS.values():
    for _module in _extra:
        (_BLOCK / f"{_module}.py").write_text("raise ImportError('hidden: the default install is measured')\n")


def hide_protobuf() -> None:
    """From now on the gate runs of this benchmark do not find the protobuf package, so they read pods as
    JSON (gate.cluster.protoschema.classes): `--no-protobuf`, for a before/after on one server."""
    (_BLOCK / "google").mkdir(exist_ok=True)
    (_BLOCK / "google" / "__init__.py").write_text("raise ImportError('hidden: pods read as JSON')\n")


def installed_extras() -> dict[str, str]:
    """extra -> 'module version, …' for the extras whose modules are installed."""
    out = {}
    for extra, modules in EXTRAS.items():
        found = []
        for module in modules:
            try:
                found.append(f"{module} {importlib.metadata.version(module)}")
            except importlib.metadata.PackageNotFoundError:
                continue
        if found and len(found) == len(modules):
            out[extra] = ", ".join(found)
    return out


def installs() -> list[tuple[str, dict[str, str]]]:
    """(label, environment) of each install to measure: the default install first, then with the extras
    installed here (if any)."""
    extras = installed_extras()
    default = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_BLOCK), str(ROOT)])}
    out = [("default install", default)]
    if extras:
        label = "with extras " + "; ".join(f"[{k}] {v}" for k, v in extras.items())
        out.append((label, {**os.environ, "PYTHONPATH": str(ROOT)}))
    return out


def describe_extras() -> str:
    """The extras installed, and whether the default install reads pods in protobuf (its upb parser)."""
    from importlib.metadata import PackageNotFoundError, version

    from gate.cluster import protoschema

    extras = installed_extras()
    text = ("extras installed: " + "; ".join(f"[{k}] {v}" for k, v in extras.items())) if extras else \
        "extras installed: none (default install only)"
    try:
        proto = f"protobuf {version('protobuf')}"
    except PackageNotFoundError:
        proto = "protobuf missing"
    hidden = (_BLOCK / "google").exists()
    how = "pods lists read as JSON (protobuf hidden: --no-protobuf)" if hidden else \
        "pods lists read in protobuf" if protoschema.classes() is not None else "pods lists read as JSON"
    return f"{text}; {proto}: {how}"


def describe_server(kubeconfig: str) -> str:
    """'server URL (its /version gitVersion)': what the figures were measured against."""
    from gate.cluster.kube import connect

    kube = connect(kubeconfig)
    resp = kube.request("GET", "/version")
    version = resp.body.get("gitVersion") if isinstance(resp.body, dict) else None
    what = "the simulator (gate/sim, in this process)" if str(version).endswith("-sim") else "kube-apiserver"
    gzip = "lists gzipped" if kube.compression else "lists not compressed (disable-compression)"
    return f"server: {kube.host}, {what} {version}, {gzip}"


def timed(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def interleaved(gate: Callable[[], Any], peer: Callable[[], Any], pairs: int,
                warm: bool = True) -> list[tuple[float, float]]:
    """`pairs` (gate wall, peer wall), each pair run back to back, who goes first alternating; one warm-up
    of each first (page cache, kubectl's discovery cache)."""
    if warm:
        gate()
        peer()
    out = []
    for i in range(pairs):
        if i % 2 == 0:
            g = timed(gate)
            p = timed(peer)
        else:
            p = timed(peer)
            g = timed(gate)
        out.append((g, p))
    return out


def ratio_line(walls: list[tuple[float, float]], peer: str = "kubectl") -> str:
    """Medians of each side and the median (min, max) of the per-pair ratios."""
    ratios = [g / p for g, p in walls]
    gate_wall, peer_wall = statistics.median(g for g, _ in walls), statistics.median(p for _, p in walls)
    return (f"gate {gate_wall:.3f} s, {peer} {peer_wall:.3f} s;"
            f" gate/{peer} per pair: median {statistics.median(ratios):.2f}x (min {min(ratios):.2f}x, "
            f"max {max(ratios):.2f}x, {len(ratios)} pairs)")


def run_child(cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
              ) -> tuple[float, float, int, bytes]:
    """(wall s, peak RSS MB, exit code, stdout) of one child process.

    The peak is the child's own VmHWM (/proc/PID/status), polled until it exits: the high-water mark
    of the program after exec. (A fork's rusage would also count this process's pages, copied into the
    child before it exec'd: with the simulator loaded here, that is hundreds of MB that are not the
    child's.)"""
    start = time.perf_counter()
    peak = 0
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
        exe = os.path.realpath(cmd[0])
        while proc.poll() is None:
            peak = max(peak, _hwm_kb(proc.pid, exe))
            time.sleep(0.005)
        wall = time.perf_counter() - start
        out.seek(0)
        data = out.read()
    return wall, peak / 1024, proc.returncode, data


def _hwm_kb(pid: int, exe: str) -> int:
    """The process's peak resident set (kB) once it runs `exe`; 0 before the exec or after the exit."""
    try:
        if os.path.realpath(f"/proc/{pid}/exe") != exe:
            return 0
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def python() -> str:
    return sys.executable
