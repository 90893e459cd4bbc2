"""A gate spec (`gate.yaml`) checked offline, as `gate lint gate.yaml` does: the schema, `${VAR}`
references (known names, well formed; values are filled at run time, so a missing one is fine here),
and the names that become URL segments of API requests (Stage names, a check's `namespace`, the object
`names` it lists; a check's `name` is its display name and is not checked)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from gate.errors import ConfigError
from gate.spec import yamlpos
from gate.spec.yamlpos import Path, format_path

# A Kargo Stage name (a Kubernetes object name, DNS-1123 subdomain): it is a URL segment of Kargo API calls.
DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _checks(data: Any) -> Iterator[tuple[Path, str, dict]]:
    """(path, kind, params) of every check item of the spec."""
    stages = data.get("stages") if isinstance(data, dict) else None
    for stage, body in stages.items() if isinstance(stages, dict) else ():
        levels = body.get("levels") if isinstance(body, dict) else None
        for number, items in levels.items() if isinstance(levels, dict) else ():
            for i, item in enumerate(items if isinstance(items, list) else [], start=1):
                for kind, params in item.items() if isinstance(item, dict) else ():
                    if isinstance(params, dict):
                        yield ("stages", str(stage), "levels", str(number), i, str(kind)), str(kind), params


def _segment_problems(data: Any, kinds: dict) -> Iterator[tuple[Path, str]]:
    """Names that become URL path segments, checked by each check's own `segments` rules (checks/base.py),
    as the gate checks them when it builds the check."""
    from gate.cluster.resources import check_segments

    stages = data.get("stages") if isinstance(data, dict) else None
    for stage in stages if isinstance(stages, dict) else ():
        name = str(stage)
        if "${" not in name and (len(name) > 253 or not DNS1123.fullmatch(name)):
            yield ("stages", name), (f"Stage name {name!r} is not a Kubernetes name (lowercase letters, digits, "
                                     "'-' and '.'): it is sent as a URL path segment and no such Stage can exist")
    for path, kind, params in _checks(data):
        cls = kinds.get(kind)
        for key, rule in (getattr(cls, "segments", None) or {}).items():
            try:
                check_segments({key: params.get(key)}, {key: rule})
            except ValueError as exc:
                yield (*path, key), str(exc)


def problems(file: str, text: str) -> list[tuple[int, str]]:
    """(line, message) of every problem, in file order."""
    from gate.spec.load import _Substitution
    from gate.spec.schema import all_errors, schema_for
    from gate.spec.schema import kinds as registry_kinds

    try:
        raw, positions = yamlpos.loads(text, file)
    except ConfigError as exc:
        return [(exc.line or 1, exc.detail)]
    sub = _Substitution({}, {}, file, positions)  # offline: every value is still to come
    data = sub.apply(raw)
    errors: list[ConfigError] = list(sub.errors)
    errors += all_errors(data, schema_for(registry_kinds()), file, positions, skip=sub.tainted)
    out = [(e.line or 1, f"{e.key}: {e.detail}" if e.key else e.detail) for e in errors]
    out += [(positions.line(path) or 1, f"{format_path(path)}: {message}")
            for path, message in _segment_problems(raw, dict(registry_kinds()))]
    return sorted(out)
