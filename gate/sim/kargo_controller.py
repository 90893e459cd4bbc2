"""A simulated Kargo controller: moves Promotions Pending → Running → terminal and verifications along.

Driven by the scenario's `kargo:` block (durations in scenario seconds):

    kargo:
      promotion: {pending: 1, running: 3, outcome: Succeeded, step: argocd-update, message: "..."}
      verification: {pending: 1, running: 3, outcome: Successful, message: "...",
                      metrics: [{name: error-rate, phase: Failed, message: "..."}]}

It writes the sim's store directly (so kubectl and the Kubernetes API see the same objects): Promotion
status (phase, currentStep, stepExecutionMetadata, message, finishedAt), Stage status (currentPromotion,
lastPromotion, freightHistory with verificationHistory, Healthy/Verified/Ready conditions), Freight
status (currentlyIn, verifiedIn), an AnalysisRun per verification annotated kargo.akuity.io/promotion,
Events, and auto-promotion of downstream Stages whose status.autoPromotionEnabled is true.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from gate.sim.store import StoreError, now_rfc3339

K = "kargo.akuity.io"
TERMINAL = ("Succeeded", "Failed", "Errored", "Aborted")
_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


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
    stage: str
    freight: str
    promotion: str
    since: float
    vid: str = field(default_factory=lambda: str(uuid.uuid4()))
    run: str = ""
    phase: str = "Pending"


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
        self._tracks: dict[str, _Track] = {}
        self._verifs: list[_Verify] = []
        self._lock = threading.Lock()

    # -- helpers ---------------------------------------------------------------------------------
    def _stage(self, ns: str, name: str) -> dict | None:
        return self.store.get(K, "stages", ns, name)

    def _patch_status(self, plural: str, ns: str, name: str, status: dict, group: str = K) -> None:
        try:
            self.store.merge_patch(group, plural, ns, name, {"status": status}, subresource="status")
        except StoreError as err:
            print(f"gate sim kargo: {plural}/{name}: {err.message}")

    def event(self, ns: str, kind: str, name: str, reason: str, message: str, type_: str = "Normal") -> None:
        now = now_rfc3339()
        self.store.create(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{name}.{secrets.token_hex(8)}", "namespace": ns},
                "involvedObject": {
                    "apiVersion": f"{K}/v1alpha1",
                    "kind": kind,
                    "name": name,
                    "namespace": ns,
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": "kargo-controller"},
            }
        )

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
                "annotations": {f"{K}/stage": name, f"{K}/create-actor": actor},
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
        return self.store.create(promo)

    # -- the loop --------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        with self._lock:
            for promo in self.store.list(K, "promotions"):
                self._advance(promo, now)
            for verif in list(self._verifs):
                self._advance_verification(verif, now)

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
            self._finish(promo, stage, "Aborted", "Promotion terminated per user request", aborted=True)
            return
        if phase == "":
            self._patch_status("promotions", ns, meta["name"], {"phase": "Pending"})
            track.phase, track.since = "Pending", now
            return
        if phase == "Pending":
            current = ((stage.get("status") or {}).get("currentPromotion") or {}).get("name")
            if current and current != meta["name"]:
                return  # one Promotion at a time per Stage
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
        freight = self.store.get(K, "freights", ns, promo["spec"]["freight"]) or {}
        self._patch_status(
            "promotions",
            ns,
            name,
            {
                "phase": "Running",
                "startedAt": now_rfc3339(),
                "currentStep": 0,
                "freight": _ref(freight, promo["spec"]["freight"]),
                "stepExecutionMetadata": self._steps(promo, 0),
            },
        )
        stage_status: dict[str, Any] = {
            "currentPromotion": {"name": name, "freight": _ref(freight, promo["spec"]["freight"])},
            "conditions": _replace_conditions(
                stage,
                [
                    cond("Promoting", "True", "ActivePromotion", f'Promotion "{name}" is currently Running'),
                    cond("Ready", "False", "ActivePromotion", f'Promotion "{name}" is currently Running'),
                    cond("Healthy", "Unknown", "ActivePromotion", "A Promotion is in progress"),
                ],
            ),
        }
        if self.legacy:
            stage_status["phase"] = "Promoting"
        self._patch_status("stages", ns, stage["metadata"]["name"], stage_status)

    def _finish(self, promo: dict, stage: dict, outcome: str, message: str, aborted: bool = False) -> None:
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
        if outcome in ("Failed", "Errored") and self.promo_cfg.get("step"):
            aliases = [s.get("as") or s.get("uses") for s in steps]
            if self.promo_cfg["step"] in aliases:
                idx = aliases.index(self.promo_cfg["step"])
        if aborted:
            message = message or "Promotion terminated per user request"
        elif outcome != "Succeeded" and not message:
            message = f"step {idx} failed"
        collection = _collection(freight, freight_name)
        status = {
            "phase": outcome,
            "finishedAt": now_rfc3339(),
            "currentStep": idx,
            "freight": _ref(freight, freight_name),
            "freightCollection": collection,
            "stepExecutionMetadata": self._steps(promo, idx, outcome),
        }
        if message:
            status["message"] = message
        if not (promo.get("status") or {}).get("startedAt"):
            status["startedAt"] = now_rfc3339()
        self._patch_status("promotions", ns, name, status)
        final = self.store.get(K, "promotions", ns, name) or promo
        old = stage.get("status") or {}
        last = {
            "name": name,
            "freight": _ref(freight, freight_name),
            "status": final.get("status") or {},
            "finishedAt": status["finishedAt"],
        }
        stage_status: dict[str, Any] = {"currentPromotion": None, "lastPromotion": last}
        if outcome == "Succeeded":
            history = [collection, *(old.get("freightHistory") or [])][:10]
            stage_status.update(
                freightHistory=history,
                freightSummary=freight_name,
                health={"status": "Healthy"},
                conditions=_replace_conditions(
                    stage,
                    [
                        cond("Healthy", "True", "Healthy", "Stage is healthy"),
                        cond("Verified", "Unknown", "WaitingForVerification", "Waiting for verification"),
                        cond("Ready", "False", "WaitingForVerification", "Waiting for verification"),
                    ],
                    drop=("Promoting",),
                ),
            )
            if self.legacy:
                stage_status["phase"] = "Verifying"
            self._move_freight(ns, stage_name, freight_name)
            self._verifs.append(_Verify(stage_name, freight_name, name, self.handle.clock, run=""))
            self.event(ns, "Promotion", name, "PromotionSucceeded", f"Promotion {name} succeeded")
        else:
            reason = f"LastPromotion{outcome}"
            stage_status["conditions"] = _replace_conditions(
                stage,
                [cond("Healthy", "Unknown", reason, message), cond("Ready", "False", reason, message)],
                drop=("Promoting",),
            )
            if self.legacy:
                stage_status["phase"] = "Failed"
                stage_status["message"] = message
            self.event(
                ns,
                "Promotion",
                name,
                f"Promotion{outcome}",
                f"Promotion {name} {outcome}: {message}",
                "Warning",
            )
        self._patch_status("stages", ns, stage_name, stage_status)
        self._tracks.pop(f"{ns}/{name}", None)

    def _move_freight(self, ns: str, stage: str, freight: str) -> None:
        for f in self.store.list(K, "freights", ns):
            currently = dict((f.get("status") or {}).get("currentlyIn") or {})
            name = f["metadata"]["name"]
            if name == freight and stage not in currently:
                self._patch_status("freights", ns, name, {"currentlyIn": {stage: {"since": now_rfc3339()}}})
            elif name != freight and stage in currently:
                self._patch_status("freights", ns, name, {"currentlyIn": {stage: None}})

    # -- verification ----------------------------------------------------------------------------
    def _advance_verification(self, v: _Verify, now: float) -> None:
        ns = self.handle.settings.get("kargo_namespace") or "platform"
        stage = self._stage(ns, v.stage)
        if stage is None:
            self._verifs.remove(v)
            return
        cfg = self.verify_cfg
        has_templates = bool(((stage.get("spec") or {}).get("verification") or {}).get("analysisTemplates"))
        if v.phase == "Pending":
            if now - v.since < float(cfg["pending"]):
                return
            v.phase, v.since = "Running", now
            if has_templates:
                v.run = self._create_run(ns, stage, v)
            self._record(ns, stage, v, "Running")
            return
        if has_templates and now - v.since < float(cfg["running"]):
            return
        outcome = cfg["outcome"] if has_templates else "Successful"
        if v.run:
            self._finish_run(ns, v.run, outcome)
        self._record(ns, stage, v, outcome)
        self._verifs.remove(v)
        if outcome == "Successful":
            self._patch_status(
                "freights", ns, v.freight, {"verifiedIn": {v.stage: {"verifiedAt": now_rfc3339()}}}
            )
            self.event(
                ns,
                "Stage",
                v.stage,
                "FreightVerificationSucceeded",
                f"Freight {v.freight} verified in Stage {v.stage} (AnalysisRun {v.run})",
            )
            self._auto_promote(ns, v.stage, v.freight)
        else:
            self.event(
                ns,
                "Stage",
                v.stage,
                f"FreightVerification{_event_suffix(outcome)}",
                f"Freight {v.freight} verification {outcome} in Stage {v.stage} (AnalysisRun {v.run})",
                "Warning",
            )

    def _create_run(self, ns: str, stage: dict, v: _Verify) -> str:
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
        self.store.create(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "AnalysisRun",
                "metadata": {
                    "name": name,
                    "namespace": ns,
                    "labels": {f"{K}/stage": v.stage, f"{K}/freight-collection": coll_id},
                    "annotations": {
                        f"{K}/promotion": v.promotion,
                        "kargo.akuity.io/templates": ",".join(t.get("name", "") for t in templates),
                    },
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
            entry = {
                "name": m.get("name", "gate"),
                "phase": phase,
                "count": 1,
                "measurements": [
                    {
                        "phase": phase,
                        "startedAt": now_rfc3339(),
                        "finishedAt": now_rfc3339(),
                        **({"message": m["message"]} if m.get("message") else {}),
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
        if self.verify_cfg.get("message"):
            status["message"] = self.verify_cfg["message"]
        self._patch_status("analysisruns", ns, run, status, group="argoproj.io")

    def _record(self, ns: str, stage: dict, v: _Verify, phase: str) -> None:
        st = stage.get("status") or {}
        history = list(st.get("freightHistory") or [])
        if not history:
            return
        current = dict(history[0])
        entries = [e for e in current.get("verificationHistory") or [] if e.get("id") != v.vid]
        old = next((e for e in current.get("verificationHistory") or [] if e.get("id") == v.vid), {})
        info = {
            "id": v.vid,
            "actor": "kargo-controller",
            "phase": phase,
            "startTime": old.get("startTime") or now_rfc3339(),
        }
        if v.run:
            info["analysisRun"] = {"namespace": ns, "name": v.run, "phase": phase}
        if phase not in ("Pending", "Running"):
            info["finishTime"] = now_rfc3339()
            if phase != "Successful":
                info["message"] = self.verify_cfg.get("message") or f"Metric assessed {phase}"
        current["verificationHistory"] = [info, *entries][:10]
        history[0] = current
        update: dict[str, Any] = {"freightHistory": history}
        if phase == "Successful":
            update["conditions"] = _replace_conditions(
                stage,
                [
                    cond("Verified", "True", "Verified", "Freight has been verified"),
                    cond("Ready", "True", "Verified", "Freight has been verified"),
                ],
            )
            if self.legacy:
                update["phase"] = "Steady"
        elif phase in ("Failed", "Error", "Aborted", "Inconclusive"):
            reason = f"Verification{ {'Error': 'Error', 'Failed': 'Failed'}.get(phase, phase) }"
            update["conditions"] = _replace_conditions(
                stage,
                [
                    cond(
                        "Verified",
                        "False" if phase != "Inconclusive" else "Unknown",
                        reason,
                        info.get("message", ""),
                    ),
                    cond("Ready", "False", reason, info.get("message", "")),
                ],
            )
            if self.legacy:
                update["phase"] = "Steady"
        else:
            update["conditions"] = _replace_conditions(
                stage,
                [cond("Verified", "Unknown", f"Verification{phase}", f"Verification is {phase.lower()}")],
            )
        self._patch_status("stages", ns, v.stage, update)

    def _auto_promote(self, ns: str, upstream: str, freight: str) -> None:
        for down in self.store.list(K, "stages", ns):
            st = down.get("status") or {}
            if not st.get("autoPromotionEnabled"):
                continue
            sources = [
                s
                for r in (down.get("spec") or {}).get("requestedFreight") or []
                for s in ((r.get("sources") or {}).get("stages") or [])
            ]
            if upstream in sources:
                promo = self.create_promotion(ns, down, freight, "kargo-controller (auto-promotion)")
                self.event(
                    ns,
                    "Promotion",
                    promo["metadata"]["name"],
                    "PromotionCreated",
                    f"Auto-promotion of {freight[:7]} to {down['metadata']['name']}",
                )


def _event_suffix(phase: str) -> str:
    return {"Failed": "Failed", "Error": "Errored", "Aborted": "Aborted", "Inconclusive": "Inconclusive"}.get(
        phase, "Unknown"
    )


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


def _replace_conditions(stage: dict, new: list[dict], drop: tuple[str, ...] = ()) -> list[dict]:
    kinds = {c["type"] for c in new} | set(drop)
    kept = [c for c in (stage.get("status") or {}).get("conditions") or [] if c.get("type") not in kinds]
    return [*new, *kept]
