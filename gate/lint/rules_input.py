"""Rules about the input itself: files that could not be read or parsed, duplicate keys, Helm chart
templates, and gate specs met among the manifests (checked offline)."""

from __future__ import annotations

from collections.abc import Iterator

from gate.lint.findings import Finding, LintOptions, file_manifest, finding
from gate.lint.pipeline import Pipeline


def _problems(p: Pipeline, rule: str) -> Iterator[Finding]:
    for problem in p.problems:
        if problem.rule == rule:
            yield finding(rule, file_manifest(problem.file, problem.line), (), problem.message)


def check_invalid(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    yield from _problems(p, "yaml-invalid")


def check_refused(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    yield from _problems(p, "input-refused")


def check_duplicate_key(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    yield from _problems(p, "yaml-duplicate-key")


def check_helm(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    yield from _problems(p, "helm-chart-template")


def check_spec(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    from gate.lint import spec

    for file, text in p.specs:
        for line, message in spec.problems(file, text):
            yield finding("gate-spec", file_manifest(file, line), (), message)


def check_cluster(p: Pipeline, opts: LintOptions) -> Iterator[Finding]:
    yield from _problems(p, "cluster-not-read")
