"""Read Kargo objects through the Kubernetes API when no Kargo API is configured (read-only).

Same method names and shapes as KargoClient's reads; it cannot promote. The Kargo project is the
namespace of the same name. Every answer is judged readable by KubeClient (gate/cluster/answers.py: a
PromotionList with `items` a list, a Stage of kind Stage...): `{}` or `{"items": null}` for the
Promotions is an error after retries, never "no Promotion in progress".
"""

from __future__ import annotations

from typing import Any

from gate.cluster.kube import KubeClient
from gate.cluster.resources import ANALYSISRUNS, EVENTS, FREIGHTS, PROMOTIONS, STAGES
from gate.errors import ConfigError


class KubeKargoReader:
    connect = False
    version = "kubernetes"

    def __init__(self, kube: KubeClient) -> None:
        self.kube = kube

    def discover(self) -> str:
        return self.version

    def get_stage(self, project: str, name: str) -> dict:
        stage = self.kube.get(STAGES, name, project)
        if stage is None:
            raise ConfigError(f'Stage "{name}" in project "{project}" does not exist', key="--stage")
        return stage

    def list_stages(self, project: str) -> list[dict]:
        return self.kube.list(STAGES, project)

    def get_freight(self, project: str, name_or_alias: str) -> dict:
        got = self.kube.get(FREIGHTS, name_or_alias, project)
        if got is None:
            by_alias = self.kube.list(
                FREIGHTS, project, label_selector=f"kargo.akuity.io/alias={name_or_alias}"
            )
            got = by_alias[0] if by_alias else None
        if got is None:
            raise ConfigError(
                f'Freight "{name_or_alias}" in project "{project}" does not exist', key="--freight"
            )
        return got

    def list_freight(self, project: str) -> list[dict]:
        return self.kube.list(FREIGHTS, project)

    def available_freight(self, project: str, stage: str) -> list[dict]:
        from gate.kargo.freight import is_available

        target = self.get_stage(project, stage)
        return [f for f in self.list_freight(project) if is_available(target, f)[0]]

    def list_promotions(self, project: str, stage: str | None = None) -> list[dict]:
        items = self.kube.list(PROMOTIONS, project)  # no stage label before v1.11: filter on spec.stage
        items = [p for p in items if not stage or (p.get("spec") or {}).get("stage") == stage]
        return sorted(items, key=lambda p: p["metadata"]["name"])

    def get_promotion(self, project: str, name: str) -> dict:
        got = self.kube.get(PROMOTIONS, name, project)
        if got is None:
            raise ConfigError(f'Promotion "{name}" does not exist')
        return got

    def get_analysis_run(self, project: str, name: str) -> dict | None:
        return self.kube.get(ANALYSISRUNS, name, project)

    def list_events(self, project: str) -> list[dict]:
        return self.kube.list(EVENTS, project)

    def promote(self, *args: Any, **kwargs: Any) -> dict:
        raise ConfigError(
            "promoting needs the Kargo API (never a Promotion through Kubernetes): pass "
            "--kargo-address/--kargo-token or set KARGO_API_ADDRESS/KARGO_API_TOKEN, "
            "or use --via cli",
            key="--kargo-address",
        )
