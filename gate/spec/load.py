"""The spec, `gate.yaml`: stages, their levels 1-4 and the checks of each level.

Loading goes: YAML with line numbers -> `${VAR}` / `${env:NAME}` substitution -> JSON Schema validation
(the first error, with file, line and key path) -> Spec. Settings variables the spec uses but that have
no value are resolved once through `resolve_missing` (lazy discovery), and only then is the spec
validated in full; schema errors elsewhere in the file are reported before anything touches a cluster.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gate import redact
from gate.checks.base import Check
from gate.engine import durations
from gate.engine.plan import DEFAULT_INTERVAL, DEFAULT_MAX_INTERVAL, DEFAULT_TIMEOUT, Plan, PlannedCheck
from gate.errors import ConfigError
from gate.spec.settings import KEY_OF_VARIABLE, Settings, did_you_mean
from gate.spec.yamlpos import Limits, Path, Positions, format_path
from gate.spec.yamlpos import load as load_yaml

DEFAULT_SPEC = "gate.yaml"
COMMON_KEYS = ("name", "timeout", "interval", "max_interval", "cluster")
_REF = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Kinds = Mapping[str, type[Check]]


@dataclass
class CheckSpec:
    kind: str
    value: Any  # what the spec says after substitution: params or a shorthand
    level: int
    path: Path
    line: int | None


@dataclass
class StageSpec:
    name: str
    levels: dict[int, list[CheckSpec]]
    defaults: dict[str, float] = field(default_factory=dict)
    cluster: Any = None  # gate.cluster.destinations.ClusterRef from the stage's `cluster:`


@dataclass
class Spec:
    defaults: dict[str, float]
    stages: dict[str, StageSpec]
    source: str
    settings: Settings  # after lazy discovery: the values the spec was filled with
    kinds: Kinds = field(default_factory=dict, repr=False)
    # stage -> the `${VAR}` names and `${env:NAME}` references ("env:NAME") its checks use, as parsed
    references: dict[str, set[str]] = field(default_factory=dict, repr=False)
    # stages read for another one (load_spec's `stage`) whose references stayed unfilled: never planned
    unfilled: set[str] = field(default_factory=set, repr=False)

    def env_names(self, stage: str) -> list[str]:
        """The NAMEs of the `${env:NAME}` references in `stage` (not in comments, not in other stages)."""
        return sorted(r[4:] for r in self.references.get(stage, ()) if r.startswith("env:"))

    def variable_names(self, stage: str) -> list[str]:
        """The `${VAR}` settings variables `stage` uses."""
        return sorted(r for r in self.references.get(stage, ()) if not r.startswith("env:"))

    def plan(self, stage: str, levels: set[int] | None = None) -> Plan:
        """The checks of `stage` (only `levels` when given), ready for the runner."""
        spec = self.stages.get(stage)
        if stage in self.unfilled:  # fail closed: its checks would see `${VAR}`s instead of values
            raise ConfigError(f"stage {stage!r} was not loaded with its values (the spec was read for another "
                              "stage)", file=self.source, key="--stage")
        if spec is None:
            names = ", ".join(self.stages) or "none"
            raise ConfigError(f"unknown stage {stage!r}{did_you_mean(stage, list(self.stages))}; "
                              f"stages in this spec: {names}", file=self.source, key="--stage")
        chosen = {n: c for n, c in spec.levels.items() if not levels or n in levels}
        if levels and not chosen:
            have = ", ".join(str(n) for n in sorted(spec.levels)) or "none"
            raise ConfigError(f"stage {stage!r} has no level {', '.join(map(str, sorted(levels)))} "
                              f"(its levels: {have})", file=self.source, key="--levels")
        timing = {"timeout": DEFAULT_TIMEOUT, "interval": DEFAULT_INTERVAL,
                  "max_interval": DEFAULT_MAX_INTERVAL, **self.defaults, **spec.defaults}
        plan = Plan(stage=stage, source=self.source)
        used: dict[str, int] = {}
        for number in sorted(chosen):
            plan.levels[number] = [self._planned(c, stage, timing, used) for c in chosen[number]]
        _place(plan, spec.cluster)
        return plan

    def _planned(self, item: CheckSpec, stage: str, timing: dict[str, float],
                 used: dict[str, int]) -> PlannedCheck:
        cls = self.kinds[item.kind]
        value = item.value
        common: dict[str, Any] = {}
        if isinstance(value, dict):
            # a key the check declares itself (the `secret` check's `name`) stays a parameter
            own = set(cls.schema.get("properties") or {})
            common = {k: value[k] for k in COMMON_KEYS if k in value}
            value = {k: v for k, v in value.items() if k not in COMMON_KEYS or k in own}
            if "name" in own:
                common.pop("name", None)
        where = {"file": self.source, "line": item.line, "key": format_path(item.path)}
        try:
            params = cls.normalize(value)
            if "stage" in (cls.schema.get("properties") or {}) and "stage" not in params:
                params["stage"] = stage
            check = cls(params, name=common.get("name"))
            check.origin = where
            check.apply_settings(self.settings)
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"invalid {item.kind} check: {exc}", **where) from None
        times = dict(timing)
        for key in ("timeout", "interval", "max_interval"):
            if key in common:
                times[key] = _duration(common[key], file=self.source, line=item.line,
                                       key=format_path((*item.path, key)))
        base = f"L{item.level}.{item.kind}.{check.ident()}"
        used[base] = used.get(base, 0) + 1
        ident = base if used[base] == 1 else f"{base}-{used[base]}"
        return PlannedCheck(check=check, level=item.level, id=ident, timeout=times["timeout"],
                            interval=times["interval"], max_interval=times["max_interval"],
                            cluster=_own_cluster(item, common.get("cluster"), where))


def _own_cluster(item: CheckSpec, raw: Any, where: dict[str, Any]) -> Any:
    """A check's own `cluster:`; the kinds that read Kargo or Argo CD take none (the control plane)."""
    if raw is None:
        return None
    from gate.cluster.destinations import CONTROL_PLANE_KINDS, parse_ref

    if item.kind in CONTROL_PLANE_KINDS:
        raise ConfigError(f"a {item.kind} check reads Kargo or Argo CD, which live in the control plane: "
                          f"`cluster:` does not apply to it", **where)
    return parse_ref(raw, **where)


def _place(plan: Plan, stage_cluster: Any) -> None:
    """The stage's `cluster:` for every check without its own, but the control-plane kinds."""
    if stage_cluster is None:
        return
    from gate.cluster.destinations import CONTROL_PLANE_KINDS

    for checks in plan.levels.values():
        for planned in checks:
            if planned.cluster is None and planned.check.kind not in CONTROL_PLANE_KINDS:
                planned.cluster = stage_cluster


def _duration(value: Any, **where: Any) -> float:
    try:
        return durations.parse(value)
    except ValueError as exc:
        raise ConfigError(str(exc), **where) from None


# -- substitution ----------------------------------------------------------------------------------
@dataclass
class _Substitution:
    """Fills `${VAR}` and `${env:NAME}`; records where a value was missing instead of failing, so
    schema errors can be reported first. With a `scope` (a stage's path), a value missing outside it is
    no error: its reference stays as written, for a run of another stage to fill."""

    variables: dict[str, str]
    env: Mapping[str, str]
    file: str
    positions: Positions
    scope: Path | None = None
    used: list[tuple[str, Path]] = field(default_factory=list)  # every reference ("env:NAME" or VAR)
    missing_vars: dict[str, Path] = field(default_factory=dict)  # first use of each
    missing_env: dict[str, Path] = field(default_factory=dict)
    tainted: list[Path] = field(default_factory=list)
    errors: list[ConfigError] = field(default_factory=list)  # reported together with the schema's

    def apply(self, data: Any, path: Path = ()) -> Any:
        if isinstance(data, dict):
            return {k: self.apply(v, (*path, str(k))) for k, v in data.items()}
        if isinstance(data, list):
            return [self.apply(v, (*path, i)) for i, v in enumerate(data, start=1)]
        if isinstance(data, str) and "$" in data:
            return self._text(data, path)
        return data

    def _text(self, text: str, path: Path) -> str:
        missing = False

        def one(match: re.Match[str]) -> str:
            nonlocal missing
            token = match.group(0)
            if token == "$${":
                return "${"
            if match.group(1) is None:
                self._error(f"unterminated '${{' in {text!r} (write '$${{' for a literal '${{')", path)
                missing = True
                return token
            name = match.group(1).strip()
            value = self._lookup(name, path)
            if value is None:
                missing = True
                return token
            return value

        result = _REF.sub(one, text)
        if missing:
            self.tainted.append(path)
        return result

    def _in_scope(self, path: Path) -> bool:
        return self.scope is None or path[:len(self.scope)] == self.scope

    def _lookup(self, name: str, path: Path) -> str | None:
        if name.startswith("env:"):
            env = name[4:].strip()
            if not _ENV_NAME.match(env):
                self._error(f"'${{{name}}}' is not an environment variable reference like ${{env:NAME}}", path)
                return None
            self.used.append((f"env:{env}", path))
            value = self.env.get(env)
            if value is None and self._in_scope(path):
                self.missing_env.setdefault(env, path)
            else:
                redact.register(value, name=f"${{env:{env}}}")  # before anything can print it
            return value
        if name not in KEY_OF_VARIABLE:
            known = ", ".join(sorted(KEY_OF_VARIABLE))
            self._error(f"unknown variable ${{{name}}}{did_you_mean(name, list(KEY_OF_VARIABLE))}; "
                        f"known: {known}, and ${{env:NAME}}", path)
            return None
        self.used.append((name, path))
        value = self.variables.get(name)
        if value is None and self._in_scope(path):
            self.missing_vars.setdefault(name, path)
        return value

    def _error(self, message: str, path: Path) -> None:
        self.errors.append(ConfigError(message, file=self.file, line=self.positions.line(path),
                                       key=format_path(path)))


def _missing_setting_error(var: str, path: Path, sub: _Substitution, settings: Settings,
                           discovered: bool) -> ConfigError:
    key = KEY_OF_VARIABLE[var]
    line = sub.positions.line(path)
    tried = " and could not be discovered" if discovered else ""
    note = settings.notes.get(key)
    why = f" ({note})" if note and discovered else ""
    err = ConfigError(f"${{{var}}} is used at {sub.file}:{line} ({format_path(path)}) but {key} is not set"
                      f"{tried}{why}: {settings.hint(key)}")
    err.file, err.line, err.key = sub.file, line, format_path(path)
    return err


# A spec of 20,000 checks is ~60,000 values; one of 50,000 stages is refused before it is parsed (it took
# 10.7 s and 260 MB to refuse after composing it).
SPEC_LIMITS = Limits(max_nodes=100_000)


# -- loading ---------------------------------------------------------------------------------------
def load_spec(path: str | None, settings: Settings, *,
              resolve_missing: Callable[[set[str]], Settings] | None = None,
              kinds: Kinds | None = None, env: Mapping[str, str] | None = None,
              stage: str | None = None) -> Spec:
    """Read, substitute and validate the spec. `kinds` and `env` default to the check registry and
    os.environ. With `stage`, only that stage's `${VAR}`s and `${env:NAME}`s must have values: a run of
    one stage (a verification Job holds that stage's secrets only) is not stopped by another's."""
    from gate.spec.schema import all_errors, schema_for
    from gate.spec.schema import kinds as registry_kinds

    file = path or DEFAULT_SPEC
    if not os.path.isfile(file):
        hint = "" if path else " (pass --spec, or create gate.yaml)"
        what = "not a regular file" if os.path.exists(file) else "spec file not found"
        raise ConfigError(f"{what}{hint}", file=file, key="--spec" if path else None)
    raw, positions = load_yaml(file, SPEC_LIMITS)
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(f"expected a mapping, got {_kind(raw)}; a gate spec is a mapping with `stages:`", file=file,
                          line=positions.line(()))
    kinds = registry_kinds() if kinds is None else kinds
    schema = schema_for(kinds)  # built and compiled once per process
    env = os.environ if env is None else env

    scope: Path | None = None if stage is None else ("stages", stage)
    sub = _Substitution(settings.variables(), env, file, positions, scope)
    data = sub.apply(raw)
    _register_urls(data)  # before any message may quote one
    problems = sub.errors + all_errors(data, schema, file, positions, skip=sub.tainted)
    problems += [ConfigError(f"environment variable {name} is not set (used as ${{env:{name}}})",
                             file=file, line=positions.line(where), key=format_path(where))
                 for name, where in sorted(sub.missing_env.items(), key=lambda i: positions.line(i[1]) or 0)]
    raise_all(problems, file)
    _register_identifiers(raw, data, settings)
    if sub.missing_vars:
        keys = {KEY_OF_VARIABLE[v] for v in sub.missing_vars}
        discovered = resolve_missing is not None
        if resolve_missing is not None:
            settings = resolve_missing(keys)
        still = {v: p for v, p in sub.missing_vars.items() if settings.get(KEY_OF_VARIABLE[v]) is None}
        raise_all([_missing_setting_error(var, where, sub, settings, discovered)
                   for var, where in still.items()], file)
        sub = _Substitution(settings.variables(), env, file, positions, scope)
        data = sub.apply(raw)
        _register_urls(data)
        raise_all(all_errors(data, schema, file, positions, skip=sub.tainted), file)
    spec = _build(data, file, positions, settings, kinds)
    for name, where in sub.used:
        if len(where) > 1 and where[0] == "stages":
            spec.references.setdefault(str(where[1]), set()).add(name)
    spec.unfilled = {str(where[1]) for where in sub.tainted if len(where) > 1 and where[0] == "stages"}
    return spec


def _register_urls(data: Any) -> None:
    """Every URL the spec holds (a check's url, a header, a command argument): its userinfo and credential
    query values are secrets (redact.register_url)."""
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "://" in item:
                redact.register_url(item)
        elif isinstance(item, dict):
            stack += list(item.values())
        elif isinstance(item, list):
            stack += item


# Check parameters that name objects, keys and places: the gate prints them, and they are not secret.
IDENTIFIER_KEYS = frozenset({"namespace", "name", "names", "keys", "stage", "project", "service", "selector",
                             "host", "apps", "app", "crds"})


def _register_identifiers(raw: Any, data: Any, settings: Settings) -> None:
    """Names the gate prints (redact.register_identifier), so a short secret value is not masked inside
    them: the stage names, the settings' values, and each check's identifying parameters, except any
    written with `${env:…}` (its value may be a secret, or part of one)."""
    from gate.spec.settings import NAME_RULES

    for key in NAME_RULES:  # namespaces, project, warehouse, domain (not ssh_command: free text)
        redact.register_identifier(settings.get(key))
    raw_stages = raw.get("stages") if isinstance(raw, dict) else None
    for name, body in ((data or {}).get("stages") or {}).items():
        redact.register_identifier(str(name))
        raw_body = (raw_stages or {}).get(name) if isinstance(raw_stages, dict) else None
        for number, items in ((body or {}).get("levels") or {}).items():
            raw_items = ((raw_body or {}).get("levels") or {}).get(number) if isinstance(raw_body, dict) else None
            for i, item in enumerate(items or []):
                raw_item = raw_items[i] if isinstance(raw_items, list) and i < len(raw_items) else None
                for kind, params in (item or {}).items():
                    raw_params = raw_item.get(kind) if isinstance(raw_item, dict) else None
                    _register_params(params, raw_params)


def _register_params(params: Any, raw: Any) -> None:
    if isinstance(params, list):  # a shorthand list of names (crds, argocd_apps)
        pairs = [(v, raw[i] if isinstance(raw, list) and i < len(raw) else None) for i, v in enumerate(params)]
    elif isinstance(params, dict):
        pairs = [(v, (raw or {}).get(k) if isinstance(raw, dict) else None)
                 for k, v in params.items() if k in IDENTIFIER_KEYS]
    else:
        pairs = [(params, raw)]
    for value, written in pairs:
        values = value if isinstance(value, list) else [value]
        texts = written if isinstance(written, list) else [written]
        if any(isinstance(t, str) and "${env:" in t.replace(" ", "") for t in texts) or written is None:
            continue  # from the environment (or not found in the file as written): never protected
        for item in values:
            if isinstance(item, str):
                redact.register_identifier(item)


MAX_ERRORS = 20  # spec problems listed in one run; the rest are counted


def raise_all(problems: list[ConfigError], file: str) -> None:
    """Raise every problem of the spec at once (in file order, up to MAX_ERRORS): one run shows them all.
    A single problem is raised as it is; several become one ConfigError that lists them, one a line,
    carrying the first one's file, line and key."""
    if not problems:
        return
    problems = sorted(problems, key=lambda p: (p.line or 0, p.key or ""))
    if len(problems) == 1:
        raise problems[0]
    lines = [f"  {p}" for p in problems[:MAX_ERRORS]]
    if len(problems) > MAX_ERRORS:
        lines.append(f"  …and {len(problems) - MAX_ERRORS} more")
    err = ConfigError(f"{len(problems)} problems in {file}:\n" + "\n".join(lines))
    first = problems[0]
    err.file, err.line, err.key, err.problems = first.file, first.line, first.key, problems  # type: ignore[attr-defined]
    raise err


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "text" if len(value) > 40 else f"text {value!r}"
    return f"{type(value).__name__} {value!r}"


def _defaults(data: Any, file: str, positions: Positions, path: Path) -> dict[str, float]:
    return {k: _duration(v, file=file, line=positions.line((*path, k)), key=format_path((*path, k)))
            for k, v in (data or {}).items()}


def _stage_cluster(raw: Any, file: str, positions: Positions, stage_path: Path) -> Any:
    if raw is None:
        return None
    from gate.cluster.destinations import parse_ref

    path = (*stage_path, "cluster")
    return parse_ref(raw, file=file, line=positions.line(path), key=format_path(path))


def _build(data: dict, file: str, positions: Positions, settings: Settings, kinds: Kinds) -> Spec:
    stages: dict[str, StageSpec] = {}
    for name, body in (data.get("stages") or {}).items():
        stage_path: Path = ("stages", str(name))
        levels: dict[int, list[CheckSpec]] = {}
        for number, items in (body.get("levels") or {}).items():
            level = int(number)
            items_path: Path = (*stage_path, "levels", str(number))
            levels[level] = [CheckSpec(kind, value, level, (*items_path, i, kind),
                                       positions.line((*items_path, i)))
                             for i, item in enumerate(items or [], start=1) for kind, value in item.items()]
        own = _defaults(body.get("defaults"), file, positions, (*stage_path, "defaults"))
        stages[str(name)] = StageSpec(str(name), dict(sorted(levels.items())), own,
                                      _stage_cluster(body.get("cluster"), file, positions, stage_path))
    return Spec(_defaults(data.get("defaults"), file, positions, ("defaults",)), stages, file, settings,
                dict(kinds))
