"""Redaction before a capture is written, and the credential shapes `gate capture --check` looks for.

What never leaves the cluster: Secret `data`/`stringData` values (key names stay, each non-empty value
becomes a placeholder, an empty one stays empty so a `secret` check judges the same), env values of pod
specs (unless `--keep-env NAME`), managedFields and kubectl's last-applied-configuration (a copy of
whatever was applied, Secrets included). Then every string is masked: every secret the gate registered
(gate/redact.py), every `--redact REGEX`, and every credential shape below.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gate import redact

PLACEHOLDER = "<redacted>"
PLACEHOLDER_B64 = base64.b64encode(PLACEHOLDER.encode()).decode()
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
_SECRET_WORDS = r"(?:TOKEN|PASSWORD|PASSWD|SECRET|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|JWT|CREDENTIALS?)"


@dataclass(frozen=True)
class Shape:
    """One credential shape: `group` is the part replaced (0: the whole match); `hints`: substrings one
    of which every match contains (cheap to test first: most strings of a world hold none)."""

    name: str
    pattern: re.Pattern[str]
    group: int = 0
    hints: tuple[str, ...] = ()
    lower_hints: tuple[str, ...] = ()  # the same, for a case-insensitive pattern: looked for in text.lower()

    def may_match(self, text: str) -> bool:
        if self.hints:
            return any(h in text for h in self.hints)
        if self.lower_hints:
            low = text.lower()
            return any(h in low for h in self.lower_hints)
        return True


SHAPES: list[Shape] = [
    Shape("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}"), hints=("eyJ",)),
    Shape("PEM private key", re.compile(
        r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----.*?(?:-----END [A-Z0-9 ]*-----|\Z)", re.S),
        hints=("-----BEGIN",)),
    Shape("AWS access key", re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[0-9A-Z]{16}\b"),
          hints=("AKIA", "ASIA", "AROA", "AIDA")),
    Shape("AWS secret key", re.compile(r"(?i)aws_?secret_?access_?key[\"']?\s*[:=]\s*[\"']?([A-Za-z0-9/+=]{40})"), 1,
          lower_hints=("aws",)),
    Shape("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"), hints=("AIza",)),
    Shape("Azure storage key", re.compile(r"(?i)AccountKey=([A-Za-z0-9+/=]{40,})"), 1, lower_hints=("accountkey",)),
    Shape("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), hints=("gh",)),
    Shape("GitLab token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}\b"), hints=("glpat-",)),
    Shape("Slack token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}\b"), hints=("xox",)),
    Shape("bearer credential", re.compile(r"(?i)\b(?:bearer|basic)\s+([A-Za-z0-9._~+/-]{16,}=*)"), 1,
          lower_hints=("bearer", "basic")),
    Shape("*_TOKEN= value", re.compile(
        r"\b[A-Za-z][A-Za-z0-9_]*" + _SECRET_WORDS + r"[A-Za-z0-9_]*[\"']?\s*[=:]\s*[\"']?"
        r"(?!\$\{|\*\*\*|<redacted>)([^\s\"',;&}]{6,})"), 1, hints=("=", ":")),
]


# One search in C before any shape is tried: a string none of whose shapes' telltales appear is left
# alone (almost every string of a world: names, images, conditions).
_ANY = re.compile("|".join([*(re.escape(h) for s in SHAPES for h in s.hints if h not in ("=", ":")),
                            *(f"(?i:{re.escape(h)})" for s in SHAPES for h in s.lower_hints), _SECRET_WORDS]))


def find(text: str) -> list[str]:
    """The names of the credential shapes in `text`."""
    if not _ANY.search(text):
        return []
    return [s.name for s in SHAPES if s.may_match(text) and _matches(s, text)]


def _matches(shape: Shape, text: str) -> bool:
    return any(m.group(shape.group) not in (PLACEHOLDER, redact.MASK) for m in shape.pattern.finditer(text))


def mask_shapes(text: str) -> str:
    if not _ANY.search(text):
        return text
    for shape in SHAPES:
        if not shape.may_match(text):
            continue
        if shape.group == 0:
            text = shape.pattern.sub(PLACEHOLDER, text)
        else:
            text = shape.pattern.sub(lambda m, g=shape.group: _replace_group(m, g), text)
    return text


def _replace_group(m: re.Match[str], group: int) -> str:
    start, end = m.start(group) - m.start(), m.end(group) - m.start()
    whole = m.group(0)
    return whole[:start] + PLACEHOLDER + whole[end:]


class Scrubber:
    """Everything a capture holds passes through here once."""

    def __init__(self, patterns: Iterable[str] = (), keep_env: Iterable[str] = ()) -> None:
        self.patterns = [re.compile(p) for p in patterns]
        self.keep_env = set(keep_env)

    def text(self, value: str) -> str:
        return self.shapes(redact.redact(value))

    def shapes(self, value: str) -> str:
        """--redact patterns and credential shapes only: for names a replay selects objects by, and the
        spec (which by design names secrets only as ${env:...})."""
        for pattern in self.patterns:
            value = pattern.sub(PLACEHOLDER, value)
        return mask_shapes(value)

    def value(self, value: Any) -> Any:
        """Every string (dict keys too) of a YAML-able value, masked."""
        return walk(value, self.text)

    def obj(self, obj: dict) -> dict:
        """A Kubernetes object with what must never leave the cluster removed, then masked."""
        obj = _strip(obj, self.keep_env)
        if obj.get("kind") == "Secret" and obj.get("apiVersion") == "v1":
            for key, encoded in (("data", True), ("stringData", False)):
                if isinstance(obj.get(key), dict):
                    obj[key] = {k: (PLACEHOLDER_B64 if encoded else PLACEHOLDER) if v else v
                                for k, v in obj[key].items()}
        return self._masked(obj, ())

    def _masked(self, value: Any, path: tuple[str, ...]) -> Any:
        """Every string masked; an object's identity (name, namespace, labels, owners, the object an
        Event is about) only by shape and --redact: a registered secret as short as "admin" would
        otherwise rename `grafana-admin`, and the replay would not find it."""
        if isinstance(value, str):
            return self.shapes(value) if _identity(path) else self.text(value)
        if isinstance(value, dict):
            keys_kept = _identity(path) or path in (("data",), ("stringData",))  # a Secret's key names stay
            return {(self.shapes(k) if keys_kept else self.text(k)) if isinstance(k, str) else k:
                    self._masked(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self._masked(v, path) for v in value]
        return value


_IDENTITY = {("metadata", "name"), ("metadata", "namespace"), ("metadata", "generateName"),
             ("metadata", "labels"), ("metadata", "ownerReferences"), ("involvedObject", "name"),
             ("involvedObject", "namespace")}


def _identity(path: tuple[str, ...]) -> bool:
    return len(path) >= 2 and (path[0], path[1]) in _IDENTITY or len(path) == 1 and path[0] == "metadata"


def walk(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {fn(k) if isinstance(k, str) else k: walk(v, fn) for k, v in value.items()}
    if isinstance(value, list):
        return [walk(v, fn) for v in value]
    return value


def _strip(value: Any, keep_env: set[str]) -> Any:
    """managedFields and last-applied annotations gone; env entries keep their name and valueFrom."""
    if isinstance(value, list):
        return [_strip(v, keep_env) for v in value]
    if not isinstance(value, dict):
        return value
    out: dict = {}
    for key, sub in value.items():
        if key == "managedFields":
            continue
        if key == "annotations" and isinstance(sub, dict):
            sub = {k: v for k, v in sub.items() if k != LAST_APPLIED}
        if key == "env" and isinstance(sub, list):
            sub = [{k: v for k, v in e.items() if k != "value" or e.get("name") in keep_env}
                   if isinstance(e, dict) else e for e in sub]
        out[key] = _strip(sub, keep_env)
    return out
