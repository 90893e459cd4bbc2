"""A simulated Kargo controller: the Promotion and Stage reconcilers of akuity/kargo v1.11.2, condensed.

Driven by the scenario's `kargo:` block (durations in scenario seconds):

    kargo:
      promotion: {pending: 1, running: 3, outcome: Succeeded, step: argocd-update, message: "..."}
      verification: {pending: 1, running: 3, outcome: Successful, message: "...",
                      metrics: [{name: error-rate, phase: Failed, message: "..."}]}

`verification.outcome` may be a list: the n-th verification takes the n-th outcome (the last repeats),
so a scenario can verify once and fail a re-verification.

Each tick, like Kargo's reconcilers (line numbers at v1.11.2):

- Promotions (pkg/controller/promotions/promotions.go): "" → Pending; a Pending Promotion starts only
  when it heads its Stage's queue (pkg/api/promotion.go:203) and the Stage lets the next one start
  (regular_stages.go:822-845: not while the current Freight's verification runs); availability is
  checked again when it starts (promotions.go:567, Errored if no longer available); Running → terminal.
- Stage verification (regular_stages.go:1073-1272): the current Freight of a Healthy Stage with no
  verification yet, or with a re-verification requested (`kargo.akuity.io/reverify`), is verified: no
  `spec.verification` → one Successful entry and no AnalysisRun (~1240-1256); else an AnalysisRun. Verified
  stays True once any verification of the collection succeeded (~1102-1121), and Ready copies it (~2394).
  A running verification the simulator did not start (one a scenario loads) follows its AnalysisRun's
  phase (getVerificationResult ~1591-1665); the ones it starts finish on the `verification:` timings.
- Freight.status.verifiedIn after a Successful verification (markFreightVerifiedForStage ~1278);
  currentlyIn moves, recording longestSoak (api/v1alpha1/freight_types.go:215).
- Auto-promotion (regular_stages.go:1893-2033) for Stages with status.autoPromotionEnabled: the
  candidate of pkg/api/auto_promotion.go, skipped when current, awaited, held, already in flight, or
  when its newest terminal Promotion did not succeed (the anti-loop rule).
- Events as Kargo sends them: always `Normal` (pkg/event/kubernetes/sender.go:99), reason = event type,
  `event.kargo.akuity.io/*` annotations (api/v1alpha1/event.go).

The rules themselves live in gate/sim/kargo_rules.py, never in the gate's own code.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gate.sim import kargo_rules as rules
from gate.sim import scenario as scen
from gate.sim.store import StoreError, now_rfc3339

K = "kargo.akuity.io"
TERMINAL = rules.TERMINAL_PROMOTION
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
STAGE_CONTROLLER = "stage-controller"  # regular_stages.go:61
PROMOTION_CONTROLLER = "promotion-controller"  # promotions.go:46
EV = "event.kargo.akuity.io/"
HOLD = f"{K}/auto-promotion-hold"  # api/v1alpha1/annotations.go:14
RESUME = f"{K}/auto-promotion-resume"  # api/v1alpha1/annotations.go:21


def ulid() -> str:
    """A lower-case ULID: 48-bit milliseconds then 80 random bits, Crockford base32."""
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> (5 * i)) & 31] for i in reversed(range(26)))


def promotion_name(stage: str, freight: str) -> str:
    return f"{stage[:218]}.{ulid()}.{freight[:7]}".lower()


def cond(kind: str, status: str, reason: str, message: str, generation: int = 1) -> dict:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": now_rfc3339(),
    }


@dataclass
class _Track:
    since: float  # scenario seconds when the current phase began
    phase: str = ""


@dataclass
class _Verify:
    namespace: str
    stage: str
    freight: str
    promotion: str
    since: float
    outcome: str
    actor: str = ""
    vid: str = field(default_factory=lambda: str(uuid.uuid4()))
    run: str = ""
    phase: str = "Pending"
    started: str = field(default_factory=now_rfc3339)
    message: str = ""  # from the AnalysisRun when Kargo follows one it did not start


class KargoController:
    def __init__(self, handle: Any, config: dict) -> None:
        self.handle, self.store = handle, handle.store
        self.promo_cfg = {
            "pending": 1.0,
            "running": 3.0,
            "outcome": "Succeeded",
            **(config.get("promotion") or {}),
        }
        self.verify_cfg = {
            "pending": 1.0,
            "running": 3.0,
            "outcome": "Successful",
            **(config.get("verification") or {}),
        }
        self.legacy = bool(config.get("legacy"))
        # argocd-update steps request syncs only when the simulated Argo CD runs them (scenario.py)
        self.argocd = scen.controllers_enabled(getattr(handle, "scenario", {}) or {})["argocd"]
        self._tracks: dict[str, _Track] = {}
        self._verifs: dict[str, _Verify] = {}
        self._runs = 0  # verifications started, to pick the n-th outcome
        self._pass_started = now_rfc3339()
        self._lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------------
    def _stage(self, ns: str, name: str) -> dict | None:
        return self.store.get(K, "stages", ns, name)

    def _patch_status(self, plural: str, ns: str, name: str, status: dict, group: str = K) -> None:
        try:
            self.store.merge_patch(group, plural, ns, name, {"status": status}, subresource="status")
        except StoreError as err:
            print(f"gate sim kargo: {plural}/{name}: {err.message}")

    def _next_outcome(self) -> str:
        outcome = self.verify_cfg["outcome"]
        if isinstance(outcome, list):
            picked = outcome[min(self._runs, len(outcome) - 1)] if outcome else "Successful"
        else:
            picked = outcome
        self._runs += 1
        return str(picked)

    def event(
        self,
        ns: str,
        kind: str,
        name: str,
        reason: str,
        message: str,
        annotations: dict[str, str] | None = None,
        component: str = STAGE_CONTROLLER,
    ) -> None:
        """A Kargo event: always type Normal (pkg/event/kubernetes/sender.go:99), reason = event type."""
        now = now_rfc3339()
        self.store.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {
                    "name": f"{name}.{secrets.token_hex(8)}",
                    "namespace": ns,
                    "annotations": {f"{EV}project": ns, **(annotations or {})},
                },
                "involvedObject": {
                    "apiVersion": f"{K}/v1alpha1",
                    "kind": kind,
                    "name": name,
                    "namespace": ns,
                },
                "reason": reason,
                "message": message,
                "type": "Normal",
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": component},
            }
        )

    def promotion_event(self, promo: dict, reason: str, message: str, actor: str, extra: dict | None = None,
                        component: str = PROMOTION_CONTROLLER) -> None:
        """pkg/event/promotion.go: the actor is the Promotion's create-actor when it has one (~119)."""
        meta = promo["metadata"]
        ns = meta["namespace"]
        freight = self.store.get(K, "freights", ns, promo["spec"]["freight"]) or {}
        notes = {
            f"{EV}actor": (meta.get("annotations") or {}).get(f"{K}/create-actor") or actor,
            f"{EV}promotion-name": meta["name"],
            f"{EV}stage-name": promo["spec"]["stage"],
            f"{EV}promotion-create-time": meta.get("creationTimestamp") or now_rfc3339(),
            **_freight_annotations(freight, promo["spec"]["stage"]),
            **(extra or {}),
        }
        self.event(ns, "Promotion", meta["name"], reason, message, notes, component)

    def create_promotion(self, ns: str, stage: dict, freight: str, actor: str) -> dict:
        """What the API server + webhook do: generated name, stage label, steps copied from the Stage."""
        name = stage["metadata"]["name"]
        template = ((stage.get("spec") or {}).get("promotionTemplate") or {}).get("spec") or {}
        promo = {
            "apiVersion": f"{K}/v1alpha1",
            "kind": "Promotion",
            "metadata": {
                "name": promotion_name(name, freight),
                "namespace": ns,
                "labels": {f"{K}/stage": name[:63]},
                # auto-promotions carry no create-actor (api.NewMinimalPromotion); users' ones do
                "annotations": {f"{K}/stage": name, **({f"{K}/create-actor": actor} if actor else {})},
                "ownerReferences": [
                    {
                        "apiVersion": f"{K}/v1alpha1",
                        "kind": "Stage",
                        "name": name,
                        "uid": stage["metadata"].get("uid", ""),
                        "controller": True,
                        "blockOwnerDeletion": True,
                    }
                ],
            },
            "spec": {
                "stage": name,
                "freight": freight,
                "steps": template.get("steps") or [],
                **({"vars": template["vars"]} if template.get("vars") else {}),
            },
        }
        self.stamp_intent(promo, stage)
        return self.store.create(promo)

    # -- the loop --------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        # Kargo stamps a verification's startTime with the start of the Stage's reconcile pass
        # (regular_stages.go:367, 1245, 1437), which can precede a Promotion that finished during the
        # pass; `verification.reconcile_started_before: 1` makes that race happen every time.
        skew = float(self.verify_cfg.get("reconcile_started_before") or 0)
        self._pass_started = (datetime.now(UTC) - timedelta(seconds=skew)).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self._lock:
            for promo in rules.queue_order(self.store.list(K, "promotions")):
                self._advance(promo, now)
            for stage in self.store.list(K, "stages"):
                if rules.is_control_flow(stage):
                    self._control_flow(stage)
                else:
                    self._verify_stage(stage, now)
            for stage in self.store.list(K, "stages"):
                if not rules.is_control_flow(stage):
                    self._auto_promote(stage)

    # -- Promotions ------------------------------------------------------------------------------
    def _advance(self, promo: dict, now: float) -> None:
        meta, status = promo["metadata"], promo.get("status") or {}
        phase = status.get("phase") or ""
        if phase in TERMINAL:
            return
        key = f"{meta['namespace']}/{meta['name']}"
        track = self._tracks.setdefault(key, _Track(now, phase))
        ns, stage_name = meta["namespace"], promo["spec"]["stage"]
        stage = self._stage(ns, stage_name)
        if stage is None:
            return
        abort = (meta.get("annotations") or {}).get(f"{K}/abort")
        if abort:
            self._finish(promo, stage, "Aborted", _abort_message(abort))
            return
        if phase == "":
            self._patch_status("promotions", ns, meta["name"], {"phase": "Pending"})
            track.phase, track.since = "Pending", now
            return
        if phase == "Pending":
            if not self._is_next(promo, stage):
                return
            if now - track.since < float(self.promo_cfg["pending"]):
                return
            self._start(promo, stage)
            track.phase, track.since = "Running", now
            return
        steps = promo["spec"].get("steps") or []
        running = float(self.promo_cfg["running"])
        if now - track.since < running:
            idx = (
                min(len(steps) - 1, int((now - track.since) / max(running, 0.001) * len(steps)))
                if steps
                else 0
            )
            if int(status.get("currentStep") or 0) != idx:
                self._patch_status(
                    "promotions",
                    ns,
                    meta["name"],
                    {"currentStep": idx, "stepExecutionMetadata": self._steps(promo, idx)},
                )
            return
        outcome = self.promo_cfg["outcome"]
        message = self.promo_cfg.get("message") or ""
        self._finish(promo, stage, outcome, message)

    def _is_next(self, promo: dict, stage: dict) -> bool:
        """The Stage picks the Promotion to run (promotions.go:372): the head of its queue, and only
        once the current Freight's verification allows it (regular_stages.go:822-845)."""
        st = stage.get("status") or {}
        current = (st.get("currentPromotion") or {}).get("name")
        if current:
            return current == promo["metadata"]["name"]
        name = stage["metadata"]["name"]
        queue = [
            p
            for p in rules.queue_order(self.store.list(K, "promotions", promo["metadata"]["namespace"]))
            if p["spec"].get("stage") == name and (p.get("status") or {}).get("phase") not in TERMINAL
        ]
        if not queue or queue[0]["metadata"]["name"] != promo["metadata"]["name"]:
            return False
        return rules.may_start_next(st)

    def _steps(self, promo: dict, idx: int, final: str | None = None) -> list[dict]:
        steps = promo["spec"].get("steps") or []
        out = []
        failing = self.promo_cfg.get("step")
        for i, step in enumerate(steps[: idx + 1]):
            alias = step.get("as") or f"step-{i}"
            if not step.get("as") and step.get("uses"):
                alias = step["uses"] if sum(1 for s in steps if s.get("uses") == step["uses"]) == 1 else alias
            entry = {"alias": alias, "startedAt": now_rfc3339(), "status": "Running"}
            if i < idx or final == "Succeeded":
                entry.update(status="Succeeded", finishedAt=now_rfc3339())
            elif final in ("Failed", "Errored", "Aborted"):
                entry.update(status=final, finishedAt=now_rfc3339())
                if final != "Aborted":
                    entry.update(
                        errorCount=1, message=self.promo_cfg.get("message") or f"step {alias} {final}"
                    )
            out.append(entry)
        if failing and final in ("Failed", "Errored"):
            for entry in out:
                if entry["alias"] == failing:
                    entry.update(
                        status=final, errorCount=1, message=self.promo_cfg.get("message") or "failed"
                    )
        return out

    def _start(self, promo: dict, stage: dict) -> None:
        ns, name = promo["metadata"]["namespace"], promo["metadata"]["name"]
        freight_name = promo["spec"]["freight"]
        freight = self.store.get(K, "freights", ns, freight_name)
        stage_name = stage["metadata"]["name"]
        stage_status: dict[str, Any] = {
            "currentPromotion": {"name": name, "freight": _ref(freight or {}, freight_name)},
        }
        gen = _generation(stage)
        promoting = cond("Promoting", "True", "ActivePromotion", f'Promotion "{name}" is currently Running', gen)
        stage_status["conditions"] = _replace_conditions(
            stage,
            [
                promoting,
                cond("Ready", "False", "ActivePromotion", promoting["message"], gen),
                cond("Healthy", "Unknown", "ActivePromotion", "A Promotion is in progress", gen),
            ],
        )
        if self.legacy:
            stage_status["phase"] = "Promoting"
        self._patch_status("stages", ns, stage_name, stage_status)
        self._patch_status(
            "promotions",
            ns,
            name,
            {
                "phase": "Running",
                "startedAt": now_rfc3339(),
                "currentStep": 0,
                "freight": _ref(freight or {}, freight_name),
                "stepExecutionMetadata": self._steps(promo, 0),
            },
        )
        # promotions.go:560-575: the Freight must still exist and be available when the Promotion runs.
        if freight is None:
            msg = f'Freight "{freight_name}" not found in namespace "{ns}"'
        elif not rules.is_available(stage, freight):
            msg = f'Freight "{freight_name}" is not available to Stage "{stage_name}" in namespace "{ns}"'
        else:
            if self.argocd:
                self._request_syncs(promo)
            return
        fresh = self.store.get(K, "promotions", ns, name) or promo
        self._finish(fresh, self._stage(ns, stage_name) or stage, "Errored", msg, started=False)

    def _request_syncs(self, promo: dict) -> None:
        """The argocd-update step (pkg/promotion/runner/builtin/argocd_updater.go:580-640): hard refresh,
        a new `operation` initiated by the Promotion's creator (or kargo-controller, automated), and no
        operationState until Argo CD (gate/sim/argocd_controller.py) records the sync."""
        actor = (promo["metadata"].get("annotations") or {}).get(f"{K}/create-actor") or ""
        for step in promo["spec"].get("steps") or []:
            if step.get("uses") != "argocd-update":
                continue
            for app in (step.get("config") or {}).get("apps") or []:
                name, app_ns = app.get("name"), app.get("namespace") or "argocd"
                if not name or self.store.get("argoproj.io", "applications", app_ns, name) is None:
                    continue
                operation = {
                    "initiatedBy": {"username": actor or "kargo-controller", "automated": not actor},
                    "info": [
                        {"name": "Reason", "value": "Promotion triggered a sync of this Application resource."},
                        {"name": "kargo.akuity.io/promotion", "value": promo["metadata"]["name"]},
                    ],
                    "sync": {"revisions": []},
                }
                try:
                    self.store.merge_patch(
                        "argoproj.io",
                        "applications",
                        app_ns,
                        name,
                        {
                            "metadata": {"annotations": {"argocd.argoproj.io/refresh": "hard"}},
                            "operation": operation,
                            "status": {"operationState": None},
                        },
                    )
                except StoreError as err:
                    print(f"gate sim kargo: applications/{name}: {err.message}")

    def _finish(self, promo: dict, stage: dict, outcome: str, message: str, started: bool = True) -> None:
        meta = promo["metadata"]
        ns, name, stage_name = meta["namespace"], meta["name"], stage["metadata"]["name"]
        freight_name = promo["spec"]["freight"]
        freight = self.store.get(K, "freights", ns, freight_name) or {}
        steps = promo["spec"].get("steps") or []
        idx = (
            max(0, len(steps) - 1)
            if outcome == "Succeeded"
            else int((promo.get("status") or {}).get("currentStep") or 0)
        )
        if outcome in ("Failed", "Errored") and self.promo_cfg.get("step") and started:
            aliases = [s.get("as") or s.get("uses") for s in steps]
            if self.promo_cfg["step"] in aliases:
                idx = aliases.index(self.promo_cfg["step"])
        if outcome not in ("Succeeded", "Aborted") and not message:
            message = f"step {idx} failed"
        collection = _collection(freight, freight_name)
        status = {
            "phase": outcome,
            "finishedAt": now_rfc3339(),
            "currentStep": idx,
            "freight": _ref(freight, freight_name),
            "freightCollection": collection,
            "stepExecutionMetadata": self._steps(promo, idx, outcome) if started else [],
        }
        if message:
            status["message"] = message
        if not (promo.get("status") or {}).get("startedAt"):
            status["startedAt"] = now_rfc3339()
        self._patch_status("promotions", ns, name, status)
        final = self.store.get(K, "promotions", ns, name) or promo
        old = stage.get("status") or {}
        gen = _generation(stage)
        last = {
            "name": name,
            "freight": _ref(freight, freight_name),
            "status": final.get("status") or {},
            "finishedAt": status["finishedAt"],
        }
        update: dict[str, Any] = {"currentPromotion": None, "lastPromotion": last}
        holds = self._replay_intent(final, stage, outcome)
        if holds is not None:
            update["autoPromotionHolds"] = holds or None
        conditions = [c for c in old.get("conditions") or [] if c.get("type") != "Promoting"]
        if outcome == "Succeeded":
            # regular_stages.go:766-800: record the collection, Healthy/Verified wait for their checks.
            update["freightHistory"] = [collection, *(old.get("freightHistory") or [])][:10]
            update["freightSummary"] = freight_name
            update["health"] = {"status": "Healthy"}  # the sim's Argo CD is healthy at once
            conditions = _set(conditions, cond("Healthy", "True", "Healthy", "Stage is healthy", gen))
            conditions = _set(
                conditions,
                cond(
                    "Verified",
                    "Unknown",
                    "WaitingForVerification",
                    "Waiting for verification to be performed after successful promotion",
                    gen,
                ),
            )
            if self.legacy:
                update["phase"] = "Verifying"
            self._move_freight(ns, stage_name, freight_name)
        else:
            conditions = _set(conditions, cond("Healthy", "Unknown", f"LastPromotion{outcome}", message, gen))
            if self.legacy:
                update["phase"] = "Failed"
                update["message"] = message
        summary = {**old, **update, "conditions": conditions}
        update.update(_ready(conditions, summary, gen))
        self._patch_status("stages", ns, stage_name, update)
        self._tracks.pop(f"{ns}/{name}", None)
        self._promotion_finished_event(final, stage, outcome, message)

    def _promotion_finished_event(self, promo: dict, stage: dict, outcome: str, message: str) -> None:
        """promotions.go:490-526 (Succeeded/Failed/Errored) and ~757 (Aborted)."""
        if outcome == "Aborted":
            self.promotion_event(promo, "PromotionAborted", message, _controller(PROMOTION_CONTROLLER))
            return
        text = f"Promotion {outcome}" + (f": {message}" if message else "")
        extra = {}
        if outcome == "Succeeded":
            pending = (stage.get("spec") or {}).get("verification") is not None
            extra[f"{EV}verification-pending"] = "true" if pending else "false"
        self.promotion_event(promo, f"Promotion{outcome}", text, _controller(PROMOTION_CONTROLLER), extra)

    def _move_freight(self, ns: str, stage: str, freight: str) -> None:
        """AddCurrentStage / RemoveCurrentStage (freight_types.go:200-230): leaving a Stage where it was
        verified records the longest completed soak."""
        now = datetime.now(UTC)
        for f in self.store.list(K, "freights", ns):
            st = f.get("status") or {}
            currently = st.get("currentlyIn") or {}
            name = f["metadata"]["name"]
            if name == freight and stage not in currently:
                self._patch_status("freights", ns, name, {"currentlyIn": {stage: {"since": now_rfc3339()}}})
            elif name != freight and stage in currently:
                patch: dict[str, Any] = {"currentlyIn": {stage: None}}
                since = rules.parse_time((currently.get(stage) or {}).get("since"))
                record = (st.get("verifiedIn") or {}).get(stage)
                if since is not None and record is not None:
                    soak = (now - since).total_seconds()
                    old = rules.go_duration(record["longestSoak"]) if record.get("longestSoak") else -1.0
                    if soak > old:
                        patch["verifiedIn"] = {stage: {"longestSoak": rules.go_duration_string(soak)}}
                self._patch_status("freights", ns, name, patch)

    # -- verification (regular_stages.go:1073-1272) ----------------------------------------------
    def _verify_stage(self, stage: dict, now: float) -> None:
        st = stage.get("status") or {}
        history = st.get("freightHistory") or []
        if not history or st.get("currentPromotion"):
            return
        current = history[0] or {}
        latest = (current.get("verificationHistory") or [None])[0]
        ns, name = stage["metadata"]["namespace"], stage["metadata"]["name"]
        if latest is not None and (latest.get("phase") or "") not in rules.TERMINAL_VERIFICATION:
            v = self._verifs.get(latest.get("id", ""))
            if v is None:  # a verification the scenario left running: Kargo reads its AnalysisRun
                self._follow_run(stage, current, latest)
            else:
                self._advance_verification(v, now)
            return
        request = _reverify_request(stage)
        if latest is not None and (request is None or request.get("id") != latest.get("id")):
            return  # ~1225: verified already, and no re-verification asked for this entry
        if (st.get("health") or {}).get("status") != "Healthy":
            return  # ~1233: no verification before the Stage is Healthy
        freight = _current_freight_name(current)
        promotion = (st.get("lastPromotion") or {}).get("name", "") if request is None else ""
        v = _Verify(ns, name, freight, promotion, now, "Successful", actor=(request or {}).get("actor", ""))
        v.started = self._pass_started
        if (stage.get("spec") or {}).get("verification") is None:
            # ~1240-1256: no verification configured: one Successful entry, no AnalysisRun.
            v.phase = "Successful"
            self._record(stage, v, "Successful")
            self._verified(stage, v)
            return
        v.outcome = self._next_outcome()
        self._verifs[v.vid] = v
        self._record(stage, v, "Pending")

    def _follow_run(self, stage: dict, current: dict, latest: dict) -> None:
        """getVerificationResult (regular_stages.go:1591-1665): the entry takes the AnalysisRun's phase,
        completedAt and message; a missing AnalysisRun is an Error. Runs the simulator did not start
        move only when something (the timeline) changes them."""
        ref = latest.get("analysisRun") or {}
        if not ref.get("name"):
            return  # Kargo errors and leaves the entry as it is
        ns, name = stage["metadata"]["namespace"], stage["metadata"]["name"]
        v = _Verify(ns, name, _current_freight_name(current), "", 0.0, "", actor=latest.get("actor", ""))
        v.vid, v.run, v.started = latest.get("id") or v.vid, ref["name"], latest.get("startTime") or v.started
        run = self.store.get("argoproj.io", "analysisruns", ref.get("namespace") or ns, ref["name"])
        if run is None:
            v.message = (
                f'error getting AnalysisRun "{ref["name"]}" in namespace "{ref.get("namespace") or ns}": '
                f'analysisruns.argoproj.io "{ref["name"]}" not found'
            )
            phase = "Error"
        else:
            phase = (run.get("status") or {}).get("phase") or "Pending"
            v.message = (run.get("status") or {}).get("message") or ""
        if phase == latest.get("phase"):
            return
        v.phase = phase
        self._record(stage, v, phase)
        if phase == "Successful":
            self._verified(self._stage(ns, name) or stage, v)
        elif phase in rules.TERMINAL_VERIFICATION:
            self._verification_event(stage, v, phase)

    def _advance_verification(self, v: _Verify, now: float) -> None:
        stage = self._stage(v.namespace, v.stage)
        if stage is None:
            self._verifs.pop(v.vid, None)
            return
        has_templates = bool(((stage.get("spec") or {}).get("verification") or {}).get("analysisTemplates"))
        if v.phase == "Pending":
            if now - v.since < float(self.verify_cfg["pending"]):
                return
            v.phase, v.since = "Running", now
            if has_templates and not v.run:
                v.run = self._create_run(stage, v)
            self._record(stage, v, "Running")
            return
        if has_templates and now - v.since < float(self.verify_cfg["running"]):
            return
        outcome = v.outcome if has_templates else "Successful"
        if v.run and self.store.get("argoproj.io", "analysisruns", v.namespace, v.run):
            self._finish_run(v.namespace, v.run, outcome)
        v.phase = outcome
        self._verifs.pop(v.vid, None)
        self._record(stage, v, outcome)
        if outcome == "Successful":
            self._verified(self._stage(v.namespace, v.stage) or stage, v)
        else:
            self._verification_event(stage, v, outcome)

    def _verified(self, stage: dict, v: _Verify) -> None:
        """markFreightVerifiedForStage (~1278-1340): verifiedIn is added once and never removed."""
        freight = self.store.get(K, "freights", v.namespace, v.freight)
        if freight is not None and not rules.verified_in(freight, v.stage):
            self._patch_status(
                "freights", v.namespace, v.freight, {"verifiedIn": {v.stage: {"verifiedAt": now_rfc3339()}}}
            )
        self._verification_event(stage, v, "Successful")

    def _verification_event(self, stage: dict, v: _Verify, phase: str) -> None:
        """recordFreightVerificationEvent (~1342-1425): involved object is the Freight."""
        freight = self.store.get(K, "freights", v.namespace, v.freight) or {}
        reason = {
            "Successful": "FreightVerificationSucceeded",
            "Failed": "FreightVerificationFailed",
            "Error": "FreightVerificationErrored",
            "Aborted": "FreightVerificationAborted",
            "Inconclusive": "FreightVerificationInconclusive",
        }.get(phase, "FreightVerificationUnknown")
        message = "Freight verification succeeded" if phase == "Successful" else (v.message or self._vmessage(phase))
        notes = {
            f"{EV}actor": v.actor or _controller(STAGE_CONTROLLER),
            **_freight_annotations(freight, v.stage),
            f"{EV}verification-start-time": v.started,
            f"{EV}verification-finish-time": now_rfc3339(),
        }
        if v.run:
            notes[f"{EV}analysis-run-name"] = v.run
            if v.promotion:
                notes[f"{EV}promotion-name"] = v.promotion
        self.event(v.namespace, "Freight", v.freight or "unknown", reason, message, notes)

    def _vmessage(self, phase: str) -> str:
        return self.verify_cfg.get("message") or f"Metric assessed {phase}"

    def _create_run(self, stage: dict, v: _Verify) -> str:
        ns = v.namespace
        coll_id = (((stage.get("status") or {}).get("freightHistory") or [{}])[0]).get("id", "")
        name = f"{v.stage}.{ulid()}.{coll_id[:7]}"
        templates = ((stage.get("spec") or {}).get("verification") or {}).get("analysisTemplates") or []
        metrics = [
            {
                "name": m.get("name", "check"),
                "provider": {
                    "job": {
                        "spec": {
                            "template": {
                                "spec": {
                                    "containers": [
                                        {"name": "gate", "image": "ghcr.io/acme/promotion-gate:latest"}
                                    ],
                                    "restartPolicy": "Never",
                                }
                            }
                        }
                    }
                },
            }
            for m in (self.verify_cfg.get("metrics") or [{"name": "gate"}])
        ]
        annotations = {"kargo.akuity.io/templates": ",".join(t.get("name", "") for t in templates)}
        if v.promotion:
            annotations[f"{K}/promotion"] = v.promotion
        self.store.create(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AnalysisRun",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": {f"{K}/stage": v.stage, f"{K}/freight-collection": coll_id},
                    "annotations": annotations,
                },
                "spec": {"metrics": metrics},
                "status": {"phase": "Running", "startedAt": now_rfc3339()},
            }
        )
        return name

    def _finish_run(self, ns: str, run: str, outcome: str) -> None:
        metrics = self.verify_cfg.get("metrics") or [{"name": "gate"}]
        results = []
        for m in metrics:
            phase = m.get("phase") or ("Successful" if outcome == "Successful" else outcome)
            if outcome == "Successful":
                phase = "Successful"
            entry = {
                "name": m.get("name", "gate"),
                "phase": phase,
                "count": 1,
                "measurements": [
                    {
                        "phase": phase,
                        "startedAt": now_rfc3339(),
                        "finishedAt": now_rfc3339(),
                        **({"message": m["message"]} if m.get("message") and phase != "Successful" else {}),
                        **({"value": str(m["value"])} if m.get("value") is not None else {}),
                    }
                ],
            }
            if phase == "Successful":
                entry["successful"] = 1
            else:
                entry["failed"] = 1
                if m.get("message"):
                    entry["message"] = m["message"]
            results.append(entry)
        status = {"phase": outcome, "completedAt": now_rfc3339(), "metricResults": results}
        if self.verify_cfg.get("message") and outcome != "Successful":
            status["message"] = self.verify_cfg["message"]
        self._patch_status("analysisruns", ns, run, status, group="argoproj.io")

    def _record(self, stage: dict, v: _Verify, phase: str) -> None:
        """UpdateOrPush the entry on the current collection, then Verified (~1102-1180) and Ready."""
        fresh = self._stage(v.namespace, v.stage) or stage
        st = fresh.get("status") or {}
        history = list(st.get("freightHistory") or [])
        if not history:
            return
        current = dict(history[0])
        entries = [e for e in current.get("verificationHistory") or [] if e.get("id") != v.vid]
        info: dict[str, Any] = {"id": v.vid, "phase": phase, "startTime": v.started}
        if v.actor:
            info["actor"] = v.actor
        if v.run:
            info["analysisRun"] = {"namespace": v.namespace, "name": v.run, "phase": phase}
        if phase in rules.TERMINAL_VERIFICATION:
            info["finishTime"] = now_rfc3339()
            if phase != "Successful":
                info["message"] = v.message or self._vmessage(phase)
        current["verificationHistory"] = [info, *entries][:10]
        history[0] = current
        new = {**st, "freightHistory": history}
        conditions = list(st.get("conditions") or [])
        verified = rules.verified_condition(current)
        if verified is not None:
            conditions = _set(conditions, cond("Verified", *verified, _generation(fresh)))
        new["conditions"] = conditions
        update: dict[str, Any] = {"freightHistory": history, **_ready(conditions, new, _generation(fresh))}
        if self.legacy:
            update["phase"] = "Steady" if phase in rules.TERMINAL_VERIFICATION else "Verifying"
        self._patch_status("stages", v.namespace, v.stage, update)

    def auto_promotion_enabled(self, stage: dict) -> bool:
        """api.IsAutoPromotionEnabled from the ProjectConfig; without one in the scenario, the Stage's
        status.autoPromotionEnabled is the scenario's shorthand for it."""
        ns = stage["metadata"]["namespace"]
        config = self.store.get(K, "projectconfigs", ns, ns)
        if config is None:
            return bool((stage.get("status") or {}).get("autoPromotionEnabled"))
        return rules.auto_promotion_enabled(stage, config)

    def stamp_intent(self, promo: dict, stage: dict) -> None:
        """The Promotion webhook's syncHoldAnnotations (pkg/webhook/kubernetes/promotion/webhook.go:
        355-472): a user's Promotion for a Stage with auto-promotion on resumes auto-promotion when it
        promotes the candidate, and holds it otherwise (also when there is no candidate)."""
        notes = promo["metadata"].setdefault("annotations", {})
        actor = notes.get(f"{K}/create-actor") or ""
        if not actor or actor.startswith("controller:"):
            return  # system-generated: no user intent
        notes.pop(HOLD, None)
        notes.pop(RESUME, None)
        ns = stage["metadata"]["namespace"]
        freight = self.store.get(K, "freights", ns, promo["spec"].get("freight") or "")
        if freight is None or not self.auto_promotion_enabled(stage):
            return
        origin = rules.origin_key(freight.get("origin"))
        available = rules.available_to_stage(stage, self.store.list(K, "freights", ns))
        candidate = rules.select_candidates(stage, available).get(origin)
        is_candidate = candidate is not None and candidate["metadata"]["name"] == freight["metadata"]["name"]
        notes[RESUME if is_candidate else HOLD] = origin

    def _replay_intent(self, promo: dict, stage: dict, outcome: str) -> dict[str, Any] | None:
        """syncPromotions (regular_stages.go:655-700): a terminal, non-Aborted Promotion applies its
        hold/resume intent to status.autoPromotionHolds while auto-promotion is enabled. None: no change."""
        if outcome == "Aborted" or not self.auto_promotion_enabled(stage):
            return None
        notes = promo["metadata"].get("annotations") or {}
        requested = {rules.origin_key(r.get("origin")) for r in (stage.get("spec") or {}).get("requestedFreight") or []}
        holds = dict((stage.get("status") or {}).get("autoPromotionHolds") or {})
        if notes.get(HOLD) in requested:
            holds[notes[HOLD]] = _hold(promo, notes[HOLD])
        elif notes.get(RESUME):
            holds.pop(notes[RESUME], None)
        else:
            return None
        return holds

    def _effective_holds(self, stage: dict, promos: list[dict]) -> dict[str, Any]:
        """computeEffectiveAutoPromotionHolds (regular_stages.go:1823-1890): the durable holds overlaid
        with the newest non-aborted intent among Promotions newer than lastPromotion."""
        st = stage.get("status") or {}
        effective = dict(st.get("autoPromotionHolds") or {})
        last = (st.get("lastPromotion") or {}).get("name", "")
        for req in (stage.get("spec") or {}).get("requestedFreight") or []:
            key = rules.origin_key(req.get("origin"))
            newest, newest_hold = None, False
            for p in promos:
                if (p.get("status") or {}).get("phase") == "Aborted" or (last and p["metadata"]["name"] <= last):
                    continue
                notes = p["metadata"].get("annotations") or {}
                is_hold, is_resume = notes.get(HOLD) == key, notes.get(RESUME) == key
                if (is_hold or is_resume) and (newest is None or p["metadata"]["name"] > newest["metadata"]["name"]):
                    newest, newest_hold = p, is_hold
            if newest is not None and newest_hold:
                effective[key] = _hold(newest, key)
            elif newest is not None:
                effective.pop(key, None)
        return effective

    # -- control-flow Stages (pkg/controller/stages/control_flow_stages.go) ------------------------
    def _control_flow(self, stage: dict) -> None:
        """A Stage without promotion steps promotes nothing: its status is reset to the control-flow shape
        (initializeStatus ~350-389) and every Freight available to it is marked verified in it at once,
        with a FreightVerificationSucceeded event (markFreightVerifiedForStage ~391-460)."""
        ns, name = stage["metadata"]["namespace"], stage["metadata"]["name"]
        st = stage.get("status") or {}
        want: dict[str, Any] = {
            "freightHistory": None,
            "health": None,
            "currentPromotion": None,
            "lastPromotion": None,
            "freightSummary": "N/A",
            "autoPromotionEnabled": False,
            "observedGeneration": max(_generation(stage), int(st.get("observedGeneration") or 0)),
        }
        ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
        if not ready or ready.get("status") != "True" or len(st.get("conditions") or []) != 1:
            want["conditions"] = [cond("Ready", "True", "Ready", "", _generation(stage))]
        changed = {k: v for k, v in want.items() if st.get(k) != v}
        if changed:
            self._patch_status("stages", ns, name, changed)
        started = self._pass_started
        for freight in self.store.list(K, "freights", ns):
            if rules.verified_in(freight, name) or not rules.is_available(stage, freight):
                continue
            self._patch_status(
                "freights", ns, freight["metadata"]["name"], {"verifiedIn": {name: {"verifiedAt": now_rfc3339()}}}
            )
            v = _Verify(ns, name, freight["metadata"]["name"], "", 0.0, "Successful")
            v.started = started
            self._verification_event(stage, v, "Successful")

    # -- auto-promotion (regular_stages.go:1893-2033) --------------------------------------------
    def _auto_promote(self, stage: dict) -> None:
        st = stage.get("status") or {}
        ns, name = stage["metadata"]["namespace"], stage["metadata"]["name"]
        enabled = self.auto_promotion_enabled(stage)  # Kargo writes it to status (~1900)
        promos = [p for p in self.store.list(K, "promotions", ns) if p["spec"].get("stage") == name]
        # holds are cleared while auto-promotion is disabled (~632-655, ~1829)
        holds = self._effective_holds(stage, promos) if enabled else {}
        update: dict[str, Any] = {}
        if bool(st.get("autoPromotionEnabled")) != enabled:
            update["autoPromotionEnabled"] = enabled
        if (st.get("effectiveAutoPromotionHolds") or {}) != holds:
            update["effectiveAutoPromotionHolds"] = holds or None
        if not enabled and st.get("autoPromotionHolds"):
            update["autoPromotionHolds"] = None
        if update:
            self._patch_status("stages", ns, name, update)
        if not enabled:
            return
        available = rules.available_to_stage(stage, self.store.list(K, "freights", ns))
        candidates = rules.select_candidates(stage, available)
        current = ((st.get("freightHistory") or [None])[0] or {}).get("items") or {}
        awaiting = (st.get("currentPromotion") or {}).get("freight") or {}
        last = (st.get("lastPromotion") or {}).get("name", "")
        for req in (stage.get("spec") or {}).get("requestedFreight") or []:
            origin = rules.origin_key(req.get("origin"))
            candidate = candidates.get(origin)
            if origin in holds or candidate is None:
                continue
            fname = candidate["metadata"]["name"]
            if (current.get(origin) or {}).get("name") == fname:
                continue  # already current (~1945)
            if awaiting.get("name") == fname and rules.origin_key(awaiting.get("origin")) == origin:
                continue  # ~1950
            mine = [p for p in promos if p["spec"].get("freight") == fname]
            if any(_unprocessed(p, last) for p in mine):
                continue  # ~1955-1975
            newest = rules.newest_terminal(mine)
            if newest is not None and newest["status"]["phase"] != "Succeeded":
                continue  # ~1986-2000: the anti-loop rule
            promo = self.create_promotion(ns, stage, fname, "")
            self.promotion_event(
                promo,
                "PromotionCreated",
                f'Automatically promoted Freight from origin "{origin}" for Stage "{name}"',
                _controller(STAGE_CONTROLLER),
                component=STAGE_CONTROLLER,
            )
            promos.append(promo)


def _hold(promo: dict, origin: str) -> dict[str, Any]:
    """newAutoPromotionHold (regular_stages.go:1796-1813)."""
    kind, _, name = origin.partition("/")
    hold: dict[str, Any] = {
        "freightName": promo["spec"].get("freight", ""),
        "origin": {"kind": kind, "name": name},
        "promotionName": promo["metadata"]["name"],
    }
    actor = (promo["metadata"].get("annotations") or {}).get(f"{K}/create-actor")
    if actor:
        hold["actor"] = actor
    if promo["metadata"].get("creationTimestamp"):
        hold["createdAt"] = promo["metadata"]["creationTimestamp"]
    return hold


def _generation(stage: dict) -> int:
    return int((stage.get("metadata") or {}).get("generation") or 1)


def _ready(conditions: list[dict], status: dict, generation: int) -> dict[str, Any]:
    """summarizeConditions' Ready (regular_stages.go:2303-2402); when Ready, status.observedGeneration
    catches up with metadata.generation (~2397-2400)."""
    ready = rules.ready_condition({**status, "conditions": conditions})
    out: dict[str, Any] = {"conditions": _set(conditions, cond("Ready", *ready, generation))}
    if ready[0] == "True":
        out["observedGeneration"] = generation
    return out


def _unprocessed(promo: dict, last: str) -> bool:
    """unprocessedPromotionExistsForStageFreight (~2064-2096)."""
    phase = (promo.get("status") or {}).get("phase") or ""
    return phase not in TERMINAL or (phase == "Succeeded" and (not last or promo["metadata"]["name"] > last))


def _controller(name: str) -> str:
    return f"controller:{name}"  # pkg/api/event.go:12


def _abort_message(annotation: str) -> str:
    """terminatePromotion (promotions.go:740-745)."""
    try:
        actor = (json.loads(annotation) or {}).get("actor") or ""
    except (ValueError, AttributeError):
        actor = ""
    return f"Promotion terminated by {actor}" if actor else "Promotion terminated per user request"


def _reverify_request(stage: dict) -> dict | None:
    """api.ReverifyAnnotationValue (pkg/api/annotations.go:29): JSON {id, actor} or a bare id."""
    raw = ((stage.get("metadata") or {}).get("annotations") or {}).get(f"{K}/reverify")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return {"id": raw}
    return value if isinstance(value, dict) else {"id": raw}


def _current_freight_name(collection: dict) -> str:
    items = collection.get("items") or {}
    return next((ref.get("name", "") for ref in items.values()), "")


def _freight_annotations(freight: dict, stage: str) -> dict[str, str]:
    """Freight.MarshalAnnotationsTo (pkg/event/freight.go:325-355)."""
    if not freight:
        return {f"{EV}stage-name": stage}
    out = {
        f"{EV}freight-name": freight["metadata"]["name"],
        f"{EV}freight-create-time": rules.discovered_at(freight),
        f"{EV}stage-name": stage,
    }
    origin = freight.get("origin") or {}
    if origin.get("name"):
        out[f"{EV}freight-warehouse-name"] = origin["name"]
    if freight.get("alias"):
        out[f"{EV}freight-alias"] = freight["alias"]
    for key, note in (("commits", "freight-commits"), ("images", "freight-images"), ("charts", "freight-charts")):
        if freight.get(key):
            out[f"{EV}{note}"] = json.dumps(freight[key], separators=(",", ":"))
    return out


def _ref(freight: dict, name: str) -> dict:
    ref: dict[str, Any] = {"name": name, "origin": freight.get("origin") or {"kind": "Warehouse", "name": ""}}
    for key in ("images", "commits", "charts"):
        if freight.get(key):
            ref[key] = freight[key]
    return ref


def _collection(freight: dict, name: str) -> dict:
    origin = freight.get("origin") or {"kind": "Warehouse", "name": ""}
    return {
        "id": hashlib.sha1(name.encode()).hexdigest(),
        "items": {f"{origin.get('kind', 'Warehouse')}/{origin.get('name', '')}": _ref(freight, name)},
        "verificationHistory": [],
    }


def _set(conditions: list[dict], new: dict) -> list[dict]:
    """conditions.Set: replace the condition of the same type, or append it (keeps the order)."""
    out, done = [], False
    for c in conditions:
        if c.get("type") == new["type"]:
            out.append(new)
            done = True
        else:
            out.append(c)
    return out if done else [*out, new]


def _replace_conditions(stage: dict, new: list[dict], drop: tuple[str, ...] = ()) -> list[dict]:
    kinds = {c["type"] for c in new} | set(drop)
    kept = [c for c in (stage.get("status") or {}).get("conditions") or [] if c.get("type") not in kinds]
    return [*new, *kept]
