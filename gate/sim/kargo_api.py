"""The simulated Kargo API server, mounted on the simulator's own address.

Contract with `gate sim serve` (gate/sim/cli.py) and the demo:

    from gate.sim.kargo_api import mount
    info = mount(handle)          # -> KargoSimInfo(address, token)
    # print KARGO_API_ADDRESS=info.address and KARGO_API_TOKEN=info.token (the CA is handle.ca_file)

Serves the REST API (`/v1beta1/...`, reference/kargo/api/swagger-v1.11.2.json) and, for servers the
scenario says are older than v1.9, only the Connect JSON API
(`/akuity.io.kargo.service.v1alpha1.KargoService/<Method>`). Bodies are Kubernetes-shaped JSON read from
and written to the sim's store, errors are `{"error": msg}` (REST) or `{"code", "message"}` (Connect)
with Kargo's status codes, `?watch=true` answers Server-Sent Events. A simulated controller
(gate/sim/kargo_controller.py) moves the Promotions along.

Scenario block (all optional):

    kargo:
      version: v1.11.2                  # < v1.9: Connect only
      token: <jwt>                      # the token that may do everything (default: generated per run)
      tokens: {<jwt>: {user: ci, deny: [promote, create-promotions, patch-promotions, patch-stages]}}
      legacy: false                     # also write status.phase (Kargo ≤ v1.4 Stages)
    controllers: {kargo: false}         # or `controllers: false`: no simulated controller runs
      promotion: {...}; verification: {...}   # see kargo_controller (outcome may be a list)
"""

from __future__ import annotations

import base64
import json
import queue
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gate.sim import kargo_rules as rules
from gate.sim.http import SimRequest, SimResponse
from gate.sim.kargo_controller import K, KargoController
from gate.sim.store import StoreError

CONNECT = "/akuity.io.kargo.service.v1alpha1.KargoService/"
KEEPALIVE = 1.0  # seconds between SSE keepalive comments (Kargo: 30 s)


@dataclass
class KargoSimInfo:
    address: str
    token: str


class KargoError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def make_jwt(subject: str = "ci", issuer: str = "kargo-sim") -> str:
    """A JWT-looking token (Kargo rejects opaque tokens); the signature is random."""

    def b64(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return ".".join(
        [
            b64({"alg": "HS256", "typ": "JWT"}),
            b64({"iss": issuer, "sub": subject, "iat": int(time.time())}),
            base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
        ]
    )


def scenario_config(handle: Any) -> dict:
    """The scenario's `kargo:` block, following `extends:` when the loader did not keep it."""
    data = getattr(handle, "scenario", {}) or {}
    if "kargo" in data:
        return dict(data["kargo"] or {})
    from gate.sim import scenario as scen

    merged: dict = {}
    name: Any = data.get("name")
    chain = []
    for _ in range(8):
        path = scen.SCENARIOS / f"{name}.yaml" if name else None
        if not path or not Path(path).exists():
            break
        raw = yaml.safe_load(Path(path).read_text()) or {}
        chain.append(raw.get("kargo") or {})
        name = raw.get("extends")
    for block in reversed(chain):
        merged.update(block)
    return merged


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.lstrip("v").split(".")[:3] if p.isdigit())


class KargoAPI:
    def __init__(self, handle: Any, config: dict) -> None:
        self.handle, self.store = handle, handle.store
        self.version = str(config.get("version") or "v1.11.2")
        self.rest = _version_tuple(self.version) >= (1, 9)
        self.token = str(config.get("token") or make_jwt())
        self.tokens: dict[str, dict] = {self.token: {"user": "ci", "deny": []}}
        for tok, info in (config.get("tokens") or {}).items():
            self.tokens[str(tok)] = dict(info or {})
        self.controller = KargoController(handle, config)
        self._watchers: list[queue.Queue] = []
        self._wlock = threading.Lock()
        self.store.on_change(self._on_change)

    # -- plumbing --------------------------------------------------------------------------------
    def _on_change(self, event: str, obj: dict) -> None:
        with self._wlock:
            for q in self._watchers:
                q.put((event, obj))

    def _who(self, req: SimRequest) -> dict:
        """The caller: a token of the scenario's, or (as Kargo v1.11 `pkg/server/option/auth.go`
        `authenticate`, case 4) a JWT the Kubernetes API server recognizes, e.g. a ServiceAccount token."""
        token = req.bearer or ""
        info = self.tokens.get(token)
        if info is None and token.count(".") == 2:
            ident = self.handle.auth.identify(token)
            if ident is not None:
                return {"user": ident.user, "deny": []}
        if info is None:
            raise KargoError(401, "unauthenticated: invalid token")
        return info

    def _allow(self, who: dict, action: str, what: str) -> None:
        if action in (who.get("deny") or []):
            verb, _, res = action.partition("-")
            resource = {"": "stages"}.get(res, res) if verb == "promote" else res
            raise KargoError(
                403,
                f'permission denied: user "{who.get("user", "ci")}" cannot {verb} {resource} {what}'.rstrip(),
            )

    def _get(self, plural: str, ns: str, name: str, label: str, group: str = K) -> dict:
        obj = self.store.get(group, plural, ns, name)
        if obj is None:
            raise KargoError(404, f'{label} "{name}" not found in namespace "{ns}"')
        return obj

    def _freight(self, ns: str, name_or_alias: str) -> dict:
        got = self.store.get(K, "freights", ns, name_or_alias)
        if got is None:
            got = next(
                (
                    f
                    for f in self.store.list(K, "freights", ns)
                    if f.get("alias") == name_or_alias
                    or (f["metadata"].get("labels") or {}).get(f"{K}/alias") == name_or_alias
                ),
                None,
            )
        if got is None:
            raise KargoError(404, f'freight "{name_or_alias}" not found in namespace "{ns}"')
        return got

    def _project(self, ns: str) -> None:
        if self.store.get(K, "projects", None, ns) is None and not self.store.list(K, "stages", ns):
            raise KargoError(404, f'project "{ns}" not found')

    def available(self, ns: str, stage: dict) -> list[dict]:
        """api.ListFreightAvailableToStage (gate/sim/kargo_rules.py available_to_stage)."""
        return rules.available_to_stage(stage, self.store.list(K, "freights", ns))

    # -- REST ------------------------------------------------------------------------------------
    def handle_rest(self, req: SimRequest) -> SimResponse:
        if not self.rest:
            return SimResponse(404, "404 page not found")
        try:
            self._who(req)
            return self._rest(req)
        except KargoError as err:
            return SimResponse(err.status, {"error": err.message})
        except StoreError as err:
            return SimResponse(err.code, {"error": err.message})

    def _rest(self, req: SimRequest) -> SimResponse:
        parts = [p for p in req.path.split("/") if p][1:]  # drop v1beta1
        watch = req.arg("watch") == "true"
        if parts == ["system", "server-version"]:
            return SimResponse(
                200,
                {
                    "version": self.version,
                    "gitCommit": "20c56384dc3aa29911368fa9c0916e8f4a541252",
                    "gitTreeDirty": False,
                    "goVersion": "go1.24.6",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                    "buildDate": "2026-08-17T00:00:00Z",
                },
            )
        if len(parts) < 3 or parts[0] != "projects":
            raise KargoError(404, "not found")
        ns, kind, rest = parts[1], parts[2], parts[3:]
        self._project(ns)
        who = self._who(req)
        if kind == "stages":
            if not rest:
                items = self.store.list(K, "stages", ns)
                origins = req.query.get("freightOrigins") or []
                if origins:
                    items = [
                        s
                        for s in items
                        if any(
                            (r.get("origin") or {}).get("name") in origins
                            for r in (s.get("spec") or {}).get("requestedFreight") or []
                        )
                    ]
                return SimResponse(200, _list("StageList", items, self.store.resource_version))
            stage = self._get("stages", ns, rest[0], "stage")
            if len(rest) == 1 and req.method == "GET":
                return self._watch("stages", ns, rest[0]) if watch else SimResponse(200, stage)
            if rest[1:] == ["promotions"] and req.method == "POST":
                return SimResponse(201, self.promote(who, ns, stage, req.json() or {}))
            if rest[1:] == ["verification"] and req.method == "POST":
                self.reverify(who, ns, stage)
                return SimResponse(200, {})
            if rest[1:] in (["refresh"], ["verification", "abort"]) and req.method == "POST":
                return SimResponse(200, {})
        if kind == "freight":
            if not rest and req.method == "GET":
                return SimResponse(
                    200, self.query_freight(ns, req.arg("stage"), req.query.get("origins") or [])
                )
            if len(rest) == 1 and req.method == "GET":
                return SimResponse(200, self._freight(ns, rest[0]))
        if kind == "promotions":
            if not rest and req.method == "GET":
                items = self._promotions(ns, req.arg("stage"))
                return SimResponse(200, _list("PromotionList", items, self.store.resource_version))
            promo = self._get("promotions", ns, rest[0], "promotion")
            if len(rest) == 1 and req.method == "GET":
                return self._watch("promotions", ns, rest[0]) if watch else SimResponse(200, promo)
            if rest[1:] == ["abort"] and req.method == "POST":
                self.abort(who, ns, promo)
                return SimResponse(200, {})
            if rest[1:] == ["refresh"] and req.method == "POST":
                return SimResponse(200, {})
        if kind == "analysis-runs" and len(rest) == 1 and req.method == "GET":
            return SimResponse(
                200, self._get("analysisruns", ns, rest[0], "analysisrun", group="argoproj.io")
            )
        if kind == "events" and not rest and req.method == "GET":
            return SimResponse(
                200,
                _list(
                    "EventList",
                    self.store.list("", "events", ns),
                    self.store.resource_version,
                    api_version="v1",
                ),
            )
        raise KargoError(404, f"no route for {req.method} {req.path}")

    def _promotions(self, ns: str, stage: str | None) -> list[dict]:
        items = [
            p for p in self.store.list(K, "promotions", ns) if not stage or p["spec"].get("stage") == stage
        ]
        return sorted(items, key=lambda p: p["metadata"]["name"])

    def query_freight(self, ns: str, stage: str | None, origins: list[str]) -> dict:
        if stage:
            items = self.available(ns, self._get("stages", ns, stage, "stage"))
        else:
            items = self.store.list(K, "freights", ns)
        if origins:
            items = [f for f in items if (f.get("origin") or {}).get("name") in origins]
        items.sort(key=lambda f: f["metadata"].get("creationTimestamp") or "", reverse=True)
        return {
            "groups": {"": {"items": items}},
            "resourceVersion": "" if stage else self.store.resource_version,
        }

    def promote(self, who: dict, ns: str, stage: dict, body: dict) -> dict:
        """PromoteToStage, checked in Kargo's order: stage (done), promote permission, freight, availability,
        create permission, steps."""
        chosen = [k for k in ("freight", "freightAlias", "origin") if body.get(k)]
        if len(chosen) != 1:
            raise KargoError(400, "exactly one of freight, freightAlias or origin must be specified")
        name = stage["metadata"]["name"]
        self._allow(who, "promote", f'"{name}"')
        if body.get("origin"):
            freight = self._origin_candidate(ns, stage, str(body["origin"]))
        else:
            freight = self._freight(ns, body.get("freight") or body.get("freightAlias"))
        if not rules.is_available(stage, freight):
            raise KargoError(
                400, f'Freight "{freight["metadata"]["name"]}" is not available to Stage "{name}"'
            )
        self._allow(who, "create-promotions", f'in namespace "{ns}"')
        if not (((stage.get("spec") or {}).get("promotionTemplate") or {}).get("spec") or {}).get("steps"):
            raise KargoError(422, f'Stage "{name}" defines no promotion steps')
        actor = f'subject:{who.get("user", "ci")}'
        promo = self.controller.create_promotion(ns, stage, freight["metadata"]["name"], actor)
        # pkg/server/promote_to_stage_v1alpha1.go:143-159
        self.controller.promotion_event(
            promo, "PromotionCreated", f'Promotion created for Stage "{name}" by "{actor}"', actor,
            component="api",
        )
        return promo

    def _origin_candidate(self, ns: str, stage: dict, origin: str) -> dict:
        """The webhook resolves an origin to the auto-promotion candidate
        (pkg/webhook/kubernetes/promotion/webhook.go:322-351; origin parsed as stage_types.go:286)."""
        kind, _, wh = origin.partition("/")
        if not wh or "/" in wh or kind != "Warehouse":
            raise KargoError(400, f'invalid origin "{origin}": invalid Freight origin string "{origin}"')
        key = f"Warehouse/{wh}"
        candidate = rules.select_candidates(stage, self.available(ns, stage)).get(key)
        if candidate is None:
            name = stage["metadata"]["name"]
            raise KargoError(
                422,
                f'admission webhook "promotion.kargo.akuity.io" denied the request: spec.origin: '
                f'Invalid value: "{key}": no auto-promotion candidate found for origin "{key}" on Stage "{name}"',
            )
        return candidate

    def reverify(self, who: dict, ns: str, stage: dict) -> None:
        """ReverifyStageFreight: patch the kargo.akuity.io/reverify annotation with the current
        verification's id (pkg/api/annotations.go:29; the caller needs patch on stages)."""
        self._allow(who, "patch-stages", f'"{stage["metadata"]["name"]}"')
        current = ((stage.get("status") or {}).get("freightHistory") or [{}])[0] or {}
        latest = (current.get("verificationHistory") or [{}])[0] or {}
        if not latest.get("id"):
            raise KargoError(400, f'stage "{stage["metadata"]["name"]}" has no verification to re-run')
        value = json.dumps({"id": latest["id"], "actor": f'subject:{who.get("user", "ci")}'})
        self.store.merge_patch(
            K, "stages", ns, stage["metadata"]["name"], {"metadata": {"annotations": {f"{K}/reverify": value}}}
        )

    def abort(self, who: dict, ns: str, promo: dict) -> None:
        self._allow(who, "patch-promotions", f'"{promo["metadata"]["name"]}"')
        actor = json.dumps({"action": "terminate", "actor": who.get("user", "ci")})
        self.store.merge_patch(
            K,
            "promotions",
            ns,
            promo["metadata"]["name"],
            {"metadata": {"annotations": {f"{K}/abort": actor}}},
        )

    def _watch(self, plural: str, ns: str, name: str) -> SimResponse:
        q: queue.Queue = queue.Queue()
        with self._wlock:
            self._watchers.append(q)
        first = self.store.get(K, plural, ns, name)

        def stream() -> Iterator[bytes]:
            try:
                if first is not None:
                    yield _sse("ADDED", first)
                while True:
                    try:
                        event, obj = q.get(timeout=KEEPALIVE)
                    except queue.Empty:
                        yield b": keepalive\n\n"
                        continue
                    meta = obj.get("metadata") or {}
                    if (
                        obj.get("kind") in ("Stage", "Promotion")
                        and meta.get("name") == name
                        and meta.get("namespace") == ns
                        and plural.startswith(obj["kind"].lower())
                    ):
                        yield _sse(event, obj)
            finally:
                with self._wlock:
                    if q in self._watchers:
                        self._watchers.remove(q)

        return SimResponse(200, stream(), {"Content-Type": "text/event-stream"})

    # -- Connect (servers older than v1.9, and v1.9–v1.11 alongside REST) ------------------------
    def handle_connect(self, req: SimRequest) -> SimResponse:
        if _version_tuple(self.version) >= (1, 12):
            return SimResponse(404, "404 page not found")
        method = req.path.rsplit("/", 1)[-1]
        try:
            who = self._who(req)
            return SimResponse(200, self._connect(who, method, req.json() or {}))
        except KargoError as err:
            code = {
                400: "invalid_argument",
                401: "unauthenticated",
                403: "permission_denied",
                404: "not_found",
                422: "invalid_argument",
            }.get(err.status, "internal")
            return SimResponse(
                err.status if err.status != 422 else 400, {"code": code, "message": err.message}
            )
        except StoreError as err:
            return SimResponse(err.code, {"code": "internal", "message": err.message})

    def _connect(self, who: dict, method: str, body: dict) -> dict:
        # GetAnalysisRunRequest names the namespace, not the project (api/service/v1alpha1/service.proto
        # at v1.8.0); the v1.8 handler refuses an empty one (pkg/server/get_analysisrun_v1alpha1.go L28-31).
        ns = (body.get("namespace") if method == "GetAnalysisRun" else body.get("project")) or ""
        if method == "GetAnalysisRun" and not ns:
            raise KargoError(422, "namespace should not be empty")
        if method == "GetVersionInfo":
            return {"versionInfo": {"version": self.version}}
        self._project(ns)
        if method == "GetStage":
            return {"stage": self._get("stages", ns, body.get("name", ""), "stage")}
        if method == "ListStages":
            return {"stages": self.store.list(K, "stages", ns)}
        if method == "GetFreight":
            return {"freight": self._freight(ns, body.get("name") or body.get("alias") or "")}
        if method == "QueryFreight":
            got = self.query_freight(ns, body.get("stage"), body.get("origins") or [])
            return {"groups": {k: {"freight": v["items"]} for k, v in got["groups"].items()}}
        if method == "ListPromotions":
            return {"promotions": self._promotions(ns, body.get("stage"))}
        if method == "GetPromotion":
            return {"promotion": self._get("promotions", ns, body.get("name", ""), "promotion")}
        if method == "PromoteToStage":
            stage = self._get("stages", ns, body.get("stage", ""), "stage")
            return {
                "promotion": self.promote(
                    who, ns, stage, {k: body[k] for k in ("freight", "freightAlias") if body.get(k)}
                )
            }
        if method == "AbortPromotion":
            self.abort(who, ns, self._get("promotions", ns, body.get("name", ""), "promotion"))
            return {}
        if method == "GetAnalysisRun":
            return {
                "analysisRun": self._get(
                    "analysisruns", ns, body.get("name", ""), "analysisrun", group="argoproj.io"
                )
            }
        if method == "ListProjectEvents":
            return {"events": self.store.list("", "events", ns)}
        raise KargoError(404, f"unknown method {method}")


def _sse(event: str, obj: dict) -> bytes:
    return f"data: {json.dumps({'type': event, 'object': obj})}\n\n".encode()


def _list(kind: str, items: list[dict], rv: str, api_version: str = f"{K}/v1alpha1") -> dict:
    return {"apiVersion": api_version, "kind": kind, "metadata": {"resourceVersion": rv}, "items": items}


def mount(handle: Any) -> KargoSimInfo:
    """Serve the Kargo API on the simulator's address and start the simulated Kargo controller."""
    api = KargoAPI(handle, scenario_config(handle))
    handle.add_route("/v1beta1/", api.handle_rest)
    handle.add_route(CONNECT, api.handle_connect)
    handle.body_log_prefixes += ["/v1beta1/", CONNECT]  # PromoteToStage bodies: freight / alias / origin
    from gate.sim import scenario as scen

    if scen.controllers_enabled(getattr(handle, "scenario", {}) or {})["kargo"]:
        handle.add_ticker(api.controller.tick)  # `controllers: {kargo: false}`: nothing moves on its own
    handle.kargo = api
    # Not registered with gate.redact here: `gate sim serve` must print it. The gate's Kargo client
    # registers every token it is given, so the gate's own outputs never carry it.
    return KargoSimInfo(handle.url, api.token)
