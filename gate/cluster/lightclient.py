"""A light transport for the plainest kubeconfigs, so `gate verify` need not import the kubernetes package.

Importing `kubernetes.config` costs ~0.2 s of a run that otherwise takes ~0.2 s: its loader pulls in the
whole client (pydantic models), oauthlib, requests-oauthlib, websocket and dateutil, none of which a
bearer token needs. Only a kubeconfig the light path reads exactly as the library does is taken: one
file, whose selected context names a cluster with an https `server` and at most a certificate authority
(as data or as a file), and a user with a static bearer `token`; and no proxy in the environment.
Anything else returns None and goes through the kubernetes library, whose semantics and error messages
stay the reference: exec and auth-provider plugins, client certificates, token files, basic auth,
impersonation, insecure-skip-tls-verify, tls-server-name, proxy-url, several files, any key this module
does not know. `GATE_KUBE_CLIENT=library` sends every kubeconfig to the library.

The reading follows kubernetes/config/kube_config.py (kubernetes 37.0.2): `KubeConfigLoader.
set_active_context` (the context, then its cluster and user by name), `_load_user_token` ("Bearer " + the
token, as written), `_load_cluster_info` (server without trailing "/"; a CA only for https, its data
preferred over its file, a file relative to the kubeconfig's directory), and `FileOrData`.
tests/test_lightclient.py compares the two readings on a corpus of kubeconfigs.

`LightApi` offers what gate.cluster.kube.KubeClient and gate.cluster.watches use of a
`kubernetes.client.ApiClient`: `configuration`, `update_params_for_auth`, `call_api` (as
kubernetes/client/rest.py `RESTClientObject.request`: a JSON body serialised, the answer unread, a TLS
failure raised with status 0), and `with_pool_size` for the watches' own pool.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field, replace
from typing import Any

import urllib3

ENV = "GATE_KUBE_CLIENT"  # "library": every kubeconfig through the kubernetes package
CLUSTER_KEYS = {"server", "certificate-authority-data", "certificate-authority", "disable-compression", "extensions"}
USER_KEYS = {"token", "extensions"}
CONTEXT_KEYS = {"cluster", "user", "namespace", "extensions"}
# kubernetes.client.Configuration takes a proxy from these (configuration.py, "proxy environment variables")
PROXY_VARIABLES = ("https_proxy", "http_proxy", "all_proxy", "HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")


@dataclass
class LightConfiguration:
    """The fields of kubernetes.client.Configuration that the gate reads."""

    host: str
    api_key: dict[str, str] = field(default_factory=dict)
    username: str | None = None
    password: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    ssl_ca_cert: str | None = None  # a CA file, as the library names it
    ca_cert_data: str | None = None  # a CA in PEM, from certificate-authority-data
    connection_pool_maxsize: int = field(default_factory=lambda: (os.cpu_count() or 1) * 5)  # the library's


class TransportError(Exception):
    """What kubernetes.client.ApiException(status=0) is to KubeClient: a TLS failure, not retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.status = 0
        self.reason = reason


class LightResponse:
    """kubernetes.client.rest.RESTResponse as KubeClient reads it: the urllib3 answer (its body not read yet),
    status and headers."""

    def __init__(self, response: Any) -> None:
        self.response = response
        self.status = response.status
        self.reason = response.reason
        self.headers = response.headers


class LightApi:
    """Bearer-token HTTPS to one API server over a urllib3 pool (no retries: tenacity owns them)."""

    def __init__(self, configuration: LightConfiguration, context: str = "") -> None:
        self.configuration = configuration
        self.context = context
        self.pool = urllib3.PoolManager(
            cert_reqs="CERT_REQUIRED", ca_certs=configuration.ssl_ca_cert, ca_cert_data=configuration.ca_cert_data,
            retries=False, maxsize=configuration.connection_pool_maxsize)

    def with_pool_size(self, size: int) -> LightApi:
        """The same server and credentials over a pool of its own (the watches hold theirs open)."""
        return LightApi(replace(self.configuration, connection_pool_maxsize=size), self.context)

    def update_params_for_auth(self, headers: dict[str, str], queries: Any, auth_settings: Any,
                               resource_path: str, method: str, body: Any) -> None:
        token = self.configuration.api_key.get("BearerToken")
        if token:
            headers["authorization"] = token

    def call_api(self, method: str, url: str, header_params: dict[str, str] | None = None, body: Any = None,
                 _request_timeout: tuple[float, float] | float | None = None) -> LightResponse:
        headers = dict(header_params or {})
        timeout: Any = None
        if isinstance(_request_timeout, tuple):
            timeout = urllib3.Timeout(connect=_request_timeout[0], read=_request_timeout[1])
        elif _request_timeout:
            timeout = urllib3.Timeout(total=_request_timeout)
        payload = body
        if body is not None and not isinstance(body, (str, bytes)):
            payload = json.dumps(body)  # a JSON body, as the kubernetes REST client sends it
        try:
            response = self.pool.request(method.upper(), url, body=payload, headers=headers, timeout=timeout,
                                         preload_content=False)
        except urllib3.exceptions.SSLError as exc:  # rest.py: ApiException(status=0, reason=...)
            raise TransportError("\n".join([type(exc).__name__, str(exc)])) from None
        return LightResponse(response)


def wanted() -> bool:
    """False when GATE_KUBE_CLIENT=library; a value that is neither that nor auto is the user's to fix."""
    value = os.environ.get(ENV, "").strip().lower()
    if value not in ("", "auto", "library"):
        from gate.errors import ConfigError

        raise ConfigError(f"{ENV} must be auto or library, not {os.environ[ENV]!r}", key=ENV)
    return value != "library"


def load(path: str, data: Any, context: str | None) -> LightApi | None:
    """A LightApi for this kubeconfig (already read from `path`), or None when it needs the library."""
    if not wanted() or any(os.environ.get(name) for name in PROXY_VARIABLES) or not isinstance(data, dict):
        return None
    name = context or data.get("current-context")
    ctx = _named(data.get("contexts"), name, "context")
    if ctx is None or not set(ctx) <= CONTEXT_KEYS:
        return None
    cluster = _named(data.get("clusters"), ctx.get("cluster"), "cluster")
    user = _named(data.get("users"), ctx.get("user"), "user")
    if cluster is None or user is None or not set(cluster) <= CLUSTER_KEYS or not set(user) <= USER_KEYS:
        return None
    server, token = cluster.get("server"), user.get("token")
    if not isinstance(server, str) or not server.startswith("https://") or not isinstance(token, str) \
            or not token:
        return None
    cfg = LightConfiguration(host=server.rstrip("/"), api_key={"BearerToken": f"Bearer {token}"})
    if "certificate-authority-data" in cluster:  # FileOrData: the data wins when its key is there
        cfg.ca_cert_data = _pem(cluster["certificate-authority-data"])
        if cfg.ca_cert_data is None:
            return None  # empty, not base64 or not PEM text: the library says what it makes of it
    elif "certificate-authority" in cluster:
        ca = cluster["certificate-authority"]
        if not isinstance(ca, str) or not ca:
            return None
        ca = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), ca))
        if not os.path.isfile(ca):
            return None  # the library's "File does not exist"
        cfg.ssl_ca_cert = ca
    return LightApi(cfg, context=name)


def _pem(value: Any) -> str | None:
    """certificate-authority-data decoded to PEM text; None when it is not plainly that."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        text = base64.b64decode(value, validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return None
    return text if "-----BEGIN CERTIFICATE-----" in text else None


def _named(items: Any, name: Any, key: str) -> dict | None:
    """The one entry called `name`; None when absent, repeated or odd (the library then says why)."""
    if not isinstance(items, list) or not isinstance(name, str) or not name:
        return None
    if not all(isinstance(item, dict) and "name" in item for item in items):
        return None
    found = [item.get(key) for item in items if item["name"] == name]
    return found[0] if len(found) == 1 and isinstance(found[0], dict) else None
