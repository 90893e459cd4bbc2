"""`gate demo`: the real verify (or promote) path against the built-in simulated cluster.

Needs nothing else: the simulator and the small local servers behind Levels 2-4 run in this process,
on 127.0.0.1, and stop when the demo ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.resources
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from gate.entry import Interrupted
from gate.options import RunOptions, _timeout_cb, report_path_cb


@dataclass(frozen=True)
class DemoScenario:
    sim: str  # the simulator scenario
    about: str
    promote: bool = False
    stage: str = "monitoring"  # the stage the demo verifies
    spec: str = "levels.yaml"  # the spec (gate/demo/)


SCENARIOS = {
    "healthy": DemoScenario("healthy", "a healthy monitoring stage: every level passes"),
    "crashloop": DemoScenario("crashloop", "a Grafana pod in CrashLoopBackOff: Level 1 fails"),
    "stale-argocd": DemoScenario("stale-argocd", "Argo CD says Healthy before it re-read the app; "
                                 "passes once the status is refreshed"),
    "rbac-forbidden": DemoScenario("rbac-forbidden", "the gate may not list pods: exit 3"),
    "l2-no-targets": DemoScenario("healthy", "Prometheus has no healthy targets: Level 2 fails"),
    "l3-sso-broken": DemoScenario("healthy", "the SSO front redirects to the wrong host: Level 3 fails"),
    "l3-cert-expiring": DemoScenario("healthy", "the certificate expires in 3 days: Level 3 fails"),
    "promote-ok": DemoScenario("promote-ok", "promote calm-crane to monitoring: every gate passes",
                               promote=True),
    "promote-errored": DemoScenario("promote-errored", "the Promotion ends Errored", promote=True),
    "verification-failed": DemoScenario("verification-failed", "Kargo's verification fails",
                                        promote=True),
    "upstream-unverified": DemoScenario("upstream-unverified", "the freight is not verified upstream",
                                        promote=True),
    "promotion-running": DemoScenario("promotion-running", "a Promotion for the freight is already "
                                      "running: the gate attaches to it", promote=True),
    "stuck-stage": DemoScenario("stuck-stage", "the target stage is stuck (Ready=False, ReconcileError)",
                                promote=True),
    "multicluster": DemoScenario("multicluster", "stage prod's app runs in cluster prod-eu, where a pod "
                                 "crash-loops: Level 1 fails naming it", stage="prod", spec="multicluster.yaml"),
    "multicluster-healthy": DemoScenario("multicluster-healthy", "stage prod verified in its destination "
                                         "cluster prod-eu: every check passes", stage="prod",
                                         spec="multicluster.yaml"),
}


def _diagnose_worlds() -> list[str]:
    """`gate demo --diagnose` scenarios: gate/sim/scenarios/diagnose-<name>.yaml, one per decision-tree rule."""
    from gate.sim.scenario import builtin_names

    return [n.removeprefix("diagnose-") for n in builtin_names() if n.startswith("diagnose-")]


def _resource(name: str) -> str:
    return str(importlib.resources.files("gate.demo").joinpath(name))


@contextlib.contextmanager
def _local_servers(name: str) -> Iterator[Any]:
    """The demo's Level 2-4 targets: small servers on 127.0.0.1 with the scenario's faults switched on."""
    from gate.demo_servers import DemoServers, switches_for

    with DemoServers(switches_for(name)) as servers:
        yield servers


def _spec(workdir: Path, variables: dict[str, str], name: str = "levels.yaml") -> str:
    """The built-in four-level spec with the local servers' addresses written in.

    Addresses are written into the file rather than passed as ${env:…}, because env values are treated as
    secrets and masked in every report; the one real secret (the SSO token) stays ${env:DEMO_SSO_TOKEN}.
    """
    text = Path(_resource(name)).read_text()
    for key, value in variables.items():
        text = text.replace("${" + key + "}", value)
    path = workdir / "gate.yaml"
    path.write_text(text)
    return str(path)


@click.command()
@click.option("--scenario", default=None,
              type=click.Choice(list(dict.fromkeys([*SCENARIOS, *_diagnose_worlds()]))),
              help="What the simulated cluster shows (default: healthy; promote-ok with --promote).")
@click.option("--junit", type=click.Path(dir_okay=False), callback=report_path_cb,
              help="Write the JUnit report here.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), callback=report_path_cb,
              help="Also write the JSON result.")
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="What to print on stdout.")
@click.option("--speed", type=float, default=None, help="Scenario time speed factor.")
@click.option("--timeout", callback=_timeout_cb, help="Overall deadline, e.g. 30s.")
@click.option("--promote", is_flag=True,
              help="Show the whole promote flow (scenario promote-ok unless --scenario names another).")
@click.option("--keep", is_flag=True,
              help="Keep the demo's files (kubeconfig, CA, spec, a JUnit report) in a temp dir, and name it.")
@click.option("--diagnose", is_flag=True,
              help="Run `gate diagnose` on a simulated stuck pipeline (every decision-tree leaf has a scenario).")
@click.option("--list", "list_only", is_flag=True, help="List the scenarios and exit.")
def demo(scenario: str | None, junit: str | None, json_path: str | None, output: str, speed: float | None,
         timeout: float | None, promote: bool, keep: bool, diagnose: bool, list_only: bool) -> None:
    """Run the real gate against the built-in simulated cluster; needs nothing else."""
    if diagnose:
        if list_only:
            from gate.sim.scenario import resolve

            for name in _diagnose_worlds():
                click.echo(f"{name:34} {resolve('diagnose-' + name).get('description', '')}")
            return
        raise click.exceptions.Exit(run_demo_diagnose(scenario or "healthy", junit=junit, json_path=json_path,
                                                      output=output, keep=keep))
    if scenario is not None and scenario not in SCENARIOS:
        raise click.BadParameter(f"{scenario!r} is a diagnose scenario: add --diagnose", param_hint="--scenario")
    if list_only:
        for name, sc in SCENARIOS.items():
            click.echo(f"{name:22} {'(promote) ' if sc.promote else ''}{sc.about}")
        return
    scenario = scenario or ("promote-ok" if promote else "healthy")
    if promote and not SCENARIOS[scenario].promote:
        raise click.BadParameter(f"{scenario!r} is a verify scenario; with --promote choose one of: "
                                 + ", ".join(n for n, s in SCENARIOS.items() if s.promote),
                                 param_hint="--scenario")
    raise click.exceptions.Exit(run_demo(scenario, junit=junit, json_path=json_path, output=output,
                                         speed=speed, timeout=timeout, keep=keep))


def run_demo(name: str, *, junit: str | None = None, json_path: str | None = None, output: str = "text",
             speed: float | None = None, timeout: float | None = None, keep: bool = False) -> int:
    """Run one scenario in a temp working directory, removed afterwards (also on failure or a signal)
    unless `keep`. A SIGTERM/SIGINT at any moment still writes the reports, marked interrupted."""
    report = RunOptions(stage=SCENARIOS[name].stage, junit=junit, json_path=json_path, output=output,
                        timeout=timeout)
    try:
        with _workdir(keep) as workdir:
            if keep and not junit:
                report.junit = str(workdir / "junit.xml")
            return _run_in(workdir, name, report, speed)
    except Interrupted as exc:
        return _interrupted(name, report, exc)
    finally:
        if not report.junit:
            click.echo("JUnit report: not written (pass --junit FILE, or --keep)", err=True)


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    """A temp dir for the demo's files, which include the simulator's CA private key and an admin
    kubeconfig: removed afterwards (also on failure or a signal), or kept and named with `keep`."""
    workdir = Path(tempfile.mkdtemp(prefix="gate-demo-", dir=os.environ.get("TMPDIR")))
    try:
        yield workdir
    finally:
        if keep:
            click.echo(f"demo files kept in {workdir}", err=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _interrupted(name: str, report: RunOptions, exc: Interrupted) -> int:
    """Interrupted before a report existed (starting the simulator, loading the spec): say so in one."""
    from gate.commands.verify import finish
    from gate.model import RunResult

    result = getattr(exc, "result", None) or RunResult(
        command="promote" if SCENARIOS[name].promote else "verify", stage=report.stage or "")
    result.levels = result.levels or getattr(exc, "levels", [])
    result.interrupted = True
    finish(result, report)
    return exc.code


def _run_in(workdir: Path, name: str, report: RunOptions, speed: float | None) -> int:
    from gate.commands.verify import finish, run_verify
    from gate.sim.server import start

    chosen = SCENARIOS[name]
    with start(chosen.sim, speed=speed, workdir=str(workdir)) as sim, _local_servers(name) as servers:
        variables = servers.env()
        os.environ["DEMO_SSO_TOKEN"] = variables.pop("DEMO_SSO_TOKEN")
        sim.set_service_target("monitoring", "grafana", 3000, servers.base_url)
        opts = dataclasses.replace(report, config=_resource("config.yaml"),
                                   spec=_spec(workdir, variables, chosen.spec), kubeconfig=sim.kubeconfig,
                                   stage=chosen.stage)
        click.echo(f"gate demo: scenario {name!r} ({chosen.about}); simulated cluster at {sim.url}", err=True)
        if chosen.promote:
            from gate.kargo.demo import run_demo_promote

            code = finish(run_demo_promote(sim, opts), opts)
        else:
            code = run_verify(opts)
    return code


def run_demo_diagnose(name: str, *, junit: str | None = None, json_path: str | None = None,
                      output: str = "text", keep: bool = False) -> int:
    """`gate diagnose` on a static simulated world: diagnose-<name> if there is one, else the scenario itself."""
    from gate.diagnose.run import run_diagnose
    from gate.sim.scenario import builtin_names
    from gate.sim.server import start

    world = f"diagnose-{name}" if f"diagnose-{name}" in builtin_names() else name
    with _workdir(keep) as workdir:
        junit = junit or (str(workdir / "junit.xml") if keep else None)
        with start(world, workdir=str(workdir)) as sim:
            click.echo(f"gate demo --diagnose: scenario {name!r} "
                       f"({sim.scenario.get('description', '').strip()}); simulated cluster at {sim.url}", err=True)
            opts = RunOptions(config=_resource("config.yaml"), kubeconfig=sim.kubeconfig, junit=junit,
                              json_path=json_path, output=output)
            return run_diagnose(opts)
