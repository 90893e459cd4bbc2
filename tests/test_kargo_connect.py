"""The gate against a Kargo v1.8 API server: Connect JSON only, answered the way v1.8 answers.

The simulator's Connect handler is wrapped here to behave like Kargo v1.8.0's server:
- GetAnalysisRun takes `namespace` and `name` (api/service/v1alpha1/service.proto L1295-1302) and
  rejects an empty namespace with invalid_argument (pkg/server/get_analysisrun_v1alpha1.go L28-31);
- answers are protojson of the generated types (api/v1alpha1/generated.proto): `metav1.Time` is
  `{seconds, nanos}` with int64 as a string, `metav1.Duration` is `{duration}` in nanoseconds, int64
  fields (generation, observedGeneration) are strings.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from test_kargo_support import CONNECT_PROMOTE, PROMOTE_PATH, Kit, kargo_sim

from gate.engine.durations import parse as parse_duration
from gate.kargo.timefmt import go_duration, normalize, parse_time
from gate.sim import kargo_api
from gate.sim.kargo_api import CONNECT, KargoError

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
DURATION_KEYS = {"requiredSoakTime", "longestSoak"}
INT64_KEYS = {"generation", "observedGeneration"}


def protojson(value, key: str = ""):  # type: ignore[no-untyped-def]
    """What connect-go's protojson codec writes for the Kubernetes-shaped object."""
    if isinstance(value, list):
        return [protojson(v) for v in value]
    if isinstance(value, dict):
        return {k: protojson(v, k) for k, v in value.items()}
    if isinstance(value, str) and RFC3339.match(value):
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        out: dict = {"seconds": str(int(when.timestamp()))}
        if when.microsecond:
            out["nanos"] = when.microsecond * 1000
        return out
    if key in DURATION_KEYS and isinstance(value, str):
        return {"duration": str(int(parse_duration(value) * 10**9))}
    if key in INT64_KEYS and isinstance(value, int):
        return str(value)
    return value


def as_v1_8(monkeypatch: pytest.MonkeyPatch) -> None:
    original = kargo_api.KargoAPI._connect

    def v1_8(self, who, method, body):  # type: ignore[no-untyped-def]
        if method == "GetAnalysisRun":
            if not body.get("namespace"):
                raise KargoError(400, "namespace should not be empty")
            ar = self._get("analysisruns", body["namespace"], body.get("name", ""), "analysisrun", "argoproj.io")
            return protojson({"analysisRun": ar})
        return protojson(original(self, who, method, body))

    monkeypatch.setattr(kargo_api.KargoAPI, "_connect", v1_8)


@pytest.fixture
def kit(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> Kit:
    as_v1_8(monkeypatch)
    with kargo_sim(request.param, tmp_path) as k:
        assert not k.sim.kargo.rest  # the scenario says v1.8.14: no REST at all
        yield k


def _connect_bodies(kit: Kit, method: str) -> list[dict]:
    return [r.get("body") for r in kit.sim.requests if r["path"] == CONNECT + method]


@pytest.mark.parametrize("kit", ["connect-v1.8-verification-failed"], indirect=True)
def test_v1_8_get_analysis_run_sends_namespace_and_quotes_the_metric(kit: Kit, capsys) -> None:
    code, out = kit.gate("promote", "--stage", "monitoring", "--freight-alias", "calm-crane", capsys=capsys)
    assert code == 1, out  # gate closed by the failed verification, not exit 3 from a rejected request
    assert "Kargo API: v1.8.14" in out
    assert "Promotion: PASS" in out and "Kargo verification: FAIL" in out
    assert "metric error-rate: Failed: error rate 7.2% is above the 5% threshold" in out
    bodies = _connect_bodies(kit, "GetAnalysisRun")
    assert bodies and all(b["namespace"] == "platform" and "project" not in b for b in bodies)
    assert len(kit.posts(CONNECT_PROMOTE)) == 1 and kit.posts(PROMOTE_PATH) == []


@pytest.mark.parametrize("kit", ["connect-v1.8-soaked"], indirect=True)
def test_v1_8_protojson_times_count_towards_the_soak(kit: Kit, capsys) -> None:
    # currentlyIn.operators.since arrives as {"seconds": "..."}: 2h ago, more than the 1h required
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight-alias", "calm-crane", capsys=capsys)
    assert code == 0, out
    assert "Pre-promotion: PASS" in out and "soak time not met" not in out


@pytest.mark.parametrize("kit", ["connect-v1.8-soak-not-met"], indirect=True)
def test_v1_8_soak_still_blocks_when_not_met(kit: Kit, capsys) -> None:
    # the twin: the same {seconds} form, 20 minutes ago, 1h required -> do not promote
    code, out = kit.gate("precheck", "--stage", "monitoring", "--freight-alias", "calm-crane", capsys=capsys)
    assert code == 1, out
    assert re.search(r"soaked 20m\d*s? of the 1h(0m0s)? required", out), out


def test_normalize_reads_both_shapes() -> None:
    assert parse_time({"seconds": "1767225600", "nanos": 500000000}).isoformat() == "2026-01-01T00:00:00.500000+00:00"
    assert parse_time("2026-01-01T00:00:00Z") == parse_time({"seconds": "1767225600"})
    assert go_duration(3900 * 10**9) == "1h5m0s" and go_duration(1_500_000_000) == "1.5s"
    got = normalize({"metadata": {"generation": "3", "creationTimestamp": {"seconds": "1767225600"}},
                     "status": {"verifiedIn": {"dev": {"longestSoak": {"duration": "3900000000000"}}}}})
    assert got == {"metadata": {"generation": 3, "creationTimestamp": "2026-01-01T00:00:00Z"},
                   "status": {"verifiedIn": {"dev": {"longestSoak": "1h5m0s"}}}}
