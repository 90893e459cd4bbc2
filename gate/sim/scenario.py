"""Scenario files: the objects of a simulated cluster, its tokens and RBAC, logs, service targets,
a timeline of changes and faults. See gate/sim/scenarios/healthy.yaml for the shape.

Objects are written as `kubectl get -o yaml` prints them: single objects, `List`s, multi-document
files (`files:`). A child may `extends:` another scenario and add `objects`, `patches` (merge patches
applied at load), `remove`, and its own timeline/faults. Strings like `"${now}"` or `"${now-30s}"`
become RFC 3339 timestamps when the object is loaded or the timeline entry applied.

`generate:` (one block or a list) makes many objects from a template instead of listing them:
`{kind: Pod, apiVersion: v1, count: 20000, template: {metadata: {name: "web-{i}"}, ...}}`; in every
string of the template `{i}` is the object's index (0 to count-1), `{i:05d}` formats it, and `{i%7}`
is the index modulo 7 (to spread objects over labels or namespaces).

`controllers: false` (or per controller, `{kargo: false, argocd: true}`) decides which simulated
controllers run; see `controllers_enabled` and gate/sim/README.md.
"""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from gate.engine import durations

HERE = Path(__file__).parent
SCENARIOS = HERE / "scenarios"
CRD_DIR = HERE / "crds"

CRD_SETS: dict[str, list[str]] = {
    "kargo": [
        f"kargo.akuity.io_{n}.yaml"
        for n in ("stages", "freights", "promotions", "projects", "warehouses", "projectconfigs")
    ],
    "kargo-legacy": [f"legacy/kargo.akuity.io_{n}.yaml" for n in ("stages", "freights", "promotions")]
    + [f"kargo.akuity.io_{n}.yaml" for n in ("projects", "warehouses", "projectconfigs")],
    "argocd": ["application-crd.yaml", "appproject-crd.yaml", "applicationset-crd.yaml"],
    "argocd-apps": ["application-crd.yaml", "appproject-crd.yaml"],
    "rollouts": ["analysis-template-crd.yaml", "cluster-analysis-template-crd.yaml", "analysis-run-crd.yaml"],
}

_crd_cache: dict[str, dict] = {}
_NOW = re.compile(r"\$\{now(?:\s*([+-])\s*([0-9a-z.]+))?\}")


class ScenarioError(ValueError):
    pass


def builtin_names() -> list[str]:
    return sorted(p.stem for p in SCENARIOS.glob("*.yaml"))


def _load_vendored(path: Path) -> list[Any]:
    """The CRDs shipped with the simulator: trusted, large, parsed with the C loader."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open() as fh:
        return [d for d in yaml.load_all(fh, Loader=loader) if d is not None]


def _load_yaml(path: Path) -> list[Any]:
    """A scenario or objects file a user may have written: bounded (size, depth, alias expansion) and
    any problem a ScenarioError naming the file and line."""
    from gate.errors import ConfigError
    from gate.spec.yamlpos import loads_all, read

    try:
        return loads_all(read(str(path)), str(path))
    except ConfigError as exc:
        raise ScenarioError(str(exc)) from None


def crd_objects(sets: list[str]) -> list[dict]:
    """Parsed vendored CRDs for the named sets (parsed once per process)."""
    out: list[dict] = []
    seen: set[str] = set()
    for name in sets:
        if name not in CRD_SETS:
            raise ScenarioError(f"unknown CRD set {name!r} (known: {', '.join(sorted(CRD_SETS))})")
        for rel in CRD_SETS[name]:
            if rel in seen:
                continue
            seen.add(rel)
            if rel not in _crd_cache:
                _crd_cache[rel] = normalize(_load_vendored(CRD_DIR / rel)[0])
            out.append(_crd_cache[rel])
    return out


def normalize(value: Any) -> Any:
    """YAML timestamps back to the strings kubectl printed."""
    if isinstance(value, dict):
        return {str(k): normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def render_time(value: Any, now: datetime | None = None) -> Any:
    """Replace `${now}`, `${now-30s}`, `${now+2m}` in every string. Always a fresh copy of `value`."""
    now = now or datetime.now(UTC)
    if isinstance(value, list):
        return [_render_object(v, now) for v in value]
    return _render_object(value, now)


def _render_object(value: Any, now: datetime) -> Any:
    """One object: copied through JSON (fast, in C) when it holds no `${now`, else walked."""
    if isinstance(value, (dict, list)):
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            text = "${now"
        if "${now" not in text:
            return json.loads(text)
    return _render_walk(value, now)


def _render_walk(value: Any, now: datetime) -> Any:

    def sub(m: re.Match) -> str:
        delta = timedelta(seconds=_offset(m.group(2))) if m.group(2) else timedelta()
        when = now - delta if m.group(1) == "-" else now + delta
        return when.strftime("%Y-%m-%dT%H:%M:%SZ")

    if isinstance(value, str):
        return _NOW.sub(sub, value) if "${now" in value else value
    if isinstance(value, dict):
        return {k: _render_walk(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_walk(v, now) for v in value]
    return value


def _offset(text: str) -> float:
    """A duration that may also use days (`30d`, `2d12h`)."""
    days = re.match(r"^(\d+)d(.*)$", text)
    if days:
        return int(days.group(1)) * 86400 + (durations.parse(days.group(2)) if days.group(2) else 0)
    return durations.parse(text)


def flatten(docs: list[Any]) -> list[dict]:
    """Single objects and `List`s (kind List or *List with items) into a flat list of objects."""
    out: list[dict] = []
    for doc in docs:
        if not isinstance(doc, dict):
            raise ScenarioError(f"an object must be a mapping, got {type(doc).__name__}")
        if "items" in doc and str(doc.get("kind", "List")).endswith("List"):
            out.extend(flatten(doc.get("items") or []))
        else:
            out.append(doc)
    return out


MAX_GENERATED = 200_000
_INDEX = re.compile(r"\{i(?:%(\d+))?(?::([^{}]*))?\}")


def generate(blocks: Any) -> list[dict]:
    """The objects of a scenario's `generate:` blocks (see the module docstring)."""
    if blocks is None:
        return []
    out: list[dict] = []
    for block in blocks if isinstance(blocks, list) else [blocks]:
        if not isinstance(block, dict) or not isinstance(block.get("template") or {}, dict):
            raise ScenarioError("a `generate` block is a mapping with kind, count and a template mapping")
        count = block.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_GENERATED:
            raise ScenarioError(f"generate: count must be an integer from 0 to {MAX_GENERATED}, got {count!r}")
        template = copy.deepcopy(block.get("template") or {})
        for key in ("kind", "apiVersion"):
            if block.get(key):
                template.setdefault(key, block[key])
        if not template.get("kind") or not (template.get("metadata") or {}).get("name"):
            raise ScenarioError("generate: the template needs a kind and a metadata.name (e.g. \"web-{i}\")")
        out.extend(_instances(template, count))
    return out


def _instances(template: dict, count: int) -> list[dict]:
    """`count` fresh objects from `template`: its JSON text with the `{i}` forms filled, parsed (in C)."""
    try:
        text = json.dumps(template)
    except (TypeError, ValueError) as exc:
        raise ScenarioError(f"generate: the template is not plain data: {exc}") from None
    pieces = _INDEX.split(text)  # [text, modulo, format, text, modulo, format, ..., text]
    if len(pieces) == 1:
        return [json.loads(text) for _ in range(count)]
    forms = [(int(m) if m else None, f or "") for m, f in zip(pieces[1::3], pieces[2::3], strict=True)]
    for modulo, spec in forms:
        if modulo == 0:
            raise ScenarioError("generate: `{i%0}` divides by zero")
        try:
            format(1, spec)
        except ValueError as exc:
            raise ScenarioError(f"generate: bad index format {spec!r}: {exc}") from None
    texts = pieces[0::3]
    out = []
    for i in range(count):
        parts = [texts[0]]
        for (modulo, spec), after in zip(forms, texts[1:], strict=True):
            parts.append(json.dumps(format(i % modulo if modulo else i, spec))[1:-1])
            parts.append(after)
        out.append(json.loads("".join(parts)))
    return out


def identity(obj: dict) -> tuple[str, str, str, str]:
    meta = obj.get("metadata") or {}
    return (obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))


def resolve(scenario: str | Path | dict) -> dict:
    """A fully merged scenario dict (extends resolved, files read, objects flattened)."""
    if isinstance(scenario, dict):
        return _resolve_dict(copy.deepcopy(scenario), base=Path.cwd(), depth=0)
    path = Path(scenario)
    if not path.exists():
        candidate = SCENARIOS / f"{scenario}.yaml"
        if not candidate.exists():
            raise ScenarioError(
                f"no scenario file or built-in scenario named {str(scenario)!r} "
                f"(built-in: {', '.join(builtin_names())})"
            )
        path = candidate
    return _resolve_file(path, 0)


def _resolve_file(path: Path, depth: int) -> dict:
    docs = _load_yaml(path)
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise ScenarioError(f"{path}: a scenario file holds one mapping")
    data = normalize(docs[0])
    data.setdefault("name", path.stem)
    return _resolve_dict(data, base=path.parent, depth=depth)


def _resolve_dict(data: dict, base: Path, depth: int) -> dict:
    if depth > 8:
        raise ScenarioError("scenario `extends` chain is too deep")
    objects = flatten(data.get("objects") or []) + generate(data.get("generate"))
    for rel in data.get("files") or []:
        objects += flatten(normalize(_load_yaml(base / rel)))
    parent_name = data.get("extends")
    if parent_name:
        parent_path = (
            base / parent_name if (base / str(parent_name)).is_file() else SCENARIOS / f"{parent_name}.yaml"
        )
        if not parent_path.exists():
            raise ScenarioError(f"scenario {data.get('name')!r} extends unknown scenario {parent_name!r}")
        parent = _resolve_file(parent_path, depth + 1)
    else:
        parent = {}
    merged_objects = {identity(o): o for o in parent.get("objects", [])}
    for obj in objects:
        merged_objects[identity(obj)] = obj
    for ref in data.get("remove") or []:
        merged_objects = {k: v for k, v in merged_objects.items() if not _same(k, ref)}
    for patch in data.get("patches") or []:
        targets = [k for k in merged_objects if _same(k, patch)]
        if not targets:
            raise ScenarioError(f"patch target not found: {identity(patch)}")
        from gate.sim.store import merge

        for k in targets:
            merged_objects[k] = merge(merged_objects[k], patch)
    out = {
        "name": data.get("name") or parent.get("name", "scenario"),
        "description": data.get("description", parent.get("description", "")),
        "speed": float(data.get("speed", parent.get("speed", 1.0))),
        "crds": list(dict.fromkeys([*parent.get("crds", []), *(data.get("crds") or [])])),
        "objects": list(merged_objects.values()),
        "tokens": {**parent.get("tokens", {}), **(data.get("tokens") or {})},
        "rbac": {**parent.get("rbac", {}), **(data.get("rbac") or {})},
        "logs": {**parent.get("logs", {}), **(data.get("logs") or {})},
        "services": {**parent.get("services", {}), **(data.get("services") or {})},
        "timeline": [*parent.get("timeline", []), *(data.get("timeline") or [])],
        "faults": [*parent.get("faults", []), *(data.get("faults") or [])],
        "settings": {**parent.get("settings", {}), **(data.get("settings") or {})},
        "gate_token": data.get("gate_token", parent.get("gate_token", "gate-token")),
        "admin_token": data.get("admin_token", parent.get("admin_token", "admin-token")),
    }
    for key in set(parent) | set(data):  # blocks other parts of the simulator read (e.g. `kargo:`)
        if key in out or key in _LOAD_ONLY:
            continue
        mine, theirs = data.get(key), parent.get(key)
        if isinstance(mine, dict) and isinstance(theirs, dict):
            out[key] = {**theirs, **mine}
        else:
            out[key] = mine if key in data else theirs
    return out


_LOAD_ONLY = {"extends", "files", "patches", "remove", "generate"}
CONTROLLERS = ("kargo", "argocd")


CONTROLLER_DEFAULTS = {"kargo": True, "argocd": False}


def controllers_enabled(scenario: dict) -> dict[str, bool]:
    """The scenario's `controllers:` switch: `false` (a bare API server: the world is served exactly as
    written), `true` (every simulated controller), or per controller, e.g. `{kargo: false, argocd: true}`;
    when absent, the Kargo controller runs and the Argo CD one does not.

    `kargo` is the simulated Kargo controller (gate/sim/kargo_controller.py); `argocd` the simulated
    Argo CD application controller (gate/sim/argocd_controller.py): with it, a Promotion's argocd-update
    step requests a sync and Argo CD records it in `status.operationState`; without it, Applications
    change only through the timeline, as before. The timeline still applies either way: it is the
    scenario's own script, not a controller."""
    raw = scenario.get("controllers")
    if raw is None:
        return dict(CONTROLLER_DEFAULTS)
    if isinstance(raw, bool):
        return dict.fromkeys(CONTROLLERS, raw)
    if not isinstance(raw, dict):
        raise ScenarioError(f"controllers: expected true, false or a mapping, got {raw!r}")
    unknown = sorted(set(raw) - set(CONTROLLERS))
    if unknown:
        raise ScenarioError(f"controllers: unknown controller {unknown[0]!r} (known: {', '.join(CONTROLLERS)})")
    out = dict(CONTROLLER_DEFAULTS)
    for name, value in raw.items():
        if not isinstance(value, bool):
            raise ScenarioError(f"controllers.{name}: expected true or false, got {value!r}")
        out[name] = value
    return out


def _same(key: tuple[str, str, str, str], ref: dict) -> bool:
    want = identity(ref)
    return (
        key[1] == want[1] and key[3] == want[3] and key[2] == want[2] and (not want[0] or key[0] == want[0])
    )


def timeline_entries(scenario: dict) -> list[tuple[float, dict]]:
    """(scenario seconds, entry) sorted by time."""
    out = []
    for entry in scenario.get("timeline") or []:
        at = durations.parse(entry.get("at", 0))
        out.append((at, entry))
    return sorted(out, key=lambda item: item[0])
