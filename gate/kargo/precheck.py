"""P1: the "do not promote if" rules, each a row of the Pre-promotion section.

The rules themselves are entries in gate/kargo/rules.py (what each reads, its verdict, the upstream
source it follows); gate/kargo/readings.py gathers what they read, once. This module ties the two
together for `gate precheck` and `gate promote`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gate.kargo.freight import Selection
from gate.kargo.readings import gather
from gate.kargo.rows import section
from gate.kargo.rules import Flags, evaluate, phase_of, promotion_freight
from gate.model import Section, Status

__all__ = ["PrecheckOutcome", "phase_of", "promotion_freight", "run_precheck"]


@dataclass
class PrecheckOutcome:
    section: Section
    attach_to: dict | None = None  # a non-terminal Promotion for this Freight: follow it, create none
    already_current: bool = False  # current and verified in the target: nothing to promote
    target: dict = field(default_factory=dict)
    diagnose: str = ""  # the Stage whose diagnosis explains the failure, when not the target (an upstream)

    @property
    def ok(self) -> bool:
        """Promote may proceed only when every row passed: a FAIL or an ERROR row stops it."""
        return self.section.status == Status.PASS


def run_precheck(
    reader: Any,
    project: str,
    stage: str,
    sel: Selection,
    *,
    kube: Any = None,
    argocd_namespace: str = "argocd",
    retry_failed: bool = False,
    for_promote: bool = False,
    now: datetime | None = None,
) -> PrecheckOutcome:
    readings = gather(reader, project, stage, sel, kube=kube, argocd_namespace=argocd_namespace, now=now)
    done = evaluate(readings, Flags(retry_failed=retry_failed, for_promote=for_promote))
    return PrecheckOutcome(
        section=section("Pre-promotion", done.rows),
        attach_to=done.attach_to,
        already_current=done.already_current,
        target=readings.target,
        diagnose=done.diagnose,
    )
