"""`gate diagnose`: the guide's DIAGNOSE mode (D1–D7), read-only."""

from __future__ import annotations

import click

from gate.options import RunOptions, common_options


@click.command()
@click.option("--stage", envvar="GATE_STAGE", help="Stage to diagnose (default: every Stage of the project).")
@common_options
def diagnose(stage: str | None, json_path: str | None, spec: str | None, timeout: float | None,
             **common: object) -> None:
    """Why is a Stage stuck, and what exactly to run to fix it: read everything about it in parallel, walk
    the operations guide's decision tree, print the DIAGNOSIS block (root cause, evidence, fix, risk).
    Reads only.

    Exit codes: 0 nothing wrong, 1 a root cause found, 2 usage, 3 could not read what the diagnosis needs.
    """
    from gate.diagnose.run import run_diagnose

    opts = RunOptions(stage=stage, json_path=json_path, **common)  # type: ignore[arg-type]
    raise click.exceptions.Exit(run_diagnose(opts))
