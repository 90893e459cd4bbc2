"""`gate rbac check`: does the gate's own identity hold every permission the stage's checks need?

One SelfSubjectAccessReview per permission; denied ones are printed as the Role/ClusterRole rules that
would grant them, in the same shape `gate render analysis-template` emits, so a missing rule can be
copied straight into the manifest. `gate verify` runs the same preflight before the levels (the guide's
Gotcha 4: a verification Job without RBAC otherwise just "fails").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import click
import yaml

from gate.cluster.kube import KubeClient, Permission
from gate.engine.plan import Plan
from gate.errors import ConfigError, PermissionDenied
from gate.options import RunOptions, common_options_except

RBAC_API = "rbac.authorization.k8s.io/v1"
# Verbs the gate uses when granted and does without otherwise: `watch` lets a waiting level react to a
# change at once (gate/cluster/watches.py); without it the lists are polled. Asked for and shown, never
# a reason to stop.
OPTIONAL_VERBS = frozenset({"watch"})
LABELS = {"app.kubernetes.io/name": "promotion-gate", "app.kubernetes.io/component": "verification"}


# -- permissions -> rules ----------------------------------------------------------------------
def rules_by_scope(perms: Iterable[Permission]) -> dict[str | None, list[dict]]:
    """Group permissions into RBAC rules: one rule per (apiGroup, resource, resourceName), verbs merged.

    Keys are namespaces (a Role each) and None (cluster-wide: a ClusterRole). Order is stable.
    """
    verbs: dict[tuple[str | None, str, str, str | None], set[str]] = {}
    for perm in perms:
        verbs.setdefault((perm.namespace, perm.group, perm.resource, perm.name), set()).add(perm.verb)
    scopes: dict[str | None, list[dict]] = {}
    for (ns, group, resource, name) in sorted(verbs, key=lambda k: (k[0] or "", k[1], k[2], k[3] or "")):
        rule: dict = {"apiGroups": [group], "resources": [resource]}
        if name:
            rule["resourceNames"] = [name]
        rule["verbs"] = sorted(verbs[(ns, group, resource, name)])
        scopes.setdefault(ns, []).append(rule)
    return dict(sorted(scopes.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")))


def role_documents(perms: Iterable[Permission], name: str) -> list[dict]:
    """A Role per namespace and one ClusterRole (cluster-wide permissions), all named `name`."""
    docs = []
    for ns, rules in rules_by_scope(perms).items():
        meta: dict = {"name": name, "labels": dict(LABELS)}
        if ns is None:
            docs.append({"apiVersion": RBAC_API, "kind": "ClusterRole", "metadata": meta, "rules": rules})
        else:
            meta = {"name": name, "namespace": ns, "labels": dict(LABELS)}
            docs.append({"apiVersion": RBAC_API, "kind": "Role", "metadata": meta, "rules": rules})
    return docs


class _Dumper(yaml.SafeDumper):
    """Safe YAML with multi-line strings (embedded files) as literal blocks."""


def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str)


def dump_yaml(docs: Sequence[dict]) -> str:
    """Multi-document YAML, keys in the order written."""
    return "".join("---\n" + yaml.dump(d, Dumper=_Dumper, sort_keys=False, default_flow_style=False)
                   for d in docs)


def missing_rules_yaml(denied: Iterable[Permission], name: str = "promotion-gate") -> str:
    """The Role/ClusterRole YAML that would grant the denied permissions."""
    return dump_yaml(role_documents(denied, name))


# -- preflight -----------------------------------------------------------------------------------
def required_permissions(plan: Plan, job: bool | None = None, namespace: str | None = None) -> list[Permission]:
    """The plan's permissions, plus job mode's own (listing AnalysisRuns) when running as a Job.

    `job=None` decides by the environment: an AnalysisRun uid from the downward API means job mode.
    The Job's namespace is the pod's own (GATE_NAMESPACE, the service-account file), else `namespace`
    (the Kargo project's, where `gate render analysis-template` puts the Job); asked for by hand
    (`job=True`) with neither known, that is a usage error rather than a silent no-op.
    """
    from gate import jobmode

    perms = with_watch(plan.permissions())
    asked = job is True
    if job is None:
        job = jobmode.analysisrun_uid() is not None
    if job:
        where = jobmode.job_namespace() or namespace
        if not where and asked:
            raise ConfigError("--job: the verification Job's namespace is unknown: set GATE_NAMESPACE, or the "
                              "Kargo project (--project, kargo_namespace)", key="--job")
        for perm in jobmode.job_permissions(where):
            if perm not in perms:
                perms.append(perm)
    return perms


PREFLIGHT_POOL = 8  # SelfSubjectAccessReviews in flight at once: enough to hide latency, gentle on the server


def with_watch(perms: Iterable[Permission]) -> list[Permission]:
    """Each `list` followed by the `watch` of the same resource and scope (optional, OPTIONAL_VERBS)."""
    out: list[Permission] = []
    for perm in perms:
        if perm not in out:
            out.append(perm)
        if perm.verb == "list":
            watch = Permission("watch", perm.resource, perm.group, perm.namespace, perm.name)
            if watch not in out:
                out.append(watch)
    return out


def blocking(results: Iterable[tuple[Permission, bool]]) -> list[Permission]:
    """The denied permissions the gate cannot do without (an optional verb denied only means polling)."""
    return [perm for perm, allowed in results if not allowed and perm.verb not in OPTIONAL_VERBS]


def preflight(kube: KubeClient, plan: Plan, *, job: bool | None = None,
              namespace: str | None = None) -> list[tuple[Permission, bool]]:
    """A SelfSubjectAccessReview for each needed permission. API errors (401, 403, 5xx) propagate."""
    return review_all(kube, required_permissions(plan, job, namespace))


def review_all(kube: KubeClient, perms: Sequence[Permission],
               pool_size: int = PREFLIGHT_POOL) -> list[tuple[Permission, bool]]:
    """One SelfSubjectAccessReview per distinct permission, at most `pool_size` in flight, the wait held
    to the run's deadline. Answers come back in `perms` order; when reviews fail, the error of the
    first failing permission in that order is raised (what the one-by-one preflight raised)."""
    distinct = list(dict.fromkeys(perms))
    if len(distinct) <= 1:
        return [(perm, kube.access_review(perm)) for perm in perms]
    import contextvars

    from gate.engine import deadlines
    from gate.engine.runner import DaemonPool

    pool = DaemonPool(min(pool_size, len(distinct)))
    futures: dict = {}
    try:
        futures = {perm: pool.submit(contextvars.copy_context().run, kube.access_review, perm)
                   for perm in distinct}
        allowed: dict[Permission, bool] = {}
        for perm in distinct:  # in order: the first failure in order is the one raised
            left = deadlines.remaining()
            try:
                allowed[perm] = futures[perm].result(timeout=None if left is None else max(0.0, left))
            except TimeoutError:
                raise deadlines.DeadlineExceeded(
                    f"preflight: no answer to the access review for {perm.describe()} before the deadline") \
                    from None
    finally:
        for future in futures.values():  # after a failure: reviews not started yet are never sent
            future.cancel()
        pool.shutdown()
    return [(perm, allowed[perm]) for perm in perms]


def denied_error(results: Sequence[tuple[Permission, bool]]) -> PermissionDenied | None:
    """A PermissionDenied naming every denied permission and the rules to add, or None if none is."""
    if not blocking(results):
        return None
    denied = [perm for perm, allowed in results if not allowed]
    lines = "\n".join(f"  - {perm.describe()}" for perm in denied)
    return PermissionDenied(
        f"preflight: the gate's identity lacks {len(denied)} of {len(results)} permissions its checks "
        f"need:\n{lines}\nAdd these rules (or re-apply `gate render analysis-template`):\n"
        f"{missing_rules_yaml(denied).rstrip()}", permission=denied[0])


def format_table(results: Sequence[tuple[Permission, bool]]) -> str:
    """PERMISSION / RESULT table, one row per permission."""
    rows = [(perm.describe(), "allowed" if ok else "DENIED") for perm, ok in results]
    width = max([len("PERMISSION"), *(len(r[0]) for r in rows)])
    out = [f"{'PERMISSION'.ljust(width)}  RESULT"]
    out += [f"{what.ljust(width)}  {verdict}" for what, verdict in rows]
    return "\n".join(out)


# -- command -------------------------------------------------------------------------------------
@click.group()
def rbac() -> None:
    """Check the gate's own Kubernetes permissions."""


@rbac.command("check")
@click.option("--stage", envvar="GATE_STAGE", required=True, help="Stage whose checks to check for.")
@click.option("--job/--no-job", "job", default=None,
              help="Also check what the gate needs as a Kargo verification Job: listing AnalysisRuns in the "
                   "Job's namespace (GATE_NAMESPACE, else the Kargo project's). Default: only when run "
                   "inside such a Job.")
@common_options_except("junit")
def check(stage: str, job: bool | None, config: str | None, spec: str | None, kubeconfig: str | None,
          context: str | None, project: str | None, json_path: str | None,
          output: str, timeout: float | None) -> None:
    """SelfSubjectAccessReview for every permission the stage's checks need; exit 3 if any is denied."""
    from gate.session import Session

    opts = RunOptions(stage=stage, config=config, spec=spec, kubeconfig=kubeconfig, context=context,
                      project=project, json_path=json_path, output=output, timeout=timeout)
    session = Session.open(opts, connect_always=True)  # it asks the cluster, whatever the checks need
    results = preflight(session.kube, session.plan, job=job, namespace=session.settings.get("kargo_namespace"))
    denied = [perm for perm, ok in results if not ok]
    if json_path or output == "json":
        doc = {"stage": stage, "permissions": [
            {"verb": p.verb, "resource": p.resource, "group": p.group, "namespace": p.namespace,
             "name": p.name, "allowed": ok} for p, ok in results],
            "missing_rules": rules_by_scope(denied) and role_documents(denied, "promotion-gate")}
        text = json.dumps(doc, indent=2)
        if json_path:
            with open(json_path, "w", encoding="utf-8") as fh:
                fh.write(text + "\n")
        if output == "json":
            click.echo(text)
    if output == "text":
        _print_text(stage, results, denied)
    needed = blocking(results)
    if needed:  # exit 3 with a one-line summary on stderr; the table and the rules are on stdout
        raise PermissionDenied(f"{len(denied)} of {len(results)} permissions denied for stage {stage}: "
                               f"grant the missing rules", permission=needed[0])


def _print_text(stage: str, results: Sequence[tuple[Permission, bool]], denied: list[Permission]) -> None:
    if not results:
        click.echo(f"Stage {stage}: its checks need no Kubernetes permissions.")
        return
    click.echo(format_table(results))
    click.echo("")
    if not denied:
        click.echo(f"All {len(results)} permissions allowed.")
        return
    if not blocking(results):
        click.echo(f"All needed permissions allowed; {len(denied)} optional ({', '.join(sorted(OPTIONAL_VERBS))}) "
                   f"DENIED: the gate polls those lists instead of watching them. To grant:")
    else:
        click.echo(f"{len(denied)} of {len(results)} permissions DENIED. Missing rules:")
    click.echo(missing_rules_yaml(denied).rstrip())
