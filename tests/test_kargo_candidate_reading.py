"""A second, independent reading of the --origin scenarios: the objects read with the real `kubernetes`
client, Kargo's candidate selection transcribed here straight from the Go source, compared with what the
gate decides through the Kargo API. The two share no code (gate/kargo/freight.py is not imported).

Transcribed from akuity/kargo v1.11.2: pkg/api/stage.go L138-200 (ListFreightAvailableToStage, with the
MatchUpstream CurrentlyIn filter L175-180), pkg/api/warehouse.go L105-256 (approved OR verified,
soak), pkg/api/auto_promotion.go L97-141 (SelectAutoPromotionCandidates)."""

from __future__ import annotations

from datetime import datetime

import pytest
from kubernetes import client, config
from test_kargo_support import kargo_sim

from gate.sim.scenario import SCENARIOS


def _api(kubeconfig: str) -> client.CustomObjectsApi:
    cfg = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=cfg, persist_config=False)
    return client.CustomObjectsApi(client.ApiClient(cfg))


def _time(text: str | None) -> datetime:
    return datetime.fromisoformat((text or "1970-01-01T00:00:00Z").replace("Z", "+00:00"))


def kargo_candidate(stage: dict, freights: list[dict], origin: str) -> str | None:
    """SelectAutoPromotionCandidates(ListFreightAvailableToStage(stage))[origin], no soak times here."""
    for req in stage["spec"]["requestedFreight"]:
        if f"{req['origin']['kind']}/{req['origin']['name']}" != origin:
            continue
        src = req["sources"]
        mine = [f for f in freights if f"{f['origin']['kind']}/{f['origin']['name']}" == origin]
        if not src.get("direct"):
            ups = src.get("stages") or []
            status = [f.get("status") or {} for f in mine]
            keep = [
                stage["metadata"]["name"] in (s.get("approvedFor") or {})
                or (
                    all(u in (s.get("verifiedIn") or {}) for u in ups)
                    if src.get("availabilityStrategy") == "All"
                    else any(u in (s.get("verifiedIn") or {}) for u in ups)
                )
                for s in status
            ]
            mine = [f for f, k in zip(mine, keep, strict=True) if k]
            match_upstream = (src.get("autoPromotionOptions") or {}).get("selectionPolicy") == "MatchUpstream"
            if match_upstream:
                mine = [f for f in mine if ups[0] in ((f.get("status") or {}).get("currentlyIn") or {})]
                if len(mine) > 1:
                    return None
        if not mine:
            return None
        mine.sort(
            key=lambda f: (_time(f.get("discoveredAt") or f["metadata"]["creationTimestamp"]), f["metadata"]["name"]),
            reverse=True,
        )
        return mine[0]["metadata"]["name"]
    return None


@pytest.mark.parametrize(
    "scenario", ["promote-ok", "origin-match-upstream-one", "origin-match-upstream-two", "latest-approved-only"]
)
def test_gate_and_an_independent_reading_agree_on_kargos_candidate(scenario: str, tmp_path, capsys) -> None:
    assert (SCENARIOS / f"{scenario}.yaml").exists()
    with kargo_sim(scenario, tmp_path) as kit:
        api = _api(kit.sim.kubeconfig)
        stage = api.get_namespaced_custom_object("kargo.akuity.io", "v1alpha1", "platform", "stages", "monitoring")
        freights = api.list_namespaced_custom_object("kargo.akuity.io", "v1alpha1", "platform", "freights")["items"]
        expected = kargo_candidate(stage, freights, "Warehouse/platform-apps")
        code, out = kit.gate("precheck", "--stage", "monitoring", "--origin", "Warehouse/platform-apps", capsys=capsys)
        if expected is None:
            assert code == 1 and "Kargo would refuse --origin Warehouse/platform-apps" in out, out
        else:
            assert kit.result_json()["freight"] == expected, out
