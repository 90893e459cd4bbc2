"""`gate sim serve`: run a simulated cluster until interrupted.

Hook for other parts of the simulator: if a module `gate.sim.kargo_api` exists and defines
`mount(handle)`, it is called after the server starts. It returns either a mapping of environment
variables to print as `export` lines, or an object with `.address` and `.token` (printed as
KARGO_API_ADDRESS and KARGO_API_TOKEN).
"""

from __future__ import annotations

import importlib
import importlib.util
import shutil
import signal
import threading
from pathlib import Path
from typing import Any

import click

from gate.redact import redact
from gate.sim import scenario as scen


def mount_extensions(handle: Any) -> dict[str, str]:
    """Let optional simulator modules (the Kargo API) mount their routes; return env vars to print."""
    if importlib.util.find_spec("gate.sim.kargo_api") is None:
        return {}
    module = importlib.import_module("gate.sim.kargo_api")
    mount = getattr(module, "mount", None)
    info = mount(handle) if mount else None
    if info is None:
        return {}
    if isinstance(info, dict):
        return {str(k): str(v) for k, v in info.items()}
    return {"KARGO_API_ADDRESS": str(info.address), "KARGO_API_TOKEN": str(info.token)}


@click.group()
def sim() -> None:
    """The simulated cluster (Kubernetes API and Kargo API) used by tests and `gate demo`."""


@sim.command()
@click.option("--scenario", "scenario_ref", default="healthy", show_default=True,
              help=f"scenario file or built-in name ({', '.join(scen.builtin_names())})")
@click.option("--port", type=int, default=0, show_default=True, help="port on 127.0.0.1 (0: any free port)")
@click.option("--kubeconfig-out", type=click.Path(dir_okay=False), help="also write the kubeconfig here")
@click.option("--request-log", type=click.Path(dir_okay=False), help="append every request as a JSON line")
@click.option("--speed", type=float, help="time factor for the scenario timeline (default: the scenario's)")
@click.option("--admin", is_flag=True, help="write the cluster-admin token into --kubeconfig-out instead")
def serve(scenario_ref: str, port: int, kubeconfig_out: str | None, request_log: str | None,
          speed: float | None, admin: bool) -> None:
    """Serve a simulated cluster over HTTPS and block until SIGINT/SIGTERM."""
    from gate.sim.server import start

    try:
        handle = start(scenario_ref, port=port, speed=speed, request_log=request_log)
    except (scen.ScenarioError, OSError, ValueError) as exc:
        error = click.ClickException(redact(str(exc)))
        error.exit_code = 2  # a bad scenario is a usage/configuration error (DESIGN.md: exit codes)
        raise error from None
    stopped = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        stopped.set()

    old = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        extra = mount_extensions(handle)
        kubeconfig = handle.admin_kubeconfig if admin else handle.kubeconfig
        if kubeconfig_out:
            Path(kubeconfig_out).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(kubeconfig, kubeconfig_out)
            Path(kubeconfig_out).chmod(0o600)
            kubeconfig = kubeconfig_out
        click.echo(f"simulated cluster ({handle.name}) listening on {handle.url}")
        click.echo(f"kubeconfig: {kubeconfig}")
        click.echo(f"export KUBECONFIG={kubeconfig}")
        for key, value in extra.items():
            click.echo(redact(f"export {key}={value}"))
        if request_log:
            click.echo(f"request log: {request_log}")
        click.echo("press Ctrl-C to stop", err=True)
        while not stopped.wait(0.5):
            pass
    finally:
        handle.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)
