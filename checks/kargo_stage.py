"""`kargo_stage`: the Kargo Stage is Healthy and Ready, and (when a Freight is expected) holds it, verified.

Current Kargo (v1.5+): conditions `Healthy` and `Ready` must both be True; otherwise their reason and
message are named (LastPromotionErrored, ReconcileError, ActivePromotion, ...). With an expected Freight
(param `freight`, else --freight), `status.freightHistory[0].items` must hold it, by name or by alias
(resolved through the Freight objects' `alias` field or `kargo.akuity.io/alias` label).

Ready=True is not enough on its own (upstream: akuity/kargo v1.11.2):
- Verified, and so Ready, stays True once *any* verification of the current Freight collection succeeded
  (pkg/controller/stages/regular_stages.go:1103-1121; Ready copies Verified at :2390-2397), so a failed
  re-verification leaves Ready=True. Whenever the Stage has a current collection (`freightHistory[0]`),
  its latest verification, `verificationHistory[0].phase`, must be Successful, Freight expected or not.
  Without `spec.verification` Kargo records one Successful entry with no AnalysisRun (:1242-1255), so
  "no verification configured" passes by the same rule. The failed AnalysisRun is named with its phase
  and message (Kargo copies the AnalysisRun's status.message into the entry, :1652-1663).
- Staleness: `metadata.generation` ahead of the Ready condition's `observedGeneration` or of
  `status.observedGeneration` means the controller has not reconciled the current spec yet: not ready.
  Each is compared only when written (a control-flow Stage's Ready has none, control_flow_stages.go:338).

Legacy Stages (Kargo <= v1.4) without a Ready condition carry `status.phase`
(NotApplicable|Steady|Promoting|Verifying|Failed; there never was a "Verified"): Steady counts as settled
when health allows, the others as not ready, and the observation says it read the legacy field.

Namespace: `namespace` (or `project`: a Kargo project's namespace is its name), else the settings'
kargo_namespace, else kargo_project. permissions() has no settings: call apply_settings() first.
"""

from __future__ import annotations

from typing import Any, ClassVar

from gate.checks.base import Check, Clients
from gate.checks.pods import condition, setting

from gate.cluster.kube import Permission
from gate.cluster.resources import DNS_SUBDOMAIN, FREIGHTS, STAGES
from gate.errors import EvaluationError
from gate.model import Observation

ALIAS_LABEL = "kargo.akuity.io/alias"
STICKY_NOTE = ("Ready=True is not enough: Kargo keeps Verified and Ready True after a failed re-verification "
               "once an earlier verification of this Freight succeeded")
_NAME = {"type": "string", "minLength": 1}


def describe(cond: dict | None, kind: str) -> str:
    if cond is None:
        return f"{kind} condition missing"
    text = f"{kind}={cond.get('status')}"
    if cond.get("reason"):
        text += f" ({cond['reason']})"
    return text + (f": {cond['message']}" if cond.get("message") else "")


def current_freight(stage: dict) -> tuple[list[str], dict | None]:
    """(names of the current Freight, its latest verification), modern or pre-v0.9 shape."""
    status = stage.get("status") or {}
    history = status.get("freightHistory") or []
    if history:
        items = history[0].get("items") or {}
        refs = items.values() if isinstance(items, dict) else items
        verifications = history[0].get("verificationHistory") or []
        return [r.get("name") for r in refs if r.get("name")], (verifications[0] if verifications else None)
    legacy = status.get("currentFreight") or {}
    name = legacy.get("name") or legacy.get("id")
    return ([name] if name else []), legacy.get("verificationInfo")


def has_collection(stage: dict) -> bool:
    """The Stage has a current Freight collection (`freightHistory[0]`, Kargo v0.9+)."""
    return bool((stage.get("status") or {}).get("freightHistory"))


def generation_lag(stage: dict) -> str | None:
    """Why the status describes an older spec than `metadata.generation`, or None.

    Kargo writes the Ready condition's observedGeneration on every pass and status.observedGeneration only
    when the Stage becomes Ready (regular_stages.go:2392-2402; control flow: control_flow_stages.go:354).
    """
    generation = (stage.get("metadata") or {}).get("generation")
    if not generation:
        return None
    ready = condition(stage, "Ready") or {}
    for label, observed in (("Ready.observedGeneration", ready.get("observedGeneration")),
                            ("status.observedGeneration", (stage.get("status") or {}).get("observedGeneration"))):
        if observed and int(observed) < int(generation):
            return f"status stale: {label} {observed} < metadata.generation {generation}"
    return None


def verification_line(verification: dict) -> str:
    """The latest verification with its AnalysisRun (name, phase) and message, for the evidence."""
    run = verification.get("analysisRun") or {}
    line = f"latest verification: {verification.get('phase') or 'Unknown'}"
    if run.get("name"):
        where = f"{run['namespace']}/{run['name']}" if run.get("namespace") else run["name"]
        line += f" (AnalysisRun {where}" + (f", phase {run['phase']})" if run.get("phase") else ")")
    elif verification.get("phase") == "Successful":
        line += " (no AnalysisRun: no verification configured)"
    return line + (f": {verification['message']}" if verification.get("message") else "")


def freight_alias(freight: dict) -> str | None:
    return freight.get("alias") or ((freight.get("metadata") or {}).get("labels") or {}).get(ALIAS_LABEL)


def is_control_flow(stage: dict) -> bool:
    """A Stage without promotion steps only passes Freight on; Kargo gives it no Healthy condition."""
    template = ((stage.get("spec") or {}).get("promotionTemplate") or {}).get("spec") or {}
    return bool(stage.get("spec")) and not template.get("steps")


def conditions_verdict(stage: dict) -> tuple[bool, str, list[str]]:
    """(ready, observed, evidence) from the Healthy and Ready conditions."""
    healthy, ready = condition(stage, "Healthy"), condition(stage, "Ready")
    evidence = [describe(ready, "Ready")]
    if healthy is not None or not is_control_flow(stage):
        evidence.append(describe(healthy, "Healthy"))
    if ready is None:
        return False, "not Ready: no Ready condition yet", evidence
    if ready.get("status") != "True":
        return False, f"not Ready: {ready.get('reason') or ready.get('status')}", evidence
    if healthy is None and is_control_flow(stage):
        return True, f"Ready ({ready.get('reason') or 'True'}, control-flow Stage)", evidence
    if healthy is None or healthy.get("status") != "True":
        return False, f"not Healthy: {(healthy or {}).get('reason') or 'no Healthy condition'}", evidence
    return True, f"Ready ({ready.get('reason') or 'True'})", evidence


def legacy_verdict(stage: dict) -> tuple[bool, str, list[str]]:
    """(ready, observed, evidence) from status.phase (Kargo <= v1.4)."""
    status = stage.get("status") or {}
    phase = status.get("phase")
    health = (status.get("health") or {}).get("status")
    evidence = [f"legacy Stage status (Kargo <= v1.4): status.phase={phase}"]
    if status.get("message"):
        evidence.append(f"status.message: {status['message']}")
    if health:
        evidence.append(f"health: {health}")
    healthy = condition(stage, "Healthy")
    if healthy:
        evidence.append(describe(healthy, "Healthy"))
    settled = phase == "Steady" and health in (None, "Healthy") and (
        healthy is None or healthy.get("status") == "True")
    if settled:
        return True, "Steady (legacy status.phase)", evidence
    why = f"phase {phase}" if phase != "Steady" else f"health {health or describe(healthy, 'Healthy')}"
    return False, f"not ready: {why} (legacy status.phase)", evidence


class KargoStageCheck(Check):
    kind = "kargo_stage"
    summary = ("The Kargo Stage is Healthy and Ready, its status observed its current spec, the latest "
               "verification of its current Freight is Successful and, with an expected Freight, it holds it.")
    segments: ClassVar[dict[str, str]] = {"stage": "subdomain", "namespace": "label", "project": "label"}
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "stage": {**_NAME, "description": "Stage name (default: the stage being verified)"},
            "namespace": {**_NAME, "description": "project namespace (default: kargo_namespace)"},
            "project": {**_NAME, "description": "Kargo project (its namespace has the same name)"},
            "freight": {**_NAME,
                        "description": "Freight name or alias expected current (default: --freight)"},
        },
    }

    def apply_settings(self, settings: Any) -> None:
        """Pin the namespace from the settings, so permissions() names the right one."""
        if not self.params.get("namespace") and not self.params.get("project"):
            ns = getattr(settings, "kargo_namespace", None) or getattr(settings, "kargo_project", None)
            if ns:
                self.params["namespace"] = ns

    def needs_settings(self) -> dict[str, str]:
        if self.params.get("namespace") or self.params.get("project"):
            return {}
        return {"kargo_namespace": "namespace"}

    @property
    def stage(self) -> str | None:
        return self.params.get("stage")

    def default_name(self) -> str:
        return f"Kargo Stage {self.stage or '(current)'} healthy and ready"

    def ident(self) -> str:
        return self.stage or "stage"

    def namespace(self, clients: Clients | None = None) -> str | None:
        explicit = self.params.get("namespace") or self.params.get("project")
        if explicit or clients is None:
            return explicit
        return setting(clients, "kargo_namespace") or setting(clients, "kargo_project")

    def permissions(self) -> list[Permission]:
        ns = self.namespace()
        # Freight is read by name (the current ones, and the expected one when it is a name), any name
        return [Permission("get", STAGES.plural, STAGES.group, ns, self.stage),
                Permission("get", FREIGHTS.plural, FREIGHTS.group, ns)]

    def observe(self, clients: Clients) -> Observation:
        view = clients.need_view()
        ns = self.namespace(clients)
        if not self.stage or not ns:
            raise EvaluationError("kargo_stage needs a stage and a project namespace "
                                  "(params stage/namespace, or kargo_namespace in the settings)")
        stage = view.get(STAGES, self.stage, ns)
        wanted = self.params.get("freight") or clients.freight
        expected = "Healthy=True and Ready=True"
        if wanted:
            expected += f", Freight {wanted} current and verified"
        if stage is None:
            return Observation(ok=False, observed="Stage not found", expected=expected,
                               evidence=[f"{ns}/{self.stage}: not found"],
                               hint=f"Check the stage name: kubectl get stages -n {ns}")
        status = stage.get("status") or {}
        if condition(stage, "Ready") is None and status.get("phase"):
            ok, observed, evidence = legacy_verdict(stage)
        else:
            ok, observed, evidence = conditions_verdict(stage)
        names, verification = current_freight(stage)
        # The current Freight by name, for their aliases: the expected Freight (a name or an alias) is
        # current only if it is one of them or one of them carries its alias, so nothing else is read.
        read = [n for n in names if n and DNS_SUBDOMAIN.match(n) and len(n) <= 253]
        freights = [f for f in view.named(FREIGHTS, read, ns).values() if f] if wanted else []
        labels = {(f.get("metadata") or {}).get("name"): freight_alias(f) for f in freights}
        shown = ", ".join(f"{n} ({labels[n]})" if labels.get(n) else n for n in names) or "none"
        evidence.append(f"current Freight: {shown}")
        if verification:
            evidence.append(verification_line(verification))
        stale = generation_lag(stage)
        if stale:
            evidence.append(stale)
        problems = self._problems(stage, ok, wanted, names, verification, labels)
        if problems:
            if ok and any("not verified" in problem for problem in problems):
                evidence.append(STICKY_NOTE)
            observed = "; ".join(([] if ok else [observed]) + problems)
            ok = False
        elif wanted and ok:
            observed += f"; Freight {wanted} current and verified"
        return Observation(ok=ok, observed=observed, expected=expected, evidence=evidence,
                           hint="" if ok else self._hint(ns, verification))

    def _hint(self, ns: str, verification: dict | None) -> str:
        run = (verification or {}).get("analysisRun") or {}
        if run.get("name") and (verification or {}).get("phase") != "Successful":
            return (f"Read why the verification did not succeed: kubectl get analysisrun -n "
                    f"{run.get('namespace') or ns} {run['name']} -o yaml (status.metricResults)")
        return (f"See the Stage: kubectl get stage -n {ns} {self.stage} -o yaml "
                f"(conditions, freightHistory[0].verificationHistory)")

    @classmethod
    def _problems(cls, stage: dict, ready: bool, wanted: str | None, names: list[str],
                  verification: dict | None, aliases: dict[str | None, str | None]) -> list[str]:
        """What keeps the Stage from passing beyond its conditions, in report order.

        An expected Freight's problems are always named; the others (staleness, the latest verification
        of whatever is current) only when the conditions alone would pass, so a Stage that is plainly
        not Ready is not described twice.
        """
        problems: list[str] = []
        if wanted:
            freight_ok, why = cls._freight_verdict(wanted, names, verification, aliases)
            if not freight_ok:
                problems.append(why)
        if not ready:
            return problems
        stale = generation_lag(stage)
        if stale:
            problems.insert(0, stale)
        if not wanted and has_collection(stage) and (verification or {}).get("phase") != "Successful":
            phase = (verification or {}).get("phase")
            problems.append(f"current Freight not verified (latest verification: {phase or 'none yet'})")
        return problems

    @staticmethod
    def _freight_verdict(wanted: str, names: list[str], verification: dict | None,
                         aliases: dict[str | None, str | None]) -> tuple[bool, str]:
        """Is `wanted` (name or alias) the current Freight, and did its latest verification succeed?"""
        matches = {wanted} | {name for name, alias in aliases.items() if alias == wanted and name}
        if not matches & set(names):
            return False, f"Freight {wanted} is not current"
        phase = (verification or {}).get("phase")
        if phase != "Successful":
            return False, f"Freight {wanted} not verified (latest verification: {phase or 'none yet'})"
        return True, ""
