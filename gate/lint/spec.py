"""A gate spec (`gate.yaml`) checked offline, as `gate lint gate.yaml` does: the schema, `${VAR}`
references (known names, well formed; values are filled at run time, so a missing one is fine here),
and the names that become URL segments (Stage names, check `namespace` / `name` / `names`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from gate.errors import ConfigError
from gate.spec import yamlpos
from gate.spec.yamlpos import Path, format_path

# A Kubernetes object name (DNS-1123 subdomain): what a Kargo Stage, a namespace or an Application
# may be called, and so what may stand in an API URL path segment.
DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME_KEYS = ("namespace", "name")


def _url_names(data: Any) -> Iterator[tuple[Path, str, str]]:
    """(path, name, what) of every name that ends up in a URL."""
    stages = data.get("stages") if isinstance(data, dict) else None
    if not isinstance(stages, dict):
        return
    for stage, body in stages.items():
        yield ("stages", str(stage)), str(stage), "Stage name"
        levels = body.get("levels") if isinstance(body, dict) else None
        for number, items in (levels or {}).items() if isinstance(levels, dict) else ():
            for i, item in enumerate(items if isinstance(items, list) else [], start=1):
                for kind, params in (item or {}).items() if isinstance(item, dict) else ():
                    if not isinstance(params, dict):
                        continue
                    base: Path = ("stages", str(stage), "levels", str(number), i, str(kind))
                    for key in _NAME_KEYS:
                        if isinstance(params.get(key), str):
                            yield (*base, key), params[key], key
                    for j, name in enumerate(params.get("names") or [] if isinstance(params.get("names"), list)
                                             else [], start=1):
                        if isinstance(name, str):
                            yield (*base, "names", j), name, "name"


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
    for path, name, what in _url_names(raw):
        if "${" in name:
            continue
        if len(name) > 253 or not DNS1123.fullmatch(name):
            out.append((positions.line(path) or 1,
                        f"{format_path(path)}: {what} {name!r} is not a Kubernetes name (lowercase letters, digits, "
                        "'-' and '.'): it is sent as a URL path segment and no such object can exist"))
    return sorted(out)
