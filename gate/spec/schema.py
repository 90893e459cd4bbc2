"""The JSON Schema of `gate.yaml`, built from the check registry, and shipped as gate/spec/gate.schema.json
so editors can complete the spec. `python -m gate.spec.schema` regenerates the shipped file."""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from gate.checks.base import Check
from gate.cluster.destinations import REF_SCHEMA
from gate.errors import ConfigError
from gate.spec.yamlpos import Positions, format_path

SCHEMA_FILE = Path(__file__).with_name("gate.schema.json")
SCHEMA_ID = "https://promotion-gate.dev/schemas/gate.schema.json"
LEVELS = ("1", "2", "3", "4")
DURATION = {
    "description": "seconds, or a duration like 30s, 5m, 1h30m, 250ms",
    "anyOf": [{"type": "number", "minimum": 0},
              {"type": "string", "pattern": r"^(\d+(\.\d+)?|(\d+(\.\d+)?(ms|s|m|h))+)$"}],
}
COMMON = {  # every check accepts these; they go to the runner, not to the check
    "name": {"type": "string", "minLength": 1, "description": "the line in the report"},
    "timeout": {"$ref": "#/$defs/duration", "description": "give up after this long"},
    "interval": {"$ref": "#/$defs/duration", "description": "first wait between attempts"},
    "max_interval": {"$ref": "#/$defs/duration", "description": "longest wait between attempts"},
    "cluster": {"$ref": "#/$defs/cluster"},
}


def missing_modules() -> list[str]:
    """Check modules of checks.MODULES that do not exist yet (while the kinds are being written)."""
    from gate import checks

    return [m for m in checks.MODULES if importlib.util.find_spec(f"gate.checks.{m}") is None]


def kinds() -> dict[str, type[Check]]:
    """gate.checks.registry(), or, while some modules are still missing, the kinds that exist."""
    from gate import checks

    if not missing_modules():
        return dict(checks.registry())
    found: dict[str, type[Check]] = {}
    for name in checks.MODULES:
        if importlib.util.find_spec(f"gate.checks.{name}") is None:
            continue
        module = importlib.import_module(f"gate.checks.{name}")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, Check) and value.kind \
                    and value.__module__ == module.__name__:
                found[value.kind] = value
    return dict(sorted(found.items()))


TEMPLATE_ALTERNATIVE = r"|\$\{"


def allow_templates(schema: Any) -> Any:
    """Every `pattern` also accepts a string holding `${...}`: the spec is validated after substitution,
    but an editor sees `service: "${MONITORING_NS}/grafana:3000"` as written."""
    if isinstance(schema, list):
        return [allow_templates(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: allow_templates(v) for k, v in schema.items()}
    if isinstance(schema.get("pattern"), str) and not schema["pattern"].endswith(TEMPLATE_ALTERNATIVE):
        out["pattern"] = f"(?:{schema['pattern']}){TEMPLATE_ALTERNATIVE}"
    return out


def _original_pattern(pattern: str) -> str:
    if pattern.startswith("(?:") and pattern.endswith(")" + TEMPLATE_ALTERNATIVE):
        return pattern[3:-len(TEMPLATE_ALTERNATIVE) - 1]
    return pattern


def params_schema(cls: type[Check]) -> dict[str, Any]:
    """The check's own schema with the common keys added (when it is an object schema)."""
    schema = allow_templates(copy.deepcopy(cls.schema))
    if schema.get("type") == "object" or "properties" in schema:
        schema["properties"] = {**COMMON, **(schema.get("properties") or {})}
    return schema


def kind_schema(cls: type[Check]) -> dict[str, Any]:
    """Params, or the shorthand form when the kind has one."""
    params = params_schema(cls)
    shorthand = allow_templates(copy.deepcopy(cls.shorthand))
    body: dict[str, Any] = {"anyOf": [params, shorthand]} if shorthand else params
    if cls.summary:
        body = {"description": cls.summary, **body}
    return body


def build_schema(registry: Mapping[str, type[Check]] | None = None) -> dict[str, Any]:
    registry = kinds() if registry is None else registry
    names = sorted(registry)
    timing = ("timeout", "interval", "max_interval")
    defaults = {"type": "object", "additionalProperties": False,
                "properties": {k: {"$ref": "#/$defs/duration"} for k in timing}}
    check = {
        "description": "one check: a one-key mapping, `- <kind>: <parameters>`",
        "type": "object", "minProperties": 1, "maxProperties": 1,
        "propertyNames": {"enum": names},
        "properties": {name: {"$ref": f"#/$defs/kinds/{name}"} for name in names},
    }
    stage = {
        "type": "object", "additionalProperties": False, "required": ["levels"],
        "properties": {
            "defaults": {"$ref": "#/$defs/defaults"},
            "cluster": {"$ref": "#/$defs/cluster"},
            "levels": {"type": "object", "minProperties": 1, "propertyNames": {"enum": list(LEVELS)},
                       "additionalProperties": {"type": "array", "items": {"$ref": "#/$defs/check"}},
                       "description": "1 infrastructure, 2 service health, 3 ingress and auth, 4 functional"},
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Promotion Gate spec (gate.yaml)",
        "type": "object", "additionalProperties": False, "required": ["stages"],
        "properties": {
            "defaults": {"$ref": "#/$defs/defaults"},
            "stages": {"type": "object", "minProperties": 1,
                       "additionalProperties": {"$ref": "#/$defs/stage"}},
        },
        "$defs": {
            "duration": DURATION, "defaults": defaults, "stage": stage, "check": check, "cluster": REF_SCHEMA,
            "kinds": {name: kind_schema(registry[name]) for name in names},
        },
    }


_SCHEMAS: dict[tuple[tuple[str, type[Check]], ...], dict[str, Any]] = {}


def schema_for(registry: Mapping[str, type[Check]]) -> dict[str, Any]:
    """build_schema(registry), built once per set of kinds and shared: read it, never change it."""
    key = tuple(sorted(registry.items(), key=lambda kv: kv[0]))
    if key not in _SCHEMAS:
        _SCHEMAS[key] = build_schema(registry)
    return _SCHEMAS[key]


# -- validation with readable messages --------------------------------------------------------------
_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "string", "integer": "integer",
               "number": "number", "boolean": "true or false", "null": "nothing"}


def describe(value: Any) -> str:
    """How a value is shown in "got ..."."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _types(schema_type: Any) -> str:
    names = schema_type if isinstance(schema_type, list) else [schema_type]
    return " or ".join(_TYPE_NAMES.get(n, str(n)) for n in names)


def jsonable(data: Any) -> Any:
    """Mapping keys as strings (YAML `1:` is an int), as JSON Schema sees them."""
    if isinstance(data, dict):
        return {str(k): jsonable(v) for k, v in data.items()}
    if isinstance(data, list):
        return [jsonable(v) for v in data]
    return data


def _path(error: ValidationError) -> tuple[str | int, ...]:
    """jsonschema's path with list indexes counted from 1, as yamlpos counts them."""
    return tuple(p + 1 if isinstance(p, int) else p for p in error.absolute_path)


def _leaf(error: ValidationError) -> ValidationError:
    """For anyOf/oneOf, the error of the branch the value was most likely meant for."""
    if not error.context:
        return error
    branches: dict[int, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    plausible = [errs for errs in branches.values()
                 if not any(e.validator == "type" and not e.relative_path for e in errs)]
    if not plausible:
        return error
    errs = min(plausible, key=len)
    return _leaf(min(errs, key=lambda e: len(e.relative_path)))


def _message(error: ValidationError, kinds: list[str]) -> tuple[str, tuple[str | int, ...]]:
    """A readable message, and the path it is about (an unknown key's own path, for its line)."""
    path, got, rule = _path(error), describe(error.instance), error.validator_value
    match error.validator:
        case "type":
            return f"expected {_types(rule)}, got {got}", path
        case "anyOf" | "oneOf":
            types = sorted({b.get("type") for b in rule if isinstance(b, dict) and b.get("type")})
            wanted = _types(types) if types else "a different value"
            return f"expected {wanted}, got {got}", path
        case "additionalProperties":
            allowed = sorted(error.schema.get("properties") or {})
            extra = [k for k in error.instance if k not in allowed]
            key = extra[0] if extra else ""
            listed = ", ".join(allowed) or "none"
            return f"unknown key {key!r}{_did_you_mean(key, allowed)}; allowed: {listed}", (*path, key)
        case "required":
            absent = [k for k in rule if k not in error.instance]
            return f"missing required key {absent[0]!r}" if absent else error.message, path
        case "enum" if "propertyNames" in error.schema_path:
            name = str(error.instance)
            if list(rule) == list(LEVELS):
                return f"levels are 1 to 4, got {name!r}", (*path, name)
            return (f"unknown check kind {name!r} (known: {', '.join(kinds)}){_did_you_mean(name, kinds)}",
                    (*path, name))
        case "enum":
            return f"expected one of {', '.join(map(str, rule))}, got {got}", path
        case "const":
            return f"expected {rule!r}, got {got}", path
        case "minProperties" | "maxProperties" if "check" in error.schema_path or _is_check(error):
            keys = ", ".join(map(str, error.instance)) or "none"
            return f"each check is a one-key mapping like `- pods: {{...}}`, got keys: {keys}", path
        case "minProperties":
            return "must not be empty", path
        case "minItems":
            return f"expected at least {rule} item(s), got {len(error.instance)}", path
        case "maxItems":
            return f"expected at most {rule} item(s), got {len(error.instance)}", path
        case "uniqueItems":
            return "items must be unique", path
        case "minimum" | "exclusiveMinimum" | "maximum" | "exclusiveMaximum":
            op = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
            return f"expected a number {op[error.validator]} {rule}, got {got}", path
        case "minLength":
            return f"expected at least {rule} character(s), got {got}", path
        case "pattern" if rule == DURATION["anyOf"][1]["pattern"]:
            return f"expected a duration like 30s, 5m or 1h30m, got {got}", path
        case "pattern":
            return f"expected text matching {_original_pattern(rule)}, got {got}", path
    return error.message, path


def _is_check(error: ValidationError) -> bool:
    return error.schema.get("maxProperties") == 1 and "propertyNames" in error.schema


def _did_you_mean(word: str, choices: list[str]) -> str:
    from gate.spec.settings import did_you_mean

    return did_you_mean(word, choices)


_VALIDATORS: dict[int, tuple[dict[str, Any], Draft202012Validator]] = {}


def _validator(schema: dict[str, Any]) -> Draft202012Validator:
    """The schema's validator, built once per schema object (its $refs resolved once, not per load)."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = _VALIDATORS[id(schema)] = (schema, Draft202012Validator(schema))
    return cached[1]


def first_error(data: Any, schema: dict[str, Any], file: str, positions: Positions,
                skip: list[tuple[str | int, ...]] | None = None) -> ConfigError | None:
    """The first problem in file order as a ConfigError naming file, line and key path, or None.

    Errors at or around a path in `skip` are ignored (values still waiting for a variable)."""
    found = all_errors(data, schema, file, positions, skip)
    return found[0] if found else None


def all_errors(data: Any, schema: dict[str, Any], file: str, positions: Positions,
               skip: list[tuple[str | int, ...]] | None = None) -> list[ConfigError]:
    """Every problem, in file order, one per key path, each a ConfigError naming file, line and key."""
    skip = skip or []
    kinds = sorted((schema.get("$defs") or {}).get("kinds") or {})
    found: dict[tuple[str | int, ...], tuple[int, int, str]] = {}
    leaves = [_leaf(e) for e in _validator(schema).iter_errors(jsonable(data))]
    # `level:` for `levels:` gives "unknown key" and "missing levels": the unknown key says more
    unknown_at = {_path(e) for e in leaves if e.validator == "additionalProperties"}
    for leaf in leaves:
        if leaf.validator == "required" and _path(leaf) in unknown_at:
            continue
        message, path = _message(leaf, kinds)
        if any(path[:len(s)] == s or s[:len(path)] == path for s in skip):
            continue
        entry = (positions.line(path) or 0, len(path), message)
        if path not in found or entry < found[path]:
            found[path] = entry
    ordered = sorted(found.items(), key=lambda item: (item[1][0], item[1][1]))
    return [ConfigError(message, file=file, line=line or None, key=format_path(path) or None)
            for path, (line, _, message) in ordered]


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def main() -> int:
    missing = missing_modules()
    if missing:
        print(f"warning: check modules missing, schema is incomplete: {', '.join(missing)}", file=sys.stderr)
    SCHEMA_FILE.write_text(render(build_schema()), encoding="utf-8")
    print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
