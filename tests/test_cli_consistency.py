"""The CLI behaves the same way everywhere: a closed pipe is not an error (and never changes a verdict),
a mistyped command gets "did you mean", click's completion for three shells, durations as `10s`, `-o`
for the output format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from gate.commands.status import status

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}


def gate(*args: str, tmp_path: Path, **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gate", *args], capture_output=True, text=True, timeout=120,
                          env=_env(tmp_path), **kw)  # type: ignore[call-overload]


def _closed_stdout(*args: str, tmp_path: Path) -> tuple[int, str]:
    """Run with stdout a pipe whose reader is gone before the first write (`| head -0`)."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "gate", *args], stdout=write, stderr=subprocess.PIPE,
                              text=True, timeout=120, env=_env(tmp_path))
    finally:
        os.close(write)
    return proc.returncode, proc.stderr


def test_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    code, err = _closed_stdout("demo", "--list", tmp_path=tmp_path)
    assert code == 0 and "Traceback" not in err and "Exception ignored" not in err, err
    proc = subprocess.run(f'"{sys.executable}" -m gate demo --list | head -1', shell=True, capture_output=True,
                          text=True, timeout=120, env=_env(tmp_path), executable="/bin/bash")
    assert proc.stdout.startswith("healthy ") and proc.stdout.count("\n") == 1


def test_a_closed_pipe_never_changes_a_verdict(tmp_path: Path) -> None:
    code, err = _closed_stdout("demo", "--scenario", "crashloop", "--timeout", "3s", tmp_path=tmp_path)
    assert code == 1, err  # the gate closed: a reader that went away makes it neither 0 nor click's 1-for-EPIPE
    code, err = _closed_stdout("demo", tmp_path=tmp_path)
    assert code == 0, err


def test_a_mistyped_command_gets_did_you_mean(tmp_path: Path) -> None:
    proc = gate("verfy", "--stage", "x", tmp_path=tmp_path)
    assert proc.returncode == 2 and "No such command 'verfy'. Did you mean 'verify'?" in proc.stderr
    proc = gate("zzzz", tmp_path=tmp_path)
    assert proc.returncode == 2 and "No such command 'zzzz'" in proc.stderr and "Did you mean" not in proc.stderr


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(shell: str, tmp_path: Path) -> None:
    proc = gate("completion", shell, tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "_GATE_COMPLETE" in proc.stdout and f"{shell}_complete" in proc.stdout


def test_bash_completion_completes_commands_and_options(tmp_path: Path) -> None:
    """What the bash script asks the gate (click's protocol), answered by the gate."""
    env = {**_env(tmp_path), "_GATE_COMPLETE": "bash_complete", "COMP_WORDS": "gate ver", "COMP_CWORD": "1"}
    proc = subprocess.run([sys.executable, "-c", "from gate.cli import main; main()"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert proc.stdout.strip().splitlines() == ["plain,verify"], proc.stdout + proc.stderr
    env.update(COMP_WORDS="gate demo --scen", COMP_CWORD="2")
    proc = subprocess.run([sys.executable, "-c", "from gate.cli import main; main()"], capture_output=True,
                          text=True, timeout=60, env=env)
    assert "plain,--scenario" in proc.stdout.splitlines()


def test_status_interval_takes_durations() -> None:
    for given, seconds in (("10s", 10.0), ("1m", 60.0), ("5", 5.0)):
        assert status.make_context("status", ["--interval", given]).params["interval"] == seconds
    for bad in ("0.5s", "soon"):
        with pytest.raises(click.BadParameter) as exc:
            status.make_context("status", ["--interval", bad])
        assert exc.value.param is not None and exc.value.param.name == "interval"


def test_dash_o_selects_the_output(tmp_path: Path) -> None:
    proc = gate("demo", "-o", "json", tmp_path=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["overall"]
    clean = str(ROOT / "tests/data/lint/clean")
    proc = gate("lint", "-o", "sarif", clean, tmp_path=tmp_path)
    assert proc.returncode == 0 and json.loads(proc.stdout)["version"] == "2.1.0"
    proc = gate("lint", "--format", "sarif", clean, tmp_path=tmp_path)  # the old name stays
    assert proc.returncode == 0 and json.loads(proc.stdout)["version"] == "2.1.0"


def test_sim_serve_help_groups_the_scenarios_and_sim_list_names_them_all() -> None:
    from click.testing import CliRunner

    from gate.cli import cli
    from gate.sim.scenario import builtin_names

    names = builtin_names()
    text = CliRunner().invoke(cli, ["sim", "serve", "--help"], terminal_width=120).output
    help_words = " ".join(text.split())
    listed = [n for n in names if n in help_words.replace("- ", "-")]
    assert len(listed) < len(names) / 2, "the help lists the families, not every scenario"
    assert "diagnose-* (" in help_words and "argocd-* (" in help_words and "gate sim list" in help_words
    out = CliRunner().invoke(cli, ["sim", "list"]).output.splitlines()
    assert [line.split()[0] for line in out] == names


def test_render_ttl_takes_durations(tmp_path: Path) -> None:
    from gate.render import analysis_template_cmd

    for given, seconds in (("90m", 5400), ("86400", 86400), ("24h", 86400)):
        ctx = analysis_template_cmd.make_context("analysis-template", ["--stage", "s", "--image", "i", "--ttl", given])
        assert ctx.params["ttl"] == seconds
    assert analysis_template_cmd.make_context("analysis-template", ["--stage", "s", "--image", "i"]).params["ttl"] \
        == 86400
    with pytest.raises(click.BadParameter):
        analysis_template_cmd.make_context("analysis-template", ["--stage", "s", "--image", "i", "--ttl", "a day"])
