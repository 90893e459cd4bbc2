"""The simulated Kargo API against the v1.11.2 swagger, and the Kargo client's error and retry rules."""

from __future__ import annotations

import json
import os
import re
import stat
import sys

import jsonschema
import pytest
from refdata import KARGO_SWAGGER as SWAGGER
from test_kargo_support import F2, PROMOTE_PATH, kargo_sim

from gate.errors import AuthError, ConfigError, GateClosed, PermissionDenied
from gate.kargo.client import KargoClient, KargoConfig
from gate.kargo.freight import select
from gate.kargo.promote import Context, KargoOptions, create_promotion
from gate.sim import kargo_api
from gate.sim.kargo_api import KargoError

# (method, path regex, status) -> swagger definition of the body
ROUTES = [
    ("GET", r"^/v1beta1/system/server-version$", "VersionInfo"),
    ("GET", r"^/v1beta1/projects/[^/]+/stages$", "StageList"),
    ("GET", r"^/v1beta1/projects/[^/]+/stages/[^/]+$", "Stage"),
    ("POST", r"^/v1beta1/projects/[^/]+/stages/[^/]+/promotions$", "Promotion"),
    ("GET", r"^/v1beta1/projects/[^/]+/freight$", "pkg_server.queryFreightsResponse"),
    ("GET", r"^/v1beta1/projects/[^/]+/freight/[^/]+$", "Freight"),
    ("GET", r"^/v1beta1/projects/[^/]+/promotions$", "PromotionList"),
    ("GET", r"^/v1beta1/projects/[^/]+/promotions/[^/]+$", "Promotion"),
    ("GET", r"^/v1beta1/projects/[^/]+/analysis-runs/[^/]+$", "RolloutsAnalysisRun"),
    ("GET", r"^/v1beta1/projects/[^/]+/events$", "V1EventList"),
]


def _validator(definition: str) -> jsonschema.Validator:
    spec = json.loads(SWAGGER.read_text())
    return jsonschema.Draft4Validator(
        {"$ref": f"#/definitions/{definition}", "definitions": spec["definitions"]}
    )


def test_every_kargo_response_validates_against_the_swagger(tmp_path, capsys, monkeypatch) -> None:
    seen: list[tuple[str, str, int, object]] = []
    original = kargo_api.KargoAPI.handle_rest

    def recording(self, req):  # type: ignore[no-untyped-def]
        resp = original(self, req)
        if not hasattr(resp.body, "__next__"):  # SSE streams are checked through their GET twin
            seen.append((req.method, req.path, resp.status, resp.body))
        return resp

    monkeypatch.setattr(kargo_api.KargoAPI, "handle_rest", recording)
    with kargo_sim("verification-failed", tmp_path) as kit:
        code, _ = kit.gate("promote", "--stage", "monitoring", "--freight-alias", "calm-crane", capsys=capsys)
        assert code == 1
        kit.gate("promote", "--stage", "monitoring", "--freight", "nope", capsys=capsys)  # a 404 body
        with pytest.raises(AuthError):
            KargoClient(KargoConfig(kit.sim.url, "eyJ.bad.token", ca_file=kit.sim.ca_file)).discover()
        client = KargoClient(KargoConfig(kit.sim.url, kit.token, ca_file=kit.sim.ca_file))
        assert {s["metadata"]["name"] for s in client.list_stages("platform")} >= {"operators", "monitoring"}
        assert any(e["reason"] == "FreightVerificationFailed" for e in client.list_events("platform"))
        assert client.list_freight("platform")
    checked = set()
    assert len(seen) > 10
    for method, path, status, body in seen:
        if status >= 400:
            _validator("ResourceErrorResponse").validate(body)
            assert set(body) == {"error"}  # type: ignore[arg-type]
            checked.add("error")
            continue
        definition = next((d for m, rx, d in ROUTES if m == method and re.match(rx, path)), None)
        assert definition, f"no swagger definition mapped for {method} {path}"
        _validator(definition).validate(body)
        checked.add(definition)
    # the flow used every endpoint it needs
    assert {
        "VersionInfo",
        "Stage",
        "StageList",
        "Promotion",
        "PromotionList",
        "Freight",
        "RolloutsAnalysisRun",
        "V1EventList",
        "pkg_server.queryFreightsResponse",
        "error",
    } <= checked


def test_swagger_validation_would_catch_a_wrong_shape() -> None:
    with pytest.raises(jsonschema.ValidationError):
        _validator("Promotion").validate({"metadata": {"name": 7}})
    with pytest.raises(jsonschema.ValidationError):
        _validator("pkg_server.queryFreightsResponse").validate({"groups": {"": {"items": "x"}}})


def test_client_maps_kargo_refusals(tmp_path) -> None:
    with kargo_sim("promote-ok", tmp_path) as kit:
        client = KargoClient(KargoConfig(kit.sim.url, kit.token, ca_file=kit.sim.ca_file))
        assert client.discover() == "v1.11.2" and not client.connect
        with pytest.raises(GateClosed, match='Freight "7539ab2.*" is not available to Stage "services"'):
            client.promote("platform", "services", freight=F2)  # not verified in monitoring yet
        with pytest.raises(ConfigError, match='Stage "nope"'):
            client.get_stage("platform", "nope")
        kit.sim.kargo.tokens["eyJ.limited.x"] = {"deny": ["promote"]}
        limited = KargoClient(KargoConfig(kit.sim.url, "eyJ.limited.x", ca_file=kit.sim.ca_file))
        with pytest.raises(PermissionDenied) as exc:
            limited.promote("platform", "monitoring", freight=F2)
        assert exc.value.permission.verb == "promote" and exc.value.permission.name == "monitoring"
        assert not kit.sim.store.list("kargo.akuity.io", "promotions", "platform")


def test_lost_promote_answer_adopts_the_created_promotion(tmp_path) -> None:
    with kargo_sim("promote-ok", tmp_path) as kit:
        original = kit.sim.kargo.promote

        def created_then_502(*args, **kwargs):  # type: ignore[no-untyped-def]
            original(*args, **kwargs)
            raise KargoError(502, "bad gateway")

        kit.sim.kargo.promote = created_then_502
        client = KargoClient(KargoConfig(kit.sim.url, kit.token, ca_file=kit.sim.ca_file))
        ctx = Context(client, client, "platform", None, "argocd", lambda text: None)
        sel = select(client, "platform", "monitoring", freight=F2)
        promo = create_promotion(ctx, KargoOptions(stage="monitoring"), sel)
        promos = [p for p in kit.sim.store.list("kargo.akuity.io", "promotions", "platform")]
        assert len(promos) == 1 and promo["metadata"]["name"] == promos[0]["metadata"]["name"]
        assert len([r for r in kit.sim.requests if r["method"] == "POST" and r["path"] == PROMOTE_PATH]) == 1


def test_promote_5xx_before_creation_is_retried_once(tmp_path) -> None:
    with kargo_sim("promote-ok", tmp_path) as kit:
        kit.sim.add_fault({"path": f"^{PROMOTE_PATH}$", "method": "POST", "status": 503, "count": 1})
        client = KargoClient(KargoConfig(kit.sim.url, kit.token, ca_file=kit.sim.ca_file))
        ctx = Context(client, client, "platform", None, "argocd", lambda text: None)
        create_promotion(
            ctx, KargoOptions(stage="monitoring"), select(client, "platform", "monitoring", freight=F2)
        )
        statuses = [r["status"] for r in kit.sim.requests if r["path"] == PROMOTE_PATH]
        assert statuses == [503, 201]
        assert len(kit.sim.store.list("kargo.akuity.io", "promotions", "platform")) == 1


FAKE_KARGO = """#!{python}
import json, os, sys, requests
args = sys.argv[1:]
assert args[0] == "promote" and "--wait" not in args
val = lambda flag: args[args.index(flag) + 1]
body = {{"freight": val("--freight")}} if "--freight" in args else {{"freightAlias": val("--freight-alias")}}
r = requests.post(os.environ["KARGO_API_ADDRESS"] + "/v1beta1/projects/" + val("--project") + "/stages/"
                  + val("--stage") + "/promotions", json=body, verify=os.environ["FAKE_KARGO_CA"],
                  headers={{"Authorization": "Bearer " + os.environ["KARGO_API_TOKEN"]}})
if r.status_code >= 300:
    print("Error: " + r.json()["error"], file=sys.stderr)
    sys.exit(1)
print(json.dumps(r.json()))
"""


def test_via_cli_creates_through_the_kargo_binary_and_follows_the_phase(
    tmp_path, capsys, monkeypatch
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "kargo"
    fake.write_text(FAKE_KARGO.format(python=sys.executable))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    with kargo_sim("promote-errored", tmp_path) as kit:
        code, out = kit.gate(
            "promote",
            "--stage",
            "monitoring",
            "--freight",
            F2,
            "--via",
            "cli",
            capsys=capsys,
            env={"FAKE_KARGO_CA": kit.sim.ca_file},
        )
        assert code == 1, out  # the CLI exited 0; the gate read the Errored phase itself
        assert "Errored at step argocd-update" in out
        assert len(kit.posts()) == 1
        assert kit.token not in out
