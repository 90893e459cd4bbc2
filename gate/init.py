"""`gate init`: a commented starter `gate.yaml` and `.gitops-config.yaml`.

From the cluster (`gate discover` for the settings; the project's Kargo Stages, their `argocd-update`
steps with PromotionTask steps expanded as gate/lint/pipeline.py does, and the destination namespaces of
those Applications) or, with `--offline`, from flags. One spec stage per Kargo Stage with the Level 1
checks that can be inferred: its Argo CD apps, the workloads and pods of their destination namespaces,
and the Stage itself (kargo_stage). Levels 2-4 are written as commented examples.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from gate.cluster.kube import KindNotServed
from gate.cluster.resources import (
    APPLICATIONS,
    CLUSTERPROMOTIONTASKS,
    DAEMONSETS,
    DEPLOYMENTS,
    PODS,
    PROMOTIONTASKS,
    STAGES,
    STATEFULSETS,
    Resource,
)
from gate.errors import ConfigError, PermissionDenied
from gate.lint.manifests import Manifest
from gate.lint.pipeline import Pipeline
from gate.spec.settings import DEFAULT_FILE, KEYS, VARIABLES, Settings
from gate.spec.yamlpos import Positions

TASKS = (PROMOTIONTASKS, CLUSTERPROMOTIONTASKS)
IN_CLUSTER = ("https://kubernetes.default.svc", "")  # Argo CD's own cluster, by server or name
# settings keys whose values are namespaces: a namespace equal to one is written as its ${VAR}
NAMESPACE_KEYS = ("monitoring_namespace", "app_namespace", "argocd_namespace", "kargo_namespace")


@dataclass
class Namespace:
    """A destination namespace of a Stage's Applications, and what it held when init read it."""

    name: str
    workloads: int | None = None  # None: not read (offline, or not permitted)
    pods: int | None = None
    remote: str | None = None  # the destination cluster when it is not Argo CD's own


@dataclass
class StageDraft:
    name: str
    apps: dict[str, list[str]] = field(default_factory=dict)  # Argo CD namespace -> app names
    unresolved: list[str] = field(default_factory=list)  # app names init cannot evaluate
    missing: list[str] = field(default_factory=list)  # apps the steps name that init could not read
    namespaces: list[Namespace] = field(default_factory=list)


# -- reading the cluster --------------------------------------------------------------------------
def _manifest(res: Resource, obj: dict) -> Manifest:
    obj = dict(obj)
    obj.setdefault("kind", res.kind)
    meta = obj.get("metadata") or {}
    return Manifest(obj, f"cluster:{res.kind}/{meta.get('namespace') or ''}/{meta.get('name')}",
                    Positions({(): 1}))


def _try_list(kube: object, res: Resource, namespace: str | None, notes: list[str]) -> list[dict] | None:
    """A list; None (with a note when it was refused) when the kind is not served or may not be read."""
    try:
        return kube.list(res, namespace)  # type: ignore[attr-defined]
    except KindNotServed:
        return None
    except PermissionDenied as exc:
        notes.append(f"{res.display}{' in ' + namespace if namespace else ''}: {exc}")
        return None


def _count(kube: object, namespace: str, kinds: Iterable[Resource], notes: list[str]) -> int | None:
    total = 0
    for res in kinds:
        found = _try_list(kube, res, namespace, notes)
        if found is None:
            return None
        total += len(found)
    return total


def read_cluster(kube: object, settings: Settings, only: Iterable[str] = ()) -> tuple[list[StageDraft], list[str]]:
    """(one draft per Kargo Stage of the project, notes on what could not be read)."""
    project = settings.kargo_namespace
    if not project:
        raise ConfigError("no Kargo project found in the cluster: pass --project (or --offline)",
                          key="kargo_project")
    notes: list[str] = []
    stages = [_manifest(STAGES, s) for s in kube.list(STAGES, project)]  # type: ignore[attr-defined]
    wanted = set(only)
    if wanted:
        unknown = sorted(wanted - {s.name for s in stages})
        if unknown:
            have = ", ".join(sorted(s.name for s in stages)) or "none"
            raise ConfigError(f"no Kargo Stage {', '.join(unknown)} in namespace {project} (its Stages: {have})",
                              key="--stage")
        stages = [s for s in stages if s.name in wanted]
    if not stages:
        raise ConfigError(f"no Kargo Stages in namespace {project}: create them first, or write a starter "
                          f"with --offline --stage NAME=APP,…", key="--stage")
    tasks = [_manifest(res, t) for res in TASKS
             for t in _try_list(kube, res, project if res.namespaced else None, notes) or []]
    pipeline = Pipeline([*stages, *tasks])
    apps_by_ns: dict[str, dict[str, dict]] = {}
    counted: dict[str, Namespace] = {}
    drafts = []
    for stage in _in_pipeline_order(pipeline, stages):
        draft = StageDraft(stage.name)
        for ref in pipeline.apps(stage):
            if not ref.resolved:
                draft.unresolved.append(ref.name or "(empty)")
                continue
            names = draft.apps.setdefault(ref.namespace, [])
            if ref.name not in names:
                names.append(ref.name)
            if ref.namespace not in apps_by_ns:
                found = _try_list(kube, APPLICATIONS, ref.namespace, notes) or []
                apps_by_ns[ref.namespace] = {(a.get("metadata") or {}).get("name"): a for a in found}
            app = apps_by_ns[ref.namespace].get(ref.name)
            if app is None:
                draft.missing.append(f"{ref.namespace}/{ref.name}")
                continue
            ns = _destination(app)
            if ns is not None and ns.name not in {n.name for n in draft.namespaces}:
                if ns.remote is None:
                    ns = counted.setdefault(ns.name, _observe(kube, ns, notes))
                draft.namespaces.append(ns)
        drafts.append(draft)
    return drafts, notes


def _in_pipeline_order(pipeline: Pipeline, stages: list[Manifest]) -> list[Manifest]:
    """Upstream Stages first (by their distance from the Warehouse), then by name."""
    names = {s.name: s for s in stages}
    depth: dict[str, int] = {}

    def level(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in depth:
            ups = [u for u in pipeline.upstream_stages(names[name]) if u in names and u not in seen]
            depth[name] = 1 + max((level(u, seen | {name}) for u in ups), default=0)
        return depth[name]

    return sorted(stages, key=lambda s: (level(s.name), s.name))


def _destination(app: dict) -> Namespace | None:
    dest = (app.get("spec") or {}).get("destination") or {}
    name = dest.get("namespace")
    if not name:
        return None  # cluster-scoped resources only, or namespaces set per resource
    server = dest.get("server") or ""
    remote = None if server in IN_CLUSTER or dest.get("name") == "in-cluster" else (server or dest.get("name"))
    return Namespace(name, remote=remote)


def _observe(kube: object, ns: Namespace, notes: list[str]) -> Namespace:
    ns.workloads = _count(kube, ns.name, (DEPLOYMENTS, STATEFULSETS, DAEMONSETS), notes)
    ns.pods = _count(kube, ns.name, (PODS,), notes)
    return ns


def parse_offline_stage(value: str) -> StageDraft:
    """`NAME` or `NAME=APP,APP`."""
    name, _, apps = value.partition("=")
    name = name.strip()
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
        raise ConfigError(f"{value!r} is not NAME or NAME=APP,APP (a Kargo Stage name)", key="--stage")
    names = [a.strip() for a in apps.split(",") if a.strip()]
    return StageDraft(name, apps={"": names} if names else {})


def offline_drafts(values: Iterable[str], settings: Settings) -> list[StageDraft]:
    drafts = [parse_offline_stage(v) for v in values]
    if not drafts:
        raise ConfigError("--offline needs at least one --stage NAME[=APP,APP…]", key="--stage")
    for d in drafts:
        if settings.app_namespace and d.apps:
            d.namespaces.append(Namespace(settings.app_namespace))
    return drafts


# -- writing ----------------------------------------------------------------------------------------
def _q(value: str) -> str:
    """A YAML flow scalar: bare when plain, else double-quoted."""
    return value if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", value) else json.dumps(value)


def _flow_list(values: list[str]) -> str:
    return "[" + ", ".join(_q(v) for v in values) + "]"


def _ns_ref(name: str, settings: Settings) -> str:
    for key in NAMESPACE_KEYS:
        if settings.get(key) == name:
            return "${" + VARIABLES[key] + "}"
    return name


def _level1(draft: StageDraft, settings: Settings) -> list[str]:
    lines = []
    argocd_ns = settings.argocd_namespace
    for ns, names in draft.apps.items():
        extra = "" if not ns or ns == argocd_ns else f", namespace: {_q(_ns_ref(ns, settings))}"
        lines.append(f"- argocd_apps: {{names: {_flow_list(names)}{extra}}}"
                     f"      # Synced, Healthy, last sync succeeded")
    for ref in draft.unresolved:
        lines.append(f"# - argocd_apps: {{names: [{ref}]}}      # an expression init cannot evaluate: name the app")
    for ref in draft.missing:
        lines.append(f"# argocd-update names {ref}, which init could not read: is it there?")
    if not draft.apps and not draft.unresolved:
        lines.append("# no argocd-update step: name the stage's apps here, e.g.")
        lines.append("# - argocd_apps: {names: [my-app]}")
    for ns in draft.namespaces:
        lines += _namespace_lines(ns, settings)
    if not draft.namespaces and draft.apps:
        lines.append('# - workloads: {namespace: "${APP_NS}"}      # the apps\' namespace (set app_namespace)')
    lines.append("- kargo_stage: {}      # current Freight verified by Kargo, Stage Ready and not reconciling")
    return lines


def _namespace_lines(ns: Namespace, settings: Settings) -> list[str]:
    ref = _q(_ns_ref(ns.name, settings))
    if ns.remote:
        return [f"# {ns.name} is on another cluster ({ns.remote}): point --kubeconfig/--context there to check it",
                f"# - workloads: {{namespace: {ref}}}"]
    out = []
    for kind, count, what in (("workloads", ns.workloads, "Deployments/StatefulSets/DaemonSets"),
                              ("pods", ns.pods, "pods")):
        line = f"- {kind}: {{namespace: {ref}}}"
        if count == 0:
            out.append(f"# {line}      # no {what} in {ns.name} when init ran")
        elif count is None:
            out.append(f"{line}      # {what} ready (init could not read them)")
        else:
            out.append(f"{line}      # {count} {what} when init ran; all must be ready")
    return out


def _examples(draft: StageDraft, settings: Settings) -> list[str]:
    ns = _ns_ref(draft.namespaces[0].name, settings) if draft.namespaces else "${APP_NS}"
    return [
        "# 2:                                   # service health (examples: uncomment and adapt)",
        f'#   - http: {{service: "{ns}/my-service:8080", path: /healthz, via: proxy, expect: {{status: 200}}}}',
        '#   - prometheus_targets: {url: "http://prometheus.${MONITORING_NS}:9090", min_up: 1, none_down: true}',
        "# 3:                                   # ingress and auth",
        '#   - http: {url: "https://my-app.${DOMAIN}/", follow_redirects: false, expect: {status: 302}}',
        '#   - tls: {host: "my-app.${DOMAIN}", min_days_left: 14}',
        "# 4:                                   # functional",
        '#   - prometheus_query: {url: "http://prometheus.${MONITORING_NS}:9090", query: "count(up == 1)", '
        'expect: ">= 1"}',
        "#   - command: {run: [pytest, smoke/], timeout: 10m}",
        "#   secrets only as ${env:NAME}, e.g. headers: {Authorization: \"Bearer ${env:SMOKE_TOKEN}\"}",
    ]


def spec_text(drafts: list[StageDraft], settings: Settings, origin: str) -> str:
    out = [
        f"# Promotion Gate spec, written by `gate init` {origin}.",
        "# One stage per Kargo Stage. Level 1 holds what init could infer; Levels 2-4 are examples to adapt.",
        "# ${VAR} values come from .gitops-config.yaml (or GATE_<KEY>); secrets only as ${env:NAME}.",
        "# Try it: gate verify --stage STAGE --levels 1      Check kinds and keys: gate/spec/gate.schema.json",
        "defaults: {timeout: 5m, interval: 5s}",
        "stages:",
    ]
    for draft in drafts:
        about = ", ".join(n for names in draft.apps.values() for n in names) or "no Argo CD apps found"
        out += [f"  {_q(draft.name)}:      # Kargo Stage {draft.name}: {about}", "    levels:", "      1:"]
        out += ["        " + line for line in _level1(draft, settings)]
        out += ["      " + line for line in _examples(draft, settings)]
    return "\n".join(out) + "\n"


def settings_text(settings: Settings, origin: str) -> str:
    out = [f"# Promotion Gate settings, written by `gate init` {origin}.",
           "# Keys as in the gitops guide; each may also be set as GATE_<KEY> (e.g. GATE_KARGO_NAMESPACE).",
           "# A key left unset is discovered from the cluster when the spec needs it."]
    for key in KEYS:
        value = settings.get(key)
        if value is None:
            why = settings.notes.get(key, "not set")
            out.append(f"# {key}:      # {why}")
        else:
            line = json.dumps({key: value}, ensure_ascii=False)[1:-1].replace('"' + key + '"', key, 1)
            out.append(f"{line}      # {settings.source(key)}")
    return "\n".join(out) + "\n"


__all__ = ["DEFAULT_FILE", "StageDraft", "Namespace", "read_cluster", "offline_drafts", "spec_text",
           "settings_text"]
