"""YAML with line numbers: every mapping key and sequence item keeps the line it starts on, so an error
can say `gate.yaml:12 at stages.monitoring.levels.1[2].pods.min_ready`.

Paths are tuples: a mapping key is its string form (`1:` in YAML is `"1"`), a sequence item is an int
counted from 1, as a person counts the items of a list. Duplicate keys are an error naming both lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import yaml

from gate.errors import ConfigError

PathPart = str | int
Path = tuple[PathPart, ...]


@dataclass
class Positions:
    """Start line (1-based) of every key and item, by path."""

    lines: dict[Path, int] = field(default_factory=dict)

    def line(self, path: Iterable[PathPart]) -> int | None:
        """The line of the path, or of its nearest ancestor that has one."""
        parts = tuple(path)
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            parts = parts[:-1]
        return self.lines.get((), None)


def format_path(path: Iterable[PathPart]) -> str:
    """`("stages", "monitoring", "levels", "1", 2, "pods")` -> `stages.monitoring.levels.1[2].pods`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently)."""

    file: str = ""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                continue  # SafeConstructor reports unhashable keys itself
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(f"duplicate key {key!r} (first at line {seen[key]}, again at line {line})",
                                  file=self.file, line=line, key=str(key))
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _walk(loader: _Loader, node: yaml.Node, path: Path, out: dict[Path, int]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            sub = (*path, str(key))
            out.setdefault(sub, key_node.start_mark.line + 1)
            _walk(loader, value_node, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value, start=1):
            sub = (*path, index)
            out[sub] = item.start_mark.line + 1
            _walk(loader, item, sub, out)


def loads(text: str, file: str) -> tuple[Any, Positions]:
    """Parse one YAML document; bad YAML is a ConfigError with the line and column of the problem."""
    loader = _Loader(text)
    loader.file = file
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Positions({(): 1})
        data = loader.construct_document(node)
        lines: dict[Path, int] = {(): node.start_mark.line + 1}
        _walk(loader, node, (), lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f", column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(f"not valid YAML{where}: {problem}", file=file,
                          line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=file) from None
    finally:
        loader.dispose()
    return data, Positions(lines)


def load(path: str) -> tuple[Any, Positions]:
    """Read and parse a file; an unreadable file is a ConfigError naming it."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        raise ConfigError("file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=path) from None
    return loads(text, path)
