"""finish() at the end of `gate verify`: a report that cannot be written (its directory gone, disk full)
does not stop the later ones, and the exit code and every written report say the run could not deliver
what was asked (exit 3), never "gate open"."""

from __future__ import annotations

import json
from pathlib import Path

from gate.cli import cli
from gate.entry import run
from gate.sim.server import start

CONFIG = str(Path(__file__).resolve().parents[1] / "gate" / "demo" / "config.yaml")


def test_a_failed_report_write_still_writes_the_others_and_exits_3(tmp_path: Path, capsys,
                                                                   monkeypatch) -> None:
    broken = tmp_path / "junit-dir"
    broken.mkdir()
    spec = tmp_path / "gate.yaml"
    # the check itself passes, and on the way replaces the JUnit report's directory with a file: at the
    # end the JUnit write fails the way a vanished or full disk does
    spec.write_text("stages:\n  monitoring:\n    levels:\n      1:\n"
                    f"        - command: {{run: [sh, -c, 'rm -rf {broken} && echo x > {broken}']}}\n")
    summary, outputs, js = tmp_path / "summary.md", tmp_path / "outputs", tmp_path / "out" / "result.json"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    with start("healthy") as sim:
        code = run(cli, ["verify", "--stage", "monitoring", "--spec", str(spec), "--config", CONFIG,
                         "--kubeconfig", sim.kubeconfig, "--timeout", "5s", "--no-preflight",
                         "--junit", str(broken / "junit.xml"), "--json", str(js)])
    out = capsys.readouterr()
    assert code == 3, out
    assert "Traceback" not in out.out + out.err
    assert str(broken / "junit.xml") in out.err and "cannot write" in out.err, out.err
    result = json.loads(js.read_text())
    assert result["exit_code"] == 3, result["exit_code"]
    assert summary.exists() and outputs.exists()
