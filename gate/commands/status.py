"""`gate status`: every Stage of the project in one table; `--watch` refreshes it in place. Reads only."""

from __future__ import annotations

import sys
import time

import click

from gate.options import RunOptions, common_options, interval_cb


@click.command()
@click.option("--watch", is_flag=True, help="Refresh the table in place until interrupted (Ctrl-C exits 130).")
@click.option("--interval", default="5s", show_default=True, callback=interval_cb,
              help="Time between refreshes with --watch, e.g. 10s or 1m (a bare number is seconds).")
@click.option("--count", type=click.IntRange(min=0), default=0,
              help="With --watch, stop after this many refreshes (0: until interrupted or --timeout).")
@common_options
def status(watch: bool, interval: float, count: int, json_path: str | None, spec: str | None,
           junit: str | None, **common: object) -> None:
    """The pipeline overview: current Freight (and its age), verification, health, Ready, the last finished
    Promotion, the running one (and for how long), Argo CD apps, and what blocks the next promotion, for
    every Stage of the project. The table fits the terminal (long cells wrap; APPS, HEALTH, VERIFICATION,
    LAST PROMOTION, READY are dropped in that order when it must); `--output json` is never cut
    (schema: docs/status.schema.json).

    Exit codes: 0 shown, 2 usage, 3 could not read the Stages, 130 interrupted (--watch).
    """
    opts = RunOptions(json_path=json_path, **common)  # type: ignore[arg-type]
    raise click.exceptions.Exit(run_status(opts, watch=watch, interval=interval, count=count))


def run_status(opts: RunOptions, *, watch: bool = False, interval: float = 5.0, count: int = 0) -> int:
    from gate.diagnose.gather import gather_views
    from gate.diagnose.run import connect_project, could_not_read
    from gate.diagnose.status import cells, pipeline_order, render_json, render_table, stage_status
    from gate.entry import Interrupted
    from gate.errors import ConfigError, GateError

    try:
        kube, ns = connect_project(opts)
    except ConfigError:
        raise
    except GateError as exc:
        return could_not_read(exc)
    from gate.engine import deadlines

    shown = 0
    in_place = watch and sys.stdout.isatty()
    try:
        while True:
            began = time.monotonic()
            try:
                _, views = gather_views(kube, ns)
            except GateError as exc:
                return could_not_read(exc)
            took = time.monotonic() - began
            stages = [stage_status(v) for v in pipeline_order(views)]
            doc = render_json(stages, project=ns.project_name, namespace=ns.project)
            text = doc if opts.output == "json" else render_table([cells(s) for s in stages])
            if in_place:
                click.echo("\x1b[H\x1b[2J", nl=False)  # home + clear: the table redraws where it was
            if watch:
                click.echo(f"gate status  project {ns.project_name}  {time.strftime('%H:%M:%S')}  "
                           f"(every {interval:g}s, Ctrl-C to stop)")
            click.echo(text)
            if opts.json_path and opts.output != "json":
                from gate.reports.common import write_atomic

                write_atomic(opts.json_path, doc + "\n")
            shown += 1
            wall = deadlines.run_wall()  # --timeout: every redraw reads under the run's wall
            if not watch or (count and shown >= count) or (
                    wall is not None and time.monotonic() + interval + took > wall):
                return 0  # the next redraw would not finish before the wall: the last one shown stands
            if not in_place:
                click.echo("")
            time.sleep(interval)
    except (Interrupted, KeyboardInterrupt) as exc:
        sys.stdout.flush()
        return getattr(exc, "code", 130)
