"""`pvcs`: every matched PersistentVolumeClaim is Bound; the others are listed with their phase."""

from __future__ import annotations

from typing import Any, ClassVar

from gate.checks.base import Check, Clients
from gate.checks.pods import capped, meta_name, slug

from gate.cluster import projection
from gate.cluster.kube import Permission
from gate.cluster.resources import PVCS
from gate.model import Observation

# What pvc_detail() and the verdict read of a listed claim (gate.cluster.projection).
projection.declare(PVCS, {"spec": {"storageClassName": True, "resources": True}, "status": True},
                   skip_managed_fields=True)  # core/v1 PersistentVolumeClaim: typed, one managedFields


def pvc_detail(pvc: dict) -> str:
    """`Pending (storageClass: standard, 10Gi)`: the phase and what the claim asks for."""
    spec, status = pvc.get("spec") or {}, pvc.get("status") or {}
    parts = []
    if spec.get("storageClassName"):
        parts.append(f"storageClass: {spec['storageClassName']}")
    size = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    if size:
        parts.append(str(size))
    if (pvc.get("metadata") or {}).get("deletionTimestamp"):
        parts.append("being deleted")
    phase = status.get("phase") or "no phase yet"
    return phase + (f" ({', '.join(parts)})" if parts else "")


class PvcsCheck(Check):
    kind = "pvcs"
    summary = "PersistentVolumeClaims (all in a namespace, or by selector/names) are Bound."
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["namespace"],
        "properties": {
            "namespace": {"type": "string", "minLength": 1},
            "selector": {"type": "string", "description": "label selector, as kubectl -l"},
            "names": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
            "allow_empty": {"type": "boolean", "description": "pass when no claim matches (default false)"},
        },
    }

    segments: ClassVar[dict[str, str]] = {"namespace": "label"}

    @property
    def namespace(self) -> str:
        return self.params["namespace"]

    def default_name(self) -> str:
        suffix = self.params.get("selector") or ", ".join(self.params.get("names") or [])
        return f"PVCs bound in {self.params.get('namespace')}" + (f" ({suffix})" if suffix else "")

    def ident(self) -> str:
        extra = self.params.get("selector") or ",".join(self.params.get("names") or [])
        return f"{self.namespace}.{slug(extra)}" if extra else self.namespace

    def permissions(self) -> list[Permission]:
        return [Permission("list", PVCS.plural, "", self.namespace)]

    def observe(self, clients: Clients) -> Observation:
        view = clients.need_view()
        names = self.params.get("names")
        claims = view.list(PVCS, self.namespace, self.params.get("selector"))
        if names:
            claims = [c for c in claims if (c.get("metadata") or {}).get("name") in names]
        bound = [c for c in claims if (c.get("status") or {}).get("phase") == "Bound"
                 and not (c.get("metadata") or {}).get("deletionTimestamp")]
        evidence = [f"{meta_name(c)}: {pvc_detail(c)}" for c in claims if c not in bound]
        seen = {(c.get("metadata") or {}).get("name") for c in claims}
        missing = [n for n in names or [] if n not in seen]
        evidence += [f"{self.namespace}/{n}: not found" for n in missing]
        total = len(claims) + len(missing)
        empty_ok = bool(self.params.get("allow_empty")) and not names
        if total == 0:
            selector = self.params.get("selector")
            evidence.append(f"no PVCs in namespace {self.namespace}" + (f" with selector {selector}"
                                                                        if selector else ""))
        ok = len(bound) == total and (total > 0 or empty_ok)
        expected = f"all Bound ({total})" if total else (
            "none required" if empty_ok else "all Bound (at least 1)")
        hint = ""
        if not ok and claims and len(bound) < len(claims):
            first = next(c for c in claims if c not in bound)
            name = (first.get("metadata") or {}).get("name")
            hint = f"See why: kubectl describe pvc -n {self.namespace} {name}"
        return Observation(ok=ok, observed=f"{len(bound)}/{total} PVCs Bound", expected=expected,
                           evidence=capped(evidence), hint=hint)
