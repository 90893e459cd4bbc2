"""Validate Kargo, Argo CD and Argo Rollouts manifests against their real CRD schemas.

The CRDs are the ones the simulator serves (gate/sim/crds: Kargo v1.11.2, Argo CD, Argo Rollouts). The
openAPIV3Schema is read as a strict API server would with `kubectl apply` (field validation Strict, the
default since Kubernetes 1.27): unknown fields are errors unless `x-kubernetes-preserve-unknown-fields`;
`nullable` admits null; `x-kubernetes-int-or-string` admits both.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gate.lint.manifests import Manifest
from gate.spec.yamlpos import Limits

if TYPE_CHECKING:
    import jsonschema

CRD_DIR = Path(__file__).resolve().parent.parent / "sim" / "crds"


@functools.cache
def _texts() -> list[str]:
    return [path.read_text(encoding="utf-8") for path in sorted(CRD_DIR.glob("*.yaml"))]


@functools.cache
def _crds(index: int) -> list[Any]:
    """The documents of one CRD file, parsed once per process (libyaml composing, the one-pass builder)."""
    from gate.lint.manifests import _Loader
    from gate.lint.yamlbuild import Builder

    loader = _Loader(_texts()[index])
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                docs.append(Builder(loader, str(CRD_DIR), Limits(max_bytes=1 << 30, max_nodes=10**7)).document(node))
        return docs
    finally:
        loader.dispose()


def _from_crds() -> dict[str, dict]:
    """`group/version/kind` -> openAPIV3Schema of every served version in the shipped CRDs."""
    out: dict[str, dict] = {}
    for index in range(len(_texts())):
        for doc in _crds(index):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for v in spec.get("versions") or []:
                schema = (v.get("schema") or {}).get("openAPIV3Schema")
                if v.get("served", True) and schema is not None:
                    out[f"{spec['group']}/{v['name']}/{spec['names']['kind']}"] = schema
    return out


def _cache_file() -> Path:
    digest = hashlib.sha256("\0".join(_texts()).encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "promotion-gate" / f"lint-crd-schemas-{digest}.json"


@functools.cache
def _schemas() -> dict[str, dict]:
    """The CRD schemas, from a JSON cache keyed by the CRDs' sha256 (parsing ~4 MB of CRD YAML costs
    about a second; the JSON, a few milliseconds). A cache that cannot be read or written is ignored."""
    cache = _cache_file()
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            return data
    except (OSError, ValueError):
        pass
    data = _from_crds()
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        pass
    return data


@functools.cache
def schema_for(api_version: str, kind: str) -> dict | None:
    """The openAPIV3Schema of a served CRD version, or None for kinds the shipped CRDs do not define."""
    group, _, version = api_version.rpartition("/")
    if not any(f"kind: {kind}\n" in text and f"group: {group}\n" in text for text in _texts()):
        return None  # not a Kargo / Argo kind: no need to read the schemas at all
    return _schemas().get(f"{group}/{version}/{kind}")


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
    strict = _strict(schema)  # builds new dicts and lists: the cached schema is not changed
    if "metadata" in strict.get("properties", {}):
        strict["properties"]["metadata"] = {"type": "object"}  # the API server checks metadata itself
    import jsonschema  # only when an object has a CRD to check (~0.1 s to import)

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
