"""Least privilege across clusters: what the gate needs in the control plane to reach a destination, and
what it needs in each destination.

In the control plane: `get` on exactly the Argo CD cluster Secret(s) the spec names (`resourceNames`), and
`get` on the Application of a `from_app:`. A `cluster:` that does not name its Secret (`secret:`) can only
be found by listing Argo CD's cluster Secrets: `list secrets` in Argo CD's namespace, said in a comment.

In a destination: the read-only rules of the checks that read there, bound to the identity of the
Secret's credentials. `argocd cluster add` creates ServiceAccount `argocd-manager` in `kube-system` for
them (argo-cd v3.5.1 util/clusterauth/clusterauth.go:23, common/common.go:69) and binds it to cluster-admin;
the rendered Role is what the gate needs if that identity (or one of its own) is narrowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gate.cluster.destinations import CONTROL_PLANE_LABEL, ClusterRef, refs_of, split
from gate.cluster.kube import Permission
from gate.cluster.rbac import LABELS, RBAC_API, all_permissions, dump_yaml, role_documents

CLUSTER_LABEL = "promotion-gate.dev/cluster"  # on every document meant for a destination cluster
DEFAULT_SUBJECT = ("kube-system", "argocd-manager")  # what `argocd cluster add` creates


@dataclass(frozen=True)
class ClusterPermission(Permission):
    """A permission in a named cluster: rows of `gate rbac check` say which."""

    cluster: str = ""

    def describe(self) -> str:
        return f"[{self.cluster}] {super().describe()}" if self.cluster else super().describe()


def in_control_plane(ref: ClusterRef | None) -> bool:
    """Known without a cluster: the default cluster, Argo CD's in-cluster name or URL."""
    from gate.cluster.argocd_clusters import IN_CLUSTER_NAME, IN_CLUSTER_SERVER

    return ref is None or ref.way == "argocd" and ref.value.rstrip("/") in (IN_CLUSTER_NAME, IN_CLUSTER_SERVER)


def access_permissions(plan: Any, settings: Any) -> list[Permission]:
    """What the control plane must let the gate read to find each destination Argo CD knows."""
    ns = (settings.get("argocd_namespace") if settings is not None else None) or "argocd"
    perms: list[Permission] = []
    for ref in refs_of(plan):
        if not ref.via_argocd or in_control_plane(ref):
            continue
        if ref.way == "from_app":
            app_ns, _, app = ref.value.rpartition("/")
            perms.append(Permission("get", "applications", "argoproj.io", app_ns or ns, app))
        perms.append(Permission("get", "secrets", "", ns, ref.secret) if ref.secret
                     else Permission("list", "secrets", "", ns))
    return list(dict.fromkeys(perms))


def control_plane_plan(plan: Any) -> Any:
    """The part of the plan that reads the control plane (what its RBAC there covers)."""
    from gate.engine.plan import Plan

    out = Plan(plan.stage, {}, plan.source)
    for number in sorted(plan.levels):
        mine = [p for p in plan.levels[number] if in_control_plane(getattr(p, "cluster", None))]
        if mine:
            out.levels[number] = mine
    return out


def destination_documents(plan: Any, name: str,
                          subject: tuple[str, str] = DEFAULT_SUBJECT) -> list[tuple[ClusterRef, list[dict]]]:
    """For each destination of the plan: its read-only Role(s)/ClusterRole and their bindings to
    `subject` (namespace, ServiceAccount), each labelled CLUSTER_LABEL."""
    from gate.render import dns_name

    out = []
    for key, part in split(plan).items():
        ref = next((p.cluster for checks in part.levels.values() for p in checks), None)
        if key is None or in_control_plane(ref):
            continue
        where = dns_name(ref.value.rpartition("/")[2] if ref.way == "from_app" else ref.value)
        perms = all_permissions(part, job=False)
        docs = []
        for role in role_documents(perms, name, part.optional_permissions()):
            role["metadata"]["labels"] = {**LABELS, CLUSTER_LABEL: where}
            kind = "ClusterRoleBinding" if role["kind"] == "ClusterRole" else "RoleBinding"
            meta = {k: v for k, v in role["metadata"].items()}
            binding = {"apiVersion": RBAC_API, "kind": kind, "metadata": meta,
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role["kind"],
                                   "name": role["metadata"]["name"]},
                       "subjects": [{"kind": "ServiceAccount", "name": subject[1], "namespace": subject[0]}]}
            docs += [role, binding]
        if docs:
            out.append((ref, docs))
    return out


def destination_yaml(plan: Any, name: str, settings: Any = None) -> str:
    """The destination documents, each cluster's behind a comment saying where they go; and a note
    when a destination's Secret is not named (the control plane then grants `list secrets`)."""
    ns = (settings.get("argocd_namespace") if settings is not None else None) or "argocd"
    text = []
    for ref in refs_of(plan):
        if ref.via_argocd and not ref.secret and not in_control_plane(ref):
            text.append(f"# NOTE: `cluster: {{{ref.way}: {ref.value}}}` names no `secret:`, so the gate lists "
                        f"Argo CD's cluster Secrets in {ns} (list secrets there); add `secret: <name>` to the "
                        f"spec to grant get on exactly that Secret.\n")
    for ref, docs in destination_documents(plan, name):
        what = {"argocd": f"cluster {ref.value} as Argo CD knows it",
                "from_app": f"the destination cluster of Application {ref.value}",
                "context": f"the cluster of kubeconfig context {ref.value}"}[ref.way]
        secret = f"Argo CD cluster Secret {ns}/{ref.secret}" if ref.secret else "its Argo CD cluster Secret"
        who = (f"the identity of {secret} (`argocd cluster add` creates ServiceAccount "
               f"{DEFAULT_SUBJECT[0]}/{DEFAULT_SUBJECT[1]}; change the subject if yours differs)"
               if ref.via_argocd else "the context's user (change the subject to it)")
        text.append(f"#\n# APPLY IN {what.upper()}, NOT IN THE CONTROL PLANE (kubectl --context <that cluster> "
                    f"apply -f -, documents labelled {CLUSTER_LABEL}).\n"
                    f"# Read-only rules the checks of this stage need there, for {who}.\n")
        text.append(dump_yaml(docs))
    return "".join(text)


def labelled(label: str, review: Any) -> Any:
    """A gate.cluster.rbac.Review whose permission names its cluster."""
    perm = review.perm
    named = ClusterPermission(perm.verb, perm.resource, perm.group, perm.namespace, perm.name, cluster=label)
    return type(review)(named, review.allowed, review.optional)




def missing_rules_by_cluster(denied: list[tuple[str, Permission]]) -> str:
    """The rules to grant, as YAML, each cluster's under a `# in cluster NAME:` line (label "" alone: as
    gate.cluster.rbac.missing_rules_yaml prints them)."""
    from gate.cluster.rbac import missing_rules_yaml

    labels = list(dict.fromkeys(label for label, _ in denied))
    if labels == [""]:
        return missing_rules_yaml([perm for _, perm in denied])
    return "".join(f"# in cluster {label}:\n" + missing_rules_yaml([p for lb, p in denied if lb == label])
                   for label in labels)


__all__ = ["CONTROL_PLANE_LABEL", "ClusterPermission", "access_permissions", "control_plane_plan",
           "destination_documents", "destination_yaml", "labelled", "missing_rules_by_cluster"]
