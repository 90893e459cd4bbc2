"""`gate rbac check`: does the gate's own identity hold every permission the stage's checks need?

One SelfSubjectRulesReview per namespace answers that namespace's permissions (SelfSubjectAccessReviews
for cluster-scoped ones, and where a rules review says it is incomplete); denied ones are printed as the
Role/ClusterRole rules that would grant them, in the same shape `gate render analysis-template` emits,
so a missing rule can be copied straight into the manifest. `gate verify` runs the same preflight
before the levels (the guide's Gotcha 4: a verification Job without RBAC otherwise just "fails").

Two kinds of permission are optional: asked for, shown and rendered, never a reason to stop. `watch`
(without it the lists are polled) and what a check reads only to diagnose its failure
(Check.optional_permissions: a failing pod's log, its events), which the preflight names in a note.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import NamedTuple, TypeVar

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
WATCH, DIAGNOSIS = "watch", "diagnosis"  # why a permission is optional (Review.optional)
DIAGNOSIS_COMMENT = ("diagnosis only: read to explain a failing check (its pods, logs, events); "
                     "the checks run without it")
T = TypeVar("T")
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


class MarkedRule(dict):
    """A rule that only a failure's diagnosis needs: dumped as YAML with a comment above it (dump_yaml)."""

    comment = DIAGNOSIS_COMMENT


def role_documents(perms: Iterable[Permission], name: str,
                   diagnosis: Collection[Permission] = ()) -> list[dict]:
    """A Role per namespace and one ClusterRole (cluster-wide permissions), all named `name`. The
    `diagnosis` ones come last in their Role, in rules of their own, marked (MarkedRule)."""
    perms = list(perms)
    needed = rules_by_scope(p for p in perms if p not in diagnosis)
    for ns, rules in rules_by_scope(p for p in perms if p in diagnosis).items():
        needed.setdefault(ns, []).extend(MarkedRule(rule) for rule in rules)
    docs = []
    for ns, rules in sorted(needed.items(), key=lambda kv: (kv[0] is not None, kv[0] or "")):
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
_Dumper.add_representer(MarkedRule, yaml.SafeDumper.represent_dict)


def dump_yaml(docs: Sequence[dict]) -> str:
    """Multi-document YAML, keys in the order written; a MarkedRule gets its comment above it."""
    return "".join("---\n" + _commented(d, yaml.dump(d, Dumper=_Dumper, sort_keys=False,
                                                      default_flow_style=False)) for d in docs)


def _commented(doc: dict, text: str) -> str:
    """`text` (the dump of a Role) with each MarkedRule's comment above its `- apiGroups:` line: the rules
    are the Role's only top-level list, each item starting with its apiGroups key."""
    rules = doc.get("rules") if isinstance(doc.get("rules"), list) else []
    if not any(isinstance(rule, MarkedRule) for rule in rules):
        return text
    marks = iter(rules)
    out = []
    for line in text.splitlines(keepends=True):
        if line.startswith("- apiGroups:"):
            rule = next(marks, None)
            if isinstance(rule, MarkedRule):
                out.append(f"# {rule.comment}\n")
        out.append(line)
    return "".join(out)


def missing_rules_yaml(denied: Iterable[Permission], name: str = "promotion-gate",
                       diagnosis: Collection[Permission] = ()) -> str:
    """The Role/ClusterRole YAML that would grant the denied permissions (the `diagnosis` ones marked)."""
    return dump_yaml(role_documents(denied, name, diagnosis))


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


def all_permissions(plan: Plan, job: bool | None = None, namespace: str | None = None) -> list[Permission]:
    """What to grant the gate for this plan: required_permissions, then the diagnosis-only ones."""
    perms = required_permissions(plan, job, namespace)
    return perms + [p for p in plan.optional_permissions() if p not in perms]


class Review(NamedTuple):
    """One SelfSubjectAccessReview's answer, and why the permission is optional (None: needed)."""

    perm: Permission
    allowed: bool
    optional: str | None = None  # WATCH: the gate polls instead; DIAGNOSIS: a failure's diagnosis lacks it


def blocking(results: Iterable[Review]) -> list[Permission]:
    """The denied permissions the gate cannot do without (a denied optional one is a note at most)."""
    return [r.perm for r in results if not r.allowed and not r.optional]


def preflight(kube: KubeClient, plan: Plan, *, job: bool | None = None,
              namespace: str | None = None) -> list[Review]:
    """A SelfSubjectAccessReview for each permission of all_permissions(). API errors (401, 403, 5xx)
    propagate."""
    diagnosis = set(plan.optional_permissions())
    perms = all_permissions(plan, job, namespace)
    return [Review(perm, allowed, DIAGNOSIS if perm in diagnosis else WATCH if perm.verb in OPTIONAL_VERBS
                   else None) for perm, allowed in review_all(kube, perms)]


_LOST = {"pods/log": "logs", "events": "events", "pods": "pods"}


def diagnosis_notes(results: Iterable[Review]) -> list[str]:
    """One line per denied diagnosis-only permission: what a failure's diagnosis will not show."""
    return [f"diagnosis will not include {_LOST.get(r.perm.resource, r.perm.resource)}: cannot "
            f"{r.perm.describe()}" for r in results if r.optional == DIAGNOSIS and not r.allowed]


RULES_REVIEW_PATH = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews"


class RulesReview(NamedTuple):
    """A SelfSubjectRulesReview's answer for one namespace (authorization.k8s.io/v1): the resource rules
    the identity holds there (cluster-wide ones included), and whether that list may be short of what the
    authorizers would allow (`incomplete`: e.g. a webhook authorizer, which cannot list rules)."""

    rules: list[dict]
    incomplete: bool


def rules_review(kube: KubeClient, namespace: str) -> RulesReview | None:
    """POST a SelfSubjectRulesReview for `namespace`; None when the server does not serve it (404) or
    the identity may not create it (403): the caller asks SelfSubjectAccessReviews instead. Other API
    errors propagate, as an access review's do. An answer of the wrong shape counts as incomplete."""
    body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
            "spec": {"namespace": namespace}}
    try:
        resp = kube.checked("POST", RULES_REVIEW_PATH, body=body)
    except PermissionDenied:
        return None
    if resp.status == 404:
        return None
    if resp.status >= 400:
        from gate.cluster.kube import _raise_for

        _raise_for(resp, "POST", RULES_REVIEW_PATH)
    status = resp.body.get("status") if isinstance(resp.body, dict) else None
    if not isinstance(status, dict):
        return RulesReview([], True)
    rules = status.get("resourceRules")
    rules = [r for r in rules if isinstance(r, dict)] if isinstance(rules, list) else []
    return RulesReview(rules, bool(status.get("incomplete")) or not isinstance(status.get("resourceRules"), list))


def _strings(rule: dict, key: str) -> list[str]:
    values = rule.get(key)
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def rule_allows(rule: dict, perm: Permission) -> bool:
    """Whether one resource rule grants `perm`, as the RBAC authorizer matches a request
    (kubernetes pkg/apis/rbac/v1/evaluation_helpers.go: VerbMatches, APIGroupMatches, ResourceMatches,
    ResourceNameMatches): `*` for any verb, group or resource, `*/sub` for a subresource of any resource,
    and resourceNames only for a permission on one of those names."""
    resource, _, sub = perm.resource.partition("/")
    verbs, groups, resources = _strings(rule, "verbs"), _strings(rule, "apiGroups"), _strings(rule, "resources")
    names = _strings(rule, "resourceNames")
    if not ({"*", perm.verb} & set(verbs)) or not ({"*", perm.group} & set(groups)):
        return False
    wanted = {"*", f"{resource}/{sub}" if sub else resource}
    if sub:
        wanted.add(f"*/{sub}")
    if not wanted & set(resources):
        return False
    return not names or (perm.name is not None and perm.name in names)


def review_all(kube: KubeClient, perms: Sequence[Permission],
               pool_size: int = PREFLIGHT_POOL) -> list[tuple[Permission, bool]]:
    """Whether the gate holds each permission: one SelfSubjectRulesReview per namespace answers that
    namespace's permissions; a SelfSubjectAccessReview answers the rest (cluster-scoped permissions, those a
    review that says `incomplete` does not grant, and all of a namespace whose review the server does not
    serve). At most `pool_size` requests in flight, the wait held to the run's deadline. Answers come back
    in `perms` order; when reviews fail, the error of the first failing one in that order is raised."""
    distinct = list(dict.fromkeys(perms))
    namespaces = list(dict.fromkeys(p.namespace for p in distinct if p.namespace))
    reviews = dict(zip(namespaces, _in_pool(lambda ns: rules_review(kube, ns), namespaces, pool_size,
                                            lambda ns: f"the rules review of namespace {ns}"), strict=True))
    allowed: dict[Permission, bool] = {}
    asked: list[Permission] = []
    for perm in distinct:
        review = reviews.get(perm.namespace) if perm.namespace else None
        if review is not None and any(rule_allows(rule, perm) for rule in review.rules):
            allowed[perm] = True
        elif review is not None and not review.incomplete:
            allowed[perm] = False  # the complete list of what the identity may do there lacks it
        else:
            asked.append(perm)
    answers = _in_pool(kube.access_review, asked, pool_size, lambda p: f"the access review for {p.describe()}")
    allowed.update(zip(asked, answers, strict=True))
    return [(perm, allowed[perm]) for perm in perms]


def _in_pool(fn: Callable[[T], bool], items: Sequence[T], pool_size: int,
             what: Callable[[T], str]) -> list:
    """fn over items, at most pool_size at once (one alone: in this thread), results in order; the first
    failure in order is raised, and calls not started by then are never made."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    import contextvars

    from gate.engine import deadlines
    from gate.engine.runner import DaemonPool

    pool = DaemonPool(min(pool_size, len(items)))
    futures: list = []
    try:
        futures = [pool.submit(contextvars.copy_context().run, fn, item) for item in items]
        out = []
        for item, future in zip(items, futures, strict=True):  # in order: the first failure in order is raised
            left = deadlines.remaining()
            try:
                out.append(future.result(timeout=None if left is None else max(0.0, left)))
            except TimeoutError:
                raise deadlines.DeadlineExceeded(f"preflight: no answer to {what(item)} before the deadline") \
                    from None
        return out
    finally:
        for future in futures:  # after a failure: requests not started yet are never sent
            future.cancel()
        pool.shutdown()


def denied_error(results: Sequence[Review]) -> PermissionDenied | None:
    """A PermissionDenied naming every denied needed permission and the rules to add, or None."""
    denied = blocking(results)
    if not denied:
        return None
    lines = "\n".join(f"  - {perm.describe()}" for perm in denied)
    return PermissionDenied(
        f"preflight: the gate's identity lacks {len(denied)} of {len(results)} permissions its checks "
        f"need:\n{lines}\nAdd these rules (or re-apply `gate render analysis-template`):\n"
        f"{missing_rules_yaml(denied).rstrip()}", permission=denied[0])


def format_table(results: Sequence[Review]) -> str:
    """PERMISSION / RESULT table, one row per permission; a denied diagnosis-only one says so."""
    rows = [(r.perm.describe(), "allowed" if r.allowed else "DENIED (diagnosis only)"
             if r.optional == DIAGNOSIS else "DENIED") for r in results]
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
    if session.clusters:  # `cluster:`: each cluster's reviews in that cluster, every row naming it
        from gate.cluster.destination_rbac import labelled
        from gate.cluster.destinations import preflight_each

        results = [labelled(label, review) for label, review in preflight_each(
            session, job=job, namespace=session.settings.get("kargo_namespace"), strict=True)]
    else:
        results = preflight(session.kube, session.plan, job=job, namespace=session.settings.get("kargo_namespace"))
    denied = [r.perm for r in results if not r.allowed]
    diagnosis = {r.perm for r in results if r.optional == DIAGNOSIS}
    if json_path or output == "json":
        doc = {"stage": stage, "permissions": [
            {"verb": r.perm.verb, "resource": r.perm.resource, "group": r.perm.group, "namespace": r.perm.namespace,
             "name": r.perm.name, "allowed": r.allowed, "optional": r.optional,
             **({"cluster": r.perm.cluster} if getattr(r.perm, "cluster", "") else {})} for r in results],
            "missing_rules": rules_by_scope(denied) and role_documents(denied, "promotion-gate", diagnosis)}
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


def _print_text(stage: str, results: Sequence[Review], denied: list[Permission]) -> None:
    if not results:
        click.echo(f"Stage {stage}: its checks need no Kubernetes permissions.")
        return
    click.echo(format_table(results))
    click.echo("")
    if not denied:
        click.echo(f"All {len(results)} permissions allowed.")
        return
    if not blocking(results):
        lost = []
        watch = [r for r in results if r.optional == WATCH and not r.allowed]
        if watch:
            lost.append(f"{len(watch)} optional ({', '.join(sorted(OPTIONAL_VERBS))}) DENIED: the gate polls "
                        f"those lists instead of watching them")
        diagnosis = [r for r in results if r.optional == DIAGNOSIS and not r.allowed]
        if diagnosis:
            lost.append(f"{len(diagnosis)} diagnosis-only DENIED: the checks run, the failure's diagnosis will "
                        f"lack them")
        click.echo(f"All needed permissions allowed; {'; '.join(lost)}. To grant:")
    else:
        click.echo(f"{len(denied)} of {len(results)} permissions DENIED. Missing rules:")
    marked = {r.perm for r in results if r.optional == DIAGNOSIS}
    clusters = list(dict.fromkeys(getattr(p, "cluster", "") for p in denied))  # `cluster:`: grant each where it is
    for cluster in clusters:
        if cluster:
            click.echo(f"# in cluster {cluster}:")
        mine = [p for p in denied if getattr(p, "cluster", "") == cluster]
        click.echo(missing_rules_yaml(mine, diagnosis=marked).rstrip())
