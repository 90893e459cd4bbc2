"""The simulated apiserver's storage: typed, versioned, validated, thread-safe.

The Python API here is privileged (it writes status too); the HTTP layer applies the status-subresource
rules on top. Objects are plain dicts in the shape `kubectl get -o json` prints.
"""

from __future__ import annotations

import copy
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from gate.sim import kinds
from gate.sim.kinds import ResourceType
from gate.sim.rbac import RBAC_GROUP, validation_errors
from gate.sim.schema import validate

SELECTED_KEPT = 8  # select() results kept for the next pages of a list

def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StoreError(Exception):
    """An apiserver error answer: code, reason and message as a metav1.Status carries them."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


class Store:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._rv = 1000
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._preferred: dict[tuple[str, str], ResourceType] = {}
        self._objects: dict[tuple[str, str], dict[tuple[str, str], dict]] = {}
        self._selected: dict[tuple, list[dict]] = {}  # select() results, while the store is unchanged
        self._listeners: list[Callable[[str, dict], None]] = []
        for rt in kinds.BUILTIN:
            self._register(rt)

    # -- types ---------------------------------------------------------------------------------
    def _register(self, rt: ResourceType, preferred: bool = True) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt
        if preferred or (rt.group, rt.plural) not in self._preferred:
            self._preferred[(rt.group, rt.plural)] = rt
        self._objects.setdefault((rt.group, rt.plural), {})

    def types(self) -> list[ResourceType]:
        with self._lock:
            return list(self._types.values())

    def resource_type(self, group: str, plural: str, version: str | None = None) -> ResourceType | None:
        with self._lock:
            if version is None:
                return self._preferred.get((group, plural))
            return self._types.get((group, version, plural))

    def type_for_kind(self, api_version: str, kind: str) -> ResourceType | None:
        group, version = split_api_version(api_version)
        with self._lock:
            for rt in self._types.values():
                if rt.group == group and rt.kind == kind and rt.version == version:
                    return rt
        return None

    def kind_of(self, group: str, plural: str) -> str | None:
        rt = self.resource_type(group, plural)
        return rt.kind if rt else None

    def plural_of(self, group: str, kind: str) -> str | None:
        with self._lock:
            for rt in self._preferred.values():
                if rt.group == group and rt.kind == kind:
                    return rt.plural
        return None

    def on_change(self, fn: Callable[[str, dict], None]) -> None:
        """fn(event, obj) after every write; event is ADDED, MODIFIED or DELETED."""
        self._listeners.append(fn)

    # -- reads ---------------------------------------------------------------------------------
    @property
    def resource_version(self) -> str:
        return str(self._rv)

    def get(self, group: str, plural: str, namespace: str | None, name: str) -> dict | None:
        with self._lock:
            obj = self._objects.get((group, plural), {}).get((namespace or "", name))
            return copy.deepcopy(obj) if obj else None

    def list(self, group: str, plural: str, namespace: str | None = None) -> list[dict]:
        with self._lock:
            bucket = self._objects.get((group, plural), {})
            keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
            return [copy.deepcopy(bucket[k]) for k in keys]

    def select(self, group: str, plural: str, namespace: str | None, match: Callable[[dict], bool],
               start: int = 0, limit: int = 0, key: tuple | None = None) -> tuple[list[dict], int]:
        """(one page of the matching objects in list order, how many match in all), for the list API.

        The page holds shallow copies of the stored objects: a stored object is never changed in place
        (every write stores a new one), so the copies stay what the store held at this call, and a list
        of 20,000 objects costs a filter and a page, not 20,000 deep copies. With `key` (what `match`
        selects, e.g. its selectors), the matched list is kept while nothing is written, so the next
        pages of the same list (`continue`) are sliced from it, not filtered again."""
        with self._lock:
            memo = (group, plural, namespace, key, self._rv)
            matched = self._selected.get(memo) if key is not None else None
            if matched is None:
                bucket = self._objects.get((group, plural), {})
                keys = sorted(k for k in bucket if namespace is None or k[0] == namespace)
                matched = [bucket[k] for k in keys if match(bucket[k])]
                if key is not None:
                    while len(self._selected) >= SELECTED_KEPT:
                        self._selected.pop(next(iter(self._selected)))
                    self._selected[memo] = matched
        page = matched[start : start + limit] if limit > 0 else matched[start:]
        return [dict(obj) for obj in page], len(matched)

    # -- writes --------------------------------------------------------------------------------
    def _type_of_obj(self, obj: dict) -> ResourceType:
        api_version, kind = obj.get("apiVersion") or "", obj.get("kind") or ""
        rt = self.type_for_kind(api_version, kind)
        if rt is None:
            raise StoreError(404, "NotFound", f'no matches for kind "{kind}" in version "{api_version}"')
        return rt

    def _key(self, rt: ResourceType, obj: dict) -> tuple[str, str]:
        meta = obj.setdefault("metadata", {})
        if rt.namespaced:
            meta.setdefault("namespace", "default")
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
            else:
                raise StoreError(
                    422,
                    "Invalid",
                    f'{rt.kind} "" is invalid: metadata.name: Required value: '
                    "name or generateName is required",
                    {
                        "kind": rt.plural,
                        "group": rt.group,
                        "causes": [
                            {
                                "reason": "FieldValueRequired",
                                "message": "Required value",
                                "field": "metadata.name",
                            }
                        ],
                    },
                )
        return (meta.get("namespace", "") if rt.namespaced else "", meta["name"])

    def _validated(self, rt: ResourceType, obj: dict, old: dict | None = None) -> dict:
        if rt.group == RBAC_GROUP:
            self._check_rbac(rt, obj, old)
        if rt.schema is None:
            return obj
        pruned, errors = validate(obj, rt.schema)
        if errors:
            name = (obj.get("metadata") or {}).get("name", "")
            kind_group = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
            texts = [e.text() for e in errors]
            summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
            raise StoreError(
                422,
                "Invalid",
                f'{kind_group} "{name}" is invalid: {summary}',
                {
                    "name": name,
                    "group": rt.group,
                    "kind": rt.kind,
                    "causes": [{"reason": e.reason, "message": e.message, "field": e.field} for e in errors],
                },
            )
        return pruned

    @staticmethod
    def _check_rbac(rt: ResourceType, obj: dict, old: dict | None) -> None:
        errors = validation_errors(rt.kind, obj, old)
        if not errors:
            return
        name = (obj.get("metadata") or {}).get("name", "")
        texts = [f"{field}: {message}" for _, field, message in errors]
        summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
        raise StoreError(
            422,
            "Invalid",
            f'{rt.kind}.{rt.group} "{name}" is invalid: {summary}',
            {
                "name": name,
                "group": rt.group,
                "kind": rt.kind,
                "causes": [{"reason": r, "message": m, "field": f} for r, f, m in errors],
            },
        )

    def _bump(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _notify(self, event: str, obj: dict) -> None:
        for fn in list(self._listeners):
            fn(event, copy.deepcopy(obj))

    def create(self, obj: dict) -> dict:
        result = self._create(copy.deepcopy(obj))
        assert result is not None
        return result

    def _create(self, obj: dict, *, answer: bool = True) -> dict | None:
        """Store `obj` (the store's own from now on: the caller hands it over). The stored object, copied,
        when `answer` (a bulk load needs no answer and, with no listeners yet, no copies)."""
        with self._lock:
            rt = self._type_of_obj(obj)
            key = self._key(rt, obj)
            bucket = self._objects[(rt.group, rt.plural)]
            if key in bucket:
                raise StoreError(
                    409,
                    "AlreadyExists",
                    f'{rt.display} "{key[1]}" already exists',
                    {"name": key[1], "group": rt.group, "kind": rt.plural},
                )
            obj = self._validated(rt, obj)
            meta = obj["metadata"]
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_rfc3339())
            meta["resourceVersion"] = self._bump()
            if rt.from_crd or rt.group in ("apps", "batch", "networking.k8s.io", "apiextensions.k8s.io"):
                meta.setdefault("generation", 1)
            self._on_created(rt, obj)
            bucket[key] = obj
            if not answer and not self._listeners:
                return None
            result = copy.deepcopy(obj)
        self._notify("ADDED", result)
        return result

    def _on_created(self, rt: ResourceType, obj: dict) -> None:
        if rt.kind == "Namespace":
            obj.setdefault("status", {"phase": "Active"})
        elif rt.kind == "CustomResourceDefinition":
            self.install_crd_types(obj)
            names = (obj.get("spec") or {}).get("names") or {}
            obj.setdefault(
                "status",
                {
                    "acceptedNames": names,
                    "storedVersions": [v for v in [kinds.storage_version(obj)] if v],
                    "conditions": [
                        {
                            "type": "NamesAccepted",
                            "status": "True",
                            "reason": "NoConflicts",
                            "message": "no conflicts found",
                            "lastTransitionTime": now_rfc3339(),
                        },
                        {
                            "type": "Established",
                            "status": "True",
                            "reason": "InitialNamesAccepted",
                            "message": "the initial names have been accepted",
                            "lastTransitionTime": now_rfc3339(),
                        },
                    ],
                },
            )

    def install_crd_types(self, crd: dict) -> None:
        with self._lock:
            storage = kinds.storage_version(crd)
            for rt in kinds.from_crd(crd):
                self._register(rt, preferred=rt.version == storage)

    def _existing(self, rt: ResourceType, namespace: str | None, name: str) -> dict:
        obj = self._objects[(rt.group, rt.plural)].get((namespace or "" if rt.namespaced else "", name))
        if obj is None:
            raise StoreError(
                404,
                "NotFound",
                f'{rt.display} "{name}" not found',
                {"name": name, "group": rt.group, "kind": rt.plural},
            )
        return obj

    def replace(self, obj: dict, *, status_policy: str = "all") -> dict:
        """Update a whole object. status_policy: "all" (store API), "main" (keep the old status, as the
        main endpoint does for kinds with a status subresource) or "status" (only status changes)."""
        obj = copy.deepcopy(obj)
        with self._lock:
            rt = self._type_of_obj(obj)
            key = self._key(rt, obj)
            old = self._existing(rt, key[0], key[1])
            want_rv = obj["metadata"].get("resourceVersion")
            if want_rv and want_rv != old["metadata"]["resourceVersion"]:
                raise StoreError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {rt.display} "{key[1]}": '
                    "the object has been modified; please apply your changes to the latest "
                    "version and try again",
                    {"name": key[1], "group": rt.group, "kind": rt.plural},
                )
            return self._write(rt, key, old, obj, status_policy)

    def merge_patch(
        self,
        group: str,
        plural: str,
        namespace: str | None,
        name: str,
        patch: dict,
        subresource: str | None = None,
        *,
        status_policy: str | None = None,
    ) -> dict:
        with self._lock:
            rt = self.resource_type(group, plural)
            if rt is None:
                raise StoreError(404, "NotFound", "the server could not find the requested resource")
            old = self._existing(rt, namespace, name)
            new = merge(copy.deepcopy(old), patch)
            policy = status_policy or ("status" if subresource == "status" else "all")
            key = (old["metadata"].get("namespace", ""), name)
            return self._write(rt, key, old, new, policy)

    def apply_update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        mutate: Callable[[dict], dict],
        status_policy: str = "all",
    ) -> dict:
        """Read-modify-write under the lock (used for JSON patch)."""
        with self._lock:
            old = self._existing(rt, namespace, name)
            new = mutate(copy.deepcopy(old))
            return self._write(rt, (old["metadata"].get("namespace", ""), name), old, new, status_policy)

    def _write(self, rt: ResourceType, key: tuple[str, str], old: dict, new: dict, policy: str) -> dict:
        if policy == "main" and rt.has_status:
            new = {k: v for k, v in new.items() if k != "status"}
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        elif policy == "status":
            status = new.get("status")
            new = {k: copy.deepcopy(v) for k, v in old.items() if k != "status"}
            if status is not None:
                new["status"] = status
        meta = new.setdefault("metadata", {})
        for fixed in ("uid", "creationTimestamp", "name", "namespace"):
            if fixed in old["metadata"]:
                meta[fixed] = old["metadata"][fixed]
        new = self._validated(rt, new, old)
        meta = new["metadata"]
        if _spec_changed(old, new) and "generation" in old["metadata"]:
            meta["generation"] = int(old["metadata"]["generation"]) + 1
        elif "generation" in old["metadata"]:
            meta["generation"] = old["metadata"]["generation"]
        if new == old:
            return copy.deepcopy(old)  # no-op writes keep the resourceVersion, as the apiserver does
        meta["resourceVersion"] = self._bump()
        self._objects[(rt.group, rt.plural)][key] = new
        if rt.kind == "CustomResourceDefinition":
            self.install_crd_types(new)
        result = copy.deepcopy(new)
        self._notify("MODIFIED", result)
        return result

    def delete(self, group: str, plural: str, namespace: str | None, name: str) -> dict:
        with self._lock:
            rt = self.resource_type(group, plural)
            if rt is None:
                raise StoreError(404, "NotFound", "the server could not find the requested resource")
            old = self._existing(rt, namespace, name)
            del self._objects[(rt.group, rt.plural)][(old["metadata"].get("namespace", ""), name)]
            self._bump()
            if rt.kind == "CustomResourceDefinition":
                self._uninstall(old)
            if rt.kind == "Namespace":
                for bucket in self._objects.values():
                    for k in [k for k in bucket if k[0] == name]:
                        del bucket[k]
        self._notify("DELETED", old)
        return copy.deepcopy(old)

    def _uninstall(self, crd: dict) -> None:
        spec = crd.get("spec") or {}
        group, plural = spec.get("group", ""), (spec.get("names") or {}).get("plural", "")
        for k in [k for k in self._types if k[0] == group and k[2] == plural]:
            del self._types[k]
        self._preferred.pop((group, plural), None)
        self._objects.pop((group, plural), None)

    def load(self, objects: Iterable[dict], *, owned: bool = False) -> None:
        """Create many objects, CRDs first so the kinds they define exist; namespaces are implied.
        `owned`: the objects are the store's to keep (fresh copies nobody else holds), so not copied."""
        objs = list(objects)
        first = ("CustomResourceDefinition", "Namespace")
        ordered = [o for k in first for o in objs if o.get("kind") == k]
        ordered += [o for o in objs if o.get("kind") not in first]
        for obj in ordered:
            ns = (obj.get("metadata") or {}).get("namespace")
            if ns and obj.get("kind") != "Namespace" and not self.get("", "namespaces", None, ns):
                self.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            if obj.get("kind") == "Namespace" and self.get("", "namespaces", None, obj["metadata"]["name"]):
                continue
            self._create(obj if owned else copy.deepcopy(obj), answer=False)


def _spec_changed(old: dict, new: dict) -> bool:
    skip = ("metadata", "status")
    return {k: v for k, v in old.items() if k not in skip} != {k: v for k, v in new.items() if k not in skip}
