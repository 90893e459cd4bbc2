"""What a check is: the parameters it takes, the permissions it needs, and one observation.

A check never waits and never talks to the network itself: the runner polls it, and it observes only
through the shared clients it is handed (one ClusterView per poll round, one HTTP session, one Kargo
client).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from gate.cluster.kube import ClusterView, KubeClient, Permission
from gate.cluster.resources import check_segments
from gate.model import Observation


@dataclass
class Clients:
    """Everything a check may observe through. `view` is new every poll round."""

    kube: KubeClient | None = None
    view: ClusterView | None = None
    http: Any = None  # gate.httpclient.HttpClient
    kargo: Any = None  # gate.kargo.client.KargoClient, when configured
    settings: Any = None  # gate.spec.settings.Settings
    freight: str | None = None  # --freight: the Freight expected to be current
    in_cluster: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def need_view(self) -> ClusterView:
        if self.view is None:
            from gate.errors import EvaluationError

            raise EvaluationError("this check needs cluster access, and no cluster is configured")
        return self.view


class Check:
    """Subclasses set `kind` and `schema` (JSON Schema of their parameters) and implement observe()."""

    kind: ClassVar[str] = ""
    schema: ClassVar[dict[str, Any]] = {"type": "object"}
    # JSON Schema of a shorthand form (e.g. `crds: [a, b]`); normalize() turns it into params.
    shorthand: ClassVar[dict[str, Any] | None] = None
    summary: ClassVar[str] = ""  # one line for the spec reference
    # where the spec wrote this check ({"file", "line", "key"}), set by the spec layer for messages
    origin: dict[str, Any] | None = None
    # Params that become URL path segments, by the name rule they must follow: "label" (a namespace, a
    # Kargo project), "subdomain" (an object name), "ref" (namespace/name); a list value is checked item
    # by item. The constructor checks them, so a bad one is exit 2 at the spec's line (gate/spec/load.py
    # turns the ValueError into a ConfigError), never an ERROR row mid-run.
    segments: ClassVar[dict[str, str]] = {}

    def __init__(self, params: dict[str, Any], name: str | None = None) -> None:
        check_segments(params, self.segments)
        self.params = params
        self.name = name or self.default_name()

    @classmethod
    def normalize(cls, raw: Any) -> dict[str, Any]:
        """Turn the spec's value into the params dict (override for shorthands)."""
        return dict(raw or {})

    def default_name(self) -> str:
        return self.kind

    def ident(self) -> str:
        """A short stable suffix that tells two checks of one kind apart (used in result ids)."""
        return self.name

    def apply_settings(self, settings: Any) -> None:
        """Fill defaults that come from settings (e.g. the Argo CD namespace) before permissions() is
        asked, so the declared RBAC names the real namespace. The spec layer calls it once."""

    def needs_settings(self) -> dict[str, str]:
        """Settings keys this check cannot run without, given its params: key -> the param that would
        replace it. The session discovers the missing ones (lazily) or stops with exit 2 naming them."""
        return {}

    def permissions(self) -> list[Permission]:
        """The RBAC rules observe() needs; `gate rbac check` and `render analysis-template` use them.
        None at all means the check needs no cluster: the session then does not connect for it."""
        return []

    def optional_permissions(self) -> list[Permission]:
        """RBAC rules read only to explain a failure (its DIAGNOSIS: a failing pod's log, its events), not to
        observe: asked for and rendered (marked), but a denied one is a note, never a reason to stop."""
        return []

    def action(self, obs: Observation) -> str:
        """What a person should do when this check fails: a command to run or a setting to change.
        The default is the observation's hint; check kinds whose hint restates the problem override it."""
        return obs.hint

    def observe(self, clients: Clients) -> Observation:
        raise NotImplementedError
