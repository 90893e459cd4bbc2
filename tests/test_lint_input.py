"""`gate lint` input limits and never stopping: regular files only (a FIFO or a device is refused with a
finding, never opened), 8 MiB per file, symbolic links followed only inside the given tree, Helm chart
templates skipped with a note, piped Helm/Kustomize output read from stdin, a gate spec checked offline,
and the progress line on a terminal."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from test_lint import CLEAN, FLAWED, ROOT, gate

from gate.lint.progress import Progress

MIB = 1024 * 1024


def lint_json(*args: str, stdin: str | None = None, timeout: float = 30) -> tuple[int, list[dict], str]:
    proc = subprocess.run([sys.executable, "-m", "gate", "lint", "--format", "json", *args], capture_output=True,
                          text=True, cwd=ROOT, input=stdin, timeout=timeout)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.returncode, json.loads(proc.stdout)["findings"], proc.stderr


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    shutil.copytree(CLEAN, tree)
    os.mkfifo(tree / "stages.yaml")  # no writer: opening it for reading would block forever
    os.mkfifo(tmp_path / "given.yaml")
    started = time.monotonic()
    code, found, _ = lint_json(str(tree), str(tmp_path / "given.yaml"), timeout=20)
    assert time.monotonic() - started < 15
    refused = sorted((Path(f["file"]).name, f["rule"], f["severity"]) for f in found)
    assert refused == [("given.yaml", "input-refused", "error"), ("stages.yaml", "input-refused", "error")]
    assert all("a FIFO, not a regular file" in f["message"] for f in found)
    assert code == 1


def test_a_device_is_refused() -> None:
    code, found, _ = lint_json("/dev/zero", str(CLEAN))
    assert code == 1 and [(f["file"], f["rule"]) for f in found] == [("/dev/zero", "input-refused")]
    assert "a device, not a regular file" in found[0]["message"]


def test_a_file_over_8_mib_is_refused_without_reading_it(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with open(big, "wb") as fh:  # sparse: 100 MB on paper, nothing on disk
        fh.truncate(100 * MIB)
    ok = tmp_path / "edge.yaml"
    ok.write_text("# exactly 8 MiB is allowed\n" + "#" * (8 * MIB - 28) + "\n")
    assert ok.stat().st_size == 8 * MIB
    started = time.monotonic()
    code, found, _ = lint_json(str(big), str(ok), str(CLEAN))
    assert time.monotonic() - started < 10
    assert [(Path(f["file"]).name, f["rule"]) for f in found] == [("big.yaml", "input-refused")]
    assert "larger than 8 MiB" in found[0]["message"] and code == 1


def test_stdin_over_8_mib_is_refused() -> None:
    code, found, _ = lint_json("-", stdin="#" * (8 * MIB + 10))
    assert code == 1 and [(f["file"], f["rule"]) for f in found] == [("<stdin>", "input-refused")]


def test_symlinked_files_are_followed_only_inside_the_given_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.copy(FLAWED / "stage-cycle.yaml", outside / "cycle.yaml")
    tree = tmp_path / "tree"
    shutil.copytree(CLEAN, tree)
    (tree / "sub").mkdir()
    shutil.copy(FLAWED / "promotion-in-git.yaml", tree / "sub" / "promo.yaml")
    (tree / "inside.yaml").symlink_to(tree / "sub" / "promo.yaml")
    (tree / "escape.yaml").symlink_to(outside / "cycle.yaml")
    (tree / "linked-dir").symlink_to(outside, target_is_directory=True)  # directories are not descended
    code, found, _ = lint_json(str(tree))
    got = sorted((Path(f["file"]).name, f["rule"]) for f in found)
    assert got == [("escape.yaml", "input-refused"), ("inside.yaml", "promotion-in-git"),
                   ("promo.yaml", "promotion-in-git")]
    escape = next(f for f in found if f["rule"] == "input-refused")
    assert "outside" in escape["message"] and "not followed" in escape["message"]
    # named on the command line, a link is the user's own choice and is read
    code, found, _ = lint_json(str(tree / "escape.yaml"))
    assert "stage-cycle" in {f["rule"] for f in found} and "input-refused" not in {f["rule"] for f in found}


def test_helm_chart_templates_are_skipped_with_one_note(tmp_path: Path) -> None:
    chart = tmp_path / "charts" / "web"
    (chart / "templates" / "sub").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 0.1.0\n")
    (chart / "values.yaml").write_text("replicaCount: 1\n")
    for name in ("deployment.yaml", "service.yaml", "sub/hpa.yaml"):
        (chart / "templates" / name).write_text('metadata:\n  labels:\n    {{- include "web.labels" . | nindent 4 }}\n')
    code, found, _ = lint_json(str(tmp_path))
    assert code == 0
    (note,) = found
    assert note["rule"] == "helm-chart-template" and note["severity"] == "info"
    assert "3 Helm template file(s)" in note["message"] and f"helm template {chart} | gate lint -" in note["message"]
    code, found, _ = lint_json(str(chart / "templates" / "service.yaml"))  # named directly: the same note
    assert code == 0 and [f["rule"] for f in found] == ["helm-chart-template"]


def test_rendered_output_is_read_from_stdin_as_kustomize_or_helm_print_it() -> None:
    stream = "\n---\n".join(p.read_text() for p in sorted(CLEAN.glob("*.yaml")))
    code, found, _ = lint_json("-", stdin=stream + "\n---\n" + (FLAWED / "app-auto-sync.yaml").read_text())
    assert code == 1 and [(f["file"], f["rule"]) for f in found] == [("<stdin>", "app-auto-sync")]


def test_gate_spec_is_checked_offline(tmp_path: Path) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text("defaults: {timeout: 30s}\nstages:\n  monitoring:\n    levels:\n      1:\n"
                    "        - pods: {namespace: \"${MONITORING_NS}\", selector: app=grafana}\n")
    proc = gate("lint", str(spec))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip() == "0 objects and 1 gate spec in 1 files: 0 errors, 0 warnings"
    code, found, _ = lint_json(str(FLAWED / "gate-spec.yaml"))
    assert code == 1 and [(f["line"], f["rule"]) for f in found] == [(4, "gate-spec"), (8, "gate-spec"),
                                                                    (9, "gate-spec"), (10, "gate-spec")]
    assert "is not a Kubernetes name" in found[0]["message"] and "unknown variable ${APP_NAMESPACE}" in \
        found[1]["message"] and "unknown key 'min_redy'" in found[2]["message"]
    assert "'Team_A' is not a valid namespace: expected a DNS-1123 label" in found[3]["message"]


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_after_a_second_on_a_terminal_only_and_clears_itself() -> None:
    clock, tty = _Clock(), _Tty()
    with Progress(tty, clock) as shown:  # type: ignore[arg-type]
        shown.file("a.yaml")
        assert tty.getvalue() == ""  # a quick run shows nothing
        clock.now = 1.5
        shown.file("kargo/stages.yaml")
        assert "gate lint: read 2 files, reading kargo/stages.yaml (2s)" in tty.getvalue()
        shown.phase("checking")
        assert "checking (2 files read)" in tty.getvalue()
    assert tty.getvalue().endswith("\r\x1b[K")
    pipe, clock = io.StringIO(), _Clock()
    with Progress(pipe, clock) as shown:  # type: ignore[arg-type]
        clock.now = 5
        shown.file("a.yaml")
        shown.phase("checking")
    assert pipe.getvalue() == ""


def test_cluster_that_refuses_the_stages_cannot_be_linted() -> None:
    """Everything else may be skipped with a note; without the Stages there is no pipeline: exit 3."""
    from gate.sim import scenario
    from gate.sim.server import start

    world = scenario.resolve("healthy")
    rules = world["rbac"]["system:serviceaccount:platform:gate"]
    for rule in rules:
        if "kargo.akuity.io" in rule.get("apiGroups", []):
            rule["resources"] = [r for r in rule["resources"] if r != "stages"]
    with start(world) as sim:
        proc = gate("lint", "--cluster", "--project", "platform", "--kubeconfig", sim.kubeconfig)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "stages" in proc.stderr and "Traceback" not in proc.stderr
