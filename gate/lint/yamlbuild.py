"""Python values from composed YAML nodes in one pass: what SafeConstructor builds, ~3x faster.

One recursive walk builds the value, checks the depth (before recursing further), counts the
alias-expanded size (an alias is built once and shared, as SafeConstructor does, but counted each time it
is used, so an alias bomb is refused) and reports duplicate keys (the last one wins, as in kubectl).
Strings, the commonest scalar, are taken as they are; other scalars go through SafeConstructor's own
constructor for their tag. A mapping with a merge key (`<<`) is left to SafeConstructor whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from gate.errors import ConfigError
from gate.spec.yamlpos import LIMITS, Limits, check_size

STR, MERGE = "tag:yaml.org,2002:str", "tag:yaml.org,2002:merge"
_SCALARS: dict[str, Callable[[SafeConstructor, yaml.ScalarNode], Any]] = {
    tag: fn for tag, fn in SafeConstructor.yaml_constructors.items()
    if tag and tag.split(":")[-1] in ("null", "bool", "int", "float", "binary")
}


class Builder:
    def __init__(self, constructor: SafeConstructor, file: str, limits: Limits = LIMITS,
                 duplicate: Callable[[int, str, int], None] | None = None) -> None:
        self.constructor, self.file, self.limits = constructor, file, limits
        self.duplicate = duplicate  # (line, key, first line) of each duplicate key
        self.memo: dict[int, tuple[Any, int]] = {}

    def document(self, node: yaml.Node) -> Any:
        value, size = self._build(node, 1)
        self._check(size, node)
        return value

    def _check(self, size: int, node: yaml.Node) -> None:
        if size > self.limits.max_nodes:
            raise ConfigError(f"too large once its aliases are expanded (more than {self.limits.max_nodes} values); "
                              "write the values out or simplify the anchors", file=self.file,
                              line=node.start_mark.line + 1)

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag == STR:
            return node.value
        fn = _SCALARS.get(node.tag)
        return fn(self.constructor, node) if fn else self.constructor.construct_object(node)

    def _build(self, node: yaml.Node, depth: int) -> tuple[Any, int]:
        if type(node) is yaml.ScalarNode:  # the commonest: no memo, no depth to check below it
            return self._scalar(node), 1
        known = self.memo.get(id(node))
        if known is not None:
            return known
        if depth > self.limits.max_depth:
            raise ConfigError(f"nested more than {self.limits.max_depth} levels deep", file=self.file,
                              line=node.start_mark.line + 1)
        if isinstance(node, yaml.SequenceNode):
            items, size = [], 1
            for child in node.value:
                if type(child) is yaml.ScalarNode:
                    items.append(self._scalar(child))
                    size += 1
                else:
                    value, child_size = self._build(child, depth + 1)
                    items.append(value)
                    size += child_size
            out: tuple[Any, int] = (items, size)
        elif isinstance(node, yaml.MappingNode):
            out = self._mapping(node, depth)
        else:  # pragma: no cover - the composer makes only these three
            out = (self.constructor.construct_object(node, deep=True), 1)
        self._check(out[1], node)
        self.memo[id(node)] = out
        return out

    def _merged(self, node: yaml.MappingNode) -> tuple[Any, int]:
        check_size(node, self.file, self.limits)
        self._duplicates(node)
        return self.constructor.construct_object(node, deep=True), len(node.value) * 2 + 1

    def _mapping(self, node: yaml.MappingNode, depth: int) -> tuple[Any, int]:
        data: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        size = 1
        for key_node, value_node in node.value:
            if key_node.tag == STR and type(key_node) is yaml.ScalarNode:
                key, key_size = key_node.value, 1
            elif key_node.tag == MERGE:
                return self._merged(node)
            else:
                key, key_size = self._build(key_node, depth + 1)
                try:
                    hash(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError("while constructing a mapping", node.start_mark,
                                                            "found unhashable key", key_node.start_mark) from None
            if type(value_node) is yaml.ScalarNode:
                value, value_size = self._scalar(value_node), 1
            else:
                value, value_size = self._build(value_node, depth + 1)
            size += key_size + value_size
            if key in data and self.duplicate is not None:
                self.duplicate(key_node.start_mark.line + 1, str(key), lines[key])
            lines[key] = key_node.start_mark.line + 1
            data[key] = value
        return data, size

    def _duplicates(self, node: yaml.MappingNode) -> None:
        seen: dict[str, int] = {}
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != MERGE:
                line = key.start_mark.line + 1
                if key.value in seen and self.duplicate is not None:
                    self.duplicate(line, key.value, seen[key.value])
                seen[key.value] = line
