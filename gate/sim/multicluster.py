"""Several simulated clusters at once: a control plane and named destination clusters.

A scenario's `clusters:` block names the destinations. Each is served by a SimHandle of its own (its own
HTTPS endpoint, CA, store, tokens and RBAC), and the control plane gets the Secret Argo CD keeps for it
in its namespace (label `argocd.argoproj.io/secret-type: cluster`; data `name`, `server`, `config` with
`bearerToken` and `tlsClientConfig.caData`), as `argocd cluster add` leaves it (argo-cd v3.5.1
util/db/cluster.go:375-403 clusterToSecret).

```yaml
clusters:
  prod-eu:
    secret: cluster-prod-eu            # the Secret's name (default: cluster-<name>)
    user: system:serviceaccount:kube-system:argocd-manager   # who the Secret's token is
    rbac: [ {apiGroups: [""], resources: [pods], verbs: [get, list]} ]    # that identity's rules
    objects: [...]                     # the destination's world (Namespaces implied)
    logs: {shop/web-1: "..."}
    config: {tlsClientConfig: {insecure: true}}   # merged into the Secret's config (tests)
    auth: client-certificate           # the Secret holds a client certificate for `user` (certData/keyData),
                                       # which prod-eu authenticates (`client_certificates: true`), not a token
    server: https://127.0.0.1:1        # with serve: false, nothing is served: an unreachable cluster
    serve: false
```
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from gate.sim import scenario as scen

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
CLUSTER_ANNOTATION = "sim.promotion-gate.dev/cluster"  # an object of the scenario served by that cluster


def prepare(data: dict) -> dict:
    """Move the scenario's objects annotated with CLUSTER_ANNOTATION, and its `logs:` keyed
    `<cluster>:<namespace>/<pod>`, to their cluster's block: a scenario that `extends` another can then
    patch a destination's objects as any other."""
    blocks = data.get("clusters")
    if not blocks:
        return data
    if not isinstance(blocks, dict):
        raise scen.ScenarioError("clusters: expected a mapping of cluster name to its world")
    blocks = {str(k): dict(v or {}) for k, v in blocks.items()}
    kept = []
    for obj in data.get("objects") or []:
        where = ((obj.get("metadata") or {}).get("annotations") or {}).get(CLUSTER_ANNOTATION)
        if where is None:
            kept.append(obj)
            continue
        if where not in blocks:
            raise scen.ScenarioError(f"{scen.identity(obj)}: {CLUSTER_ANNOTATION} names cluster {where!r}, "
                                     f"which `clusters:` does not define")
        blocks[where]["objects"] = [*(blocks[where].get("objects") or []), obj]
    logs = {}
    for key, text in (data.get("logs") or {}).items():
        name, sep, rest = str(key).partition(":")
        if sep and name in blocks:
            blocks[name]["logs"] = {**(blocks[name].get("logs") or {}), rest: text}
        else:
            logs[key] = text
    return {**data, "objects": kept, "logs": logs, "clusters": blocks}


def destination_scenario(name: str, block: dict, parent: str) -> dict:
    """The destination's own scenario: a bare API server (no controllers) serving `objects`."""
    token = str(block.get("token") or f"{name}-token")
    user = str(block.get("user") or "system:serviceaccount:kube-system:argocd-manager")
    groups = ["system:authenticated"]
    if user.startswith("system:serviceaccount:"):
        groups += ["system:serviceaccounts", f"system:serviceaccounts:{user.split(':')[2]}"]
    data = {
        "name": f"{parent}/{name}",
        "client_certificates": True if block.get("auth") == "client-certificate" else None,
        "controllers": False,
        "crds": list(block.get("crds") or []),
        "objects": list(block.get("objects") or []),
        "logs": dict(block.get("logs") or {}),
        "tokens": {token: {"user": user, "groups": groups}},
        "rbac": {user: list(block.get("rbac") or [])},
        "gate_token": token,
        "admin_token": f"{name}-admin-token",
    }
    return scen.resolve(data)


def cluster_secret(name: str, block: dict, server: str, ca_pem: bytes | None, namespace: str,
                   client: tuple[bytes, bytes] | None = None) -> dict:
    """Argo CD's cluster Secret for the destination (Secret data is base64, as the API serves it); with
    `client` (certificate, key), a client certificate instead of the bearer token."""
    tls: dict[str, Any] = {"insecure": False}
    if ca_pem is not None:
        tls["caData"] = base64.b64encode(ca_pem).decode()
    config: dict[str, Any] = {"bearerToken": str(block.get("token") or f"{name}-token"), "tlsClientConfig": tls}
    if client is not None:
        del config["bearerToken"]
        tls["certData"], tls["keyData"] = (base64.b64encode(part).decode() for part in client)
    extra = block.get("config") or {}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    config = {k: v for k, v in config.items() if v is not None}

    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    return {
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": {"name": str(block.get("secret") or f"cluster-{name}"), "namespace": namespace,
                     "labels": {SECRET_TYPE_LABEL: "cluster"}},
        "data": {"name": b64(name), "server": b64(server), "config": b64(json.dumps(config))},
    }


def serve_destinations(control: Any) -> dict[str, Any]:
    """Start every destination of the control plane's scenario; put its cluster Secret in the control
    plane. Returns name -> SimHandle (None for one that is not served)."""
    from gate.sim.server import SimHandle

    blocks = control.scenario.get("clusters") or {}
    if not isinstance(blocks, dict):
        raise scen.ScenarioError("clusters: expected a mapping of cluster name to its world")
    namespace = str(control.settings.get("argocd_namespace") or "argocd")
    handles: dict[str, Any] = {}
    secrets = []
    for name, block in blocks.items():
        block = dict(block or {})
        handle = None
        if block.get("serve", True):
            handle = SimHandle(destination_scenario(str(name), block, control.name),
                               workdir=str(Path(control.workdir) / f"cluster-{name}"))
            handles[str(name)] = handle
        server = str(block.get("server") or (handle.url if handle else ""))
        ca = Path(handle.ca_file).read_bytes() if handle else None
        client = None
        if handle is not None and handle.client_certificates:
            (token, who), = handle.scenario["tokens"].items()
            cert, key = handle.client_certificate(who["user"], who["groups"])
            client = (cert.encode(), key.encode())
        secrets.append(cluster_secret(str(name), block, server, ca, namespace, client))
    control.store.load(secrets, owned=True)
    return handles
