"""Bearer tokens and RBAC rules from the scenario, evaluated like the apiserver's RBAC authorizer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
    def parse(cls, raw: dict[str, Any]) -> Rule:
        return cls(
            verbs=list(raw.get("verbs") or []),
            api_groups=list(raw.get("apiGroups", [""])),
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
        if self.resource_names and (
            a.name not in self.resource_names or a.verb in ("list", "watch", "create")
        ):
            return False
        return not self.namespaces or a.namespace in self.namespaces


@dataclass
class Identity:
    user: str
    groups: list[str] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)

    def allows(self, a: Attributes) -> bool:
        if "system:masters" in self.groups:
            return True
        return any(rule.allows(a) for rule in self.rules)


class Authorizer:
    def __init__(self, tokens: dict[str, dict], rbac: dict[str, list[dict]]) -> None:
        """tokens: token -> {user, groups}; rbac: user -> rules."""
        self.by_token: dict[str, Identity] = {}
        for token, info in tokens.items():
            user = info.get("user") or token
            rules = [Rule.parse(r) for r in rbac.get(user, [])]
            self.by_token[token] = Identity(user, list(info.get("groups") or []), rules)

    def identify(self, token: str | None) -> Identity | None:
        return self.by_token.get(token or "")

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
