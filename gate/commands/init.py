"""`gate init`: write a commented starter gate.yaml and .gitops-config.yaml (see gate/init.py)."""

from __future__ import annotations

import os
from collections.abc import Callable

import click

from gate.errors import ConfigError
from gate.options import timeout_option
from gate.spec.settings import DEFAULT_FILE, FLAG_KEYS, KEYS

_FLAG_OF_KEY = {key: flag for flag, key in FLAG_KEYS.items()}  # kargo_project -> --project


def _flag(key: str) -> str:
    return _FLAG_OF_KEY.get(key, key.replace("_", "-"))


def settings_flags(fn: Callable) -> Callable:
    """One flag per settings key (`--argocd-namespace`, `--project` for kargo_project), generated."""
    for key in reversed(KEYS):
        fn = click.option(f"--{_flag(key)}", key, metavar="VALUE",
                          help=f"Settings key {key}.")(fn)
    return fn


@click.command("init")
@click.option("--offline", is_flag=True, help="Read no cluster: write from the flags alone.")
@click.option("--stage", "stages", multiple=True, metavar="NAME[=APP,APP…]",
              help="Only this Kargo Stage (repeatable). With --offline: a Stage and its Argo CD apps.")
@click.option("--spec", "spec_path", default="gate.yaml", show_default=True, type=click.Path(dir_okay=False),
              help="Where to write the spec.")
@click.option("--config", "config_path", default=DEFAULT_FILE, show_default=True,
              type=click.Path(dir_okay=False), help="Where to write the settings.")
@click.option("--force", is_flag=True, help="Overwrite the files if they exist.")
@click.option("--kubeconfig", envvar="GATE_KUBECONFIG", type=click.Path(dir_okay=False),
              help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).")
@click.option("--context", envvar="GATE_CONTEXT", help="Kubeconfig context.")
@settings_flags
@timeout_option
def init(offline: bool, stages: tuple[str, ...], spec_path: str, config_path: str, force: bool,
         kubeconfig: str | None, context: str | None, **values: str | None) -> None:
    """Write a commented starter gate.yaml and .gitops-config.yaml from what `gate discover` finds.

    One spec stage per Kargo Stage of the project, with the Level 1 checks init can infer: its Argo CD
    apps (from the Stage's argocd-update steps), the workloads and pods of their destination namespaces,
    and the Stage itself. Levels 2-4 are written as commented examples. Existing files are kept (exit 2)
    unless --force. Each settings key has a flag (--argocd-namespace, --project, …): it wins over
    discovery, and with --offline the flags are all init knows.
    """
    from gate import init as starter
    from gate.outfiles import check_target, write_all
    from gate.spec.discovery import discover
    from gate.spec.settings import load_settings

    # Before anything is read: symlinks, FIFOs and devices are refused, never written through or opened.
    targets = ((spec_path, "--spec"), (config_path, "--config"))
    existing = [p for p, flag in targets if check_target(p, flag)]
    if existing and not force:
        raise ConfigError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}: "
                          f"gate init writes new files only (pass --force to overwrite)", key="--force")
    # With --force an existing settings file is read first: its values are kept, not rediscovered.
    settings = load_settings(config_path if os.path.isfile(config_path) else None, values)
    if offline:
        drafts = starter.offline_drafts(stages, settings)
        origin = "offline, from flags"
    else:
        from gate.cluster.kube import connect

        if any("=" in s for s in stages):
            raise ConfigError("--stage NAME=APP,… is for --offline; with a cluster the apps are read from "
                              "the Stage", key="--stage")
        kube = connect(kubeconfig, context)
        settings = discover(settings, kube)
        drafts, notes = starter.read_cluster(kube, settings, stages)
        origin = f"from the cluster (Kargo project {settings.kargo_project})"
        for note in notes:
            click.echo(f"gate init: note: {note}", err=True)
    spec = starter.spec_text(drafts, settings, origin)
    config = starter.settings_text(settings, origin)
    write_all([(config_path, "--config", config), (spec_path, "--spec", spec)])
    names = ", ".join(d.name for d in drafts)
    click.echo(f"wrote {spec_path} (stages: {names}) and {config_path}", err=True)
    click.echo(f"next: gate verify --stage {drafts[0].name} --levels 1", err=True)
