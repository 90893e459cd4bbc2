"""Bearer tokens and RBAC, evaluated like the apiserver's RBAC authorizer.

Two sources grant permissions, and a request is allowed if either does: the scenario's `rbac:` table
(user -> rules), and the RBAC objects in the simulated cluster (Role, ClusterRole, RoleBinding,
ClusterRoleBinding of rbac.authorization.k8s.io/v1), whether the scenario loaded them or a client
created, changed or deleted them through the API. Bindings are re-read when one of those objects (or a
Namespace) changes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gate.sim.selectors import Requirement

if TYPE_CHECKING:
    from gate.sim.store import Store

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_KINDS = ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding")
# plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go, ClusterRole system:basic-user (bound to
# system:authenticated): what lets every user ask the reviews (the simulator answers them for anyone)
BASIC_USER = {"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
              "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]}
DISCOVERY = {"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez",
                                                   "/openapi", "/openapi/*", "/readyz", "/version", "/version/"]}


@dataclass(frozen=True)
class Attributes:
    """What a request asks to do (the SubjectAccessReview resourceAttributes)."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""

    @property
    def full_resource(self) -> str:
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass
class Rule:
    verbs: list[str]
    api_groups: list[str] = field(default_factory=lambda: [""])
    resources: list[str] = field(default_factory=list)
    resource_names: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)  # empty: every namespace and cluster scope

    @classmethod
    def parse(cls, raw: dict[str, Any], default_groups: tuple[str, ...] = ("",)) -> Rule:
        return cls(
            verbs=list(raw.get("verbs") or []),
            api_groups=list(raw.get("apiGroups", list(default_groups)) or []),
            resources=list(raw.get("resources") or []),
            resource_names=list(raw.get("resourceNames") or []),
            namespaces=list(raw.get("namespaces") or []),
        )

    def allows(self, a: Attributes) -> bool:
        if not ({"*", a.verb} & set(self.verbs)):
            return False
        if not ({"*", a.group} & set(self.api_groups)):
            return False
        wanted = {"*", a.full_resource}
        if a.subresource:
            wanted.add(f"*/{a.subresource}")
        if not (wanted & set(self.resources)):
            return False
        # A list or watch names its object by `fieldSelector=metadata.name=…` (the request's name, apiserver
        # pkg/endpoints/request/requestinfo.go); a create, deletecollection or unnamed list has none.
        if self.resource_names and a.name not in self.resource_names:
            return False
        return not self.namespaces or a.namespace in self.namespaces

    def as_resource_rule(self) -> dict:
        """The rule as a SelfSubjectRulesReview lists it (authorization.k8s.io/v1 ResourceRule)."""
        out: dict[str, Any] = {"verbs": list(self.verbs), "apiGroups": list(self.api_groups),
                               "resources": list(self.resources)}
        if self.resource_names:
            out["resourceNames"] = list(self.resource_names)
        return out


@dataclass
class Identity:
    user: str
    groups: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)  # from the scenario's `rbac:` table

    def in_group(self, group: str) -> bool:
        return group in self.groups


def implied_groups(user: str, groups: list[str]) -> list[str]:
    """The groups the apiserver's authenticators add: every authenticated user is in
    `system:authenticated`; a ServiceAccount also in `system:serviceaccounts` and
    `system:serviceaccounts:<namespace>`."""
    out = list(groups)
    parts = user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        out += ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}"]
    out.append("system:authenticated")
    return list(dict.fromkeys(out))


@dataclass
class Binding:
    """A RoleBinding (namespace set) or ClusterRoleBinding (namespace empty), with its role's rules."""

    kind: str
    namespace: str
    name: str
    role_kind: str
    role_name: str
    subjects: list[dict]
    rules: list[Rule]

    def subject_for(self, ident: Identity) -> str | None:
        """How the binding names ident (`User "u"`, `Group "g"`, `ServiceAccount "ns/name"`), or None."""
        for s in self.subjects:
            kind, name = s.get("kind", ""), s.get("name", "")
            if kind == "User" and name == ident.user:
                return f'User "{name}"'
            if kind == "Group" and ident.in_group(name):
                return f'Group "{name}"'
            if kind == "ServiceAccount":
                ns = s.get("namespace") or self.namespace
                if ident.user == f"system:serviceaccount:{ns}:{name}":
                    return f'ServiceAccount "{name}/{ns}"'
        return None

    def describe(self) -> str:
        where = f'{self.name}/{self.namespace}' if self.namespace else self.name
        return f'{self.kind} "{where}" of {self.role_kind} "{self.role_name}"'


def _selector_matches(selector: dict, labels: dict[str, str]) -> bool:
    """A metav1.LabelSelector (matchLabels, matchExpressions) against labels."""
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    reqs = [Requirement(k, "=", (str(v),)) for k, v in (selector.get("matchLabels") or {}).items()]
    for e in selector.get("matchExpressions") or []:
        reqs.append(Requirement(e.get("key", ""), ops.get(e.get("operator", ""), "in"),
                                tuple(e.get("values") or ())))
    return all(r.matches(labels) for r in reqs)


def role_rules(role: dict, cluster_roles: list[dict] | None = None) -> list[Rule]:
    """The rules of a Role or ClusterRole; an aggregated ClusterRole also gets the rules of the
    ClusterRoles its aggregationRule selects (what the aggregation controller would write)."""
    raws = list(role.get("rules") or [])
    selectors = (role.get("aggregationRule") or {}).get("clusterRoleSelectors") or []
    if selectors and cluster_roles:
        for other in cluster_roles:
            if other["metadata"]["name"] == role["metadata"]["name"]:
                continue
            labels = other["metadata"].get("labels") or {}
            if any(_selector_matches(sel, labels) for sel in selectors):
                raws += [r for r in other.get("rules") or [] if r not in raws]
    # RBAC objects: a rule without apiGroups matches no group (the apiserver would have refused it).
    return [Rule.parse(r, default_groups=()) for r in raws if r.get("resources")]


def bindings_from(store: Store) -> list[Binding]:
    """Every RoleBinding and ClusterRoleBinding in the store, resolved to its role's rules. A
    binding whose role does not exist grants nothing (as in a real cluster)."""
    roles = {(r["metadata"].get("namespace", ""), r["metadata"]["name"]): r
             for r in store.list(RBAC_GROUP, "roles")}
    cluster_list = store.list(RBAC_GROUP, "clusterroles")
    cluster_roles = {r["metadata"]["name"]: r for r in cluster_list}
    out: list[Binding] = []
    for plural, kind in (("rolebindings", "RoleBinding"), ("clusterrolebindings", "ClusterRoleBinding")):
        for b in store.list(RBAC_GROUP, plural):
            meta, ref = b.get("metadata") or {}, b.get("roleRef") or {}
            ns = meta.get("namespace", "") if kind == "RoleBinding" else ""
            role_kind, role_name = ref.get("kind", ""), ref.get("name", "")
            if role_kind == "Role" and ns:
                role = roles.get((ns, role_name))
            elif role_kind == "ClusterRole":
                role = cluster_roles.get(role_name)
            else:
                role = None
            if role is None:
                continue
            rules = role_rules(role, cluster_list)
            out.append(Binding(kind, ns, meta.get("name", ""), role_kind, role_name,
                               list(b.get("subjects") or []), rules))
    return out


class Authorizer:
    def __init__(
        self, tokens: dict[str, dict], rbac: dict[str, list[dict]], store: Store | None = None
    ) -> None:
        """tokens: token -> {user, groups}; rbac: user -> rules (the scenario's table); store: the
        cluster whose RBAC objects also grant permissions."""
        self.by_token: dict[str, Identity] = {}
        self.expiry: dict[str, float] = {}  # token -> epoch seconds after which it is refused
        self.rbac = rbac
        for token, info in tokens.items():
            user = info.get("user") or token
            rules = [Rule.parse(r) for r in rbac.get(user, [])]
            groups = implied_groups(user, list(info.get("groups") or []))
            self.by_token[token] = Identity(user, groups, rules)
        self.store = store
        # Bumped by every write to an RBAC object or Namespace; the resolved bindings are cached per
        # generation. No lock of ours is held while the store is read (the store notifies under its own).
        self._generation = 0
        self._cache: tuple[int, list[Binding]] | None = None
        if store is not None:
            store.on_change(self._changed)

    def _changed(self, event: str, obj: dict) -> None:
        if obj.get("kind") in (*RBAC_KINDS, "Namespace"):
            self._generation += 1

    def bindings(self) -> list[Binding]:
        if self.store is None:
            return []
        generation, cache = self._generation, self._cache
        if cache is not None and cache[0] == generation:
            return cache[1]
        built = bindings_from(self.store)
        self._cache = (generation, built)
        return built

    def decide(self, ident: Identity, a: Attributes) -> str | None:
        """Why ident may do a (the SubjectAccessReview `reason`), or None when it may not."""
        if ident.in_group("system:masters"):
            return 'RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole "cluster-admin" ' \
                'to Group "system:masters"'
        if any(rule.allows(a) for rule in ident.rules):
            return f'RBAC: allowed by the simulator\'s rules for "{ident.user}"'
        for b in self.bindings():
            if b.namespace and b.namespace != a.namespace:
                continue  # a RoleBinding grants only in its own namespace (never at cluster scope)
            subject = b.subject_for(ident)
            if subject and any(rule.allows(a) for rule in b.rules):
                return f"RBAC: allowed by {b.describe()} to {subject}"
        return None

    def allows(self, ident: Identity, a: Attributes) -> bool:
        return self.decide(ident, a) is not None

    def rules_for(self, ident: Identity, namespace: str) -> list[dict]:
        """What ident may do in `namespace`, as RBAC's RulesFor lists it (kubernetes
        plugin/pkg/auth/authorizer/rbac/rbac.go): the cluster-wide rules and that namespace's, each as
        written; plus system:basic-user's, which every authenticated user holds (bootstrap policy)."""
        if ident.in_group("system:masters"):
            return [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
        out = [dict(BASIC_USER)]
        out += [r.as_resource_rule() for r in ident.rules if not r.namespaces or namespace in r.namespaces]
        for b in self.bindings():
            if (not b.namespace or b.namespace == namespace) and b.subject_for(ident):
                out += [r.as_resource_rule() for r in b.rules]
        return out

    def identify(self, token: str | None) -> Identity | None:
        """The identity a bearer token authenticates, or None (unknown, revoked, or past its `exp`)."""
        expires = self.expiry.get(token or "")
        if expires is not None and expires <= time.time():
            return None
        return self.by_token.get(token or "")

    def issue(self, token: str, user: str, groups: list[str] | None = None,
              expires: float | None = None) -> Identity:
        """Accept a token minted at run time (TokenRequest, a test's OIDC or EKS token) until `expires`
        (epoch seconds; None: for the run). Its user's rules come from the scenario's `rbac:` table."""
        ident = Identity(user, implied_groups(user, list(groups or [])),
                         [Rule.parse(r) for r in self.rbac.get(user, [])])
        self.by_token[token] = ident
        if expires is not None:
            self.expiry[token] = expires
        return ident

    def revoke(self, token: str) -> None:
        """No longer accept `token` (a rotated projected token whose successor is on disk)."""
        self.by_token.pop(token, None)
        self.expiry.pop(token, None)

    def identify_certificate(self, user: str, groups: list[str]) -> Identity:
        """The identity of a verified client certificate: CN is the user, each O a group (the API
        server's x509 authenticator, `CommonNameUserConversion`)."""
        return Identity(user, implied_groups(user, groups), [Rule.parse(r) for r in self.rbac.get(user, [])])

    def token_for(self, user: str) -> str | None:
        return next((t for t, ident in self.by_token.items() if ident.user == user), None)


def forbidden_message(user: str, a: Attributes) -> str:
    """The apiserver's wording, e.g. `pods is forbidden: User "…" cannot list resource "pods" in API
    group "" in the namespace "monitoring"`."""
    what = f"{a.resource}.{a.group}" if a.group else a.resource
    subject = f'{what} "{a.name}"' if a.name else what
    where = f'in the namespace "{a.namespace}"' if a.namespace else "at the cluster scope"
    return (
        f'{subject} is forbidden: User "{user}" cannot {a.verb} resource "{a.full_resource}" '
        f'in API group "{a.group}" {where}'
    )


def validation_errors(kind: str, obj: dict, old: dict | None = None) -> list[tuple[str, str, str]]:
    """(reason, field, message) for what the apiserver's RBAC validation refuses in obj."""
    errors: list[tuple[str, str, str]] = []
    if kind in ("Role", "ClusterRole"):
        for i, rule in enumerate(obj.get("rules") or []):
            at = f"rules[{i}]"
            if not rule.get("verbs"):
                errors.append(
                    ("FieldValueRequired", f"{at}.verbs", "Required value: verbs must contain at least one value")
                )
            if rule.get("nonResourceURLs"):
                if kind == "Role":
                    errors.append(("FieldValueInvalid", f"{at}.nonResourceURLs",
                                   "Invalid value: namespaced rules cannot apply to non-resource URLs"))
                if rule.get("resources") or rule.get("apiGroups"):
                    errors.append(("FieldValueInvalid", f"{at}.nonResourceURLs",
                                   "Invalid value: rules cannot apply to both regular resources and "
                                   "non-resource URLs"))
                continue
            if not rule.get("apiGroups"):
                errors.append(("FieldValueRequired", f"{at}.apiGroups",
                               "Required value: resource rules must supply at least one api group"))
            if not rule.get("resources"):
                errors.append(("FieldValueRequired", f"{at}.resources",
                               "Required value: resource rules must supply at least one resource"))
        return errors
    if kind not in ("RoleBinding", "ClusterRoleBinding"):
        return errors
    ref = obj.get("roleRef") or {}
    kinds = ("Role", "ClusterRole") if kind == "RoleBinding" else ("ClusterRole",)
    if ref.get("apiGroup") != RBAC_GROUP:
        errors.append(("FieldValueNotSupported", "roleRef.apiGroup",
                       f'Unsupported value: "{ref.get("apiGroup", "")}": supported values: "{RBAC_GROUP}"'))
    if ref.get("kind") not in kinds:
        supported = ", ".join(f'"{k}"' for k in kinds)
        errors.append(("FieldValueNotSupported", "roleRef.kind",
                       f'Unsupported value: "{ref.get("kind", "")}": supported values: {supported}'))
    if not ref.get("name"):
        errors.append(("FieldValueRequired", "roleRef.name", "Required value"))
    for i, s in enumerate(obj.get("subjects") or []):
        at = f"subjects[{i}]"
        if s.get("kind") not in ("User", "Group", "ServiceAccount"):
            errors.append(("FieldValueNotSupported", f"{at}.kind",
                           f'Unsupported value: "{s.get("kind", "")}": supported values: '
                           '"ServiceAccount", "User", "Group"'))
        if not s.get("name"):
            errors.append(("FieldValueRequired", f"{at}.name", "Required value"))
        if s.get("kind") == "ServiceAccount" and kind == "ClusterRoleBinding" and not s.get("namespace"):
            errors.append(("FieldValueRequired", f"{at}.namespace", "Required value"))
    if old is not None and (old.get("roleRef") or {}) != ref:
        errors.append(("FieldValueInvalid", "roleRef", "Invalid value: cannot change roleRef"))
    return errors
