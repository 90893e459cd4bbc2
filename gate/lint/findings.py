"""What a lint rule is and what it reports: Rule entries (in rules.py), Findings, options."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import yaml

from gate.lint.manifests import Manifest
from gate.spec.yamlpos import Positions

if TYPE_CHECKING:
    from gate.lint.pipeline import Pipeline

SEVERITIES = ("error", "warning", "info")  # info never fails a run, even with --strict


@dataclass
class Finding:
    rule: str
    manifest: Manifest
    path: tuple[str | int, ...]
    message: str
    fix: str = ""
    severity: str = ""  # filled from the rule by rules.run()

    @property
    def file(self) -> str:
        return self.manifest.file

    @property
    def line(self) -> int:
        return self.manifest.line(*self.path)

    @property
    def ref(self) -> str:
        return self.manifest.ref


@dataclass
class LintOptions:
    foundation: set[str] = field(default_factory=set)  # Stage names whose apps may auto-sync
    strict: bool = False


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    summary: str
    source: str
    check: Callable[[Pipeline, LintOptions], Iterable[Finding]]
    strict_severity: str = ""  # the severity under --strict, when it differs


def snippet(obj: object) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False).rstrip()


def finding(rule: str, m: Manifest, path: tuple[str | int, ...], message: str, fix: object = "") -> Finding:
    return Finding(rule, m, path, message, fix if isinstance(fix, str) else snippet(fix))


def file_manifest(file: str, line: int) -> Manifest:
    """A stand-in object for a finding about a file as a whole (no Kubernetes object to name)."""
    return Manifest({}, file, Positions({(): line}))
