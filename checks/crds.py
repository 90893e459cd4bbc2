"""`crds`: CustomResourceDefinitions exist and the API server serves them (Established, names accepted).

Each CRD is read with a `get` by name (RBAC `get` on that resourceName only), not a list of every CRD
in the cluster, which can run to megabytes of schemas.
"""

from __future__ import annotations

from typing import Any, ClassVar

from gate.checks.base import Check, Clients
from gate.checks.pods import capped, condition, slug

from gate.cluster.kube import Permission
from gate.cluster.resources import CRDS
from gate.model import Observation


def _describe(cond: dict) -> str:
    detail = f"{cond.get('reason') or ''} {cond.get('message') or ''}".strip()
    return f"{cond.get('type')}={cond.get('status')}" + (f": {detail}" if detail else "")


def crd_problem(crd: dict) -> str | None:
    """Why a CRD that exists is not usable yet, or None. A missing NamesAccepted is tolerated:
    the API server sets Established only after accepting the names."""
    names = condition(crd, "NamesAccepted")
    if names and names.get("status") != "True":
        return _describe(names)
    established = condition(crd, "Established")
    if not established:
        return "not Established yet (no Established condition)"
    if established.get("status") != "True":
        return _describe(established)
    return None


class CrdsCheck(Check):
    kind = "crds"
    summary = "CustomResourceDefinitions exist and are Established (shorthand: a list of names)."
    segments: ClassVar[dict[str, str]] = {"names": "subdomain"}
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["names"],
        "properties": {
            "names": {"type": "array", "minItems": 1, "uniqueItems": True,
                      "items": {"type": "string", "pattern": r"^[a-z0-9-]+\.[a-z0-9.-]+$"},
                      "description": "full CRD names, <plural>.<group>"},
        },
    }
    shorthand: ClassVar[dict[str, Any] | None] = {
        "type": "array", "minItems": 1, "items": {"type": "string", "pattern": r"^[a-z0-9-]+\.[a-z0-9.-]+$"}}

    @classmethod
    def normalize(cls, raw: Any) -> dict[str, Any]:
        if isinstance(raw, list):
            return {"names": list(raw)}
        return dict(raw or {})

    @property
    def names(self) -> list[str]:
        return list(self.params.get("names") or [])

    def default_name(self) -> str:
        return "CRDs established: " + ", ".join(self.names)

    def ident(self) -> str:
        return slug(",".join(n.split(".", 1)[0] for n in self.names))

    def permissions(self) -> list[Permission]:
        return [Permission("get", CRDS.plural, CRDS.group, None, name) for name in self.names]

    def observe(self, clients: Clients) -> Observation:
        view = clients.need_view()
        evidence: list[str] = []
        good = 0
        for name in self.names:
            crd = view.get(CRDS, name)
            problem = "not installed" if crd is None else crd_problem(crd)
            if problem:
                evidence.append(f"{name}: {problem}")
            else:
                good += 1
        ok = good == len(self.names)
        hint = "" if ok else "Install the chart or operator that ships these CRDs (kubectl get crd <name>)"
        total = len(self.names)
        return Observation(ok=ok, observed=f"{good}/{total} CRDs established",
                           expected=f"all established ({total})", evidence=capped(evidence), hint=hint)
