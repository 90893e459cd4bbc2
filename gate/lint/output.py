"""Lint findings as text, JSON, JUnit XML (GitLab's test view) and SARIF 2.1.0 (GitHub code scanning)."""

from __future__ import annotations

import json
import os
import urllib.parse
from pathlib import Path

import junit_xml

import gate
from gate.lint.findings import Finding
from gate.lint.manifests import STDIN_NAME
from gate.lint.rules import RULES
from gate.reports.junit import _postprocess

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
README = "README.md"  # the rules' table; each row carries an anchor lint-rule-<id>


def help_uri(rule: str) -> str:
    """The rule's row in the README, as a link relative to the repository (the docs ship with it)."""
    return f"{README}#lint-rule-{rule}"


def _where(f: Finding) -> str:
    return f"{f.file}:{f.line}"


def _counts(findings: list[Finding]) -> dict[str, int]:
    return {s: sum(f.severity == s for f in findings) for s in ("error", "warning", "info")}


def text(findings: list[Finding], files: int, objects: int, cluster: bool = False, specs: int = 0) -> str:
    lines = []
    for f in findings:
        ref = f" {f.ref}:" if f.ref else ""
        lines.append(f"{_where(f)}: {f.severity} [{f.rule}]{ref} {f.message}")
        if f.fix:
            lines.append("  fix:")
            lines += [f"    {line}" for line in f.fix.splitlines()]
    n = _counts(findings)
    where = f"{files} files" + (" and the cluster" if cluster else "") if files or not cluster else "the cluster"
    info = f", {n['info']} notes" if n["info"] else ""
    what = f"{objects} objects" + (f" and {specs} gate spec{'s' if specs > 1 else ''}" if specs else "")
    lines.append(f"{what} in {where}: {n['error']} errors, {n['warning']} warnings{info}")
    return "\n".join(lines) + "\n"


def as_json(findings: list[Finding], files: int, objects: int) -> str:
    n = _counts(findings)
    doc = {
        "tool": "gate lint", "version": gate.__version__, "files": files, "objects": objects,
        "errors": n["error"], "warnings": n["warning"], "notes": n["info"],
        "findings": [{"rule": f.rule, "severity": f.severity, "file": f.file, "line": f.line,
                      "object": f.ref, "message": f.message, "fix": f.fix} for f in findings],
    }
    return json.dumps(doc, indent=2) + "\n"


def junit(findings: list[Finding], strict: bool = False) -> str:
    """A testcase per rule that passed, and one per finding (a failure: an error, or a warning with
    --strict; an info finding is a passing case with the note in its output)."""
    cases = []
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule, []).append(f)
    for rule in RULES:
        found = by_rule.get(rule.id, [])
        if not found:
            cases.append(junit_xml.TestCase(rule.summary, classname=f"gate.lint.{rule.id}", elapsed_sec=0.0))
        for n, f in enumerate(found, start=1):
            case = junit_xml.TestCase(f"{f.ref or f.file} ({_where(f)})" + (f" #{n}" if n > 1 else ""),
                                      classname=f"gate.lint.{rule.id}", elapsed_sec=0.0, file=f.file, line=f.line)
            body = f"{_where(f)}: {f.message}" + (f"\nfix:\n{f.fix}" if f.fix else "")
            if f.severity == "error" or (strict and f.severity == "warning"):
                case.add_failure_info(message=f.message, output=body, failure_type=f.rule)
            else:
                case.stdout = f"{f.severity}: {body}"
            cases.append(case)
    suite = junit_xml.TestSuite("gate lint", cases)
    return _postprocess(junit_xml.to_xml_report_string([suite], prettyprint=False), [0.0])


def sarif_uri(path: str) -> str | None:
    """A file as code scanning wants it: relative to %SRCROOT% (the working directory), forward
    slashes, percent-encoded (RFC 3986); None for standard input and for files outside the root."""
    if _not_a_file(path):
        return None
    rel = os.path.relpath(os.path.abspath(path)).replace(os.sep, "/")
    if rel == ".." or rel.startswith("../"):
        return None
    return urllib.parse.quote(rel, safe="/")


def _not_a_file(path: str) -> bool:
    return path == STDIN_NAME or path.startswith("cluster:")


def _location(f: Finding, artifacts: dict[str, int]) -> dict:
    uri = sarif_uri(f.file)
    if uri is not None:
        artifact: dict = {"uri": uri, "uriBaseId": "%SRCROOT%"}
    elif not _not_a_file(f.file):  # outside the working directory: where it is, not ../ under %SRCROOT%
        artifact = {"uri": Path(os.path.abspath(f.file)).as_uri()}
    else:
        artifact = {"index": artifacts[f.file]}  # stdin, the cluster: an artifact with a description
    return {"physicalLocation": {"artifactLocation": artifact, "region": {"startLine": f.line}}}


def sarif(findings: list[Finding]) -> str:
    rules = [{"id": r.id, "name": r.id, "shortDescription": {"text": r.summary},
              "fullDescription": {"text": f"{r.summary} ({r.source})"},
              "defaultConfiguration": {"level": _LEVEL[r.severity]},
              "helpUri": help_uri(r.id)} for r in RULES]
    index = {r.id: i for i, r in enumerate(RULES)}
    artifacts: dict[str, int] = {}
    described: list[dict] = []
    for f in findings:
        if _not_a_file(f.file) and f.file not in artifacts:
            artifacts[f.file] = len(described)
            what = "standard input (lint -)" if f.file == STDIN_NAME else f"live objects ({f.file})"
            described.append({"description": {"text": what}, "sourceLanguage": "yaml"})
    results = []
    for f in findings:
        message = f.message + (f"\nFix:\n{f.fix}" if f.fix else "")
        results.append({
            "ruleId": f.rule, "ruleIndex": index[f.rule], "level": _LEVEL[f.severity],
            "message": {"text": message},
            "locations": [_location(f, artifacts)],
            "partialFingerprints": {"objectRule/v1": f"{f.rule}:{f.ref or f.file}"},
        })
    run: dict = {"tool": {"driver": {"name": "promotion-gate lint", "version": gate.__version__,
                                     "informationUri": "https://github.com/promotion-gate/promotion-gate",
                                     "rules": rules}},
                 "results": results}
    if described:
        run["artifacts"] = described
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2) + "\n"

