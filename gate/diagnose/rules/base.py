"""The shape every diagnose rule has (a Rule is one declarative entry) and what it produces (a Diagnosis)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from gate.diagnose.view import View

LOW, MEDIUM, HIGH = "LOW", "MEDIUM", "HIGH"
STUCK_AFTER = 15 * 60  # D4: an active Promotion older than 15 minutes is likely stuck
ERRORED = ("LastPromotionErrored", "LastPromotionFailed")
VERIFY_FAILED = ("VerificationFailed", "VerificationError", "VerificationAborted", "VerificationInconclusive")
IN_PROGRESS = ("VerificationPending", "VerificationRunning", "WaitingForVerification", "WaitingForHealthCheck",
               "PendingVerification")


@dataclass(frozen=True)
class Rule:
    id: str
    branch: str  # where in the guide's tree (D4 step / D5 gotcha)
    when: Callable[[View], bool]
    cause: Callable[[View], str]
    evidence: Callable[[View], list[str]]
    fix: Callable[[View], list[str]]
    verify: Callable[[View], str]
    risk: str
    ref: str
    problem: bool = True  # False: nothing to repair yet (wait); alone it does not make `diagnose` exit 1
    scenario: str = ""  # defaults to the id
    scope: str = "stage"  # "cluster": the cause is the same for every Stage (printed once, naming them)

    @property
    def world(self) -> str:
        return self.scenario or self.id


@dataclass
class Diagnosis:
    stage: str
    rule: str
    kind: str  # "root-cause" | "gotcha"
    phase: str
    health: str
    root_cause: str
    evidence: list[str]
    fix: list[str]
    verify: str
    risk: str
    ref: str
    problem: bool = True
    unread: dict[str, str] = field(default_factory=dict)
    scope: str = "stage"  # "cluster": the same cause for every Stage (the text report prints it once)

    def as_dict(self) -> dict:
        return dict(self.__dict__)



GUIDE = "seeds/gitops-master/SKILL.md"
RS = "pkg/controller/stages/regular_stages.go"
