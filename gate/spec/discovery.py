"""Fill missing settings from the cluster, with the guide's "Step 2" queries, and `gate discover`.

Discovery is lazy: only the keys asked for (the ones the spec uses) that have no value are looked up,
so a run makes fewer requests and needs fewer permissions. A key that cannot be found stays unset,
with a note saying why; an ambiguous answer (two Kargo projects) is a ConfigError naming the key.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import click

from gate.cluster.kube import KindNotServed
from gate.cluster.resources import APPLICATIONS, INGRESSES, NAMESPACES, PODS, PROJECTS, STAGES, WAREHOUSES, Resource
from gate.errors import ConfigError, PermissionDenied
from gate.options import timeout_option
from gate.redact import redact
from gate.reports.common import check_report_path, write_atomic
from gate.spec.settings import DEFAULT_FILE, KEYS, Settings, load_settings
from gate.spec.yamlpos import read as read_text

MONITORING_SELECTOR = "app.kubernetes.io/part-of=kube-prometheus-stack"


class Lister(Protocol):
    """gate.cluster.kube.KubeClient or gate.cluster.kube.ClusterView."""

    def list(self, res: Resource, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict]: ...

    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict | None: ...


Found = tuple[dict[str, str], str] | None  # (values, how) or None


def _ns(obj: dict) -> str | None:
    return (obj.get("metadata") or {}).get("namespace")


def _name(obj: dict) -> str:
    return str((obj.get("metadata") or {}).get("name"))


def _most_common(values: Iterable[str]) -> tuple[str, int, int] | None:
    """(value, its count, total) of the most common value; ties go to the first seen."""
    counts = Counter(v for v in values if v)
    if not counts:
        return None
    value, count = counts.most_common(1)[0]
    return value, count, sum(counts.values())


def _ambiguous(key: str, what: str, candidates: list[str], settings: Settings) -> ConfigError:
    return ConfigError(f"found {len(candidates)} {what}: {', '.join(candidates)}; choose one: "
                       f"{settings.hint(key)}", key=key)


def _project(view: Lister, settings: Settings) -> Found:
    try:
        projects = sorted(_name(p) for p in view.list(PROJECTS))
    except KindNotServed:
        projects = []
    stages = view.list(STAGES)
    stage_count = Counter(_ns(s) for s in stages if _ns(s))
    if not projects:  # older Kargo, or Projects not readable: the namespaces that hold Stages
        projects = sorted(stage_count)
        how = "namespace holding Kargo Stages"
    else:
        how = "Kargo Project"
    if not projects:
        return None
    if len(projects) > 1:
        raise _ambiguous("kargo_project", "Kargo projects", projects, settings)
    name = projects[0]
    return {"kargo_project": name, "kargo_namespace": name}, f"{how} {name} ({stage_count[name]} stages)"


def _argocd_namespace(view: Lister, settings: Settings) -> Found:
    best = _most_common(_ns(app) or "" for app in view.list(APPLICATIONS))
    if not best:
        return None
    value, count, total = best
    return {"argocd_namespace": value}, f"namespace of {count}/{total} Argo CD Applications"


def _hosts(ingress: dict) -> list[str]:
    spec = ingress.get("spec") or {}
    hosts = [r.get("host") or "" for r in spec.get("rules") or []]
    hosts += [h for t in spec.get("tls") or [] for h in t.get("hosts") or []]
    return [h for h in hosts if h and not h.startswith("*")]


def _domain(view: Lister, settings: Settings) -> Found:
    domains = [h.split(".", 1)[1] for ing in view.list(INGRESSES) for h in _hosts(ing) if h.count(".") >= 2]
    best = _most_common(domains)
    if not best:
        return None
    value, count, total = best
    return {"domain": value}, f"{count}/{total} ingress hosts are *.{value}"


def _warehouse(view: Lister, settings: Settings) -> Found:
    namespace = settings.kargo_namespace
    if not namespace:
        return None
    names = sorted(_name(w) for w in view.list(WAREHOUSES, namespace))
    if len(names) > 1:
        raise _ambiguous("warehouse_name", f"Warehouses in namespace {namespace}", names, settings)
    return ({"warehouse_name": names[0]}, f"the Warehouse in namespace {namespace}") if names else None


def _monitoring(view: Lister, settings: Settings) -> Found:
    try:
        if view.get(NAMESPACES, "monitoring") is not None:
            return {"monitoring_namespace": "monitoring"}, "namespace monitoring exists"
    except PermissionDenied:
        pass  # fall back to the pods, which a gate usually may list
    best = _most_common(_ns(p) or "" for p in view.list(PODS, label_selector=MONITORING_SELECTOR))
    if not best:
        return None
    return {"monitoring_namespace": best[0]}, f"namespace of pods labelled {MONITORING_SELECTOR}"


# key -> (finder, keys it needs first)
FINDERS: dict[str, tuple[Callable[[Lister, Settings], Found], tuple[str, ...]]] = {
    "kargo_project": (_project, ()),
    "kargo_namespace": (_project, ()),
    "argocd_namespace": (_argocd_namespace, ()),
    "domain": (_domain, ()),
    "warehouse_name": (_warehouse, ("kargo_namespace",)),
    "monitoring_namespace": (_monitoring, ()),
}
NOT_DISCOVERABLE = {"app_namespace": "no cluster query finds the application namespace",
                    "ssh_command": "how to reach the cluster is not something the cluster can tell"}


def discover(settings: Settings, view: Any, keys: set[str] | None = None) -> Settings:
    """A copy of `settings` with the missing `keys` (None: every key) filled from the cluster."""
    wanted = settings.missing(keys)
    for key in list(wanted):
        wanted.update(k for k in FINDERS.get(key, (None, ()))[1] if settings.get(k) is None)
    order = [k for k in FINDERS if k in wanted]  # dependencies come first in FINDERS
    for key in order:
        if settings.get(key) is not None:
            continue  # found along with an earlier key
        finder = FINDERS[key][0]
        try:
            found = finder(view, settings)
        except KindNotServed as exc:
            settings = settings.with_notes({key: str(exc)})
            continue
        except PermissionDenied as exc:
            settings = settings.with_notes({key: str(exc)})
            continue
        if found is None:
            settings = settings.with_notes({key: "nothing in the cluster pointed to a value"})
            continue
        values, how = found
        settings = settings.with_values({k: v for k, v in values.items() if settings.get(k) is None},
                                        f"discovered: {how}")
    missing_rest = {k: why for k, why in NOT_DISCOVERABLE.items() if k in wanted and settings.get(k) is None}
    return settings.with_notes(missing_rest) if missing_rest else settings


# -- gate discover ---------------------------------------------------------------------------------
def _file_text(values: dict[str, str]) -> str:
    import yaml

    return "".join(yaml.safe_dump({k: v}, default_flow_style=False, allow_unicode=True) for k, v in
                   values.items())


def write_settings(settings: Settings, path: str) -> list[str]:
    """Add every known key the file lacks to `path`, keeping its existing lines; the keys added."""
    same = bool(settings.file) and os.path.abspath(settings.file or "") == os.path.abspath(path)
    existing = settings.file_keys if same else set()
    if not existing and os.path.isfile(path):
        existing = load_settings(path, {}, env={}).file_keys
    new = {k: v for k in KEYS if k not in existing and (v := settings.get(k)) is not None}
    text = ""
    if os.path.isfile(path):
        text = read_text(path)
        if text and not text.endswith("\n"):
            text += "\n"
    else:
        text = "# Promotion Gate settings (gate discover --write). Keys as in the gitops guide.\n"
    write_atomic(path, text + _file_text(new))  # a regular file or a new one, never half-written
    return list(new)


@click.command("discover")
@click.option("--write", is_flag=True, help=f"Save the values to the settings file ({DEFAULT_FILE}).")
@click.option("--config", envvar="GATE_CONFIG", type=click.Path(dir_okay=False),
              help=f"Settings file (default: {DEFAULT_FILE} if present).")
@click.option("--kubeconfig", envvar="GATE_KUBECONFIG", type=click.Path(dir_okay=False),
              help="Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster).")
@click.option("--context", envvar="GATE_CONTEXT", help="Kubeconfig context.")
@click.option("--project", envvar="GATE_PROJECT", help="Kargo project.")
@timeout_option
def discover_command(write: bool, config: str | None, kubeconfig: str | None, context: str | None,
                     project: str | None) -> None:
    """Print each setting, its value and where it came from; missing ones are looked up in the cluster."""
    from gate.cluster.kube import connect

    target = config or DEFAULT_FILE
    # with --write and a --config that does not exist yet, start from nothing and create it
    path = config if config is None or os.path.isfile(config) or not write else None
    settings = load_settings(path, {"project": project})
    if write:
        check_report_path(target, "--config")  # before the cluster is asked anything
    settings = discover(settings, connect(kubeconfig, context))
    width = max(len(k) for k in KEYS)
    shown = {k: "(not set)" if settings.get(k) is None else repr(settings.get(k)) for k in KEYS}
    value_width = max(len(v) for v in shown.values())
    for key in KEYS:
        why = settings.source(key) if settings.get(key) is not None else settings.notes.get(key, "")
        click.echo(redact(f"{key:<{width}}  {shown[key]:<{value_width}}  {why}".rstrip()))
    if write:
        added = write_settings(settings, target)
        what = ", ".join(added) if added else "nothing new"
        click.echo(redact(f"wrote {target}: {what}"))
