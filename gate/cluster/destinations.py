"""Destination clusters: where a check reads (`cluster:` on a stage or a check), resolved once per run.

The session holds one Destination per distinct `cluster:` of the plan: its API client, its HTTP client
(for `service:` targets, through that cluster's services/proxy) and the label every row of it carries
(`[prod-eu] Pods ready in shop`). Checks are handed the clients of their cluster by the runner and need
no change. Kargo objects and Argo CD Applications are always read in the control plane: the kinds in
CONTROL_PLANE_KINDS ignore a stage's `cluster:` and refuse their own.

A destination that cannot be used is never replaced by the control plane: credentials this image
cannot use are exit 2 at start (gate.cluster.argocd_clusters.unsupported); a Secret or Application that
cannot be read, or is missing, makes every check of that cluster an ERROR row naming the cluster and
the Secret (exit 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gate.cluster import argocd_clusters as argo
from gate.cluster.resources import APPLICATIONS, SECRETS, segment
from gate.errors import ConfigError, EvaluationError

WAYS = ("argocd", "from_app", "context")
CONTROL_PLANE_KINDS = frozenset({"argocd_apps", "kargo_stage"})  # read Argo CD / Kargo: the control plane
CONTROL_PLANE_LABEL = "control-plane"

REF_SCHEMA: dict[str, Any] = {
    "description": "where the checks read: a destination cluster as Argo CD knows it (`argocd:` its name "
                   "or server URL; `from_app:` the destination of an Application), or a kubeconfig "
                   "`context:`; default: the cluster the gate connects to",
    "type": "object", "additionalProperties": False, "minProperties": 1,
    "properties": {
        "argocd": {"type": "string", "minLength": 1, "description": "Argo CD cluster name or server URL"},
        "from_app": {"type": "string", "minLength": 1,
                     "description": "an Argo CD Application (name, or namespace/name): its destination"},
        "context": {"type": "string", "minLength": 1, "description": "a kubeconfig context"},
        "secret": {"type": "string", "minLength": 1,
                   "description": "the Argo CD cluster Secret's name (read by name; `gate render` grants "
                                  "get on exactly it)"},
    },
}


@dataclass(frozen=True)
class ClusterRef:
    """What the spec says: one of WAYS with its value, and optionally the cluster Secret's name."""

    way: str
    value: str
    secret: str | None = None

    @property
    def key(self) -> str:
        return f"{self.way}:{self.value}" + (f"@{self.secret}" if self.secret else "")

    @property
    def via_argocd(self) -> bool:
        return self.way in ("argocd", "from_app")


def parse_ref(raw: Any, *, file: str | None = None, line: int | None = None, key: str | None = None) -> ClusterRef:
    """The schema checked the keys and types; this checks that exactly one way is given."""
    ways = [w for w in WAYS if w in (raw or {})]
    where = {"file": file, "line": line, "key": key}
    if len(ways) != 1:
        got = ", ".join(ways) or "none"
        raise ConfigError(f"cluster: give exactly one of argocd, from_app, context (got: {got})", **where)
    way = ways[0]
    if raw.get("secret") is not None and way == "context":
        raise ConfigError("cluster: `secret` names an Argo CD cluster Secret; it goes with argocd or from_app, "
                          "not context", **where)
    secret = raw.get("secret")
    if secret is not None:
        try:
            segment(secret, "Secret name")
        except (ValueError, ConfigError) as exc:
            raise ConfigError(f"cluster.secret: {getattr(exc, 'detail', exc)}", **where) from None
    return ClusterRef(way, str(raw[way]), secret)


@dataclass
class Destination:
    """One cluster the plan reads, ready for its checks."""

    key: str
    label: str
    kube: Any = None  # gate.cluster.kube.KubeClient
    http: Any = None  # gate.httpclient.HttpClient over `kube`
    secret: str | None = None  # "<namespace>/<name>" of the Argo CD cluster Secret
    error: EvaluationError | None = None  # set: every check of this cluster is ERROR with it
    control_plane: bool = False
    warnings: list[str] = field(default_factory=list)
    server: str | None = None  # the API server URL, where Argo CD's cluster Secret gives it

    @property
    def context(self) -> str | None:
        """The kubeconfig context it was read through (`cluster: {context: ...}`), for `kubectl --context`."""
        return self.label if self.key.startswith("context:") else None

    def kubectl(self, line: str) -> str:
        """A `kubectl ...` line an on-call engineer can copy, aimed at this cluster: `kubectl --context CTX`
        where the gate read it through a kubeconfig context, else prefixed `in cluster NAME (SERVER):`
        (an Argo CD cluster: its name there, not a context anyone's kubeconfig is known to have). Lines
        for the control plane, and lines that are not kubectl commands, are returned as they are."""
        if self.control_plane or not line.startswith("kubectl "):
            return line
        if self.context:
            return f"kubectl --context {self.context} {line.removeprefix('kubectl ')}"
        where = f"{self.label} ({self.server})" if self.server and self.server != self.label else self.label
        return f"in cluster {where}: {line}"


def refs_of(plan: Any) -> list[ClusterRef]:
    """The distinct cluster references of the plan's checks, in plan order."""
    seen: dict[str, ClusterRef] = {}
    for number in sorted(plan.levels):
        for planned in plan.levels[number]:
            ref = getattr(planned, "cluster", None)
            if ref is not None:
                seen.setdefault(ref.key, ref)
    return list(seen.values())


def resolve(refs: Iterable[ClusterRef], control: Any, settings: Any, *, kubeconfig: str | None = None,
            control_http: Any = None) -> dict[str, Destination]:
    """A Destination for each reference. ConfigError (exit 2) for what no run could use; a destination
    that cannot be read now carries its error instead."""
    out: dict[str, Destination] = {}
    for ref in refs:
        out[ref.key] = _resolve_one(ref, control, settings, kubeconfig, control_http)
    return out


def _resolve_one(ref: ClusterRef, control: Any, settings: Any, kubeconfig: str | None,
                 control_http: Any) -> Destination:
    if ref.way == "context":
        from gate.cluster.kube import _kubeconfig_files, connect
        from gate.httpclient import HttpClient

        if not _kubeconfig_files(kubeconfig):  # connect() would fall back to the pod's own cluster
            raise ConfigError(f"cluster: {{context: {ref.value}}} needs a kubeconfig that has it: pass "
                              f"--kubeconfig or set KUBECONFIG", key="cluster.context")
        kube = connect(kubeconfig, ref.value)
        return Destination(ref.key, ref.value, kube, HttpClient(kube=kube, in_cluster=False))
    ns = (settings.get("argocd_namespace") if settings is not None else None) or "argocd"
    label = ref.value
    try:
        server, name = _target(ref, control, ns)
        label = name or server
        if is_in_cluster(server, name) and ref.secret is None:
            return Destination(ref.key, argo.IN_CLUSTER_NAME, control, control_http, control_plane=True)
        cluster = _cluster_secret(ref, control, ns, server, name)
    except EvaluationError as exc:
        secret = f"{ns}/{ref.secret}" if ref.secret else f"the cluster Secrets in namespace {ns}"
        return Destination(ref.key, label, error=EvaluationError(
            f"cluster {label}: cannot use {secret}: {exc}"), secret=secret)
    label = cluster.name
    if cluster.in_cluster:
        return Destination(ref.key, argo.IN_CLUSTER_NAME, control, control_http, secret=cluster.secret,
                           control_plane=True)
    from gate.httpclient import HttpClient

    try:
        kube = argo.client_for(cluster, label)
    except ConfigError:
        raise
    except EvaluationError as exc:  # an exec plugin that failed: this cluster's checks are ERROR rows
        return Destination(ref.key, label, error=EvaluationError(
            f"cluster {label}: cannot use {cluster.secret}: {exc}"), secret=cluster.secret)
    return Destination(ref.key, label, kube, HttpClient(kube=kube, in_cluster=False), secret=cluster.secret,
                       warnings=cluster.warnings(), server=cluster.server)


def is_in_cluster(server: str | None, name: str | None) -> bool:
    return server is not None and server.rstrip("/") == argo.IN_CLUSTER_SERVER or \
        server is None and name == argo.IN_CLUSTER_NAME


def _target(ref: ClusterRef, control: Any, ns: str) -> tuple[str | None, str | None]:
    """(server, name) the reference asks for: one of the two is set."""
    if ref.way == "argocd":
        return (ref.value, None) if "://" in ref.value else (None, ref.value)
    app_ns, _, app = ref.value.rpartition("/")
    app_ns = app_ns or ns
    if control is None:
        raise EvaluationError("no control-plane cluster is configured to read the Application from")
    obj = control.get(APPLICATIONS, app, app_ns)
    if obj is None:
        raise EvaluationError(f"Application {app_ns}/{app} not found")
    dest = (obj.get("spec") or {}).get("destination") or {}
    if dest.get("server") and dest.get("name"):  # argo-cd util/argo/argo.go:1090-1092
        raise EvaluationError(f"Application {app_ns}/{app}: its destination has both name and server, which "
                              f"Argo CD refuses")
    if dest.get("server"):
        return str(dest["server"]), None
    if dest.get("name"):
        return None, str(dest["name"])
    raise EvaluationError(f"Application {app_ns}/{app} has neither spec.destination.server nor .name")


def _cluster_secret(ref: ClusterRef, control: Any, ns: str, server: str | None,
                    name: str | None) -> argo.ArgoCluster:
    """The Secret by name when the spec names it, else the one label-selected Secret that matches."""
    if control is None:
        raise EvaluationError("no control-plane cluster is configured to read Argo CD's cluster Secrets from")
    wanted = server or name or ""
    if ref.secret:
        obj = control.get(SECRETS, ref.secret, ns)
        if obj is None:
            raise EvaluationError(f"Secret {ns}/{ref.secret} not found")
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if labels.get(argo.LABEL_SECRET_TYPE) != "cluster":
            raise EvaluationError(f"Secret {ns}/{ref.secret} is not an Argo CD cluster Secret "
                                  f"(no label {argo.CLUSTER_SELECTOR})")
        cluster = argo.decode_secret(obj)
        if not argo.matches(cluster, server=server, name=name):
            raise EvaluationError(f"Secret {ns}/{ref.secret} is for cluster {cluster.name} ({cluster.server}), "
                                  f"not {wanted}")
        return cluster
    found, broken = [], []
    for obj in control.list(SECRETS, ns, argo.CLUSTER_SELECTOR):
        try:
            found.append(argo.decode_secret(obj))
        except ConfigError as exc:  # another cluster's broken Secret is not this run's problem
            broken.append(str(exc))
    hits = [c for c in found if argo.matches(c, server=server, name=name)]
    if not hits:
        unreadable = f" ({len(broken)} could not be read: {'; '.join(broken)})" if broken else ""
        raise EvaluationError(f"no Argo CD cluster Secret in namespace {ns} has "
                              f"{'server' if server else 'name'} {wanted}{unreadable}")
    if len(hits) > 1:
        raise EvaluationError(f"{len(hits)} Argo CD cluster Secrets match {wanted}: "
                              f"{', '.join(c.secret for c in hits)}")
    return hits[0]


def labels(plan: Any, destinations: Mapping[str, Destination]) -> None:
    """Every check that reads a cluster carries its cluster's label once the plan reads more than one
    cluster (or names one): `[prod-eu] ...`, `[control-plane] ...`; a plan on the default cluster only
    is reported as before."""
    if not destinations:
        return
    for checks in plan.levels.values():
        for planned in checks:
            ref = getattr(planned, "cluster", None)
            if ref is not None and ref.key in destinations:
                planned.label = destinations[ref.key].label
            elif planned.check.permissions():
                planned.label = CONTROL_PLANE_LABEL


def split(plan: Any) -> dict[str | None, Any]:
    """The plan cut by cluster key (None: the default cluster), each part a Plan of its own."""
    from gate.engine.plan import Plan

    parts: dict[str | None, Any] = {}
    for number in sorted(plan.levels):
        for planned in plan.levels[number]:
            ref = getattr(planned, "cluster", None)
            key = ref.key if ref is not None else None
            part = parts.setdefault(key, Plan(plan.stage, {}, plan.source))
            part.levels.setdefault(number, []).append(planned)
    return parts


def clients_for(base: Any, dest: Destination | None, view: Any) -> Any:
    """The Clients a check of `dest` observes through: its cluster's kube, view and HTTP client."""
    from gate.checks.base import Clients

    if dest is None:
        return Clients(**{**base.__dict__, "view": view})
    return Clients(**{**base.__dict__, "kube": dest.kube, "view": view, "http": dest.http,
                      "in_cluster": base.in_cluster and dest.control_plane})


def preflight_each(session: Any, *, job: bool | None = None, namespace: str | None = None,
                   strict: bool = False) -> list[tuple[str, Any]]:
    """gate.cluster.rbac.preflight for each cluster the plan reads, against that cluster: (label, Review)
    pairs; the label is "" when the plan reads the default cluster only. The control plane's include
    reading the destinations' Secrets and Applications (gate/cluster/destination_rbac.py). A destination
    that cannot be reviewed (unreachable, its Secret unreadable) is left to its checks, which are ERROR
    rows naming it; `strict` (`gate rbac check`) raises its error instead."""
    from gate.cluster.destination_rbac import access_permissions
    from gate.cluster.rbac import Review, preflight, review_all
    from gate.engine.plan import Plan

    parts = split(session.plan)
    parts.setdefault(None, Plan(session.plan.stage, {}, session.plan.source))
    out: list[tuple[str, Any]] = []
    for key, part in sorted(parts.items(), key=lambda kv: kv[0] is not None):
        dest = session.clusters.get(key) if key is not None else None
        if key is None or dest is None:
            label = CONTROL_PLANE_LABEL if session.clusters else ""
            if session.kube is not None:
                out += [(label, r) for r in preflight(session.kube, part, job=job, namespace=namespace)]
                access = access_permissions(session.plan, session.settings)
                out += [(label, Review(p, ok)) for p, ok in review_all(session.kube, access)] if access else []
            continue
        if dest.error is not None or dest.kube is None:
            if strict and dest.error is not None:
                raise dest.error
            continue
        try:
            reviews = preflight(dest.kube, part)
        except EvaluationError:
            if strict:
                raise
            continue
        out += [(dest.label, r) for r in reviews]
    return out


def kube_of_check(check_id: str, plan: Any, clusters: Mapping[str, Destination] | None,
                  default: Any) -> tuple[Any, str]:
    """The API client of the cluster the plan's check `check_id` reads (`default` for the default
    cluster), or (None, why) when that cluster cannot be read: never the control plane instead."""
    ref = _ref_of_check(check_id, plan)
    if ref is None:
        return default, ""
    dest = (clusters or {}).get(ref.key)
    if dest is None or dest.kube is None:
        return None, f"cluster {dest.label if dest else ref.value} cannot be read"
    return dest.kube, ""


def destination_of_check(check_id: str, plan: Any, clusters: Mapping[str, Destination] | None) -> Destination | None:
    """The Destination the plan's check `check_id` reads (None: the default cluster)."""
    ref = _ref_of_check(check_id, plan)
    return (clusters or {}).get(ref.key) if ref is not None else None


def _ref_of_check(check_id: str, plan: Any) -> ClusterRef | None:
    for checks in (plan.levels.values() if plan is not None else []):
        for planned in checks:
            if planned.id == check_id:
                return getattr(planned, "cluster", None)
    return None
