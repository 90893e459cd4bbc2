"""D7: the DIAGNOSIS block exactly as the guide prints it, plus JSON and JUnit. Every text is masked."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from gate.diagnose.tree import Diagnosis
from gate.diagnose.view import View, health_text, phase_text
from gate.errors import EXIT_CLOSED, EXIT_PASS, EXIT_UNEVALUATED
from gate.redact import redact
from gate.reports.common import write_atomic

SCHEMA = "gate.diagnose/v1"
RISK_LEGEND = ["  LOW = Safe to apply, easily reversible",
               "  MEDIUM = Requires careful execution, may cause brief disruption",
               "  HIGH = Nuclear option, will cause temporary pipeline disruption"]
CORE_SOURCES = ("stages", "promotions", "freight")


@dataclass
class StageReport:
    stage: str
    phase: str
    health: str
    diagnoses: list[Diagnosis]
    unread: dict[str, str] = field(default_factory=dict)

    @property
    def cause(self) -> Diagnosis | None:
        return next((d for d in self.diagnoses if d.kind == "root-cause"), None)

    @property
    def problem(self) -> bool:
        return any(d.problem for d in self.diagnoses)

    @property
    def incomplete(self) -> bool:
        """Nothing found, but a source the tree needs could not be read: not a clean bill of health."""
        return not self.problem and any(s in self.unread for s in CORE_SOURCES)


def stage_report(view: View, diagnoses: list[Diagnosis]) -> StageReport:
    return StageReport(view.name, phase_text(view), health_text(view), diagnoses, dict(view.unread))


def order(reports: list[StageReport]) -> list[StageReport]:
    """Unhealthy first (root causes, then notes only), then the fine ones; stable by name within."""
    def rank(r: StageReport) -> int:
        return 0 if r.problem else 1 if r.incomplete else 2 if r.diagnoses else 3
    return sorted(reports, key=lambda r: (rank(r), r.stage))


def exit_code(reports: list[StageReport]) -> int:
    if any(r.problem for r in reports):
        return EXIT_CLOSED
    if any(r.incomplete for r in reports):
        return EXIT_UNEVALUATED
    return EXIT_PASS


# -- text --------------------------------------------------------------------------------------
def block(r: StageReport) -> str:
    """One DIAGNOSIS block (D7)."""
    lines = ["DIAGNOSIS", "=========", f"Stage: {r.stage}", f"Phase: {r.phase}", f"Health: {r.health}", ""]
    main = r.cause or (r.diagnoses[0] if r.diagnoses else None)
    if main is None:
        lines += ["Root Cause: none found: the Stage is Ready; the problem is elsewhere (D4 step 1)"
                  if not r.incomplete else "Root Cause: undetermined: sources the tree needs could not be read",
                  "Evidence:", f"  - Stage {r.stage}: {r.phase}", "", "Recommended Fix:", "  1. nothing to fix",
                  "", "Risk Level: LOW", *RISK_LEGEND]
    else:
        lines += [f"Root Cause: {main.root_cause}", "Evidence:"]
        lines += [f"  - {e}" for e in main.evidence] or ["  - (none)"]
        lines += ["", "Recommended Fix:"]
        lines += [f"  {i}. {step}" for i, step in enumerate(main.fix, 1)]
        lines += [f"  {len(main.fix) + 1}. Verify: {main.verify}", "", f"Risk Level: {main.risk}", *RISK_LEGEND,
                  "", f"Rule: {main.rule} ({'root cause' if main.kind == 'root-cause' else 'gotcha'}"
                  f"{'' if main.problem else ', nothing to repair yet'}); reference: {main.ref}"]
    notes = [d for d in r.diagnoses if d is not main]
    if notes:
        lines += ["", "Also detected (D5 gotchas):"]
        for d in notes:
            lines += [f"  - [{d.rule}] {d.root_cause}", f"    fix: {'; '.join(d.fix)}",
                      f"    verify: {d.verify} (risk {d.risk})"]
    if r.unread:
        lines += ["", "Could not read:"] + [f"  - {src}: {why}" for src, why in sorted(r.unread.items())]
    return redact("\n".join(lines))


def cluster_groups(reports: list[StageReport]) -> list[list[StageReport]]:
    """Reports in order, those whose root cause spans the cluster (the same rule and text, scope "cluster",
    e.g. the Kargo controller down) gathered into one group at the place of the first."""
    groups: list[list[StageReport]] = []
    by_cause: dict[tuple[str, str], list[StageReport]] = {}
    for r in reports:
        c = r.cause
        key = (c.rule, c.root_cause) if c is not None and c.scope == "cluster" else None
        if key is not None and key in by_cause:
            by_cause[key].append(r)
            continue
        groups.append([r])
        if key is not None:
            by_cause[key] = groups[-1]
    return groups


def render_text(reports: list[StageReport]) -> str:
    shown = [r for r in order(reports) if r.diagnoses or r.incomplete]
    fine = [r for r in order(reports) if r not in shown]
    if len(reports) == 1:
        return block(reports[0]) + "\n"
    parts = []
    for group in cluster_groups(shown):
        if len(group) == 1:
            parts.append(block(group[0]))
            continue
        names = ", ".join(r.stage for r in group)
        text = block(group[0]).replace(f"Stage: {group[0].stage}\n",
                                       f"Stages: {names} (one cause for the whole cluster)\n", 1).replace(
            "\nPhase: ", f"\nPhase ({group[0].stage}): ", 1).replace("\nHealth: ", f"\nHealth ({group[0].stage}): ", 1)
        for r in group[1:]:
            notes = [d for d in r.diagnoses if d is not r.cause]
            if notes:
                text += f"\n\nStage {r.stage}, also detected:\n" + "\n".join(
                    f"  - [{d.rule}] {d.root_cause}\n    fix: {'; '.join(d.fix)}" for d in notes)
        parts.append(redact(text))
    if fine:
        parts.append("Fine (Ready, nothing detected): " + ", ".join(r.stage for r in fine))
        unread = {src: why for r in fine for src, why in r.unread.items()}
        if unread:  # never a silent gap, even when nothing was found
            parts.append("\n".join(["Could not read:"] + [f"  - {k}: {v}" for k, v in sorted(unread.items())]))
    return redact("\n\n".join(parts)) + "\n"


# -- JSON --------------------------------------------------------------------------------------
def as_json(reports: list[StageReport], *, project: str, namespace: str) -> str:
    doc = {"schema": SCHEMA, "project": project, "namespace": namespace, "exit_code": exit_code(reports),
           "stages": [{"stage": r.stage, "phase": r.phase, "health": r.health, "problem": r.problem,
                       "incomplete": r.incomplete, "root_cause": r.cause.as_dict() if r.cause else None,
                       "diagnoses": [d.as_dict() for d in r.diagnoses], "unread": r.unread}
                      for r in order(reports)]}
    return redact(json.dumps(doc, indent=2, default=str))


# -- JUnit -------------------------------------------------------------------------------------
def render_junit(reports: list[StageReport], *, project: str) -> str:
    """A testsuite "Diagnose", a testcase per Stage; a root cause is a failure with the DIAGNOSIS block as
    its body (and system-out), so CI test views show it. Valid against the strict junit-10.xsd."""
    import junit_xml

    from gate.reports.junit import _postprocess

    cases = []
    for r in order(reports):
        text = block(r)
        case = junit_xml.TestCase(f"diagnose {r.stage}", classname=f"gate.diagnose.{r.stage}", elapsed_sec=0.0,
                                  stdout=text)
        if r.problem:
            main = r.cause or r.diagnoses[0]
            case.add_failure_info(message=redact(f"{main.rule}: {main.root_cause}")[:500], output=text,
                                  failure_type="RootCause")
        elif r.incomplete:
            case.add_error_info(message="could not read what the diagnosis needs", output=text,
                                error_type="CouldNotEvaluate")
        cases.append(case)
    suite = junit_xml.TestSuite("Diagnose", cases, properties={"project": project, "command": "diagnose"})
    return _postprocess(junit_xml.to_xml_report_string([suite], prettyprint=False), [0.0])


def write_junit(reports: list[StageReport], path: str | os.PathLike[str], *, project: str) -> None:
    write_atomic(path, render_junit(reports, project=project))
