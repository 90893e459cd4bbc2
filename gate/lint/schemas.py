"""Validate Kargo, Argo CD and Argo Rollouts manifests against their real CRD schemas.

The CRDs are the ones the simulator serves (gate/sim/crds: Kargo v1.11.2, Argo CD, Argo Rollouts). The
openAPIV3Schema is read as a strict API server would with `kubectl apply` (field validation Strict, the
default since Kubernetes 1.27): unknown fields are errors unless `x-kubernetes-preserve-unknown-fields`;
`nullable` admits null; `x-kubernetes-int-or-string` admits both.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from gate.lint.manifests import Manifest

CRD_DIR = Path(__file__).resolve().parent.parent / "sim" / "crds"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: the CRDs are ~2 MB of YAML


@functools.cache
def _texts() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted(CRD_DIR.glob("*.yaml"))]


@functools.cache
def schema_for(api_version: str, kind: str) -> dict | None:
    """The openAPIV3Schema of a served CRD version; only the CRD files that name the kind are parsed."""
    group, _, version = api_version.rpartition("/")
    for text in _texts():
        if f"kind: {kind}\n" not in text or f"group: {group}\n" not in text:
            continue
        for doc in yaml.load_all(text, Loader=_LOADER):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            if spec.get("group") != group or spec["names"]["kind"] != kind:
                continue
            for v in spec.get("versions") or []:
                if v["name"] == version and v.get("served", True):
                    return (v.get("schema") or {}).get("openAPIV3Schema")
    return None


def _strict(schema: Any) -> Any:
    """The CRD schema as JSON Schema with Kubernetes' extensions spelled out."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    preserve = out.pop("x-kubernetes-preserve-unknown-fields", False)
    if out.get("type") in ("object", ["object", "null"]) and "properties" in out and not preserve \
            and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft7Validator | None:
    schema = schema_for(api_version, kind)
    if schema is None:
        return None
    strict = _strict(copy.deepcopy(schema))
    if "metadata" in strict.get("properties", {}):
        strict["properties"]["metadata"] = {"type": "object"}  # the API server checks metadata itself
    return jsonschema.Draft7Validator(strict)


def _prunable(value: Any, schema: Any) -> bool:
    """A null the API server drops before validating: the field is not nullable and has no default
    (apiextensions-apiserver structuraldefaulting.PruneNonNullableNullsWithoutDefaults)."""
    return value is None and isinstance(schema, dict) and not schema.get("nullable") and "default" not in schema


def defaulted(value: Any, schema: dict) -> Any:
    """The object as the API server validates it: nulls in non-nullable fields without a default pruned,
    then the schema's defaults filled in (structural schema defaulting: a default applies where the
    parent object is present, and to a null in a non-nullable field)."""
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")

        def sub(key: str) -> Any:
            return props.get(key) or (extra if isinstance(extra, dict) else {})

        value = {k: v for k, v in value.items() if not _prunable(v, sub(k) if k in props or isinstance(extra, dict)
                                                                   else None)}
        value = {k: copy.deepcopy(sub(k)["default"]) if v is None and isinstance(sub(k), dict)
                 and "default" in sub(k) and not sub(k).get("nullable") else v for k, v in value.items()}
        out = {k: defaulted(v, sub(k)) if isinstance(extra, dict) or k in props else v
               for k, v in value.items()}
        for key, prop in props.items():
            if key not in out and isinstance(prop, dict) and "default" in prop:
                out[key] = copy.deepcopy(prop["default"])
        return out
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [defaulted(v, schema["items"]) for v in value]
    return value


def errors(m: Manifest) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(key path, message) of every schema error of one object; nothing for kinds without a CRD here."""
    validator = _validator(str(m.obj.get("apiVersion")), m.kind)
    if validator is None:
        return
    obj = defaulted(m.obj, schema_for(str(m.obj.get("apiVersion")), m.kind) or {})
    for err in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            extra = sorted(set(err.instance) - set(err.schema.get("properties") or {}))
            path += tuple(extra[:1])  # point at the (first) unknown key itself
        where = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in path).replace(".[", "[") or "(root)"
        yield path, f"{where}: {_message(err)}"


def _message(err: jsonschema.ValidationError) -> str:
    if err.validator == "additionalProperties":
        return err.message.replace("Additional properties are not allowed", "unknown field")
    if err.validator == "required":
        return err.message.replace("is a required property", "is required")
    return err.message
