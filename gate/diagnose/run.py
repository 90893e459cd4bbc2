"""`gate diagnose` end to end: settings → cluster → gather (D1) → tree (D4/D5) → report (D7) → exit code."""

from __future__ import annotations

import click

from gate.cluster.kube import KubeClient
from gate.diagnose.gather import Namespaces, gather_views
from gate.diagnose.report import StageReport, as_json, exit_code, render_text, stage_report, write_junit
from gate.diagnose.tree import diagnose
from gate.errors import EXIT_UNEVALUATED, ConfigError, GateError, PermissionDenied
from gate.options import RunOptions
from gate.redact import redact

NEEDED_KEYS = {"kargo_namespace", "argocd_namespace"}


def connect_project(opts: RunOptions) -> tuple[KubeClient, Namespaces]:
    """Settings (file, env, flags, then read-only discovery) and a client. ConfigError when no project."""
    from gate.cluster.kube import connect
    from gate.spec.discovery import discover
    from gate.spec.settings import load_settings

    settings = load_settings(opts.config, {"kargo_project": opts.project})
    # --timeout bounds each read (the gather is one round of parallel reads, not a poll)
    kube = connect(opts.kubeconfig, opts.context, request_timeout=min(15.0, opts.timeout or 15.0))
    if settings.missing(NEEDED_KEYS):
        settings = discover(settings, kube, NEEDED_KEYS)
    namespace = settings.get("kargo_namespace") or settings.get("kargo_project")
    if not namespace:
        raise ConfigError("cannot tell the Kargo project namespace: " + settings.hint("kargo_project"),
                          key="--project")
    return kube, Namespaces(
        project=namespace, project_name=settings.get("kargo_project") or namespace,
        argocd=settings.get("argocd_namespace") or "argocd",
        kargo_controller=settings.get("kargo_controller_namespace") or "kargo",
        argocd_controller=settings.get("argocd_controller_namespace") or settings.get("argocd_namespace") or "argocd")


def could_not_read(exc: GateError) -> int:
    """Exit 3, naming what was refused and, for a 403, the rule that would grant it (like verify's preflight)."""
    click.echo(f"gate: could not read what the diagnosis needs: {redact(str(exc))}", err=True)
    perm = getattr(exc, "permission", None)
    if isinstance(exc, PermissionDenied) and perm is not None:
        from gate.cluster.rbac import missing_rules_yaml

        click.echo("Grant the gate's identity:\n" + missing_rules_yaml([perm]), err=True)  # type: ignore[list-item]
    return EXIT_UNEVALUATED


def diagnose_stage(kube: KubeClient, ns: Namespaces, stage: str) -> StageReport:
    """The hook for a failing verify/precheck/promote: the same gather and rules for one Stage, on the
    caller's client. `report.block(result)` is the DIAGNOSIS text for its report / JUnit system-out.
    Raises GateError when the Stage itself cannot be read."""
    _, views = gather_views(kube, ns, stage)
    return stage_report(views[0], diagnose(views[0]))


def run_diagnose(opts: RunOptions) -> int:
    try:
        kube, ns = connect_project(opts)
        _, views = gather_views(kube, ns, opts.stage)
        from gate.diagnose.destination_pods import read_destinations

        read_destinations(kube, ns, views)  # an Application's pods in its own destination cluster
    except ConfigError:
        raise
    except GateError as exc:
        return could_not_read(exc)
    from gate.diagnose.workload import diagnose_failure

    reports = [stage_report(v, diagnose_failure(v) if v.pods else diagnose(v)) for v in views]
    if opts.output == "json":
        click.echo(as_json(reports, project=ns.project_name, namespace=ns.project))
    else:
        click.echo(render_text(reports), nl=False)
    if opts.json_path:
        from gate.reports.common import write_atomic

        write_atomic(opts.json_path, as_json(reports, project=ns.project_name, namespace=ns.project) + "\n")
        click.echo(f"JSON result: {opts.json_path}", err=True)
    if opts.junit:
        write_junit(reports, opts.junit, project=ns.project_name)
        click.echo(f"JUnit report: {opts.junit}", err=True)
    return exit_code(reports)
