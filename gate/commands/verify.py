"""`gate verify`: run a stage's levels and report; and `finish()`, which every command uses to report."""

from __future__ import annotations

import sys
from collections.abc import Callable

import click

from gate.entry import Interrupted
from gate.errors import EXIT_SIGINT, ConfigError, GateError
from gate.model import CheckResult, RunResult, Section, Status, now_utc
from gate.options import RunOptions, common_options, parse_levels
from gate.redact import redact


def _levels_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> set[int] | None:
    return parse_levels(value)


@click.command()
@click.option("--stage", envvar="GATE_STAGE", required=True, help="Stage to verify (a key of the spec).")
@click.option("--levels", envvar="GATE_LEVELS", callback=_levels_cb, help="Levels to run, e.g. 1-2.")
@click.option("--freight", envvar="GATE_FREIGHT", help="Expect this Freight (name or alias) to be current.")
@click.option("--preflight/--no-preflight", envvar="GATE_PREFLIGHT", default=True, show_default=True,
              help="Check the gate's own RBAC permissions first.")
@click.option("--watch/--no-watch", envvar="GATE_WATCH", default=True, show_default=True,
              help="While a level waits, watch the lists its checks read and re-check on each change "
                   "(--no-watch: poll only).")
@common_options
def verify(stage: str, levels: set[int] | None, freight: str | None, preflight: bool, watch: bool,
           json_path: str | None, **common: object) -> None:
    """Run the spec's levels for STAGE in order; stop at the first level that does not pass."""
    opts = RunOptions(stage=stage, levels=levels, freight=freight, preflight=preflight, json_path=json_path,
                      extra={"watch": watch}, **common)  # type: ignore[arg-type]
    reports_on_interrupt("verify", opts)
    raise click.exceptions.Exit(run_verify(opts))


def run_verify(opts: RunOptions, *, session_factory: object = None) -> int:
    from gate.session import Session

    result = RunResult(command="verify", stage=opts.stage or "", project=opts.project, freight=opts.freight)
    try:
        session = (session_factory or Session.open)(opts)  # type: ignore[operator]
        result.project = session.settings.get("kargo_project") or result.project
        _job_context(session, result)
        result.notes.extend(getattr(session, "notes", []))  # e.g. a destination whose TLS is not verified
        if opts.preflight and not _preflight(session, result):
            return finish(result, opts)
        from gate.engine.deadlines import reserve

        with reserve():  # --timeout bounds the levels and the diagnosis of their failure together
            result.levels = session.run_levels()
        _diagnose(session, result)
    except ConfigError:
        raise
    except Interrupted as exc:
        result.levels = getattr(exc, "levels", [])
        result.interrupted = True
        result.interrupt_code = exc.code
        finish(result, opts)
        return exc.code
    except GateError as exc:
        # Could not evaluate (unreachable, credentials, discovery forbidden): still leave reports.
        result.sections.append(Section.from_error("Setup", exc))
        finish(result, opts)
        click.echo(f"gate: {redact(str(exc))}", err=True)
        return exc.exit_code
    return finish(result, opts)


def _job_context(session: object, result: RunResult) -> None:
    """Inside a Kargo verification Job, name the AnalysisRun's stage, freight collection and promotion."""
    from gate.cluster.kube import in_cluster

    if not in_cluster():
        return
    try:
        from gate.jobmode import job_context
    except ImportError:
        return
    ns = session.settings.get("kargo_namespace") or ""  # type: ignore[attr-defined]
    result.context.update(job_context(session.kube, ns))  # type: ignore[attr-defined]


def _diagnose(session: object, result: RunResult) -> None:
    """A failed verdict carries its diagnosis (the same rules as `gate diagnose`); read-only, inside the
    run's deadline, and never a change of verdict or exit code."""
    if result.failed_row() is None:
        return  # nothing to explain: the diagnosis modules stay unloaded
    from gate.diagnose.attach import attach

    attach(result, getattr(session, "kube", None), getattr(session, "settings", None), result.stage,
           plan=getattr(session, "plan", None), project=result.project, clusters=getattr(session, "clusters", None))


def _preflight(session: object, result: RunResult) -> bool:
    """SelfSubjectAccessReview for every permission the plan needs; a denied one stops the run (exit 3).
    A denied optional one does not: `watch` only means polling; a diagnosis-only one is a note."""
    from gate.cluster.rbac import blocking, diagnosis_notes

    kube, plan = session.kube, session.plan  # type: ignore[attr-defined]
    if kube is None or plan is None:
        return True
    from gate.cluster.destinations import preflight_each  # per cluster the plan reads (`cluster:`)

    labelled = preflight_each(session)
    results = [review for _, review in labelled]
    result.notes.extend(diagnosis_notes(results))
    denied = [(label, review.perm) for label, review in labelled if blocking([review])]
    if not denied:
        return True
    rows = [CheckResult(id=f"rbac.{i}", name=f"{f'[{label}] ' if label else ''}Permission: {perm.describe()}",
                        kind="rbac", level=0, status=Status.ERROR, observed="denied", expected="allowed",
                        reason=f"the gate may not {perm.describe()}{f' in cluster {label}' if label else ''}",
                        hint=f"Grant the gate's ServiceAccount: {perm.describe()} "
                             f"(see `gate rbac check --stage {result.stage}`)")
            for i, (label, perm) in enumerate(denied)]
    # The rules to grant, as YAML a person can apply: in JUnit system-out and the JSON result.
    from gate.cluster.destination_rbac import missing_rules_by_cluster

    rows[0].output = missing_rules_by_cluster(denied)
    result.sections.append(Section("RBAC preflight", Status.ERROR, rows))
    return False


def reports_on_interrupt(command: str, opts: RunOptions) -> None:
    """From here until finish() wrote them, a signal still leaves the reports asked for, marked interrupted
    (one that lands before the command's own handling: start-up, imports, connecting)."""
    from gate import entry

    def write(code: int) -> None:
        result = RunResult(command=command, stage=opts.stage or "", project=opts.project, freight=opts.freight,
                           interrupted=True, interrupt_code=code)
        finish(result, opts)

    entry.reports_pending(write)


def finish(result: RunResult, opts: RunOptions) -> int:
    """Print the report, write every requested file, and return the exit code."""
    from gate import entry
    from gate.engine import deadlines
    from gate.reports import github, jsonreport, text

    def again(code: int) -> None:  # a signal while writing: write them all again, marked interrupted
        result.interrupted, result.interrupt_code = True, code
        finish(result, opts)

    entry.reports_pending(again)
    deadlines.start_run(None)  # writing the reports is not held to the run's wall
    if result.interrupted and result.interrupt_code is None:
        result.interrupt_code = entry.received() or EXIT_SIGINT  # the reports say the code the process exits
    result.finished_at = result.finished_at or now_utc()
    from gate.capture import tap

    if tap.current is not None:  # --capture-on-failure writes the world now; a replay says so
        tap.current.before_reports(result)
    if opts.output == "json":
        click.echo(jsonreport.render_json(result))
    else:
        click.echo(text.render_text(result))
    files = [(f"JUnit report: {opts.junit}", lambda: _write_junit(result, opts.junit)) if opts.junit else None,
             (f"JSON result: {opts.json_path}", lambda: jsonreport.write_json(result, opts.json_path))
             if opts.json_path else None]
    written = write_each([f for f in files if f], result)
    write_each([("GitHub step summary and outputs", lambda: github.write_github(
        result, junit_path=opts.junit, stream=sys.stderr if opts.output == "json" else None))], result)
    if result.report_failures:  # a file written before the failure said the old exit code
        write_each([f for f in files if f and f[0] in written], result)
    _termination_message(result)
    for line in written:
        click.echo(line, err=True)
    sys.stdout.flush()
    entry.reports_pending(None)
    return result.exit_code


def _write_junit(result: RunResult, path: str) -> None:
    from gate.reports.junit import write_junit  # junit_xml and the XML libraries only when asked for

    write_junit(result, path)


def write_each(writers: list[tuple[str, Callable[[], object]]], result: RunResult) -> list[str]:
    """Call every writer even when one fails (disk full, directory gone): each failure is said on
    stderr and recorded in result.report_failures, which makes the exit code 3. The labels written."""
    done = []
    for label, write in writers:
        try:
            write()
        except (ConfigError, OSError) as exc:
            message = redact(str(exc))
            result.report_failures.append(message)
            click.echo(f"error: {message}", err=True)
        else:
            done.append(label)
    return done


def _termination_message(result: RunResult) -> None:
    from gate.cluster.kube import in_cluster

    if not in_cluster():
        return
    try:
        from gate.jobmode import write_termination_message
    except ImportError:
        return
    write_termination_message(result)
