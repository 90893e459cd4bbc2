"""Shared helpers for the test_kargo_* modules: a simulator with the Kargo API mounted, the gate CLI run
in-process against it, and the request log filtered the ways the assertions need. (No tests here.)"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gate import redact
from gate.cli import cli
from gate.entry import run
from gate.sim.kargo_api import mount
from gate.sim.server import SimHandle, start

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate" / "demo" / "config.yaml")
SPEC = str(ROOT / "gate" / "demo" / "l1.yaml")
F1, F2 = "0b60e85e2b8477acd27f894785b4a956cace538f", "7539ab25fa8b285f5321128519e52887bdf8c7a1"
PROMOTE_PATH = "/v1beta1/projects/platform/stages/monitoring/promotions"
CONNECT_PROMOTE = "/akuity.io.kargo.service.v1alpha1.KargoService/PromoteToStage"


@dataclass
class Kit:
    sim: SimHandle
    token: str
    tmp: Path
    outputs: list[str] = field(default_factory=list)
    last_err: str = ""  # stderr of the last `gate` run alone (progress lines and warnings go there)

    def gate(
        self, *args: str, capsys: Any, token: str | None = None, env: dict | None = None
    ) -> tuple[int, str]:
        """Run `gate ARGS` in-process (real HTTPS requests to the sim); return (exit code, output)."""
        old = {k: os.environ.get(k) for k in ("KARGO_API_ADDRESS", "KARGO_API_TOKEN", *(env or {}))}
        os.environ["KARGO_API_ADDRESS"] = self.sim.url
        os.environ["KARGO_API_TOKEN"] = token or self.token
        os.environ.update(env or {})
        junit, js = self.tmp / f"junit{len(self.outputs)}.xml", self.tmp / f"result{len(self.outputs)}.json"
        argv = [
            *args,
            "--config",
            CONFIG,
            "--kubeconfig",
            self.sim.kubeconfig,
            "--kargo-ca",
            self.sim.ca_file,
            "--junit",
            str(junit),
            "--json",
            str(js),
            "--poll-interval",
            "0.1",
        ]
        if args and args[0] == "promote":
            argv += ["--spec", SPEC, "--downstream-timeout", "5s"]
        try:
            code = run(cli, argv)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        out = capsys.readouterr()
        self.last_err = out.err
        text = out.out + out.err
        for path in (junit, js):
            if path.exists():
                text += path.read_text()
        self.outputs.append(text)
        return code, out.out + out.err

    def result_json(self) -> dict:
        return json.loads((self.tmp / f"result{len(self.outputs) - 1}.json").read_text())

    def posts(self, path: str = PROMOTE_PATH) -> list[dict]:
        return [r for r in self.sim.requests if r["method"] == "POST" and r["path"] == path]

    def promotions(self, stage: str = "monitoring") -> list[dict]:
        return [
            p
            for p in self.sim.store.list("kargo.akuity.io", "promotions", "platform")
            if p["spec"]["stage"] == stage
        ]

    def kube_promotion_writes(self) -> list[dict]:
        return [
            r
            for r in self.sim.requests
            if r["path"].startswith("/apis/kargo.akuity.io") and r["method"] not in ("GET", "HEAD")
        ]


@contextmanager
def kargo_sim(scenario: str, tmp: Path, speed: float = 10.0) -> Iterator[Kit]:
    redact.clear()
    with start(scenario, speed=speed, workdir=str(tmp / "sim")) as sim:
        info = mount(sim)
        yield Kit(sim, info.token, tmp)
