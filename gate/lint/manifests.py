"""Kubernetes manifests from files, directories and standard input, each with the line of every key.

Multi-document YAML (`---`), `kind: List` documents (as `kubectl get -o yaml` prints them) and
directories (every *.yaml / *.yml / *.json below, sorted) are read. Unreadable input is a ConfigError
(exit 2) naming the file and line; documents that are not Kubernetes objects (no kind/apiVersion) are
left out, as kubectl would refuse them anyway.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TextIO

import yaml

from gate.errors import ConfigError
from gate.spec import yamlpos
from gate.spec.yamlpos import Path, Positions

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"


@dataclass
class Manifest:
    """One Kubernetes object and where it was read."""

    obj: dict
    file: str
    positions: Positions
    base: Path = ()  # the object's path inside its document (items of a List)

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind") or "")

    @property
    def meta(self) -> dict:
        meta = self.obj.get("metadata")
        return meta if isinstance(meta, dict) else {}

    @property
    def name(self) -> str:
        return str(self.meta.get("name") or "")

    @property
    def namespace(self) -> str:
        return str(self.meta.get("namespace") or "")

    @property
    def annotations(self) -> dict:
        ann = self.meta.get("annotations")
        return ann if isinstance(ann, dict) else {}

    @property
    def spec(self) -> dict:
        spec = self.obj.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def ref(self) -> str:
        """`Kind/namespace/name` (or `Kind/name` for cluster-scoped objects)."""
        return "/".join(p for p in (self.kind, self.namespace, self.name) if p)

    def line(self, *path: str | int) -> int:
        """Line of a key path inside the object; list indexes count from 0 as in JSON paths."""
        parts: list[str | int] = list(self.base)
        parts += [p + 1 if isinstance(p, int) else p for p in path]
        return self.positions.line(parts) or 1


def _documents(text: str, file: str) -> Iterator[tuple[Any, Positions]]:
    loader = yamlpos._Loader(text)
    loader.file = file
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = yamlpos._construct(loader, node)  # size limit; a too-long integer is exit 2
            lines: dict[Path, int] = {(): node.start_mark.line + 1}
            yamlpos._walk(loader, node, (), lines)
            yield data, Positions(lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", column {mark.column + 1}" if mark else ""
        raise ConfigError(f"not valid YAML{where}: {exc.problem or exc.context or 'invalid YAML'}",
                          file=file, line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()


def parse(text: str, file: str) -> list[Manifest]:
    """Every Kubernetes object in a YAML/JSON stream."""
    if "\x00" in text:
        raise ConfigError("contains a NUL byte: not a YAML file", file=file)
    out: list[Manifest] = []
    for data, positions in _documents(text, file):
        if not isinstance(data, dict):
            continue
        if data.get("kind") == "List" and isinstance(data.get("items"), list):
            for index, item in enumerate(data["items"], start=1):
                if isinstance(item, dict) and item.get("kind"):
                    out.append(Manifest(item, file, positions, ("items", index)))
        elif data.get("kind") and data.get("apiVersion"):
            out.append(Manifest(data, file, positions))
    return out


def _files(path: str) -> Iterable[str]:
    if os.path.isdir(path):
        for root, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if name.endswith(SUFFIXES):
                    yield os.path.join(root, name)
    else:
        yield path


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except FileNotFoundError:
        raise ConfigError("no such file or directory", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=path) from None


def load(paths: Iterable[str], stdin: TextIO | None = None) -> list[Manifest]:
    """Objects from every path in order; `-` reads standard input (Helm/Kustomize output piped in)."""
    out: list[Manifest] = []
    for path in paths:
        if path == STDIN:
            out += parse((stdin or sys.stdin).read(), "<stdin>")
            continue
        for file in _files(path):
            out += parse(_read(file), file)
    return out
