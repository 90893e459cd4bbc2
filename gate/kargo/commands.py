"""The `gate precheck` and `gate promote` click commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from gate.options import RunOptions, common_options, name_option, parse_duration

if TYPE_CHECKING:  # the Kargo client (requests) loads when a command runs, not for `gate --help`
    from gate.kargo.promote import KargoOptions


def _duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def kargo_options(fn: Callable) -> Callable:
    decorators = [
        click.option("--stage", envvar="GATE_STAGE", required=True, callback=name_option("Stage name"),
                     help="Target Stage."),
        click.option(
            "--freight",
            envvar="GATE_FREIGHT",
            help="Freight name; `latest-verified` (newest Freight available to the Stage because it was "
            "verified upstream) or `latest-available` (newest available for any reason: approved, direct).",
        ),
        click.option("--freight-alias", "alias", envvar="GATE_FREIGHT_ALIAS", help="Freight alias."),
        click.option(
            "--origin",
            envvar="GATE_ORIGIN",
            help="Warehouse/NAME: promote the Freight Kargo picks for that origin (its auto-promotion "
            "candidate; Kargo v1.11+).",
        ),
        click.option(
            "--retry-failed",
            is_flag=True,
            help="Go ahead although the last Promotion of this Freight failed (deliberate retry).",
        ),
        click.option(
            "--kargo-address", envvar="KARGO_API_ADDRESS", help="Kargo API address (KARGO_API_ADDRESS)."
        ),
        click.option(
            "--kargo-token",
            envvar="KARGO_API_TOKEN",
            help="Kargo API token (KARGO_API_TOKEN).",
            show_envvar=False,
        ),
        click.option(
            "--kargo-ca",
            envvar="GATE_KARGO_CA",
            type=click.Path(dir_okay=False, exists=True),
            help="CA bundle to verify the Kargo API's certificate.",
        ),
        click.option(
            "--insecure-skip-tls-verify",
            is_flag=True,
            help="Do not verify the Kargo API's TLS certificate (named on purpose; avoid).",
        ),
        click.option("--poll-interval", default="2s", callback=_duration, hidden=True),
    ]
    for decorator in reversed(decorators):
        fn = decorator(fn)
    return fn


def _opts(command: str, stage: str, freight: str | None, common: dict) -> RunOptions:
    from gate.commands.verify import reports_on_interrupt

    opts = RunOptions(stage=stage, freight=freight, **common)  # type: ignore[arg-type]
    reports_on_interrupt(command, opts)
    return opts


def _kopts(
    stage: str,
    freight: str | None,
    alias: str | None,
    origin: str | None,
    retry_failed: bool,
    kargo_address: str | None,
    kargo_token: str | None,
    kargo_ca: str | None,
    insecure_skip_tls_verify: bool,
    poll_interval: float | None,
    **extra: object,
) -> KargoOptions:
    from gate.kargo.client import KargoConfig
    from gate.kargo.promote import KargoOptions

    cfg = KargoConfig.resolve(
        kargo_address, kargo_token, ca_file=kargo_ca, insecure_skip_tls_verify=insecure_skip_tls_verify
    )
    return KargoOptions(
        stage=stage,
        freight=freight,
        alias=alias,
        origin=origin,
        retry_failed=retry_failed,
        kargo=cfg,
        poll_interval=poll_interval or 2.0,
        **extra,
    )  # type: ignore[arg-type]


_COMMON = ("config", "spec", "kubeconfig", "context", "project", "junit", "json_path", "output", "timeout")


def _split(kwargs: dict) -> tuple[dict, dict]:
    common = {k: kwargs.pop(k) for k in _COMMON if k in kwargs}
    return common, kwargs


@click.command()
@kargo_options
@common_options
def precheck(**kwargs: object) -> None:
    """May the Freight be promoted to STAGE now? Each "do not promote if" rule is a row, with its reason."""
    common, rest = _split(kwargs)
    opts = _opts("precheck", rest["stage"], rest.get("freight"), common)  # type: ignore[arg-type]
    from gate.kargo.promote import run_precheck_command

    raise click.exceptions.Exit(run_precheck_command(opts, _kopts(**rest)))  # type: ignore[arg-type]


@click.command()
@kargo_options
@click.option("--no-wait", is_flag=True, help="Create the Promotion and stop.")
@click.option(
    "--no-verify", is_flag=True, help="Follow the Promotion; skip Kargo's verification and the levels."
)
@click.option("--abort-on-timeout", is_flag=True, help="Abort the Promotion when --promotion-timeout passes.")
@click.option(
    "--promotion-timeout",
    default="30m",
    callback=_duration,
    show_default=True,
    help="How long to follow the Promotion.",
)
@click.option(
    "--warn-after",
    default="10m",
    callback=_duration,
    hidden=True,
    help="Print the slow-Promotion warning (Argo CD sync, repo-server) after this long.",
)
@click.option(
    "--verification-timeout",
    default="30m",
    callback=_duration,
    show_default=True,
    help="How long to wait for Kargo's verification.",
)
@click.option(
    "--downstream-timeout",
    default="60s",
    callback=_duration,
    show_default=True,
    help="How long to wait for downstream auto-promotion to start.",
)
@click.option(
    "--via",
    type=click.Choice(["api", "cli"]),
    default="api",
    show_default=True,
    help="Create the Promotion through the Kargo API, or an installed kargo CLI.",
)
@common_options
def promote(**kwargs: object) -> None:
    """Precheck, promote through the Kargo API, follow the Promotion, wait for Kargo's verification, run the
    levels, then confirm it took hold (Freight current, downstream auto-promotion started, no Warning
    events). Exit 0 only when all of it passed."""
    common, rest = _split(kwargs)
    opts = _opts("promote", rest["stage"], rest.get("freight"), common)  # type: ignore[arg-type]
    from gate.kargo.promote import run_promote_command

    raise click.exceptions.Exit(run_promote_command(opts, _kopts(**rest)))  # type: ignore[arg-type]
