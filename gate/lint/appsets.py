"""ApplicationSets expanded into the Applications they generate, where the values are in the repository.

Argo CD renders `spec.template` once per parameter set of its generators. Lint knows the parameters of
a `list` generator (its elements) and of a `git` directory generator when the directories are in the
tree being linted (the generator's repository checked out here: `path` globs are matched under the
linted directory or the ApplicationSet file's parent directories). Parameters follow Argo CD's
fasttemplate (`{{path.basename}}`, `{{path[0]}}`, list keys) and, with `goTemplate: true`,
`{{.path.basename}}` / `{{index .path.segments N}}`. Any other generator leaves the set unexpanded:
the rules then match its template name with `{{ }}` as wildcards.
"""

from __future__ import annotations

import glob
import os
import re
from typing import Any

from gate.lint.manifests import Manifest

_GIT_KEYS = {"repoURL", "revision", "directories", "requeueAfterSeconds"}
_FAST = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list:
    return value if isinstance(value, list) else []


def _roots(appset: Manifest, given: list[str]) -> list[str]:
    """Where the generator's repository may be checked out: the file's directories upward (to the
    working directory or a linted root), then the linted roots."""
    here = os.path.dirname(os.path.abspath(appset.file))
    stops = {os.path.abspath(r) for r in given} | {os.getcwd()}
    out = [here]
    while any(here.startswith(s.rstrip(os.sep) + os.sep) for s in stops):
        here = os.path.dirname(here)
        out.append(here)
    out += [os.path.abspath(r) for r in given if os.path.abspath(r) not in out]
    return out


def _directories(gen: dict, roots: list[str]) -> list[str] | None:
    """Matching directories (relative, forward slashes) of a git directory generator, or None."""
    entries = [_dict(d) for d in _list(gen.get("directories"))]
    if not entries:
        return None
    for root in roots:
        found: list[str] = []
        for entry in entries:
            pattern = str(entry.get("path") or "")
            if not pattern or os.path.isabs(pattern) or ".." in pattern.split("/"):
                return None  # not a path inside the repository: Argo CD would not match it there either
            matches = sorted(os.path.relpath(p, root).replace(os.sep, "/")
                             for p in glob.glob(os.path.join(root, pattern)) if os.path.isdir(p))
            if entry.get("exclude") is True:
                found = [f for f in found if f not in matches]
            else:
                found += [m for m in matches if m not in found]
        if found:
            return found
    return None


def _path_params(path: str, go: bool) -> dict[str, Any]:
    segments = path.split("/")
    base = segments[-1]
    normalized = re.sub(r"[^a-z0-9-]", "-", base.lower())
    if go:
        return {"path": {"path": path, "basename": base, "basenameNormalized": normalized, "segments": segments}}
    params: dict[str, Any] = {"path": path, "path.basename": base, "path.basenameNormalized": normalized}
    params.update({f"path[{i}]": s for i, s in enumerate(segments)})
    return params


def _parameter_sets(appset: Manifest, roots: list[str]) -> list[dict[str, Any]] | None:
    go = appset.spec.get("goTemplate") is True
    out: list[dict[str, Any]] = []
    generators = _list(appset.spec.get("generators"))
    if not generators:
        return None
    for gen in generators:
        gen = _dict(gen)
        if set(gen) - {"list", "git"}:
            return None  # matrix, merge, clusters, SCM…, or a generator-level selector/template
        if "git" in gen and set(_dict(gen["git"])) - _GIT_KEYS:
            return None  # files, pathParamPrefix, values…: parameters lint does not build
        if "list" in gen:
            elements = _list(_dict(gen["list"]).get("elements"))
            if not elements or not all(isinstance(e, dict) for e in elements):
                return None
            out += [dict(e) for e in elements]
        if "git" in gen:
            found = _directories(_dict(gen["git"]), roots)
            if found is None:
                return None
            out += [_path_params(p, go) for p in found]
    return out


def _lookup(params: dict[str, Any], expression: str, go: bool) -> str | None:
    expression = expression.strip()
    if not go:
        value = params.get(expression)
        if value is None and "." in expression:  # list element values: {{values.x}} / nested keys
            value = params
            for part in expression.split("."):
                value = value.get(part) if isinstance(value, dict) else None
        return None if value is None or isinstance(value, (dict, list)) else str(value)
    m = re.fullmatch(r"index\s+\.([\w.]+)\s+(\d+)", expression)
    if m:
        seq = _dig(params, m.group(1))
        return str(seq[int(m.group(2))]) if isinstance(seq, list) and int(m.group(2)) < len(seq) else None
    if expression.startswith("."):
        value = _dig(params, expression[1:])
        return None if value is None or isinstance(value, (dict, list)) else str(value)
    return None


def _dig(params: dict[str, Any], dotted: str) -> Any:
    value: Any = params
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _render(value: Any, params: dict[str, Any], go: bool) -> Any:
    if isinstance(value, str):
        return _FAST.sub(lambda m: _lookup(params, m.group(1), go) or m.group(0), value)
    if isinstance(value, dict):
        return {k: _render(v, params, go) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, params, go) for v in value]
    return value


def expand(appset: Manifest, roots: list[str]) -> list[Manifest] | None:
    """The Applications the set generates, or None when its parameters are not all in the repository."""
    if appset.spec.get("templatePatch"):
        return None  # a Go-template patch applied per Application: not rendered here
    sets = _parameter_sets(appset, _roots(appset, roots))
    template = _dict(appset.spec.get("template"))
    if sets is None or not template:
        return None
    go = appset.spec.get("goTemplate") is True
    out = []
    for params in sets:
        rendered = _render(template, params, go)
        meta = dict(_dict(rendered.get("metadata")))
        meta.setdefault("namespace", appset.namespace)
        obj = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", "metadata": meta,
               "spec": _dict(rendered.get("spec"))}
        out.append(Manifest(obj, appset.file, appset.positions, (*appset.base, "spec", "template"), origin=appset))
    return out
