"""A plan: the checks of one stage, level by level, with their polling settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gate.checks.base import Check
from gate.cluster.kube import Permission

DEFAULT_TIMEOUT = 300.0
DEFAULT_INTERVAL = 2.0
DEFAULT_MAX_INTERVAL = 10.0


@dataclass
class PlannedCheck:
    check: Check
    level: int
    id: str
    timeout: float = DEFAULT_TIMEOUT
    interval: float = DEFAULT_INTERVAL
    max_interval: float = DEFAULT_MAX_INTERVAL
    cluster: Any = None  # gate.cluster.destinations.ClusterRef: where it reads (None: the default cluster)
    label: str = ""  # the cluster's name in report rows, set once destinations are resolved


@dataclass
class Plan:
    stage: str
    levels: dict[int, list[PlannedCheck]] = field(default_factory=dict)
    source: str = ""  # the spec file it came from

    def select(self, wanted: set[int] | None) -> Plan:
        if not wanted:
            return self
        return Plan(self.stage, {n: c for n, c in self.levels.items() if n in wanted}, self.source)

    def permissions(self) -> list[Permission]:
        """Every rule the plan's checks need, deduplicated, in a stable order."""
        seen: dict[Permission, None] = {}
        for number in sorted(self.levels):
            for planned in self.levels[number]:
                for perm in planned.check.permissions():
                    seen.setdefault(perm, None)
        return list(seen)

    def optional_permissions(self) -> list[Permission]:
        """The rules the checks read only to diagnose a failure (Check.optional_permissions), less the ones
        some check needs anyway; deduplicated, in a stable order."""
        needed = set(self.permissions())
        seen: dict[Permission, None] = {}
        for number in sorted(self.levels):
            for planned in self.levels[number]:
                for perm in planned.check.optional_permissions():
                    if perm not in needed:
                        seen.setdefault(perm, None)
        return list(seen)
