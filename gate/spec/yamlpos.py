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


@dataclass(frozen=True)
class Limits:
    """Bounds every user file is read within, checked before anything is built from it: a 300-byte
    alias bomb ("billion laughs") expands to millions of nodes, and 500 nested brackets exhaust the
    parser's recursion."""

    max_bytes: int = 8 * 1024 * 1024
    max_depth: int = 100  # the deepest real CRD (Argo Rollouts ClusterAnalysisTemplate) is 38
    max_nodes: int = 200_000  # nodes of the document as if every alias were written out


LIMITS = Limits()


def check_size(node: yaml.Node, file: str, limits: Limits = LIMITS) -> None:
    """Refuse a document whose alias-expanded size is past the limit (counted once per node)."""
    sizes: dict[int, int] = {}

    def size(n: yaml.Node) -> int:
        known = sizes.get(id(n))
        if known is not None:
            return known
        total = 1
        if isinstance(n, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in n.value)
        elif isinstance(n, yaml.SequenceNode):
            total += sum(size(item) for item in n.value)
        sizes[id(n)] = total = min(total, limits.max_nodes + 1)
        return total

    if size(node) > limits.max_nodes:
        raise ConfigError(f"too large once its aliases are expanded (more than {limits.max_nodes} "
                          "values); write the values out or simplify the anchors", file=file,
                          line=node.start_mark.line + 1)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (PyYAML keeps the last one silently) and documents past
    `limits` (nesting depth while composing, alias-expanded size before constructing)."""

    file: str = ""
    limits: Limits = LIMITS
    _depth: int = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self._depth += 1
        try:
            if self._depth > self.limits.max_depth:
                mark = self.peek_event().start_mark
                raise ConfigError(f"nested more than {self.limits.max_depth} levels deep", file=self.file,
                                  line=mark.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def check_size(self, node: yaml.Node) -> None:
        check_size(node, self.file, self.limits)

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


def _loader(text: str, file: str, limits: Limits) -> _Loader:
    if len(text) > limits.max_bytes:
        raise ConfigError(f"larger than {limits.max_bytes // 1024} KiB; not read", file=file)
    _precount(text, file, limits)
    try:
        loader = _Loader(text)  # the reader refuses NUL and other control characters here
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file, text) from None
    loader.file, loader.limits = file, limits
    return loader


_NODE_EVENTS = (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent, yaml.AliasEvent)


def _precount(text: str, file: str, limits: Limits) -> None:
    """Refuse a document of more than `limits.max_nodes` values before the pure-Python parser composes
    it: libyaml's event parser counts them for a fraction of the time and no memory (50,000 stages
    cost 10 s and 260 MB to refuse after composing). Without libyaml, or on a YAML error (the pure
    parser reports it with its own words), nothing is decided here."""
    parser = getattr(yaml, "CBaseLoader", None)
    if parser is None or len(text) < 64 * 1024:  # small texts cannot hold that many values
        return
    count = 0
    try:
        for event in yaml.parse(text, Loader=parser):
            if isinstance(event, yaml.DocumentStartEvent):
                count = 0
            elif isinstance(event, _NODE_EVENTS):
                count += 1
                if count > limits.max_nodes:
                    raise ConfigError(f"more than {limits.max_nodes} values in one document; not read",
                                      file=file, line=event.start_mark.line + 1)
    except yaml.YAMLError:
        return


def _yaml_error(exc: yaml.YAMLError, file: str, text: str) -> ConfigError:
    """A ConfigError with the line (and column) of a YAML problem."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f", column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        return ConfigError(f"not valid YAML{where}: {problem}", file=file, line=mark.line + 1 if mark else None)
    if isinstance(exc, yaml.reader.ReaderError):
        position = exc.position if isinstance(exc.position, int) else 0
        line = text.count("\n", 0, position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "\0")
        return ConfigError(f"not valid YAML: character #x{char:04x} is not allowed in a YAML file "
                           "(a binary file, or a NUL byte?)", file=file, line=line)
    return ConfigError(f"not valid YAML: {exc}", file=file)


def _construct(loader: _Loader, node: yaml.Node) -> Any:
    loader.check_size(node)
    try:
        return loader.construct_document(node)
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise ConfigError(f"a value cannot be read: {exc}", file=loader.file) from None


def loads(text: str, file: str, limits: Limits = LIMITS) -> tuple[Any, Positions]:
    """Parse one YAML document; bad YAML is a ConfigError with the line and column of the problem."""
    loader = _loader(text, file, limits)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, Positions({(): 1})
        data = _construct(loader, node)
        lines: dict[Path, int] = {(): node.start_mark.line + 1}
        _walk(loader, node, (), lines)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file, text) from None
    finally:
        loader.dispose()
    return data, Positions(lines)


def loads_all(text: str, file: str, limits: Limits = LIMITS) -> list[Any]:
    """Every document of a multi-document YAML text (None documents dropped), within `limits`."""
    loader = _loader(text, file, limits)
    docs = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                docs.append(_construct(loader, node))
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, file, text) from None
    finally:
        loader.dispose()
    return [d for d in docs if d is not None]


def read(path: str, limits: Limits = LIMITS) -> str:
    """A user file's text; missing, unreadable, too large, not UTF-8 or not a regular file is a
    ConfigError naming it."""
    try:
        with open(path, "rb") as fh:  # bounded read: /dev/zero or a huge file cannot exhaust memory
            data = fh.read(limits.max_bytes + 1)
    except FileNotFoundError:
        raise ConfigError("file not found", file=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a file", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from None
    if len(data) > limits.max_bytes:
        raise ConfigError(f"larger than {limits.max_bytes // 1024} KiB; not read", file=path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError("not UTF-8 text (a binary file?)", file=path, line=line) from None


def load(path: str, limits: Limits = LIMITS) -> tuple[Any, Positions]:
    """Read and parse a file; an unreadable file is a ConfigError naming it."""
    return loads(read(path, limits), path, limits)
