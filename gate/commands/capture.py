"""`gate capture`: a read-only snapshot of the world a stage's verdict is made on, as a scenario the
simulator serves (`--replay` on verify, precheck, diagnose, status); `--check FILE` scans one for
credentials.

It records what the gate itself reads (gate/capture/record.py) while it makes one observation of every
check of the stage's levels, judges the precheck rules and walks the diagnosis, rather than listing the
objects those would need: whatever they read is in the capture, and nothing else.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import click

from gate.options import RunOptions, setup_options

SIDE_EFFECT_KINDS = ("command",)  # runs the user's program: only with --with-commands


def _side_effect(check: Any) -> str | None:
    if check.kind in SIDE_EFFECT_KINDS:
        return f"capture does not run {check.kind} checks (gate capture --with-commands does)"
    if check.params.get("test_alert"):
        return "capture does not send test alerts (gate capture --with-commands does)"
    return None


@click.command()
@click.option("--stage", envvar="GATE_STAGE", help="Stage whose verdict's world to capture.")
@click.option("--all-stages", is_flag=True, help="Every Stage of the spec and of the Kargo project.")
@click.option("-o", "--out", "out", default="world.yaml", show_default=True, type=click.Path(dir_okay=False),
              help="Write the capture here.")
@click.option("--freight", envvar="GATE_FREIGHT", default="latest-available", show_default=True,
              help="The Freight the precheck rules are judged for.")
@click.option("--redact", "patterns", multiple=True, metavar="REGEX",
              help="Also replace what matches REGEX in every string (repeatable).")
@click.option("--keep-env", multiple=True, metavar="NAME",
              help="Keep this pod env variable's value (env values are dropped by default; repeatable).")
@click.option("--with-commands", is_flag=True,
              help="Also run the spec's command checks and send its test alerts, so a replay has their answers.")
@click.option("--check", "check_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Scan an existing capture for credentials instead (exit 1 naming each path).")
@click.option("--kargo-address", envvar="KARGO_API_ADDRESS", help="Kargo API address (KARGO_API_ADDRESS).")
@click.option("--kargo-token", envvar="KARGO_API_TOKEN", show_envvar=False, help="Kargo API token (KARGO_API_TOKEN).")
@click.option("--kargo-ca", envvar="GATE_KARGO_CA", type=click.Path(dir_okay=False, exists=True),
              help="CA bundle to verify the Kargo API's certificate.")
@setup_options
def capture(stage: str | None, all_stages: bool, out: str, freight: str, patterns: tuple[str, ...],
            keep_env: tuple[str, ...], with_commands: bool, check_file: str | None, kargo_address: str | None,
            kargo_token: str | None, kargo_ca: str | None, **common: Any) -> None:
    """Snapshot everything STAGE's checks, precheck rules and diagnosis read (and the HTTP answers of
    Levels 2-4), read-only, times relative, secrets never copied.

    Exit codes: 0 written (or --check: clean), 1 --check found credentials, 2 usage, 3 could not read.
    """
    if check_file:
        raise click.exceptions.Exit(run_check(check_file))
    if not stage and not all_stages:
        raise click.UsageError("give --stage S or --all-stages")
    from gate.capture.options import _scrubber, command_line
    from gate.capture.scrub import Scrubber
    from gate.capture.write import Output, default_file
    from gate.options import report_path_cb

    report_path_cb(click.get_current_context(), click.Option(["--out"]), out)
    opts = RunOptions(stage=stage, **common)
    words = {"stage": stage, "all_stages": all_stages, "out": out, "freight": freight, **common}
    output = Output(out, False, command_line("capture", words),
                    default_file(opts.spec, "GATE_SPEC", "gate.yaml"),
                    default_file(opts.config, "GATE_CONFIG", ".gitops-config.yaml"),
                    _scrubber(Scrubber, patterns, keep_env))
    kargo = {"address": kargo_address, "token": kargo_token, "ca_file": kargo_ca}
    raise click.exceptions.Exit(run_capture(opts, output, all_stages=all_stages, freight=freight,
                                            with_commands=with_commands, kargo=kargo))


def run_capture(opts: RunOptions, output: Any, *, all_stages: bool = False, freight: str = "latest-available",
                with_commands: bool = False, kargo: dict | None = None) -> int:
    from gate.capture import tap
    from gate.capture.write import RunRecorder, write
    from gate.errors import ConfigError, GateError
    from gate.redact import redact

    with tap.recording(RunRecorder(output)) as rec:
        for part in (_levels, _precheck, _diagnosis):
            try:
                part(opts, rec, all_stages=all_stages, freight=freight, with_commands=with_commands,
                     kargo=kargo or {})
            except ConfigError:
                raise
            except GateError as exc:
                rec.notes.append(f"{part.__name__.strip('_')}: could not read: {redact(str(exc))}")
        rec._version()
    rec.materialize()
    if not (rec.objects or rec.allowed or rec.http or rec.observations):  # not one answer: nothing to keep
        for note in rec.notes:
            click.echo(f"gate capture: {note}", err=True)
        return 3
    count, digest = write(rec, output)
    for note in rec.notes:
        click.echo(f"note: {note}", err=True)
    for check_id, why in sorted(rec.not_recorded.items()):
        click.echo(f"not recorded: {check_id}: {why}", err=True)
    click.echo(f"capture: {count} objects, sha256 {digest}, {output.path}")
    return 0


def _stages(opts: RunOptions, spec: Any, all_stages: bool) -> list[str]:
    if not all_stages:
        return [opts.stage] if opts.stage else []
    return sorted((getattr(spec, "stages", None) or {}).keys()) if spec is not None else []


def _levels(opts: RunOptions, rec: Any, *, all_stages: bool, with_commands: bool, **_: Any) -> None:
    """One observation of every check of the stage's levels (no waiting: the world as it is now)."""
    from gate.checks.base import Clients
    from gate.cluster.kube import ClusterView
    from gate.engine import deadlines
    from gate.session import Session
    from gate.spec.load import load_spec
    from gate.spec.settings import load_settings

    if output_spec(opts) is None:
        rec.notes.append("levels: no spec file, so no check was observed")
        return
    spec = load_spec(opts.spec, load_settings(opts.config, {"kargo_project": opts.project})) if all_stages else None
    for stage in _stages(opts, spec, all_stages):
        session = Session.open(RunOptions(**{**opts.__dict__, "stage": stage}), connect_always=True)
        planned = [p for n in sorted(session.plan.levels) for p in session.plan.levels[n]]
        view = ClusterView(session.kube) if session.kube is not None else None
        clients = Clients(**{**session.clients.__dict__, "view": view})

        def one(p: Any, clients: Any = clients) -> None:
            why = None if with_commands else _side_effect(p.check)
            if why:
                rec.skip(p.id, why)
                return
            with deadlines.scope(time.monotonic() + min(p.timeout, 30.0)):
                try:
                    rec.observer(p)(clients)
                except Exception as exc:  # noqa: BLE001 - what it could not read is a note, the rest is kept
                    from gate.redact import redact

                    rec.notes.append(f"{p.id}: {type(exc).__name__}: {redact(str(exc))[:200]}")

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(one, planned))


def output_spec(opts: RunOptions) -> str | None:
    from gate.capture.write import default_file

    return default_file(opts.spec, "GATE_SPEC", "gate.yaml")


def _precheck(opts: RunOptions, rec: Any, *, all_stages: bool, freight: str, kargo: dict, **_: Any) -> None:
    """The P1 rules for the Freight, as `gate precheck` reads them (Kargo API when configured)."""
    from gate.diagnose.gather import gather_views
    from gate.diagnose.run import connect_project
    from gate.errors import GateError
    from gate.kargo.client import KargoConfig
    from gate.kargo.freight import select
    from gate.kargo.precheck import run_precheck
    from gate.kargo.promote import KargoOptions, open_context
    from gate.redact import redact

    stages = [opts.stage] if opts.stage and not all_stages else []
    if all_stages:
        kube, ns = connect_project(opts)
        stages = [str((v.stage.get("metadata") or {}).get("name")) for v in gather_views(kube, ns)[1]]
    for stage in stages:
        cfg = KargoConfig.resolve(kargo.get("address"), kargo.get("token"), ca_file=kargo.get("ca_file"))
        kopts = KargoOptions(stage=stage, freight=freight, kargo=cfg)
        ctx = open_context(RunOptions(**{**opts.__dict__, "stage": stage}), kopts, need_plan=False)
        try:
            sel = select(ctx.reader, ctx.project, stage, freight=freight)
            run_precheck(ctx.reader, ctx.project, stage, sel, kube=ctx.kube, argocd_namespace=ctx.argocd_namespace)
        except GateError as exc:
            rec.notes.append(f"precheck {stage}: {redact(str(exc))}")


def _diagnosis(opts: RunOptions, rec: Any, *, all_stages: bool, **_: Any) -> None:
    """What `gate diagnose` (and `gate status`, with --all-stages) reads."""
    from gate.diagnose.gather import gather_views
    from gate.diagnose.run import connect_project
    from gate.diagnose.tree import diagnose

    kube, ns = connect_project(opts)
    _, views = gather_views(kube, ns, None if all_stages else opts.stage)
    for view in views:
        diagnose(view)


def run_check(path: str) -> int:
    """Exit 1 naming every path that looks like a credential; 0 when clean; 2 when not readable."""
    from gate.capture.scan import findings
    from gate.errors import ConfigError
    from gate.spec.yamlpos import loads_all, read

    try:
        docs = loads_all(read(path), path)
    except ConfigError as exc:
        click.echo(f"gate capture --check: {exc}", err=True)
        return 2
    found = [f for doc in docs for f in findings(doc)]
    for where, what in found:
        click.echo(f"{path}: {where}: looks like a credential ({what})")
    if found:
        click.echo(f"gate capture --check: {len(found)} credential-looking value(s) in {path}", err=True)
        return 1
    click.echo(f"{path}: no credentials found")
    return 0
