"""Options shared by the commands (DESIGN.md, "Common options"), each also read from a GATE_* variable."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click


@dataclass
class RunOptions:
    """Everything a command was asked to do, after flags and GATE_* variables are applied."""

    stage: str | None = None
    config: str | None = None
    spec: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    project: str | None = None
    junit: str | None = None
    json_path: str | None = None
    output: str = "text"
    timeout: float | None = None
    levels: set[int] | None = None
    freight: str | None = None
    preflight: bool = True
    extra: dict[str, Any] = field(default_factory=dict)


def parse_duration(value: str | float | int | None) -> float | None:
    """`90`, `90s`, `5m`, `1h30m` → seconds."""
    from gate.engine.durations import parse

    return None if value in (None, "") else parse(value)


def interval_cb(ctx: click.Context, param: click.Parameter, value: str | float | None) -> float | None:
    """A duration of at least one second (`5`, `10s`, `1m`), as every duration option takes."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds is None or seconds < 1:
        raise click.BadParameter(f"{value!r}: at least 1s (e.g. 10s, 1m)")
    return seconds


def _timeout_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A positive duration, or None when not given. `0` is refused rather than read as "no deadline"."""
    if value is None:
        return None
    try:
        seconds = parse_duration(value) if str(value).strip() else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if seconds is None or seconds <= 0:
        raise click.BadParameter(f"{value!r}: the overall deadline must be more than 0 (e.g. 10m); "
                                 "leave --timeout out for no overall deadline")
    from gate.engine import deadlines

    # The run's wall starts as the command line is read, whatever the command: every request it makes
    # (discovery, a diagnosis's gather, each redraw of `status --watch`, `lint --cluster`) is held to it.
    deadlines.start_run(seconds)
    return seconds


def timeout_option(fn: Callable) -> Callable:
    """--timeout for a command without common_options (discover, init, lint): the same wall."""
    return click.option("--timeout", envvar="GATE_TIMEOUT", callback=_timeout_cb, expose_value=False,
                        help="Overall deadline for the whole run, e.g. 2m (more than 0).")(fn)


def report_path_cb(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A report path is usable (a regular file or a new one), checked before the run starts."""
    if value:
        from gate.reports.common import check_report_path

        check_report_path(value, f"--{param.name.replace('_path', '').replace('_', '-')}")
    return value


def name_option(what: str, *, label: bool = False) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback: the value must be a DNS-1123 label/subdomain, as it becomes a URL path segment
    (gate.cluster.resources.check_name); otherwise a usage error (exit 2)."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        from gate.cluster.resources import check_name
        from gate.errors import ConfigError

        if value is None:
            return None
        try:
            return check_name(value, what, label=label)
        except ConfigError as exc:
            raise click.BadParameter(str(exc)) from None

    return callback


def common_options(fn: Callable) -> Callable:
    """--config --spec --kubeconfig --context --project --junit --json --output --timeout."""
    decorators = [
        click.option("--config", envvar="GATE_CONFIG", type=click.Path(dir_okay=False),
                     help="Settings file (default: .gitops-config.yaml if present)."),
        click.option("--spec", envvar="GATE_SPEC", type=click.Path(dir_okay=False),
                     help="Spec file (default: gate.yaml)."),
        click.option("--kubeconfig", envvar="GATE_KUBECONFIG", type=click.Path(dir_okay=False),
                     help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)."),
        click.option("--context", envvar="GATE_CONTEXT", help="Kubeconfig context."),
        click.option("--project", envvar="GATE_PROJECT", callback=name_option("Kargo project", label=True),
                     help="Kargo project."),
        click.option("--junit", envvar="GATE_JUNIT", type=click.Path(dir_okay=False), callback=report_path_cb,
                     help="Write a JUnit XML report here."),
        click.option("--json", "json_path", envvar="GATE_JSON", type=click.Path(dir_okay=False),
                     callback=report_path_cb, help="Write the JSON result here."),
        click.option("-o", "--output", envvar="GATE_OUTPUT", type=click.Choice(["text", "json"]), default="text",
                     show_default=True, help="What to print on stdout."),
        click.option("--timeout", envvar="GATE_TIMEOUT", callback=_timeout_cb,
                     help="Overall deadline for the whole run, e.g. 10m (more than 0)."),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def parse_levels(value: str | None) -> set[int] | None:
    """`1-2`, `3`, `1,3` → {1, 2}; None for all."""
    if not value:
        return None
    levels: set[int] = set()
    for part in value.split(","):
        lo, _, hi = part.strip().partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a level range like 1-2") from None
        if not (1 <= a <= b <= 4):
            raise click.BadParameter(f"levels are 1 to 4, got {value!r}")
        levels.update(range(a, b + 1))
    return levels



REPORT_OPTIONS = ("junit", "json_path", "output")


def common_options_except(*names: str) -> Callable[[Callable], Callable]:
    """common_options without some (by parameter name, e.g. "junit"): offer no option a command ignores."""

    def decorate(fn: Callable) -> Callable:
        probe = common_options(lambda **_: None)
        params = [p for p in probe.__click_params__ if p.name not in names]  # type: ignore[attr-defined]
        fn.__click_params__ = [*getattr(fn, "__click_params__", []), *params]  # type: ignore[attr-defined]
        return fn

    return decorate


# for commands that print manifests and write no report (render)
setup_options = common_options_except(*REPORT_OPTIONS)
