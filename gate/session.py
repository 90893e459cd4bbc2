"""Everything one command needs, built once from its options: settings, cluster, spec, plan, clients."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checks.base import Clients
from gate.cluster.kube import KubeClient, connect, in_cluster
from gate.engine.plan import Plan
from gate.entry import Interrupted
from gate.errors import ConfigError
from gate.model import LevelResult
from gate.options import RunOptions


def watch_enabled(opts: RunOptions) -> bool:
    """Watches are on unless `--no-watch` or GATE_WATCH=0/false/no/off (commands without the flag)."""
    import os

    if "watch" in opts.extra:
        return bool(opts.extra["watch"])
    return os.environ.get("GATE_WATCH", "1").strip().lower() not in ("0", "false", "no", "off")


@dataclass
class Session:
    opts: RunOptions
    settings: Any
    kube: KubeClient | None
    spec: Any
    plan: Plan | None
    clients: Clients
    progress: Any

    @classmethod
    def open(cls, opts: RunOptions, *, need_cluster: bool = True, need_plan: bool = True) -> Session:
        from gate.engine import deadlines
        from gate.engine.progress import Progress
        from gate.httpclient import HttpClient
        from gate.spec.discovery import discover
        from gate.spec.load import load_spec
        from gate.spec.settings import load_settings

        deadlines.start_run(opts.timeout)  # --timeout holds from here: discovery, preflight, levels, Kargo
        settings = load_settings(opts.config, {"kargo_project": opts.project})
        connected: list[KubeClient | None] = []

        def cluster() -> KubeClient | None:
            """Connect on first need, so a malformed spec is reported (exit 2) before any cluster error."""
            if not connected:
                connected.append(connect(opts.kubeconfig, opts.context) if need_cluster else None)
            return connected[0]

        def resolve_missing(keys: set[str]) -> Any:
            kube = cluster()
            return discover(settings, kube, keys) if kube is not None else settings

        spec = plan = None
        if need_plan:
            if not opts.stage:
                raise ConfigError("--stage is required", key="--stage")
            spec = load_spec(opts.spec, settings, resolve_missing=resolve_missing)
            plan = spec.plan(opts.stage, opts.levels)
            settings = spec.settings  # with whatever discovery filled in
        kube = cluster()
        http = HttpClient(kube=kube)
        clients = Clients(kube=kube, http=http, settings=settings, freight=opts.freight,
                          in_cluster=in_cluster())
        progress = Progress()
        return cls(opts, settings, kube, spec, plan, clients, progress)

    def run_levels(self, plan: Plan | None = None) -> list[LevelResult]:
        """Run the plan's levels. On SIGINT/SIGTERM the Interrupted exception carries `.levels`: what
        finished so far, with the checks in flight marked as interrupted, so reports stay complete."""
        from gate.engine import deadlines
        from gate.engine.runner import Runner

        wall = deadlines.run_wall()
        runner = Runner(self.clients, self.kube, timeout=None if wall else self.opts.timeout, deadline=wall,
                        progress=self.progress, watch=watch_enabled(self.opts))
        try:
            return runner.run(plan or self.plan)  # type: ignore[arg-type]
        except Interrupted as exc:
            exc.levels = runner.snapshot()  # type: ignore[attr-defined]
            raise
        finally:
            self.progress.finish()  # end any in-place progress line before the report prints
