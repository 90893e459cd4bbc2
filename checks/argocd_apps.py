"""`argocd_apps`: Argo CD Applications are synced and healthy, by a rule a stale status cannot fool.

notes/argo.md §7a: an Application is ready only when no operation is in flight, the last sync finished
Succeeded, the controller re-compared after it finished (reconciledAt >= finishedAt), no error
condition is set, sync is Synced and health Healthy, and (when asked) the revision the sync applied is
the expected one. Health alone is not enough: right after a sync the old, pre-sync "Healthy" is still
in the object.

Namespace: the `namespace` param, else the settings' `argocd_namespace`, else DEFAULT_NAMESPACE.
permissions() has no settings, so it uses the param or DEFAULT_NAMESPACE; the spec layer can call
apply_settings() to pin the param first, which makes the two agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from checks.base import Check, Clients
from checks.pods import capped, setting, slug
from gate.kube import Permission
from gate.model import Observation
from gate.resources import APPLICATIONS

DEFAULT_NAMESPACE = "argocd"
ERROR_CONDITIONS = ("ComparisonError", "InvalidSpecError", "SyncError", "UnknownError")
_NAME = {"type": "string", "minLength": 1}


def parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def applied_revisions(app: dict) -> list[str]:
    result = ((app.get("status") or {}).get("operationState") or {}).get("syncResult") or {}
    return [r for r in (result.get("revisions") or [result.get("revision")]) if r]


def revision_matches(expected: str, actual: list[str]) -> bool:
    """Exact, or an abbreviated git SHA (7+ characters) that prefixes the applied one."""
    return any(a == expected or (len(expected) >= 7 and a.startswith(expected)) for a in actual)


def failed_resources(state: dict) -> list[str]:
    out = []
    for res in (state.get("syncResult") or {}).get("resources") or []:
        if res.get("status") == "SyncFailed" or res.get("hookPhase") in ("Failed", "Error"):
            where = f"{res.get('namespace')}/{res.get('name')}" if res.get("namespace") else res.get("name")
            detail = res.get("message") or res.get("status") or res.get("hookPhase")
            out.append(f"{res.get('kind')} {where}: {detail}")
    return out


def operation_problem(app: dict) -> str | None:
    """In flight, failed or stale: the status cannot be trusted, or the sync did not work."""
    status = app.get("status") or {}
    state = status.get("operationState")
    if app.get("operation"):
        phase = (state or {}).get("phase")
        running = phase in ("Running", "Terminating") and not (state or {}).get("finishedAt")
        return f"sync {phase}: {state.get('message') or ''}".rstrip(": ") if running and state \
            else "sync requested, not started yet (.operation set)"
    if not state:
        return "never synced (no operationState)"
    phase = state.get("phase") or "Unknown"
    if not state.get("finishedAt"):
        return f"sync {phase}: {state.get('message') or ''}".rstrip(": ")
    if phase in ("Failed", "Error"):
        failed = failed_resources(state)
        text = f"last sync {phase}: {state.get('message') or ''}".rstrip(": ")
        return text + (f" [{'; '.join(failed[:5])}]" if failed else "")
    if phase != "Succeeded":
        return f"last sync {phase}: {state.get('message') or ''}".rstrip(": ")
    finished, reconciled = parse_time(state.get("finishedAt")), parse_time(status.get("reconciledAt"))
    if reconciled is None or finished is None or reconciled < finished:
        return "status not refreshed since the sync finished (reconciledAt < finishedAt)"
    return None


def app_problems(app: dict, expected_revision: str | None) -> list[str]:
    """Why one Application is not ready (empty: ready)."""
    problem = operation_problem(app)
    if problem:
        return [problem]
    status = app.get("status") or {}
    problems = [f"{c.get('type')}: {c.get('message') or ''}".rstrip(": ")
                for c in status.get("conditions") or [] if c.get("type") in ERROR_CONDITIONS]
    sync = (status.get("sync") or {}).get("status") or "Unknown"
    if sync != "Synced":
        problems.append(f"sync {sync}")
    health = status.get("health") or {}
    if (health.get("status") or "Unknown") != "Healthy":
        message = health.get("message")
        problems.append(f"health {health.get('status') or 'Unknown'}" + (f": {message}" if message else ""))
    if expected_revision:
        actual = applied_revisions(app)
        if not revision_matches(expected_revision, actual):
            problems.append(f"applied revision {', '.join(actual) or 'none'}, expected {expected_revision}")
    return problems


class ArgocdAppsCheck(Check):
    kind = "argocd_apps"
    summary = ("Argo CD Applications (names or selector) finished their sync, were re-compared after it, "
               "and are Synced and Healthy (optionally at an expected revision).")
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "additionalProperties": False,
        "anyOf": [{"required": ["names"]}, {"required": ["selector"]}],
        "properties": {
            "names": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _NAME},
            "selector": {"type": "string", "minLength": 1, "description": "label selector on Applications"},
            "namespace": {**_NAME, "description": "Applications' namespace (default: argocd_namespace)"},
            "revision": {"description": "expected applied revision, for all apps or as a map app -> revision",
                         "oneOf": [_NAME, {"type": "object", "additionalProperties": _NAME}]},
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

    def permissions(self) -> list[Permission]:
        return [Permission("list", APPLICATIONS.plural, APPLICATIONS.group, self.namespace())]

    def expected_revision(self, app: str) -> str | None:
        revision = self.params.get("revision")
        return revision.get(app) if isinstance(revision, dict) else revision

    def observe(self, clients: Clients) -> Observation:
        view = clients.need_view()
        ns = self.namespace(clients)
        apps = view.list(APPLICATIONS, ns, self.params.get("selector"))
        by_name = {(a.get("metadata") or {}).get("name"): a for a in apps}
        wanted = list(self.params.get("names") or sorted(n for n in by_name if n))
        evidence: list[str] = []
        bad: list[tuple[str, list[str]]] = []
        for name in wanted:
            app = by_name.get(name)
            problems = ["not found"] if app is None else app_problems(app, self.expected_revision(name))
            if problems:
                bad.append((name, problems))
                evidence.append(f"{ns}/{name}: {'; '.join(problems)}")
        ready = len(wanted) - len(bad)
        if not wanted:
            evidence.append(f"no Applications in namespace {ns} match selector {self.params.get('selector')}")
            bad.append(("", []))
        ok = bool(wanted) and ready == len(wanted)
        expected = f"all {len(wanted) or 'matched'} Synced and Healthy after a finished, re-compared sync"
        if self.params.get("revision"):
            expected += ", at the expected revision"
        return Observation(ok=ok, observed=f"{ready}/{len(wanted)} apps ready", expected=expected,
                           evidence=capped(evidence), hint=self._hint(ns, bad[0]) if bad else "")

    @staticmethod
    def _hint(ns: str, bad: tuple[str, list[str]]) -> str:
        name, problems = bad
        if not name:
            return f"Check the selector: kubectl get applications -n {ns} --show-labels"
        if problems == ["not found"]:
            return f"Create or sync the Application: kubectl get applications -n {ns}"
        if "reconciledAt < finishedAt" in problems[0]:
            return (f"Argo CD has not re-compared {name} since its sync; ask for a refresh: kubectl annotate "
                    f"application -n {ns} {name} argocd.argoproj.io/refresh=normal --overwrite")
        return f"See the app: argocd app get {name} (or kubectl get application -n {ns} {name} -o yaml)"
