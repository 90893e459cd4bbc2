"""`gate diagnose` never suggests a Promotion that `gate precheck` would refuse (issue 21): every diagnose
scenario is diagnosed against the simulator, and every `kargo promote` its fixes print is run through the real
`gate precheck` (reading Kargo through the Kubernetes API) on the same world."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gate.cli import cli
from gate.entry import run
from gate.sim.scenario import builtin_names
from gate.sim.server import start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate/demo/config.yaml")
PROMOTE = re.compile(r"kargo promote --project (?P<project>\S+) --stage (?P<stage>\S+) "
                     r"(?P<flag>--freight-alias|--freight) (?P<freight>[^\s<>]+)(?P<rest>.*)")
WORLDS = [n for n in builtin_names() if n.startswith("diagnose-")]
# Rows a fix's own earlier step clears: "abort the stuck Promotion, then promote again".
CLEARED_FIRST = {"after aborting": {"pre.no-active-promotion"}, "operation: a deliberate": {"pre.argocd-not-syncing"}}
# Worlds whose diagnosis must suggest a promotion (so the walk cannot pass by finding none).
SUGGESTS = {"diagnose-promote-errored", "diagnose-no-freight-not-promoted", "diagnose-no-freight-newest-unavailable",
            "diagnose-promotion-stuck", "diagnose-no-freight-stale-history", "diagnose-log-promotion-exists"}


def suggested(doc: dict) -> list[tuple[str, dict]]:
    """(fix line, its parsed promote command) for every concrete `kargo promote` in every diagnosis."""
    out = []
    for stage in doc["stages"]:
        for d in stage["diagnoses"]:
            for line in d["fix"]:
                m = PROMOTE.search(line)
                if m and "--abort" not in line:
                    out.append((line, m.groupdict()))
    return out


@pytest.fixture(autouse=True)
def _kube_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KARGO_API_ADDRESS", "KARGO_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("world", WORLDS)
def test_every_suggested_promotion_passes_precheck(world: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with start(world) as sim:
        base = ["--config", CONFIG, "--kubeconfig", sim.kubeconfig]
        run(cli, ["diagnose", *base, "--output", "json"])
        doc = json.loads(capsys.readouterr().out)
        assert suggested(doc) or world not in SUGGESTS, f"{world}: no promotion suggested"
        for line, cmd in suggested(doc):
            result = tmp_path / "precheck.json"
            flag = "--freight-alias" if cmd["flag"] == "--freight-alias" else "--freight"
            args = ["precheck", *base, "--stage", cmd["stage"], flag, cmd["freight"], "--json", str(result)]
            if "retry" in cmd["rest"]:
                args.append("--retry-failed")  # the fix says it is a deliberate retry of a failed Freight
            code = run(cli, args)
            text = capsys.readouterr()
            rows = [r for s in json.loads(result.read_text())["sections"] for r in s["rows"]
                    if s["title"] == "Pre-promotion"]
            cleared = {rid for phrase, ids in CLEARED_FIRST.items() if phrase in line for rid in ids}
            refused = [f"{r['id']} {r['status']}: {r['observed']}" for r in rows
                       if r["status"] != "PASS" and r["id"] not in cleared]
            assert not refused, f"{world}: diagnose suggested `{line}`, precheck refuses it: {refused}"
            assert code == 0 or cleared, (code, text.out[-2000:])
