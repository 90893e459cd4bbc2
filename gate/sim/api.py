"""The Kubernetes API surface of the simulator: discovery, CRUD, selectors, pagination,
SelfSubjectAccessReview, services/proxy and pods/log, all authorized against the scenario's RBAC table
and the cluster's RBAC objects (gate/sim/rbac.py)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from gate.entry import signals_held

with signals_held():  # a signal raised inside orjson's (Rust) module init crashes the process
    try:
        import orjson as _orjson  # optional: big lists encoded fast
    except ImportError:  # pragma: no cover - depends on the environment
        _orjson = None

from gate.sim import openapi, protobuf, protoenc
from gate.sim.http import SimRequest, SimResponse, status_body, status_response
from gate.sim.kinds import EXTRA_SUBRESOURCES, ResourceType
from gate.sim.rbac import DISCOVERY, Attributes, Authorizer, Identity, forbidden_message
from gate.sim.schema import unknown_fields
from gate.sim.selectors import SelectorError, field_matcher, label_matcher
from gate.sim.store import Store, StoreError
from gate.sim.tables import table, wants_table
from gate.sim.tokens import TokenIssuer
from gate.sim.watch import WatchHub, event_line

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-sim",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}
_VERB = {
    "GET": "get",
    "POST": "create",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
    "HEAD": "get",
    "OPTIONS": "get",
}


@dataclass
class Target:
    """A parsed resource path."""

    rt: ResourceType
    namespace: str | None
    name: str | None
    sub: str | None
    rest: str  # what follows /proxy/ for services/proxy


def _json_status(err: StoreError) -> SimResponse:
    return status_response(err.code, err.reason, err.message, err.details)


def not_found_path() -> SimResponse:
    return status_response(404, "NotFound", "the server could not find the requested resource", {})


def page_not_found() -> SimResponse:
    """What kube-apiserver v1.36 answers (measured) for a path no API serves: a group it does not know, or
    a version or resource a CRD-served group does not have (apiextensions hands those to the mux's
    not-found handler): plain text, not a Status. A built-in group answers a Status (not_found_path)."""
    return SimResponse(404, "404 page not found\n")


class KubeAPI:
    token_issuer: TokenIssuer | None = None  # the scenario's `token_request:` (gate/sim/tokens.py)

    def __init__(
        self, store: Store, auth: Authorizer, logs: dict[str, Any], proxy: Any, server_url: str = "",
        features: dict[str, Any] | None = None,
    ) -> None:
        self.store, self.auth, self.logs, self.proxy = store, auth, logs, proxy
        self.server_url = server_url
        self.watches = WatchHub(store)
        # The scenario's `api:` switches, what a real server's version and feature gates decide:
        # streaming_lists (the WatchList gate, KEP-3157; "storage": the gate on but etcd unable),
        # rules_review (SelfSubjectRulesReview served), rules_incomplete (its answer says incomplete: true,
        # as behind a webhook authorizer).
        features = features or {}
        streaming = features.get("streaming_lists", True)
        self.streaming_lists: bool | str = streaming if streaming == "storage" else bool(streaming)
        self.rules_review = bool(features.get("rules_review", True))
        self.rules_incomplete = bool(features.get("rules_incomplete", False))

    # -- entry ---------------------------------------------------------------------------------
    def authenticate(self, req: SimRequest) -> Identity | None:
        """As kube-apiserver's union authenticator: a verified client certificate first, then the bearer
        token (scenario tokens, minted ServiceAccount tokens)."""
        if req.client_cert is not None:
            return self.auth.identify_certificate(*req.client_cert)
        return self.auth.identify(req.bearer)

    def handle(self, req: SimRequest) -> SimResponse:
        ident = self.authenticate(req)
        if ident is None:
            return status_response(401, "Unauthorized", "Unauthorized")
        req.identity = ident.user
        path = req.path.rstrip("/") or "/"
        if path in ("/version", "/healthz", "/livez", "/readyz"):
            return SimResponse(200, VERSION_INFO) if path == "/version" else SimResponse(200, "ok")
        if path == "/api":
            return SimResponse(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": self.server_url.removeprefix("https://")}
                    ],
                },
            )
        if path == "/apis":
            return SimResponse(200, self._group_list())
        if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
            doc = openapi.serve(path, self.store.types())
            return SimResponse(200, doc) if doc is not None else not_found_path()
        parts = path.strip("/").split("/")
        if parts[0] == "api" and len(parts) >= 2:
            if parts[1] != "v1":
                return not_found_path()
            return self._resource_request(req, ident, "", "v1", parts[2:])
        if parts[0] == "apis" and len(parts) == 2:
            group = self._groups().get(parts[1])
            return SimResponse(200, group) if group else page_not_found()
        if parts[0] == "apis" and len(parts) >= 3:
            return self._resource_request(req, ident, parts[1], parts[2], parts[3:])
        return page_not_found()

    def _not_found(self, group: str) -> SimResponse:
        """404 for a path under `group` that serves nothing: a Status from a built-in group, plain text
        from an unknown or CRD-served one (page_not_found)."""
        types = [rt for rt in self.store.types() if rt.group == group]
        return not_found_path() if any(not rt.from_crd for rt in types) or group == "" else page_not_found()

    # -- discovery -----------------------------------------------------------------------------
    def _groups(self) -> dict[str, dict]:
        groups: dict[str, dict] = {}
        for rt in self.store.types():
            if not rt.group:
                continue
            g = groups.setdefault(
                rt.group, {"kind": "APIGroup", "apiVersion": "v1", "name": rt.group, "versions": []}
            )
            gv = {"groupVersion": rt.api_version, "version": rt.version}
            if gv not in g["versions"]:
                g["versions"].append(gv)
            preferred = self.store.resource_type(rt.group, rt.plural)
            if preferred is not None:
                g["preferredVersion"] = {"groupVersion": preferred.api_version, "version": preferred.version}
        return groups

    def _group_list(self) -> dict:
        groups = sorted(self._groups().values(), key=lambda g: g["name"])
        for g in groups:
            g.pop("kind", None)
            g.pop("apiVersion", None)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def _resource_list(self, group: str, version: str) -> SimResponse:
        types = [rt for rt in self.store.types() if rt.group == group and rt.version == version]
        if not types:
            return self._not_found(group)
        resources: list[dict] = []
        for rt in sorted(types, key=lambda t: t.plural):
            resources += rt.discovery()
            for name, kind, verbs in EXTRA_SUBRESOURCES.get((rt.group, rt.plural), []):
                resources.append(
                    {"name": name, "singularName": "", "namespaced": True, "kind": kind, "verbs": list(verbs)}
                )
        gv = f"{group}/{version}" if group else version
        return SimResponse(
            200, {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}
        )

    # -- resources -----------------------------------------------------------------------------
    def _parse(self, group: str, version: str, parts: list[str]) -> Target | None:
        ns = None
        if (
            parts[0] == "namespaces"
            and len(parts) >= 3
            and not (len(parts) == 3 and parts[2] in ("status", "finalize"))
        ):
            ns, parts = parts[1], parts[2:]
        rt = self.store.resource_type(group, parts[0], version)
        if rt is None or (ns is not None and not rt.namespaced):
            return None
        name = parts[1] if len(parts) > 1 else None
        sub = parts[2] if len(parts) > 2 else None
        rest = "/".join(parts[3:])
        return Target(rt, ns, name, sub, rest)

    def _resource_request(
        self, req: SimRequest, ident: Identity, group: str, version: str, parts: list[str]
    ) -> SimResponse:
        if not parts:
            return self._resource_list(group, version)
        target = self._parse(group, version, parts)
        if target is None:
            return self._not_found(group)
        if target.sub == "proxy" and target.rt.plural == "services":
            # keep the caller's exact path tail (trailing slash included)
            marker = f"/{target.name}/proxy"
            tail = req.path.split(marker, 1)[1] if marker in req.path else ""
            target.rest = tail
        verb = self._verb(req, target)
        namespace = target.namespace or ""
        if target.rt.group == "" and target.rt.plural == "namespaces" and target.name:
            namespace = target.name  # as the apiserver's RequestInfo: a namespace is in itself
        attrs = Attributes(
            verb,
            target.rt.group,
            target.rt.plural,
            target.sub or "",
            namespace,
            target.name or _selected_name(req) if verb in ("list", "watch") else target.name or "",
        )
        if target.rt.kind == "SelfSubjectAccessReview":
            return self._ssar(req, ident)
        if target.rt.kind == "SelfSubjectRulesReview":
            return self._ssrr(req, ident) if self.rules_review else not_found_path()
        if not self.auth.allows(ident, attrs):
            details = {"group": attrs.group, "kind": attrs.full_resource}
            if attrs.name:
                details["name"] = attrs.name
            return status_response(403, "Forbidden", forbidden_message(ident.user, attrs), details)
        try:
            return self._dispatch(req, target, verb)
        except StoreError as err:
            return _json_status(err)

    @staticmethod
    def _verb(req: SimRequest, t: Target) -> str:
        if t.sub == "proxy":
            return _VERB.get(req.method, "get")
        if req.method == "GET" and t.name is None:
            return "watch" if req.arg("watch") in ("true", "1") else "list"
        if req.method == "DELETE" and t.name is None:
            return "deletecollection"
        return _VERB.get(req.method, req.method.lower())

    def _dispatch(self, req: SimRequest, t: Target, verb: str) -> SimResponse:
        if t.sub == "proxy" and t.rt.plural == "services":
            return self.proxy(req, t.namespace or "", t.name or "", t.rest)
        if t.sub == "log" and t.rt.plural == "pods":
            return self._pod_log(req, t)
        if t.sub == "token" and t.rt.plural == "serviceaccounts" and self.token_issuer and verb == "create":
            return self._token_request(req, t)
        if t.sub not in (None, "status") or (t.sub == "status" and not t.rt.has_status):
            return not_found_path()
        handler = {
            "list": self._list,
            "watch": self._watch,
            "get": self._get,
            "create": self._create,
            "update": self._update,
            "patch": self._patch,
            "delete": self._delete,
        }.get(verb)
        if handler is None:
            return status_response(405, "MethodNotAllowed", f"{verb} is not supported by the simulator")
        return handler(req, t)

    def _token_request(self, req: SimRequest, t: Target) -> SimResponse:
        """TokenRequest: a signed ServiceAccount token the API server then accepts until it expires."""
        if self.store.get("", "serviceaccounts", t.namespace, t.name or "") is None:
            return self._missing(t)
        try:
            if req.headers.get("content-type", "").split(";")[0].strip() == protobuf.CONTENT_TYPE:
                body = protobuf.token_request(req.body)  # what `kubectl create token` sends
            else:
                body = req.json()
        except (ValueError, protobuf.ProtobufError):
            return status_response(400, "BadRequest", "the body of the request is neither JSON nor a protobuf "
                                                      "TokenRequest")
        assert self.token_issuer is not None
        status, answer, record = self.token_issuer.request(t.namespace or "", t.name or "", body)
        if record is None:
            reason = "Invalid" if status == 422 else "BadRequest"
            return status_response(status, reason, answer["message"])
        if record["accepted"]:  # a token for another audience is minted but not accepted here
            self.auth.issue(record["token"], record["user"], expires=record["expires"])
        return SimResponse(status, answer)

    def _list(self, req: SimRequest, t: Target) -> SimResponse:
        try:
            lmatch = label_matcher(req.arg("labelSelector"))
            fmatch = field_matcher(req.arg("fieldSelector"), t.rt.kind, t.rt.selectable_fields)
        except SelectorError as err:
            return status_response(400, "BadRequest", str(err))
        rv = self.store.resource_version
        start = 0
        token = req.arg("continue")
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
                start, rv = int(decoded["start"]), str(decoded["rv"])
            except (ValueError, KeyError, TypeError):
                return status_response(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display "
                    "a consistent list result. You can start a new list without the "
                    "continue parameter.",
                )
        limit = int(req.arg("limit") or 0)
        if req.arg("resourceVersion") == "0" and not token:
            limit = 0  # the watch cache serves resourceVersion=0 whole (apiserver cacher.go computeListLimit)
        page, total = self.store.select(t.rt.group, t.rt.plural, t.namespace,
                                        lambda o: lmatch(o) and fmatch(o), start, limit,
                                        key=(req.arg("labelSelector"), req.arg("fieldSelector")))
        meta: dict[str, Any] = {"resourceVersion": rv}
        end = start + len(page)
        if limit > 0 and end < total:
            meta["continue"] = base64.urlsafe_b64encode(
                json.dumps({"start": end, "rv": rv}).encode()
            ).decode()
            meta["remainingItemCount"] = total - end
        for obj in page:
            obj["apiVersion"] = t.rt.api_version
        if wants_table(req.headers.get("accept", "")):
            return SimResponse(200, table(t.rt, page, meta))
        if not t.rt.from_crd:  # a built-in kind's items carry no apiVersion/kind, as kube-apiserver sends them
            page = [{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")} for obj in page]
        body = {"kind": f"{t.rt.kind}List", "apiVersion": t.rt.api_version, "metadata": meta, "items": page}
        if body["kind"] in protoenc.ITEM and protoenc.wants_protobuf(req.headers.get("accept", "")):
            data = protoenc.envelope(body, t.rt.api_version, body["kind"])
            return SimResponse(200, data, {"Content-Type": protobuf.CONTENT_TYPE})
        if _orjson is None:
            return SimResponse(200, body)
        try:  # a page of 500 pods is ~2 MB of JSON: orjson encodes it ~10x faster than json
            return SimResponse(200, _orjson.dumps(body), {"Content-Type": "application/json"})
        except (TypeError, ValueError):  # a value orjson does not take (an integer past 64 bits)
            return SimResponse(200, body)

    def _watch(self, req: SimRequest, t: Target) -> SimResponse:
        """A watch on the collection (gate/sim/watch.py), with the list's selectors."""
        try:
            lmatch = label_matcher(req.arg("labelSelector"))
            fmatch = field_matcher(req.arg("fieldSelector"), t.rt.kind, t.rt.selectable_fields)
        except SelectorError as err:
            return status_response(400, "BadRequest", str(err))
        invalid = self._watch_options(req)
        if invalid:
            return status_response(422, "Invalid", f'ListOptions.meta.k8s.io "" is invalid: [{", ".join(invalid)}]')
        if req.arg("sendInitialEvents") == "true" and self.streaming_lists == "storage":
            # the WatchList gate on, etcd without RequestWatchProgress (< 3.5.13 / 3.4.31): an ERROR event
            # (apiserver pkg/storage/cacher/cacher.go:576-581)
            error = status_body(500, "InternalError", "a watch stream was requested by the client but the "
                                "required storage feature RequestWatchProgress is disabled")
            return SimResponse(200, iter([event_line("ERROR", error)]), {"Content-Type": "application/json"})
        timeout = req.arg("timeoutSeconds")
        return self.watches.serve(
            t.rt, t.namespace, req.arg("resourceVersion"), req.arg("allowWatchBookmarks") in ("true", "1"),
            float(timeout) if timeout and timeout.isdigit() else None, lambda o: lmatch(o) and fmatch(o),
            initial=req.arg("sendInitialEvents") == "true",
        )

    def _watch_options(self, req: SimRequest) -> list[str]:
        """apimachinery pkg/apis/meta/internalversion/validation/validation.go validateWatchOptions: what
        a watch may say about streaming lists, and a server with the WatchList gate off refusing them."""
        send, match = req.arg("sendInitialEvents"), req.arg("resourceVersionMatch")
        problems = []
        if send is not None:
            if match != "NotOlderThan":
                problems.append("resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
                                "resourceVersionMatch to NotOlderThan")
            if not self.streaming_lists:
                problems.append("sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless "
                                "the WatchList feature gate is enabled")
        elif match:
            problems.append("resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
                            "unless sendInitialEvents is provided")
        return problems

    def _get(self, req: SimRequest, t: Target) -> SimResponse:
        obj = self.store.get(t.rt.group, t.rt.plural, t.namespace, t.name or "")
        if obj is None:
            return self._missing(t)
        obj["apiVersion"] = t.rt.api_version
        if wants_table(req.headers.get("accept", "")):
            return SimResponse(
                200, table(t.rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})
            )
        return SimResponse(200, obj)

    @staticmethod
    def _missing(t: Target) -> SimResponse:
        return status_response(
            404,
            "NotFound",
            f'{t.rt.display} "{t.name}" not found',
            {"name": t.name, "group": t.rt.group, "kind": t.rt.plural},
        )

    def _body(self, req: SimRequest) -> dict:
        ctype = req.headers.get("content-type", "").split(";")[0].strip()
        if ctype == protobuf.CONTENT_TYPE:
            raise StoreError(
                415,
                "UnsupportedMediaType",
                f'the body of the request was in an unknown format - accepted media types include: '
                f'application/json, application/yaml (the simulator reads protobuf only for '
                f'SelfSubjectAccessReview; got "{ctype}")',
            )
        try:
            body = req.json()
        except ValueError as exc:
            raise StoreError(400, "BadRequest", f"the request body is not valid JSON: {exc}") from None
        if not isinstance(body, dict):
            raise StoreError(
                400,
                "BadRequest",
                "couldn't get version/kind; json parse error: json: cannot "
                f"unmarshal {type(body).__name__} into Go value of type struct (the request body "
                "must be a JSON object)",
            )
        return body

    def _prepare(self, body: dict, t: Target) -> dict:
        body.setdefault("apiVersion", t.rt.api_version)
        body.setdefault("kind", t.rt.kind)
        if body["kind"] != t.rt.kind:
            raise StoreError(
                400,
                "BadRequest",
                f"the API version in the data ({body['apiVersion']}) does not "
                f"match the expected API version ({t.rt.api_version})",
            )
        meta = body.setdefault("metadata", {})
        if t.namespace:
            if meta.get("namespace") and meta["namespace"] != t.namespace:
                raise StoreError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on the request",
                )
            meta["namespace"] = t.namespace
        return body

    def _create(self, req: SimRequest, t: Target) -> SimResponse:
        if t.name is not None:
            return status_response(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        body = self._prepare(self._body(req), t)
        if t.namespace and not self.store.get("", "namespaces", None, t.namespace):
            return status_response(
                404,
                "NotFound",
                f'namespaces "{t.namespace}" not found',
                {"name": t.namespace, "kind": "namespaces"},
            )
        if t.rt.has_status and t.rt.kind not in ("Namespace", "CustomResourceDefinition"):
            body.pop("status", None)
        self._strict(req, t, body)
        if req.arg("dryRun"):
            return SimResponse(201, body)
        return SimResponse(201, self.store.create(body))

    @staticmethod
    def _strict(req: SimRequest, t: Target, body: dict) -> None:
        """`?fieldValidation=Strict` (what kubectl sends once /openapi/v3 advertises it): unknown fields
        of a custom resource are an error instead of being pruned silently."""
        if req.arg("fieldValidation") != "Strict" or t.rt.schema is None:
            return
        unknown = unknown_fields(body, t.rt.schema)
        if unknown:
            raise StoreError(
                400, "BadRequest", "strict decoding error: " + ", ".join(f'unknown field "{f}"' for f in unknown)
            )

    def _update(self, req: SimRequest, t: Target) -> SimResponse:
        body = self._prepare(self._body(req), t)
        if (body.get("metadata") or {}).get("name") != t.name:
            return status_response(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        if self.store.get(t.rt.group, t.rt.plural, t.namespace, t.name or "") is None:
            return self._missing(t)
        policy = "status" if t.sub == "status" else "main"
        self._strict(req, t, body)
        return SimResponse(200, self.store.replace(body, status_policy=policy))

    def _patch(self, req: SimRequest, t: Target) -> SimResponse:
        ctype = req.headers.get("content-type", "").split(";")[0].strip()
        if self.store.get(t.rt.group, t.rt.plural, t.namespace, t.name or "") is None:
            return self._missing(t)
        policy = "status" if t.sub == "status" else "main"
        if ctype == "application/json-patch+json":
            ops = req.json()
            out = self.store.apply_update(
                t.rt, t.namespace, t.name or "", lambda o: json_patch(o, ops), status_policy=policy
            )
            return SimResponse(200, out)
        if ctype not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            return status_response(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format - accepted media types "
                f"include: application/json-patch+json, application/merge-patch+json, "
                f"application/strategic-merge-patch+json (got {ctype or 'none'})",
            )
        patch = self._body(req)
        self._strict(req, t, patch)
        return SimResponse(
            200,
            self.store.merge_patch(
                t.rt.group, t.rt.plural, t.namespace, t.name or "", patch, status_policy=policy
            ),
        )

    def _delete(self, req: SimRequest, t: Target) -> SimResponse:
        if self.store.get(t.rt.group, t.rt.plural, t.namespace, t.name or "") is None:
            return self._missing(t)
        return SimResponse(200, self.store.delete(t.rt.group, t.rt.plural, t.namespace, t.name or ""))

    # -- SelfSubjectAccessReview ----------------------------------------------------------------
    def _ssar(self, req: SimRequest, ident: Identity) -> SimResponse:
        if req.method != "POST":
            return status_response(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        try:
            if req.headers.get("content-type", "").split(";")[0].strip() == protobuf.CONTENT_TYPE:
                body = protobuf.self_subject_access_review(req.body)  # what `kubectl auth can-i` sends
            else:
                body = self._body(req)
        except protobuf.ProtobufError as exc:
            return status_response(400, "BadRequest", f"unable to decode the protobuf request body: {exc}")
        except StoreError as err:
            return _json_status(err)
        spec = body.get("spec") or {}
        ra = spec.get("resourceAttributes")
        if ra:
            attrs = Attributes(
                ra.get("verb", ""),
                ra.get("group", ""),
                ra.get("resource", ""),
                ra.get("subresource", ""),
                ra.get("namespace", ""),
                ra.get("name", ""),
            )
            reason = self.auth.decide(ident, attrs)  # the very decision the request path makes
        else:
            # non-resource URLs (discovery) are open to every authenticated user
            reason = 'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole ' \
                '"system:discovery" to Group "system:authenticated"'
        status: dict[str, Any] = {"allowed": reason is not None}
        if reason is not None:
            status["reason"] = reason
        return SimResponse(
            201,
            {
                "kind": "SelfSubjectAccessReview",
                "apiVersion": "authorization.k8s.io/v1",
                "metadata": {"creationTimestamp": None},
                "spec": spec,
                "status": status,
            },
        )

    # -- SelfSubjectRulesReview ------------------------------------------------------------------
    def _ssrr(self, req: SimRequest, ident: Identity) -> SimResponse:
        """kubernetes pkg/registry/authorization/selfsubjectrulesreview/rest.go: what the user may do in
        spec.namespace (400 without one). `rules_incomplete` answers as a cluster whose authorizer chain
        has a webhook: RBAC's rules, incomplete, with the webhook's evaluationError
        (apiserver plugin/pkg/authorizer/webhook/webhook.go RulesFor)."""
        if req.method != "POST":
            return status_response(
                405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
            )
        try:
            body = self._body(req)
        except StoreError as err:
            return _json_status(err)
        spec = body.get("spec") if isinstance(body.get("spec"), dict) else {}
        namespace = spec.get("namespace")
        if not isinstance(namespace, str) or not namespace:
            return status_response(400, "BadRequest", "no namespace on request")
        status: dict[str, Any] = {"resourceRules": self.auth.rules_for(ident, namespace),
                                  "nonResourceRules": [dict(DISCOVERY)], "incomplete": self.rules_incomplete}
        if self.rules_incomplete:
            status["evaluationError"] = "webhook authorizer does not support user rule resolution"
        return SimResponse(201, {"kind": "SelfSubjectRulesReview", "apiVersion": "authorization.k8s.io/v1",
                                 "metadata": {"creationTimestamp": None}, "spec": spec, "status": status})

    # -- pods/log ------------------------------------------------------------------------------
    def _pod_log(self, req: SimRequest, t: Target) -> SimResponse:
        pod = self.store.get("", "pods", t.namespace, t.name or "")
        if pod is None:
            return self._missing(t)
        containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
        container = req.arg("container")
        if container is None:
            if len(containers) > 1:
                return status_response(
                    400,
                    "BadRequest",
                    f"a container name must be specified for pod "
                    f"{t.name}, choose one of: [{' '.join(containers)}]",
                )
            container = containers[0] if containers else ""
        elif containers and container not in containers:
            return status_response(400, "BadRequest", f"container {container} is not valid for pod {t.name}")
        if req.arg("previous") in ("true", "1"):
            # kubernetes pkg/kubelet/kubelet_pods.go validateContainerLogStatus: --previous reads
            # lastState.terminated's container, and is a 400 when the container never terminated.
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            cs = next((s for s in statuses if s.get("name") == container), {})
            if not (cs.get("lastState") or {}).get("terminated"):
                return status_response(400, "BadRequest", f'previous terminated container "{container}" '
                                       f'in pod "{t.name}" not found')
            text = self._log_text(t.namespace or "", t.name or "", container + "#previous") or \
                self._log_text(t.namespace or "", t.name or "", container)
        else:
            text = self._log_text(t.namespace or "", t.name or "", container)
        tail = req.arg("tailLines")
        if tail is not None:
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(tail) :]) if int(tail) > 0 else ""
        return SimResponse(200, text, {"Content-Type": "text/plain"})

    def _log_text(self, namespace: str, pod: str, container: str) -> str:
        for key in (f"{namespace}/{pod}/{container}", f"{namespace}/{pod}"):
            value = self.logs.get(key)
            if isinstance(value, dict):
                value = value.get(container, "")
            if value is not None:
                text = str(value)
                return text if text.endswith("\n") or not text else text + "\n"
        return ""


def _selected_name(req: SimRequest) -> str:
    """The name a list or watch selects by `fieldSelector=metadata.name=NAME` (alone): RBAC authorizes it
    against that name (apiserver pkg/endpoints/request/requestinfo.go, RequiresExactMatch)."""
    selector = (req.arg("fieldSelector") or "").strip()
    for op in ("==", "="):
        key, sep, value = selector.partition(op)
        if sep and key.strip() == "metadata.name" and "," not in value and "!" not in key:
            return value.strip()
    return ""


def json_patch(obj: dict, ops: list[dict]) -> dict:
    """RFC 6902, the operations kubectl and clients use (add, remove, replace, test)."""
    for op in ops or []:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent: Any = obj
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent.setdefault(p, {})
        last = parts[-1]
        kind = op["op"]
        try:
            if kind == "test":
                current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
                if current != op.get("value"):
                    raise StoreError(
                        422,
                        "Invalid",
                        f"the server rejected our request due to an error in our "
                        f"request: test failed at {op['path']}",
                    )
            elif kind == "remove":
                del parent[int(last) if isinstance(parent, list) else last]
            elif isinstance(parent, list):
                idx = len(parent) if last == "-" else int(last)
                if kind == "add":
                    parent.insert(idx, op["value"])
                else:
                    parent[idx] = op["value"]
            else:
                parent[last] = op["value"]
        except (KeyError, IndexError, ValueError) as exc:
            raise StoreError(
                422,
                "Invalid",
                f"the server rejected our request due to an error in our request: {kind} {op['path']}: {exc}",
            ) from None
    return obj


def query_string(query: dict[str, list[str]]) -> str:
    return urlencode([(k, v) for k, vs in query.items() for v in vs])
