"""CRD openAPIV3Schema validation and pruning, the way kube-apiserver treats custom resources.

Schema `default`s are applied first, as the apiserver's structural defaulting does on every decode
(create, update, read), then unknown fields are dropped (unless `x-kubernetes-preserve-unknown-fields`),
nulls in non-nullable fields are dropped, then types, required fields, enums, patterns and sizes are
checked. Errors carry
the field path (`status.operationState.operation`) and the apiserver's wording. CEL rules
(`x-kubernetes-validations`) are not evaluated.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from typing import Any

_TYPE_NAMES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, FieldValueTypeInvalid
    message: str

    def text(self) -> str:
        return f"{self.field}: {self.message}"


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _json_repr(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    return str(value).lower() if isinstance(value, bool) else str(value)


def _type_ok(value: Any, schema: dict) -> bool:
    if schema.get("x-kubernetes-int-or-string"):
        return isinstance(value, (int, str)) and not isinstance(value, bool)
    expected = schema.get("type")
    if not expected:
        return True
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return _type_of(value) == expected


def validate(value: Any, schema: dict) -> tuple[Any, list[FieldError]]:
    """Return (defaulted and pruned value, errors) for a whole object against a CRD version's
    openAPIV3Schema."""
    errors: list[FieldError] = []
    pruned = _walk(apply_defaults(copy.deepcopy(value), schema), schema, "", errors, root=True)
    return pruned, errors


def unknown_fields(value: Any, schema: dict, path: str = "", root: bool = True) -> list[str]:
    """Field paths pruning would drop: what `?fieldValidation=Strict` rejects ("strict decoding error:
    unknown field ..."); k8s.io/apiextensions-apiserver pkg/apiserver/schema/pruning/algorithm.go."""
    out: list[str] = []
    if isinstance(value, dict):
        props: dict = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        keep = bool(schema.get("x-kubernetes-preserve-unknown-fields")) or extra is True
        meta_ok = root or bool(schema.get("x-kubernetes-embedded-resource"))
        for key, item in value.items():
            if meta_ok and key in ("apiVersion", "kind", "metadata"):
                continue
            child = props.get(key) if key in props else (extra if isinstance(extra, dict) else None)
            if child is None:
                if not keep:
                    out.append(_join(path, key))
                continue
            out += unknown_fields(item, child, _join(path, key), root=False)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += unknown_fields(item, schema["items"], f"{path}[{i}]", root=False)
    return out


def _non_nullable_null(value: Any, schema: dict | None) -> bool:
    return value is None and isinstance(schema, dict) and not schema.get("nullable")


def apply_defaults(value: Any, schema: dict | None) -> Any:
    """Structural defaulting, in place: k8s.io/apiextensions-apiserver
    pkg/apiserver/schema/defaulting/algorithm.go:34-69 (v0.32). In every object that is present, a
    missing property (or a null one that is not nullable) takes its `default`; then each property, each
    additionalProperties value and each array item is defaulted the same way, defaults included."""
    if not isinstance(schema, dict):
        return value
    if isinstance(value, dict):
        props: dict = schema.get("properties") or {}
        for key, prop in props.items():
            if "default" in prop and (key not in value or _non_nullable_null(value[key], prop)):
                value[key] = copy.deepcopy(prop["default"])
        extra = schema.get("additionalProperties")
        for key in list(value):
            if key in props:
                apply_defaults(value[key], props[key])
            elif isinstance(extra, dict):
                if _non_nullable_null(value[key], extra) and "default" in extra:
                    value[key] = copy.deepcopy(extra["default"])
                apply_defaults(value[key], extra)
    elif isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            for i, item in enumerate(value):
                if _non_nullable_null(item, items) and "default" in items:
                    value[i] = copy.deepcopy(items["default"])
                apply_defaults(value[i], items)
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _walk(value: Any, schema: dict, path: str, errors: list[FieldError], root: bool = False) -> Any:
    if not _type_ok(value, schema):
        want = "string" if schema.get("x-kubernetes-int-or-string") else schema.get("type")
        got = _type_of(value)
        errors.append(
            FieldError(
                path,
                "FieldValueTypeInvalid",
                f'Invalid value: "{got}": {path} in body must be of type {want}: "{got}"',
            )
        )
        return value
    if isinstance(value, dict):
        return _walk_object(value, schema, path, errors, root)
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, dict):
            value = [_walk(v, items, f"{path}[{i}]", errors) for i, v in enumerate(value)]
        _check_sizes(value, schema, path, errors, "items")
        return value
    _check_scalar(value, schema, path, errors)
    return value


def _walk_object(value: dict, schema: dict, path: str, errors: list[FieldError], root: bool) -> dict:
    props: dict = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    keep_unknown = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    out: dict[str, Any] = {}
    for key, item in value.items():
        sub = _join(path, key)
        if root and key in ("apiVersion", "kind", "metadata"):
            out[key] = item  # ObjectMeta is the server's business, not the CRD schema's
            continue
        if embedded and key in ("apiVersion", "kind", "metadata"):
            out[key] = item
            continue
        child = props.get(key)
        if child is None and isinstance(extra, dict):
            child = extra
        if child is None:
            if keep_unknown or extra is True:
                out[key] = item
            continue  # pruned, as the apiserver does
        if item is None and not child.get("nullable"):
            continue  # nulls in non-nullable fields are pruned
        out[key] = _walk(item, child, sub, errors)
    for req in schema.get("required") or []:
        if req not in out and not (root and req in ("apiVersion", "kind", "metadata")):
            errors.append(FieldError(_join(path, req), "FieldValueRequired", "Required value"))
    _check_sizes(out, schema, path, errors, "properties")
    return out


def _check_sizes(value: list | dict, schema: dict, path: str, errors: list[FieldError], what: str) -> None:
    lo = schema.get("minItems" if what == "items" else "minProperties")
    hi = schema.get("maxItems" if what == "items" else "maxProperties")
    if lo is not None and len(value) < lo:
        errors.append(
            FieldError(
                path,
                "FieldValueInvalid",
                f"Invalid value: {len(value)}: {path} in body should have at least {lo} {what}",
            )
        )
    if hi is not None and len(value) > hi:
        errors.append(
            FieldError(path, "FieldValueTooMany", f"Too many: {len(value)}: must have at most {hi} {what}")
        )


def _check_scalar(value: Any, schema: dict, path: str, errors: list[FieldError]) -> None:
    enum = schema.get("enum")
    if enum and value not in enum:
        allowed = ", ".join(_json_repr(e) for e in enum)
        errors.append(
            FieldError(
                path,
                "FieldValueNotSupported",
                f"Unsupported value: {_json_repr(value)}: supported values: {allowed}",
            )
        )
    if isinstance(value, str):
        pattern = schema.get("pattern")
        if pattern and not re.search(pattern, value):
            errors.append(
                FieldError(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: \"{value}\": {path} in body should match '{pattern}'",
                )
            )
        lo, hi = schema.get("minLength"), schema.get("maxLength")
        if lo is not None and len(value) < lo:
            errors.append(
                FieldError(
                    path,
                    "FieldValueInvalid",
                    f'Invalid value: "{value}": {path} in body should be at least {lo} chars long',
                )
            )
        if hi is not None and len(value) > hi:
            errors.append(FieldError(path, "FieldValueTooLong", f"Too long: may not be more than {hi} bytes"))
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        lo, hi = schema.get("minimum"), schema.get("maximum")
        if lo is not None and value < lo:
            errors.append(
                FieldError(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {value}: {path} in body should be greater than or equal to {lo}",
                )
            )
        if hi is not None and value > hi:
            errors.append(
                FieldError(
                    path,
                    "FieldValueInvalid",
                    f"Invalid value: {value}: {path} in body should be less than or equal to {hi}",
                )
            )
