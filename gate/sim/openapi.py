"""`/openapi/v3`: enough of the OpenAPI v3 discovery for `kubectl apply` (v1.32).

kubectl validates with server-side field validation when the GroupVersion's OpenAPI v3 document shows
a `fieldValidation` query parameter on the kind's PATCH operation (k8s.io/cli-runtime
pkg/resource/query_param_verifier_v3.go:60-140, v0.32); otherwise it falls back to `/openapi/v2` and
fails with "failed to download openapi" when that is missing. The root lists one document per
GroupVersion (`{"paths": {"apis/<group>/<version>": {"serverRelativeURL": …}}}`), as
k8s.io/client-go openapi/client.go reads it.

PATCH operations list JSON and merge patches but not strategic merge patch: kubectl then builds its
patch from its compiled-in types (or a JSON merge patch for custom resources) instead of asking for
component schemas the simulator does not serve (k8s.io/kubectl pkg/cmd/apply/patcher.go:134-195).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gate.sim.kinds import ResourceType

PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")


def gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def document(group: str, version: str, types: list[ResourceType]) -> dict:
    """The OpenAPI v3 document of one GroupVersion: an item path with a PATCH operation per kind."""
    paths: dict[str, Any] = {}
    base = "/" + gv_key(group, version)
    for rt in types:
        if rt.kind.endswith("Review"):
            continue
        item = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}/{{name}}" if rt.namespaced else f"{base}/{rt.plural}/{{name}}"
        )
        paths[item] = {
            "patch": {
                "operationId": f"patch{rt.kind}",
                "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": {"group": group, "version": version, "kind": rt.kind},
                "parameters": [
                    {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                    {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                    {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}},
                    {"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": True}},
                ],
                "requestBody": {"content": {t: {"schema": {"type": "object"}} for t in PATCH_TYPES}},
                "responses": {"200": {"description": "OK"}},
            }
        }
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0"}, "paths": paths}


def _by_gv(types: list[ResourceType]) -> dict[str, list[ResourceType]]:
    out: dict[str, list[ResourceType]] = {}
    for rt in types:
        out.setdefault(gv_key(rt.group, rt.version), []).append(rt)
    return out


def root(types: list[ResourceType]) -> dict:
    paths = {}
    for key, members in sorted(_by_gv(types).items()):
        group, version = (key.split("/")[1], key.split("/")[2]) if key.startswith("apis/") else ("", "v1")
        digest = hashlib.sha512(json.dumps(document(group, version, members), sort_keys=True).encode())
        paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest.hexdigest()[:32].upper()}"}
    return {"paths": paths}


def serve(path: str, types: list[ResourceType]) -> dict | None:
    """The body for GET /openapi/v3[/<gv>], or None when there is no such document."""
    tail = path.removeprefix("/openapi/v3").strip("/")
    if not tail:
        return root(types)
    members = _by_gv(types).get(tail)
    if members is None:
        return None
    parts = tail.split("/")
    group, version = (parts[1], parts[2]) if parts[0] == "apis" else ("", parts[1])
    return document(group, version, members)
