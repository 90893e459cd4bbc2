"""Helpers for the capture/replay tests: the demo's simulated worlds, the gate run in-process, and rows
compared with their times left out."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gate.cli import cli
from gate.commands import demo
from gate.entry import run
from gate.sim.server import start

CONFIG = demo._resource("config.yaml")
_TIMES = [
    (re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?"), "<time>"),
    (re.compile(r"\b(?:\d+(?:\.\d+)?(?:ms|h|m|s|d))+\b"), "<dur>"),  # "in 0.002s", "20m02s"
    (re.compile(r"\b\d+(\.\d+)? (ms|s|m|h|d)\b"), "<dur>"),  # "121 s"
    (re.compile(r"\b\d+(\.\d+)?\s*(seconds?|minutes?|hours?|days?)\b"), "<dur>"),
]


@contextmanager
def verify_world(name: str, tmp: Path) -> Iterator[tuple[Any, str]]:
    """A built-in `gate demo` verify scenario: the simulator and the local Level 2-4 servers; (sim, spec)."""
    chosen = demo.SCENARIOS[name]
    with start(chosen.sim, workdir=str(tmp / "sim")) as sim, demo._local_servers(name) as servers:
        variables = servers.env()
        os.environ["DEMO_SSO_TOKEN"] = variables.pop("DEMO_SSO_TOKEN")
        sim.set_service_target("monitoring", "grafana", 3000, servers.base_url)
        try:
            yield sim, demo._spec(tmp, variables)
        finally:
            os.environ.pop("DEMO_SSO_TOKEN", None)


def gate(*args: str, capsys: Any) -> tuple[int, str]:
    code, out, err = gate_streams(*args, capsys=capsys)
    return code, out + err


def gate_streams(*args: str, capsys: Any) -> tuple[int, str, str]:
    """Run `gate ARGS` in-process: (exit code, stdout, stderr)."""
    code = run(cli, list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def normal(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    for pattern, repl in _TIMES:
        text = pattern.sub(repl, text)
    return text


ROW_KEYS = ("id", "name", "kind", "level", "status", "observed", "expected", "evidence", "hint")


def rows(result: dict) -> list[dict]:
    """Every row of a JSON result (sections, levels, post-sections), times left out."""
    out = []
    blocks = [*result["sections"], *result["levels"], *result["post_sections"]]
    for block in blocks:
        for row in block.get("rows") or block.get("checks") or []:
            out.append({k: normal([normal(e) for e in row[k]] if isinstance(row.get(k), list) else row.get(k))
                        for k in ROW_KEYS if k in row})
    return out


def verdict(result: dict) -> tuple:
    return result["overall"], result["exit_code"], result["failed_level"], [
        (b["title"], b["status"]) for b in
        [*result["sections"], *result["levels"], *result["post_sections"]]]


def load(path: Path) -> dict:
    return json.loads(path.read_text())
