"""`gate sim serve`: run a simulated cluster until interrupted.

Hook for other parts of the simulator: if a module `gate.sim.kargo_api` exists and defines
`mount(handle)`, it is called after the server starts. It returns either a mapping of environment
variables to print as `export` lines, or an object with `.address` and `.token` (printed as
KARGO_API_ADDRESS and KARGO_API_TOKEN).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import shlex
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


def _ca_beside(kubeconfig: str, ca_file: str, *, copy: bool) -> str:
    """The simulator's CA file beside the kubeconfig (copied when the kubeconfig was written elsewhere)."""
    if not copy:
        return ca_file
    target = Path(kubeconfig).with_name(Path(kubeconfig).name + ".ca.crt")
    shutil.copyfile(ca_file, target)
    return str(target)


def _write_env(kubeconfig: str, exports: dict[str, str]) -> Path:
    """`<kubeconfig>.env` with the printed export lines, owner-only (it holds the Kargo token)."""
    path = Path(kubeconfig).with_name(Path(kubeconfig).name + ".env")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(f"export {k}={shlex.quote(str(v))}\n" for k, v in exports.items())
    path.chmod(0o600)
    return path


def _start(start: Any, scenario_ref: str, **kwargs: Any) -> Any:
    """Start the simulator; a scenario it cannot use is a usage error (exit 2) naming the file."""
    import os
    import traceback

    try:
        return start(scenario_ref, **kwargs)
    except OSError as exc:
        raise click.UsageError(redact(f"cannot serve: {exc.strerror or exc}")) from None
    except scen.ScenarioError as exc:
        raise click.BadParameter(redact(str(exc)), param_hint="--scenario") from None
    except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
        # The scenario parsed, but its contents are not the shapes the simulator builds a world from.
        if os.environ.get("GATE_DEBUG"):
            traceback.print_exc()
        raise click.BadParameter(redact(f"{scenario_ref}: not a usable scenario: {type(exc).__name__}: {exc}"),
                                 param_hint="--scenario") from None


def scenario_groups(names: list[str]) -> str:
    """The built-in scenarios for --help: families by prefix (`argocd-*` (11)), then the single ones."""
    families: dict[str, list[str]] = {}
    for name in names:
        families.setdefault(name.split("-", 1)[0], []).append(name)
    grouped = [f"{prefix}-* ({len(members)})" for prefix, members in sorted(families.items()) if len(members) > 1]
    single = [members[0] for _, members in sorted(families.items()) if len(members) == 1]
    return f"{len(names)} built in: {', '.join(grouped)}; and {', '.join(single)}"


@click.group()
def sim() -> None:
    """The simulated cluster (Kubernetes API and Kargo API) used by tests and `gate demo`."""


@sim.command()
@click.option("--scenario", "scenario_ref", default="healthy", show_default=True,
              help=f"scenario file or built-in name ({scenario_groups(scen.builtin_names())}); "
                   "`gate sim list` names each with its description")
@click.option("--port", type=int, default=0, show_default=True, help="port on 127.0.0.1 (0: any free port)")
@click.option("--kubeconfig-out", type=click.Path(dir_okay=False), help="also write the kubeconfig here")
@click.option("--request-log", type=click.Path(dir_okay=False), help="append every request as a JSON line")
@click.option("--speed", type=float, help="time factor for the scenario timeline (default: the scenario's)")
@click.option("--admin", is_flag=True, help="write the cluster-admin token into --kubeconfig-out instead")
def serve(scenario_ref: str, port: int, kubeconfig_out: str | None, request_log: str | None,
          speed: float | None, admin: bool) -> None:
    """Serve a simulated cluster over HTTPS and block until SIGINT/SIGTERM.

    \b
    Example:
      gate sim serve --scenario crashloop --kubeconfig-out /tmp/sim.kubeconfig
    """
    from gate.sim.server import start

    handle = _start(start, scenario_ref, port=port, speed=speed, request_log=request_log)
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
        exports = {"KUBECONFIG": kubeconfig, **extra}
        if "KARGO_API_ADDRESS" in extra:  # the Kargo API's CA, as `gate precheck/promote` read it
            exports["GATE_KARGO_CA"] = _ca_beside(kubeconfig, handle.ca_file, copy=bool(kubeconfig_out))
        env_file = _write_env(kubeconfig, exports)
        click.echo(f"simulated cluster ({handle.name}) listening on {handle.url}")
        for name, destination in handle.destinations.items():  # gate/sim/multicluster.py
            click.echo(f"destination cluster {name} listening on {destination.url} (its Argo CD cluster Secret "
                       f"is in the control plane; admin kubeconfig: {destination.admin_kubeconfig})")
        click.echo(f"kubeconfig: {kubeconfig}")
        for key, value in exports.items():
            click.echo(redact(f"export {key}={shlex.quote(str(value))}"))
        click.echo(f"the same exports, for another shell: . {shlex.quote(str(env_file))}")
        if request_log:
            click.echo(f"request log: {request_log}")
        click.echo("press Ctrl-C to stop", err=True)
        while not stopped.wait(0.5):
            pass
    finally:
        handle.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)


@sim.command("list")
def list_scenarios() -> None:
    """Name every built-in scenario with its description, one a line."""
    for name in scen.builtin_names():
        docs = scen._load_vendored(scen.SCENARIOS / f"{name}.yaml")  # the file's own text: no world built
        head = docs[0] if docs and isinstance(docs[0], dict) else {}
        about = " ".join(str(head.get("description") or "").split())
        click.echo(f"{name:44} {about}".rstrip())
