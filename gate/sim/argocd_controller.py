"""A simulated Argo CD application controller: runs the sync operations others request.

Kargo's `argocd-update` step requests a sync by writing the Application's top-level `operation`, asking
for a hard refresh and clearing `status.operationState`
(akuity/kargo v1.11.2 pkg/promotion/runner/builtin/argocd_updater.go:580-640). Argo CD then runs the
operation and records it: `status.operationState` (phase, startedAt, finishedAt, syncResult) and, once
completed, `operation` removed (argo-cd v3.5.1 controller/appcontroller.go:1668-1690). The simulated sync
always succeeds at the revision the Application is already synced to, and the refresh that follows
sets `status.reconciledAt`, so Kargo's "reconciledAt >= finishedAt" rule sees a fresh comparison.

Switched off by a scenario's `controllers: {argocd: false}` (or `controllers: false`).
"""

from __future__ import annotations

from typing import Any

from gate.sim.store import StoreError, now_rfc3339

REFRESH = "argocd.argoproj.io/refresh"


class ArgoCDController:
    def __init__(self, store: Any) -> None:
        self.store = store

    def tick(self, _now: float) -> None:
        for app in self.store.list("argoproj.io", "applications"):
            if app.get("operation"):
                self._sync(app)

    def _sync(self, app: dict) -> None:
        meta, status = app["metadata"], app.get("status") or {}
        op = dict(app["operation"])
        sync = dict(op.get("sync") or {})
        revisions = (status.get("sync") or {}).get("revisions")
        revision = (status.get("sync") or {}).get("revision")
        result: dict[str, Any] = {}
        if revisions:
            sync["revisions"], result["revisions"] = list(revisions), list(revisions)
        elif revision:
            sync["revision"], result["revision"] = revision, revision
            sync.pop("revisions", None)
        op["sync"] = sync
        now = now_rfc3339()
        state = {
            "operation": op,
            "phase": "Succeeded",
            "message": "successfully synced (all tasks run)",
            "startedAt": now,
            "finishedAt": now,
            "syncResult": result,
        }
        patch = {
            "metadata": {"annotations": {REFRESH: None}},
            "operation": None,
            "status": {"operationState": state, "reconciledAt": now},
        }
        try:
            self.store.merge_patch("argoproj.io", "applications", meta.get("namespace"), meta["name"], patch)
        except StoreError as err:
            print(f"gate sim argocd: applications/{meta['name']}: {err.message}")
