"""`gate status`: the pipeline table against the simulator; read-only; --watch redraws and stops on SIGINT."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from gate.cli import cli
from gate.entry import run
from gate.sim.scenario import builtin_names
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
SCHEMA = json.loads((ROOT / "docs/status.schema.json").read_text())


def status(world: str, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, list]:
    with start(world) as sim:
        code = run(cli, ["status", "--config", CONFIG, "--kubeconfig", sim.kubeconfig, *args])
        requests = list(sim.requests)
    return code, capsys.readouterr().out, requests


def test_table_shows_every_stage_in_pipeline_order(capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, requests = status("diagnose-promote-errored", capsys=capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split("  ")[0] == "STAGE" and "BLOCKS NEXT PROMOTION" in lines[0] and "RUNNING" in lines[0]
    assert [ln.split()[0] for ln in lines[1:]] == ["operators", "monitoring", "services"]
    monitoring = lines[2]
    assert "brave-badger (3d)" in monitoring and "Successful" in monitoring
    assert "False LastPromotionErrored" in monitoring
    assert "monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2 Errored (" in monitoring
    assert "kube-prometheus-stack Synced/Healthy, loki Synced/Healthy" in monitoring
    assert "promotion-errored-other: Promotion" in monitoring and "authentication required" in monitoring
    assert "…" not in out
    assert lines[1].rstrip().endswith("nothing") and lines[3].rstrip().endswith("nothing")
    assert not [r for r in requests if r["method"] in WRITES], "status must not write"


@pytest.mark.parametrize("columns", [80, 100, 140])
def test_table_fits_the_terminal_and_cuts_nothing(columns: int, capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: rows of 171-236 characters, the last column cut with "…" even at COLUMNS=100."""
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, _ = status("diagnose-promote-errored", capsys=capsys)
    assert code == 0
    assert max(len(ln) for ln in out.splitlines()) <= columns, out
    words = " ".join(out.split())
    for phrase in ("ComparisonError: rpc error: code = Unknown desc = repository not accessible: "
                   "authentication required",):
        assert all(w in words for w in phrase.split()), phrase
    assert "…" not in out
    header = out.splitlines()[0]
    for kept in ("STAGE", "FREIGHT", "RUNNING", "BLOCKS NEXT PROMOTION"):
        assert kept in header
    if "APPS" not in header:  # dropped in the stated order, and said so
        assert "not shown to fit" in " ".join(out.split()) and "APPS" in out.split("not shown to fit")[1]
    if columns >= 140:
        assert "APPS" not in header or "VERIFICATION" in header  # APPS goes before VERIFICATION


def test_json_and_running_states(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, requests = status("diagnose-promotion-running", "--output", "json", capsys=capsys)
    assert code == 0
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    row = next(s for s in doc["stages"] if s["stage"] == "monitoring")
    run = row["running_promotion"]
    assert run["name"] == "monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2" and run["phase"] == "Running"
    assert 100 <= run["running_seconds"] <= 400 and run["step"] == "argocd-update" and run["started_at_recorded"]
    assert row["last_promotion"] is None or row["last_promotion"]["name"] != run["name"]
    blocks = row["blocks_next_promotion"]
    assert blocks["rule"] == "promotion-running" and blocks["problem"] is False
    assert row["ready"] == {"status": "False", "reason": "ActivePromotion", "legacy_phase": None,
                            "message": 'Promotion "monitoring.01k3zq5r1d2e3f4g5h6j7k8m9n.7539ab2" is currently Running'}
    assert not [r for r in requests if r["method"] in WRITES]


def test_running_promotion_is_kept_out_of_last_promotion_in_the_table(capsys: pytest.CaptureFixture[str],
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, _ = status("diagnose-promotion-running", capsys=capsys)
    header, *rows = out.splitlines()
    monitoring = next(r for r in rows if r.startswith("monitoring"))
    last = monitoring[header.index("LAST PROMOTION"):header.index("RUNNING")]
    running = monitoring[header.index("RUNNING"):header.index("APPS")]
    assert "7539ab2 Running for " in running and "at argocd-update" in running
    assert "Running" not in last


@pytest.mark.parametrize("world", [n for n in builtin_names() if n.startswith("diagnose-")])
def test_json_validates_against_the_documented_schema_and_is_never_cut(world: str,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    with start(world) as sim:  # the diagnosis in the JSON is the whole one `gate diagnose` gives, same world
        base = ["--config", CONFIG, "--kubeconfig", sim.kubeconfig, "--output", "json"]
        code = run(cli, ["status", *base])
        doc = json.loads(capsys.readouterr().out)
        run(cli, ["diagnose", *base])
        diag = {s["stage"]: s for s in json.loads(capsys.readouterr().out)["stages"]}
    assert code == 0
    jsonschema.validate(doc, SCHEMA)
    for row in doc["stages"]:
        b = row["blocks_next_promotion"]
        if b is not None:
            d = next(x for x in diag[row["stage"]]["diagnoses"] if x["rule"] == b["rule"])
            pair = ((b["root_cause"], b["fix"]), (d["root_cause"], d["fix"]))
            same = [re.sub(r"\d+", "N", json.dumps(x)) for x in pair]
            assert same[0] == same[1]  # whole, never cut (N: a clock read a moment apart)


def test_watch_redraws_a_bounded_number_of_times(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, requests = status("diagnose-healthy", "--watch", "--interval", "1", "--count", "2", capsys=capsys)
    assert code == 0
    assert out.count("STAGE  ") == 2 and out.count("gate status  project platform") == 2
    assert not [r for r in requests if r["method"] in WRITES]


def test_watch_exits_130_on_sigint() -> None:
    with start("diagnose-healthy") as sim:
        proc = subprocess.Popen([sys.executable, "-m", "gate", "status", "--watch", "--interval", "1",
                                 "--config", CONFIG, "--kubeconfig", sim.kubeconfig],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.stdout.readline().startswith("STAGE"):
                break
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        writes = [r for r in sim.requests if r["method"] in WRITES]
    assert not writes


def test_control_flow_stage_shows_what_it_routes(capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "1000")
    code, out, _ = status("diagnose-control-flow-routing", capsys=capsys)
    row = next(ln for ln in out.splitlines() if ln.startswith("gate "))
    assert "routes calm-crane (" in row and row.rstrip().endswith("nothing") and "NoFreight" not in row
    code, out, _ = status("diagnose-control-flow-routing", "--output", "json", capsys=capsys)
    gate = next(s for s in json.loads(out)["stages"] if s["stage"] == "gate")
    assert gate["control_flow"] and [f["alias"] for f in gate["freight"]] == ["calm-crane"]
