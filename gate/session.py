"""Everything one command needs, built once from its options: settings, cluster, spec, plan, clients."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gate.checks.base import Clients
from gate.cluster.kube import KubeClient, connect, in_cluster, register_secrets_only
from gate.engine import gcpause
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

    resolve: Callable[[set[str]], Any] | None = None  # discover missing settings keys (lazily)
    # cluster key -> gate.cluster.destinations.Destination: where the checks with a `cluster:` read
    clusters: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # for the report (e.g. a destination's TLS not verified)

    @classmethod
    def open(cls, opts: RunOptions, *, need_cluster: bool = True, need_plan: bool = True,
             connect_always: bool = False) -> Session:
        """`need_cluster=False`: never connect (render). Otherwise a command with a plan connects only when
        the plan needs the cluster (a check declares permissions) or a setting must be discovered;
        `connect_always` for commands about the cluster itself (`gate rbac check`)."""
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

        def resolve_missing(keys: set[str], base: Any = None) -> Any:
            base = settings if base is None else base
            if not base.missing(keys):
                return base
            kube = cluster()
            return discover(base, kube, keys) if kube is not None else base

        spec = plan = None
        if need_plan:
            if not opts.stage:
                raise ConfigError("--stage is required", key="--stage")
            spec = load_spec(opts.spec, settings, resolve_missing=resolve_missing, stage=opts.stage)
            plan = spec.plan(opts.stage, opts.levels)
            wanted = plan_settings(plan)
            if spec.settings.missing(set(wanted)):
                spec.settings = resolve_missing(set(wanted), spec.settings)
                plan = spec.plan(opts.stage, opts.levels)  # the checks pin what discovery found
                if need_cluster:
                    _require(plan, spec.settings)
            settings = spec.settings  # with whatever discovery filled in
        needed = connect_always or not need_plan or plan_needs_cluster(plan) or _in_analysis_run()
        kube = cluster() if needed else (connected or [None])[0]
        if kube is None:
            register_secrets_only(opts.kubeconfig)  # never printed, even by a run that needs no cluster
        http = HttpClient(kube=kube)
        clients = Clients(kube=kube, http=http, settings=settings, freight=opts.freight,
                          in_cluster=in_cluster())
        progress = Progress()
        session = cls(opts, settings, kube, spec, plan, clients, progress, resolve_missing)
        if need_cluster and plan is not None:
            session._open_destinations(cluster)
        gcpause.end_start_up()  # imports, spec and plan are done: collect as usual (gate.engine.gcpause)
        return session

    def _open_destinations(self, control: Callable[[], KubeClient | None]) -> None:
        """One Destination per `cluster:` of the plan (gate/cluster/destinations.py); the control plane
        is connected for the ones Argo CD knows (their Application and Secret are read there)."""
        from gate.cluster import destinations

        refs = destinations.refs_of(self.plan)
        if not refs:
            return
        kube = control() if any(r.via_argocd for r in refs) else self.kube
        self.clusters = destinations.resolve(refs, kube, self.settings, kubeconfig=self.opts.kubeconfig,
                                             control_http=self.clients.http)
        destinations.labels(self.plan, self.clusters)
        self.notes = [w for d in self.clusters.values() for w in d.warnings]

    def discover(self, keys: set[str]) -> Any:
        """Settings with the missing `keys` filled from the cluster (for commands without a plan, e.g.
        precheck's Kargo project); the session and its checks see the result."""
        if self.resolve is not None and self.settings.missing(keys):
            self.settings = self.resolve(keys, self.settings)
            self.clients.settings = self.settings
        return self.settings

    def run_levels(self, plan: Plan | None = None) -> list[LevelResult]:
        """Run the plan's levels. On SIGINT/SIGTERM the Interrupted exception carries `.levels`: what
        finished so far, with the checks in flight marked as interrupted, so reports stay complete."""
        from gate.engine import deadlines
        from gate.engine.runner import Runner

        wall = deadlines.run_wall()
        runner = Runner(self.clients, self.kube, timeout=None if wall else self.opts.timeout, deadline=wall,
                        progress=self.progress, watch=watch_enabled(self.opts), clusters=self.clusters)
        try:
            return runner.run(plan or self.plan)  # type: ignore[arg-type]
        except Interrupted as exc:
            exc.levels = runner.snapshot()  # type: ignore[attr-defined]
            raise
        finally:
            self.progress.finish()  # end any in-place progress line before the report prints


def plan_needs_cluster(plan: Plan | None) -> bool:
    """A check needs the cluster exactly when it declares RBAC permissions (http/tcp/tls/command and the
    Prometheus family with a `url:` declare none)."""
    return plan is not None and bool(plan.permissions())


def _in_analysis_run() -> bool:
    """A Kargo verification Job reads its AnalysisRun (gate/jobmode.py), whatever the spec's checks need."""
    if not in_cluster():
        return False
    from gate.jobmode import analysisrun_uid

    return bool(analysisrun_uid())


def plan_settings(plan: Plan) -> dict[str, list[Any]]:
    """Settings key -> the checks of the plan that cannot run without it."""
    wanted: dict[str, list[Any]] = {}
    for checks in plan.levels.values():
        for planned in checks:
            for key in planned.check.needs_settings():
                wanted.setdefault(key, []).append(planned.check)
    return wanted


def _require(plan: Plan, settings: Any) -> None:
    """A key a check needs that is neither set nor discoverable: exit 2 naming it and how to set it."""
    for key, checks in plan_settings(plan).items():
        if settings.get(key) is not None:
            continue
        check = checks[0]
        where = check.origin or {}
        note = settings.notes.get(key)
        param = check.needs_settings().get(key)
        instead = f", or give the check `{param}:`" if param else ""
        raise ConfigError(f"the {check.kind} check needs {key}, which is not set and could not be discovered"
                          f"{f' ({note})' if note else ''}: {settings.hint(key)}{instead}",
                          file=where.get("file"), line=where.get("line"), key=where.get("key") or key)
