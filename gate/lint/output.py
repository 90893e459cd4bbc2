"""Lint findings as text, JSON, JUnit XML (GitLab's test view) and SARIF 2.1.0 (GitHub code scanning)."""

from __future__ import annotations

import json
import os

import junit_xml

import gate
from gate.lint.rules import RULES, Finding
from gate.reports.junit import _postprocess

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL = {"error": "error", "warning": "warning"}


def _rel(path: str) -> str:
    """A path as code scanning wants it: relative to the working directory, with forward slashes."""
    if path.startswith("<"):
        return path
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return rel.replace(os.sep, "/")


def text(findings: list[Finding], files: int, objects: int, cluster: bool = False) -> str:
    lines = []
    for f in findings:
        lines.append(f"{f.file}:{f.line}: {f.severity} [{f.rule}] {f.manifest.ref}: {f.message}")
        if f.fix:
            lines.append("  fix:")
            lines += [f"    {line}" for line in f.fix.splitlines()]
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    where = f"{files} files" + (" and the cluster" if cluster else "") if files or not cluster else "the cluster"
    lines.append(f"{objects} objects in {where}: {errors} errors, {warnings} warnings")
    return "\n".join(lines) + "\n"


def as_json(findings: list[Finding], files: int, objects: int) -> str:
    doc = {
        "tool": "gate lint", "version": gate.__version__, "files": files, "objects": objects,
        "errors": sum(f.severity == "error" for f in findings),
        "warnings": sum(f.severity == "warning" for f in findings),
        "findings": [{"rule": f.rule, "severity": f.severity, "file": f.file, "line": f.line,
                      "object": f.manifest.ref, "message": f.message, "fix": f.fix} for f in findings],
    }
    return json.dumps(doc, indent=2) + "\n"


def junit(findings: list[Finding], strict: bool = False) -> str:
    """A testcase per rule that passed, and one per finding (a failure; a warning only with --strict)."""
    cases = []
    by_rule: dict[str, list[Finding]] = {}
    for f in findings:
        by_rule.setdefault(f.rule, []).append(f)
    for rule in RULES:
        found = by_rule.get(rule.id, [])
        if not found:
            cases.append(junit_xml.TestCase(rule.summary, classname=f"gate.lint.{rule.id}", elapsed_sec=0.0))
        for n, f in enumerate(found, start=1):
            case = junit_xml.TestCase(f"{f.manifest.ref} ({f.file}:{f.line})" + (f" #{n}" if n > 1 else ""),
                                      classname=f"gate.lint.{rule.id}", elapsed_sec=0.0, file=f.file, line=f.line)
            body = f"{f.file}:{f.line}: {f.message}" + (f"\nfix:\n{f.fix}" if f.fix else "")
            if f.severity == "error" or strict:
                case.add_failure_info(message=f.message, output=body, failure_type=f.rule)
            else:
                case.stdout = f"warning: {body}"
            cases.append(case)
    suite = junit_xml.TestSuite("gate lint", cases)
    return _postprocess(junit_xml.to_xml_report_string([suite], prettyprint=False), [0.0])


def sarif(findings: list[Finding]) -> str:
    rules = [{"id": r.id, "name": r.id, "shortDescription": {"text": r.summary},
              "fullDescription": {"text": f"{r.summary} ({r.source})"},
              "defaultConfiguration": {"level": _LEVEL[r.severity]},
              "helpUri": "https://github.com/promotion-gate/promotion-gate#gate-lint"} for r in RULES]
    index = {r.id: i for i, r in enumerate(RULES)}
    results = []
    for f in findings:
        message = f.message + (f"\nFix:\n{f.fix}" if f.fix else "")
        results.append({
            "ruleId": f.rule, "ruleIndex": index[f.rule], "level": _LEVEL[f.severity],
            "message": {"text": message},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": _rel(f.file), "uriBaseId": "%SRCROOT%"},
                "region": {"startLine": f.line}}}],
            "partialFingerprints": {"objectRule/v1": f"{f.rule}:{f.manifest.ref}"},
        })
    doc = {"$schema": SARIF_SCHEMA, "version": "2.1.0",
           "runs": [{"tool": {"driver": {"name": "promotion-gate lint", "version": gate.__version__,
                                         "informationUri": "https://github.com/promotion-gate/promotion-gate",
                                         "rules": rules}},
                     "results": results}]}
    return json.dumps(doc, indent=2) + "\n"
