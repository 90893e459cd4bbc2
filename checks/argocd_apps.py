"""`argocd_apps`: Argo CD Applications are synced and healthy, by a rule a stale status cannot fool.

The rule is Kargo's own health check for Argo CD apps (akuity/kargo v1.11.2,
pkg/health/checker/builtin/argocd.go), in its order, plus two gate rules (Synced, no operation in flight):

1. Trust: while `operationState.finishedAt` is set and `reconciledAt` is missing or before it, health and
   sync describe the app before its last operation: not ready (argocd.go:228-230; the same second counts
   as reconciled). Nothing else about the operation matters: an app never synced by an operation (no
   operationState), or whose last operation failed long ago, is judged by its status like any other.
2. Error conditions: every condition whose type ends in "Error" (Argo CD v3.5.1
   pkg/apis/application/v1alpha1/types.go:3768-3771 `IsError`: ComparisonError, InvalidSpecError,
   SyncError, UnknownError, DeletionError). Kargo itself looks at the first two (argocd.go:156-159).
3. Revision (`revision:` given): Kargo's stageHealthForAppSync (argocd.go:300-371). An operation requested
   or unfinished, or none recorded, means "being synced" (:309-316); then `status.sync.revisions` (or
   `[status.sync.revision]`) is compared source by source, at its own index in `spec.sources` (or
   `[spec.source]`), with the expected list (:318-361); an empty expected entry skips its source. This is
   the revision Argo CD compared the app against, not the one its last operation applied: an auto-synced
   app whose newest commit did not touch it is Synced at the new revision with an older operation.
4. Sync and health: `status.sync.status` Synced (a gate rule; Kargo does not read it) and
   `status.health.status` Healthy (argocd.go:376-411: Progressing, "" and Suspended are progressing,
   anything else unhealthy).
Gate rule: a sync requested (`.operation`) or running is not ready even without `revision:` (Kargo
applies it only when it knows the desired revisions, rule 3).

Health message: Argo CD 3.x no longer writes `status.health.message` (types.go:1957-1960, deprecated)
and keeps resource health in the resource tree unless `controller.resource.health.persist` is on
(`status.resourceHealthSource: appTree`). The evidence reads the app-level message when present (2.x)
and otherwise the unhealthy `status.resources[].health` entries (3.x with persisted health).

A revision is matched exactly, as Kargo does; for convenience an abbreviated git SHA (7 to 39 hex
characters) also matches the full SHA it prefixes.

Namespace: the `namespace` param, else the settings' `argocd_namespace`, else DEFAULT_NAMESPACE.
permissions() has no settings, so it uses the param or DEFAULT_NAMESPACE; the spec layer can call
apply_settings() to pin the param first, which makes the two agree.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar

from gate.checks.base import Check, Clients
from gate.checks.pods import capped, setting, slug

from gate import redact
from gate.cluster import named, projection
from gate.cluster.kube import Permission
from gate.cluster.resources import APPLICATIONS
from gate.model import Observation

# What app_problems() and revision_problems() read of a listed Application (gate.cluster.projection):
# not spec.destination/syncPolicy, status.history/summary, sync.comparedTo or the operation's own copy of
# the sync (startedAt is not read but kept: a state holding only it is still "a state", in_flight()).
_RESOURCE = {k: True for k in ("group", "version", "kind", "namespace", "name", "status", "health",
                               "hookPhase", "message")}
projection.declare(APPLICATIONS, {
    "operation": True,
    "spec": {"source": True, "sources": True},
    "status": {
        "operationState": {"phase": True, "message": True, "startedAt": True, "finishedAt": True,
                           "syncResult": {"resources": projection.Where(lambda r: failed_result(r), _RESOURCE)}},
        "reconciledAt": True, "health": True, "conditions": True,
        "sync": {"status": True, "revision": True, "revisions": True},
        "resources": projection.Where(lambda r: unhealthy(r), _RESOURCE),
    },
})

DEFAULT_NAMESPACE = "argocd"
STALE = "status not refreshed since the sync finished (reconciledAt < finishedAt)"
MAX_RESOURCES = 3
_NAME = {"type": "string", "minLength": 1}
_REVISIONS = {"type": "array", "minItems": 1, "items": {"type": "string"},
              "description": "one per source, in spec.sources order; \"\" skips a source"}
_SHORT_SHA = re.compile(r"^[0-9a-f]{7,39}$")

Problems = tuple[list[str], bool]  # (why not ready, whether waiting can change it: False = final)


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def is_error_condition(cond: dict) -> bool:
    """Argo CD's ApplicationCondition.IsError (types.go:3768-3771): the type ends in "Error"."""
    return str(cond.get("type") or "").endswith("Error")


def untrusted(app: dict) -> str | None:
    """Kargo distrusts health while reconciledAt is missing or before operationState.finishedAt
    (argocd.go:228-230); an app with no operationState, or no finishedAt, is not distrusted here."""
    status = app.get("status") or {}
    state = status.get("operationState") or {}
    if not state.get("finishedAt"):
        return None
    finished, reconciled = parse_time(state.get("finishedAt")), parse_time(status.get("reconciledAt"))
    if finished is None or reconciled is None or reconciled < finished:
        return STALE
    return None


def in_flight(app: dict) -> str | None:
    """A sync requested (`.operation`) or not finished: "being synced" (argocd.go:309-316)."""
    state = (app.get("status") or {}).get("operationState")
    if app.get("operation"):
        phase = (state or {}).get("phase")
        running = phase in ("Running", "Terminating") and not (state or {}).get("finishedAt")
        return f"sync {phase}: {state.get('message') or ''}".rstrip(": ") if running and state \
            else "sync requested, not started yet (.operation set)"
    if state and not state.get("finishedAt"):
        return f"sync {state.get('phase') or 'Unknown'}: {state.get('message') or ''}".rstrip(": ")
    return None


def failed_result(res: dict) -> bool:
    """A sync result entry that failed (the only ones failed_resources() reports)."""
    return res.get("status") == "SyncFailed" or res.get("hookPhase") in ("Failed", "Error")


def unhealthy(res: dict) -> bool:
    """A resource entry with a health other than Healthy (the only ones unhealthy_resources() reports)."""
    status = (res.get("health") or {}).get("status")
    return bool(status) and status != "Healthy"


def failed_resources(state: dict) -> list[str]:
    out = []
    for res in (state.get("syncResult") or {}).get("resources") or []:
        if failed_result(res):
            where = f"{res.get('namespace')}/{res.get('name')}" if res.get("namespace") else res.get("name")
            detail = res.get("message") or res.get("status") or res.get("hookPhase")
            out.append(f"{res.get('kind')} {where}: {detail}")
    return out


def last_failure(app: dict) -> str | None:
    """The last operation, when it finished Failed or Error: context for another problem, never a
    reason on its own (Kargo does not read operationState.phase)."""
    state = (app.get("status") or {}).get("operationState") or {}
    phase = state.get("phase")
    if not state.get("finishedAt") or phase not in ("Failed", "Error"):
        return None
    failed = failed_resources(state)
    text = f"last sync {phase}: {state.get('message') or ''}".rstrip(": ")
    return text + (f" [{'; '.join(failed[:5])}]" if failed else "")


def sources(app: dict) -> list[dict]:
    """spec.sources, else [spec.source] (argocd.go:318-321)."""
    spec = app.get("spec") or {}
    return list(spec.get("sources") or ([spec["source"]] if spec.get("source") else []))


def synced_revisions(app: dict) -> list[str]:
    """status.sync.revisions, else [status.sync.revision] (argocd.go:331-334)."""
    sync = (app.get("status") or {}).get("sync") or {}
    return list(sync.get("revisions") or [sync.get("revision") or ""])


def revision_matches(expected: str, actual: str) -> bool:
    """Exact (argocd.go:352), or an abbreviated git SHA that prefixes the full one."""
    return actual == expected or bool(_SHORT_SHA.match(expected) and actual.startswith(expected))


def revision_problems(app: dict, expected: str | list[str]) -> Problems:
    """Kargo's stageHealthForAppSync (argocd.go:300-371) for the expected revision(s)."""
    desired = [expected] if isinstance(expected, str) else list(expected)
    if not any(desired):  # nothing to compare (argocd.go:304-308)
        return [], False
    srcs = sources(app)
    if isinstance(expected, str) and len(srcs) > 1:
        return [f"{len(srcs)} sources: give its `revision` as a list, one per source in spec.sources "
                "order (\"\" for a source not to compare)"], True
    state = (app.get("status") or {}).get("operationState")
    if not state or not state.get("finishedAt"):
        return ["no finished sync operation recorded: Kargo counts the app as being synced"], False
    if len(srcs) != len(desired):
        return [f"{len(srcs)} sources but {len(desired)} expected revisions"], True
    observed = synced_revisions(app)
    if len(observed) != len(desired):
        return [f"{len(observed)} synced revisions but {len(desired)} expected"], False
    problems = []
    for i, (want, got) in enumerate(zip(desired, observed, strict=True)):
        if want and not revision_matches(want, got):
            where = "" if len(srcs) == 1 else f"source {i} ({srcs[i].get('repoURL')}) "
            problems.append(f"{where}synced to revision {got or 'none'}, expected {want}")
    return problems, False


def unhealthy_resources(status: dict) -> list[str]:
    """Resource health persisted in the app (3.x with controller.resource.health.persist, and 2.x)."""
    out = []
    for res in status.get("resources") or []:
        health = res.get("health") or {}
        if unhealthy(res):
            where = f"{res.get('namespace')}/{res.get('name')}" if res.get("namespace") else res.get("name")
            line = f"{res.get('kind')} {where} {health['status']}"
            out.append(line + (f": {health['message']}" if health.get("message") else ""))
    if len(out) > MAX_RESOURCES:
        out = [*out[:MAX_RESOURCES], f"{len(out) - MAX_RESOURCES} more"]
    return out


def health_problem(status: dict) -> str | None:
    health = status.get("health") or {}
    code = health.get("status") or "Unknown"
    if code == "Healthy":
        return None
    # status.health.message: Argo CD < 3.0 only (deprecated, types.go:1957-1960)
    detail = health.get("message") or "; ".join(unhealthy_resources(status))
    return f"health {code}" + (f": {detail}" if detail else "")


def app_problems(app: dict, expected_revision: str | list[str] | None) -> Problems:
    """Why one Application is not ready (empty: ready), and whether that is final."""
    problem = in_flight(app) or untrusted(app)
    if problem:
        return [problem], False
    status = app.get("status") or {}
    problems = [f"{c.get('type')}: {c.get('message') or ''}".rstrip(": ")
                for c in status.get("conditions") or [] if is_error_condition(c)]
    final = False
    if expected_revision:
        found, final = revision_problems(app, expected_revision)
        problems += found
    sync = (status.get("sync") or {}).get("status") or "Unknown"
    if sync != "Synced":
        problems.append(f"sync {sync}")
    health = health_problem(status)
    if health:
        problems.append(health)
    failure = last_failure(app) if problems else None
    if failure:
        problems.append(failure)
    return problems, final


class ArgocdAppsCheck(Check):
    kind = "argocd_apps"
    summary = ("Argo CD Applications (names or selector) are Synced and Healthy by Kargo's rule: no sync in "
               "flight, re-compared after their last operation, no error condition; optionally at an expected "
               "revision per source.")
    segments: ClassVar[dict[str, str]] = {"names": "subdomain", "namespace": "label"}
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "anyOf": [{"required": ["names"]}, {"required": ["selector"]}],
        "properties": {
            "names": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _NAME},
            "selector": {"type": "string", "minLength": 1, "description": "label selector on Applications"},
            "namespace": {**_NAME, "description": "Applications' namespace (default: argocd_namespace)"},
            "revision": {"description": "expected synced revision (status.sync.revision), for all apps or "
                                        "as a map app -> revision; a list gives one per source",
                         "oneOf": [_NAME, _REVISIONS,
                                   {"type": "object", "additionalProperties": {"oneOf": [_NAME, _REVISIONS]}}]},
        },
    }
    shorthand: ClassVar[dict[str, Any] | None] = {"type": "array", "minItems": 1, "items": _NAME}

    @classmethod
    def normalize(cls, raw: Any) -> dict[str, Any]:
        if isinstance(raw, list):
            return {"names": list(raw)}
        return dict(raw or {})

    def apply_settings(self, settings: Any) -> None:
        """Pin the namespace from the settings, so permissions() names the right one."""
        if not self.params.get("namespace") and getattr(settings, "argocd_namespace", None):
            self.params["namespace"] = settings.argocd_namespace

    def default_name(self) -> str:
        what = ", ".join(self.params.get("names") or []) or f"selector {self.params.get('selector')}"
        return f"Argo CD apps synced and healthy: {what}"

    def ident(self) -> str:
        return slug(",".join(self.params.get("names") or []) or self.params.get("selector") or "")

    def namespace(self, clients: Clients | None = None) -> str:
        return (self.params.get("namespace") or (setting(clients, "argocd_namespace") if clients else None)
                or DEFAULT_NAMESPACE)

    def by_name(self) -> bool:
        """Named apps (no selector) are read by name (gate.cluster.named), never by listing the namespace."""
        return bool(self.params.get("names")) and not self.params.get("selector")

    def permissions(self) -> list[Permission]:
        if self.by_name():
            return named.permissions(APPLICATIONS, self.params["names"], self.namespace())
        return [Permission("list", APPLICATIONS.plural, APPLICATIONS.group, self.namespace())]

    def expected_revision(self, app: str) -> str | list[str] | None:
        revision = self.params.get("revision")
        return revision.get(app) if isinstance(revision, dict) else revision

    def observe(self, clients: Clients) -> Observation:
        view = clients.need_view()
        ns = self.namespace(clients)
        if self.by_name():
            by_name = view.named(APPLICATIONS, self.params["names"], ns)
        else:
            apps = view.list(APPLICATIONS, ns, self.params.get("selector"))
            by_name = {(a.get("metadata") or {}).get("name"): a for a in apps}
        wanted = list(self.params.get("names") or sorted(n for n in by_name if n))
        evidence: list[str] = []
        bad: list[tuple[str, list[str]]] = []
        final = False
        for name in wanted:
            app = by_name.get(name)
            problems, stuck = (["not found"], False) if app is None else app_problems(
                app, self.expected_revision(name))
            final = final or stuck
            if problems:
                redact.register_identifier(name)  # read from the cluster with a selector: kept whole in the row
                bad.append((name, problems))
                evidence.append(f"{ns}/{name}: {'; '.join(problems)}")
        ready = len(wanted) - len(bad)
        if not wanted:
            evidence.append(f"no Applications in namespace {ns} match selector {self.params.get('selector')}")
            bad.append(("", []))
        ok = bool(wanted) and ready == len(wanted)
        expected = f"all {len(wanted) or 'matched'} Synced and Healthy, re-compared after their last operation"
        if self.params.get("revision"):
            expected += ", synced at the expected revision"
        return Observation(ok=ok, observed=f"{ready}/{len(wanted)} apps ready", expected=expected,
                           evidence=capped(evidence), hint=self._hint(ns, bad[0]) if bad else "",
                           final=final and not ok)

    @staticmethod
    def _hint(ns: str, bad: tuple[str, list[str]]) -> str:
        name, problems = bad
        if not name:
            return f"Check the selector: kubectl get applications -n {ns} --show-labels"
        if problems == ["not found"]:
            return f"Create or sync the Application: kubectl get applications -n {ns}"
        if problems[0] == STALE:
            return (f"Argo CD has not re-compared {name} since its sync; ask for a refresh: kubectl annotate "
                    f"application -n {ns} {name} argocd.argoproj.io/refresh=normal --overwrite")
        return f"See the app: argocd app get {name} (or kubectl get application -n {ns} {name} -o yaml)"
