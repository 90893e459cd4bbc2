"""Kubernetes manifests from files, directories and standard input, each with the line of every key.

Multi-document YAML (`---`), `kind: List` documents (as `kubectl get -o yaml` prints them) and
directories (every *.yaml / *.yml / *.json below, sorted) are read. Reading never stops the run: a file
that cannot be read or parsed is a `Problem` (a finding with file and line) and the next file is read.
Documents that are not Kubernetes objects (no kind/apiVersion) are left out, as kubectl would refuse
them; a gate spec (`stages:` at the top, no kind) is kept aside for `spec.py`.

YAML is read as kubectl reads it (sigs.k8s.io/yaml over go-yaml v2): a duplicate key keeps the last
value (a warning here), an unquoted date stays a string. Nodes are composed by libyaml (PyYAML's C
loader, ~10x the pure-Python one) and keep their marks, so lines are looked up in the node tree only
when a finding needs one.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import yaml

from gate.errors import ConfigError
from gate.lint.yamlbuild import Builder
from gate.spec.yamlpos import LIMITS, Limits, Path, Positions

SUFFIXES = (".yaml", ".yml", ".json")
STDIN = "-"
STDIN_NAME = "<stdin>"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """Safe loading without YAML 1.1 timestamps: go-yaml v2 hands an unquoted date to kubectl as the
    string it was (decode.go: "for backward compatibility reasons we set it as a string")."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    # libyaml calls back into Python for every node's tag (Resolver.resolve): a plain scalar whose first
    # character no implicit resolver starts with, and any quoted one, is a string at once; short scalars
    # repeat (keys, types) and are remembered; the path resolvers SafeLoader never registers are skipped.
    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        if kind is yaml.ScalarNode:
            if not implicit[0] or (value and value[0] not in _FIRST):
                return _STR
            if len(value) < 64:
                key = (value, implicit)
                tag = _RESOLVED.get(key)
                if tag is None:
                    if len(_RESOLVED) > 100_000:
                        _RESOLVED.clear()
                    tag = _RESOLVED[key] = super().resolve(kind, value, implicit)
                return tag
            return super().resolve(kind, value, implicit)
        if kind is yaml.MappingNode:
            return yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
        return yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


_FIRST = frozenset(k for k in _Loader.yaml_implicit_resolvers if k)
_STR = yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
_RESOLVED: dict[tuple[str, Any], str] = {}


class NodePositions:
    """Lines of keys and items, found in the composed node tree on demand (paths as in yamlpos:
    mapping keys as strings, sequence items counted from 1)."""

    def __init__(self, node: yaml.Node) -> None:
        self.node = node

    def line(self, path: Iterable[str | int]) -> int:
        node, line = self.node, self.node.start_mark.line + 1
        for part in path:
            child = None
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:  # the last duplicate wins, as in the object
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                        child, line = value, key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 < part <= len(node.value):
                child = node.value[part - 1]
                line = child.start_mark.line + 1
            if child is None:
                break
            node = child
        return line


@dataclass
class Manifest:
    """One Kubernetes object and where it was read."""

    obj: dict
    file: str
    positions: Positions | NodePositions
    base: Path = ()  # the object's path inside its document (items of a List)
    origin: Manifest | None = None  # for an Application generated from an ApplicationSet: the set

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
    def labels(self) -> dict:
        labels = self.meta.get("labels")
        return labels if isinstance(labels, dict) else {}

    @property
    def spec(self) -> dict:
        spec = self.obj.get("spec")
        return spec if isinstance(spec, dict) else {}

    @property
    def ref(self) -> str:
        """`Kind/namespace/name` (or `Kind/name` for cluster-scoped objects); a generated Application is
        named through its ApplicationSet."""
        own = "/".join(p for p in (self.kind, self.namespace, self.name) if p)
        return f"{self.origin.ref} (generates {self.name})" if self.origin is not None else own

    def line(self, *path: str | int) -> int:
        """Line of a key path inside the object; list indexes count from 0 as in JSON paths."""
        parts: list[str | int] = list(self.base)
        parts += [p + 1 if isinstance(p, int) else p for p in path]
        return self.positions.line(parts) or 1


@dataclass
class Problem:
    """Something about the input itself, found before any rule runs (a finding of an input rule)."""

    rule: str  # yaml-invalid | yaml-duplicate-key | input-refused | helm-chart-template | cluster-not-read
    file: str
    line: int
    message: str
    kind: str = ""  # cluster-not-read: the kind that could not be listed (rules needing it stand down)


@dataclass
class Input:
    manifests: list[Manifest] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    specs: list[tuple[str, str]] = field(default_factory=list)  # (file, text) of gate specs met
    files: int = 0  # files read (and stdin)

    def add_text(self, text: str, file: str, limits: Limits = LIMITS) -> None:
        self.files += 1
        parse(text, file, self, limits)


# -- parsing ----------------------------------------------------------------------------------------
def _documents(text: str, file: str, limits: Limits, problems: list[Problem]) -> Iterator[tuple[Any, yaml.Node]]:
    loader = _Loader(text)

    def duplicate(line: int, key: str, first: int) -> None:
        problems.append(Problem("yaml-duplicate-key", file, line,
                                f"duplicate key {key!r} (first at line {first}): kubectl and `kargo apply` keep "
                                "this last one, the first is ignored"))

    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            try:
                data = Builder(loader, file, limits, duplicate).document(node)
            except ValueError as exc:  # an integer with more digits than Python converts
                raise ConfigError(f"a value cannot be read: {exc}", file=file, line=node.start_mark.line + 1) \
                    from None
            yield data, node
    finally:
        loader.dispose()


def _yaml_problem(exc: yaml.YAMLError, file: str, text: str) -> Problem:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f", column {mark.column + 1}" if mark else ""
        return Problem("yaml-invalid", file, mark.line + 1 if mark else 1,
                       f"not valid YAML{where}: {exc.problem or exc.context or 'invalid YAML'}")
    if isinstance(exc, yaml.reader.ReaderError):
        position = exc.position if isinstance(exc.position, int) else 0
        return Problem("yaml-invalid", file, text.count("\n", 0, position) + 1,
                       "not valid YAML: a character YAML does not allow (a binary file, or a NUL byte?)")
    return Problem("yaml-invalid", file, 1, f"not valid YAML: {exc}")


def _is_spec(data: dict) -> bool:
    return "kind" not in data and "apiVersion" not in data and isinstance(data.get("stages"), dict)


def parse(text: str, file: str, into: Input | None = None, limits: Limits = LIMITS) -> list[Manifest]:
    """Every Kubernetes object in a YAML/JSON stream; problems go to `into` (documents before a
    syntax error are kept)."""
    into = into if into is not None else Input()
    out: list[Manifest] = []
    if "\x00" in text:
        into.problems.append(Problem("yaml-invalid", file, text.count("\n", 0, text.index("\x00")) + 1,
                                     "contains a NUL byte: not a YAML file"))
        return out
    try:
        for data, node in _documents(text, file, limits, into.problems):
            if not isinstance(data, dict):
                continue
            positions = NodePositions(node)
            if data.get("kind") == "List" and isinstance(data.get("items"), list):
                for index, item in enumerate(data["items"], start=1):
                    if isinstance(item, dict) and item.get("kind"):
                        out.append(Manifest(item, file, positions, ("items", index)))
            elif data.get("kind") and data.get("apiVersion"):
                out.append(Manifest(data, file, positions))
            elif _is_spec(data):
                into.specs.append((file, text))
    except yaml.YAMLError as exc:
        into.problems.append(_yaml_problem(exc, file, text))
    except ConfigError as exc:
        into.problems.append(Problem("yaml-invalid", file, exc.line or 1, exc.detail))
    except RecursionError:
        into.problems.append(Problem("yaml-invalid", file, 1, "nested too deeply to read"))
    into.manifests += out
    return out


# -- files ------------------------------------------------------------------------------------------
def _chart_root(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, "Chart.yaml"))


def _in_chart_templates(file: str) -> str | None:
    """The chart directory when the file lies under a chart's `templates/`."""
    parts = os.path.abspath(file).split(os.sep)
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == "templates" and _chart_root(os.sep.join(parts[:i]) or os.sep):
            return os.sep.join(parts[:i])
    return None


def _helm_problem(chart: str, file: str, count: int) -> Problem:
    return Problem("helm-chart-template", file, 1,
                   f"{count} Helm template file(s) under {os.path.join(chart, 'templates')} skipped: they are "
                   f"not YAML until rendered; lint the output: helm template {chart} | gate lint -")


def _walk(root: str, into: Input) -> Iterator[str]:
    """Candidate files below a directory, sorted; chart templates are counted and skipped."""
    for directory, dirs, names in os.walk(root):  # symlinked directories are not descended
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if "templates" in dirs and "Chart.yaml" in names:
            dirs.remove("templates")
            templates = os.path.join(directory, "templates")
            count = sum(len(n) for _, _, n in os.walk(templates))
            into.problems.append(_helm_problem(directory, templates, count))
        for name in sorted(names):
            if name.endswith(SUFFIXES):
                yield os.path.join(directory, name)


def _inside(path: str, root: str) -> bool:
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def read_file(path: str, limits: Limits = LIMITS) -> str:
    """A regular file's text, refused (ConfigError) unless it is a regular file within the size limit.
    Never opened before it is known to be regular, and opened non-blocking: a FIFO cannot hang lint."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError("no such file or directory", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from None
    if not stat.S_ISREG(info.st_mode):
        what = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device" if stat.S_ISCHR(info.st_mode) or \
            stat.S_ISBLK(info.st_mode) else "a socket" if stat.S_ISSOCK(info.st_mode) else "not a file"
        raise ConfigError(f"{what}, not a regular file: not read", file=path)
    if info.st_size > limits.max_bytes:
        raise ConfigError(f"larger than {limits.max_bytes // (1024 * 1024)} MiB ({info.st_size} bytes): not read",
                          file=path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # swapped since the stat
                raise ConfigError("not a regular file: not read", file=path)
            data = fh.read(limits.max_bytes + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from None
    if len(data) > limits.max_bytes:
        raise ConfigError(f"larger than {limits.max_bytes // (1024 * 1024)} MiB: not read", file=path)
    return _decode(data, path)


def _decode(data: bytes, file: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError("not UTF-8 text (a binary file?)", file=file, line=data.count(b"\n", 0, exc.start) + 1) \
            from None


def read_stdin(stream: BinaryIO, limits: Limits = LIMITS) -> str:
    data = stream.read(limits.max_bytes + 1)
    if len(data) > limits.max_bytes:
        raise ConfigError(f"larger than {limits.max_bytes // (1024 * 1024)} MiB: not read", file=STDIN_NAME)
    return _decode(data, STDIN_NAME)


def _refused(into: Input, exc: ConfigError, rule: str = "input-refused") -> None:
    into.problems.append(Problem(rule, exc.file or "", exc.line or 1, exc.detail))


def load(paths: Iterable[str], stdin: BinaryIO | None = None, limits: Limits = LIMITS,
         progress: Callable[[str], None] | None = None) -> Input:
    """Objects from every path in order; `-` reads standard input (Helm/Kustomize output piped in).
    A path that does not exist is a usage error (exit 2); every other problem is a finding."""
    into = Input()
    for path in paths:
        if path == STDIN:
            try:
                into.add_text(read_stdin(stdin or sys.stdin.buffer, limits), STDIN_NAME, limits)
            except ConfigError as exc:
                _refused(into, exc, "yaml-invalid" if exc.line else "input-refused")
            continue
        if not os.path.lexists(path):
            raise ConfigError("no such file or directory", file=path)
        if os.path.isdir(path):
            files, root = list(_walk(path, into)), path
        else:
            chart = _in_chart_templates(path)
            if chart is not None:
                into.problems.append(_helm_problem(chart, path, 1))
                continue
            files, root = [path], None
        for file in files:
            if root is not None and os.path.islink(file) and not _inside(file, root):
                into.problems.append(Problem("input-refused", file, 1, "a symbolic link to "
                                             f"{os.path.realpath(file)}, outside {root}: not followed"))
                continue
            if progress is not None:
                progress(file)
            try:
                text = read_file(file, limits)
            except ConfigError as exc:
                _refused(into, exc, "yaml-invalid" if exc.line else "input-refused")
                continue
            into.add_text(text, file, limits)
    return into
