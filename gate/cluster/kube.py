"""Kubernetes access: kubeconfig resolution like kubectl, one raw JSON client, and the per-round view.

Requests go through the real `kubernetes` client (its configuration, TLS and auth handling), or for a
plain bearer-token kubeconfig through gate.cluster.lightclient, which reads it as the client does; bodies
stay plain dicts, the shape `kubectl get -o json` prints, so every check reads objects the same way.
Transient failures are retried here with tenacity; what is left is raised as a gate error. Every call
is held to the current deadline (gate/engine/deadlines.py): timeouts clamped to the time left, the body read
in pieces that stop at it, no retry past it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import json
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import urllib3

from gate.entry import signals_held

with signals_held():  # a signal raised inside orjson's (Rust) module init crashes the process
    try:
        import orjson as _orjson  # optional (the `fast` extra): faster list parsing
    except ImportError:  # pragma: no cover - depends on the environment
        _orjson = None
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, stop_after_delay

from gate import redact
from gate.capture import tap
from gate.cluster import answers, listbody, projection, protobody
from gate.cluster.resources import Resource, segment
from gate.engine import deadlines, gcpause
from gate.engine.retrying import RETRYABLE_STATUS, wait_retry_after
from gate.errors import AuthError, ConfigError, EvaluationError, GateError, PermissionDenied, TransientError

SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"
PAGE_SIZE = 500
# As client-go's transport asks unless the kubeconfig's cluster says `disable-compression: true` (client-go
# v0.36 rest/config.go:101-103, tools/clientcmd/client_config.go:206): the API server gzips answers over
# 128 KiB (docs/semantics.md "Reading big lists"); urllib3 inflates them as they arrive.
ACCEPT_GZIP = {"Accept-Encoding": "gzip"}
# What client-go v0.36's typed clients ask for a built-in kind (kubernetes/typed/core/v1/pod.go:75
# PrefersProtobuf; rest/request.go:196-198 UseProtobufAsDefault): protobuf, else JSON, which a server that
# does not serve the kind in protobuf (a CRD) answers instead. gate.cluster.protobody says when.
ACCEPT_PROTOBUF = f"{protobody.CONTENT_TYPE},application/json"


@dataclass(frozen=True)
class Permission:
    """One RBAC rule a check needs: verb on resource (plural, may be "services/proxy") in a namespace."""

    verb: str
    resource: str
    group: str = ""
    namespace: str | None = None  # None: cluster-scoped, or every namespace
    name: str | None = None

    def describe(self) -> str:
        res = f"{self.resource}.{self.group}" if self.group else self.resource
        text = f"{self.verb} {res}"
        if self.name:
            text += f" {self.name!r}"
        return text + (f" in namespace {self.namespace}" if self.namespace else " (cluster-wide)")


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and os.path.exists(f"{SA_DIR}/token")


def _kubeconfig_files(explicit: str | None) -> list[str]:
    if explicit:
        return [explicit]
    env = os.environ.get("KUBECONFIG")
    if env:
        return [p for p in env.split(os.pathsep) if p]
    default = os.path.expanduser("~/.kube/config")
    return [default] if os.path.exists(default) else []


def connect(kubeconfig: str | None = None, context: str | None = None,
            request_timeout: float = 15.0) -> KubeClient:
    """Resolve credentials as kubectl does: --kubeconfig, KUBECONFIG, ~/.kube/config, then in-cluster.

    Every kubeconfig file is read within the user-file limits first (gate.spec.yamlpos), and anything the
    kubernetes library cannot use in it is a ConfigError naming the file (exit 2), never a traceback.
    A plain bearer-token kubeconfig is read by gate.cluster.lightclient instead, as the library reads it."""
    files = _kubeconfig_files(kubeconfig)
    flag = "--context" if context else "--kubeconfig"
    read = [_check_kubeconfig_file(path) for path in files]
    for data in read:  # before either path reads it: any message may name the server
        _register_clusters(data)
    from gate.cluster import lightclient

    if lightclient.wanted() and len(files) == 1:  # wanted() also refuses a GATE_KUBE_CLIENT typo (exit 2)
        light = lightclient.load(files[0], read[0], context)
        if light is not None:
            _vet(light.configuration, flag)
            kube = KubeClient(light, request_timeout=request_timeout)
            kube.origin = f"kubeconfig {files[0]}, context {light.context}, server {light.configuration.host}"
            kube.compression = _compresses(read, context)
            return kube
    from kubernetes import client, config

    cfg = client.Configuration()
    if files:
        try:
            _load_kubeconfig(files, context, cfg)
        except GateError:
            raise  # an exec plugin that failed (exit 3) or is set up wrong (exit 2) says so itself
        except Exception as exc:  # noqa: BLE001 - the library's answer to a bad file is any exception
            raise ConfigError(f"cannot use kubeconfig {os.pathsep.join(files)}: {_library_error(exc)}",
                              key=flag) from None
        origin = _origin(files, context, cfg.host)
    elif in_cluster():
        origin = "the pod's service account"
        try:
            config.load_incluster_config(client_configuration=cfg)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"cannot use the pod's service account: {_library_error(exc)}") from None
        from gate.cluster.tokenfile import TokenFile

        source = TokenFile(f"{SA_DIR}/token", prefix="bearer ")  # the token registered as a secret now,
        source.refresh_hook(cfg)  # alone (the library's value is "bearer <token>"), and re-read when rotated
        cfg.refresh_api_key_hook, cfg.gate_credentials = source.refresh_hook, source
    else:
        raise ConfigError("no cluster credentials: pass --kubeconfig, set KUBECONFIG, "
                          "or run inside a pod with a service account")
    _vet(cfg, flag)
    cfg.retries = False  # tenacity owns retries, so each try is one request in the server's log
    try:
        api = client.ApiClient(cfg)  # builds the connection pool: a bad proxy-url fails here
    except Exception as exc:  # noqa: BLE001 - as above: the library's answer to a bad setting
        raise ConfigError(f"cannot use the kubeconfig's cluster settings: {_library_error(exc)}", key=flag) \
            from None
    kube = KubeClient(api, request_timeout=request_timeout)
    kube.origin = origin if origin.startswith("kubeconfig") else f"{origin}, server {cfg.host}"
    kube.compression = _compresses(read, context)
    return kube


def _compresses(read: list[Any], context: str | None) -> bool:
    """Whether to ask for gzip: not when the selected context's cluster says `disable-compression: true`
    (kubeconfig v1 Cluster, client-go v0.36 tools/clientcmd/api/v1/types.go:91-95: for lists over ample
    bandwidth, where compressing costs the server more than the bytes cost the network). The first file
    that names the context (and then the cluster) wins, as in kubectl's merge."""
    def named(kind: str, name: Any) -> dict:
        for data in read:
            entries = data.get(kind + "s") if isinstance(data, dict) else None
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(kind), dict):
                    return entry[kind]
        return {}
    name = context or next((d["current-context"] for d in read if isinstance(d, dict) and d.get("current-context")),
                           None)
    return named("cluster", named("context", name).get("cluster")).get("disable-compression") is not True


def _load_kubeconfig(files: list[str], context: str | None, cfg: Any) -> None:
    """kubernetes.config.load_kube_config(persist_config=False), its `exec` step run by
    gate.cluster.execcred (registered secrets, refreshed before expiry, exit 3 naming a failing plugin)."""
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import KubeConfigMerger

    merged = KubeConfigMerger(os.pathsep.join(files))
    if merged.config is None:
        raise ConfigException("Invalid kube-config file. No configuration found.")
    load_config_dict(merged.config, context, cfg)


def load_config_dict(config: Any, context: str | None, cfg: Any) -> None:
    """_load_kubeconfig for a kubeconfig already in memory (an Argo CD cluster Secret's, as
    gate/cluster/argocd_clusters.py writes it): the same exec and token-file handling."""
    from gate.cluster import execcred

    loader = execcred.loader_class()(config_dict=config, config_base_path=None, active_context=context)
    loader.load_and_set(cfg)
    if loader.exec_plugin is not None and loader.exec_plugin.credential().token:
        cfg.refresh_api_key_hook, cfg.gate_credentials = loader.exec_plugin.refresh_hook, loader.exec_plugin
    elif loader.token_file is not None:
        from gate.cluster.tokenfile import TokenFile

        source = TokenFile(loader.token_file)  # re-read when rewritten; trimmed, as client-go trims it
        source.refresh_hook(cfg)  # (the library kept the file's trailing newline: not a sendable header)
        cfg.refresh_api_key_hook, cfg.gate_credentials = source.refresh_hook, source


def _origin(files: list[str], context: str | None, server: str) -> str:
    """"kubeconfig F, context C, server S": what a cluster error names, so a person knows which
    credentials and which cluster were used."""
    if not context:
        from kubernetes import config

        try:
            context = config.list_kube_config_contexts(config_file=os.pathsep.join(files))[1]["name"]
        except Exception:  # noqa: BLE001 - only for the message
            context = None
    return (f"kubeconfig {os.pathsep.join(files)}, context {context or '(current)'}, server {server}")


def _check_kubeconfig_file(path: str) -> Any:
    """A readable kubeconfig: YAML within the limits, and a mapping (not e.g. /etc/passwd). Returns it."""
    from gate.spec.yamlpos import load as load_yaml

    if not os.path.exists(path):
        raise ConfigError(f"kubeconfig file {path} does not exist", key="--kubeconfig")
    data, positions = load_yaml(path)
    if data is None:
        return None  # an empty file in a KUBECONFIG list is allowed (kubectl skips it)
    if not isinstance(data, dict):
        raise ConfigError(f"not a kubeconfig: expected a mapping with clusters, users and contexts, "
                          f"got {type(data).__name__}", file=path, line=positions.line(()))
    for key in ("clusters", "users", "contexts"):
        if data.get(key) is not None and not isinstance(data[key], list):
            raise ConfigError(f"expected a list, got {type(data[key]).__name__}", file=path,
                              line=positions.line((key,)), key=key)
        for i, item in enumerate(data.get(key) or [], start=1):
            if not isinstance(item, dict):
                raise ConfigError("expected a mapping with a name", file=path,
                                  line=positions.line((key, i)), key=f"{key}[{i}]")
    return data


def _library_error(exc: Exception) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, binascii.Error):
        return redact.redact(f"invalid base64 in a *-data field (client-key-data, client-certificate-data "
                             f"or certificate-authority-data): {text}")
    if type(exc).__name__ == "ConfigException":
        return redact.redact(text)
    return redact.redact(f"{type(exc).__name__}: {text}")


def register_secrets_only(kubeconfig: str | None = None) -> None:
    """Mark the kubeconfig's credentials as secret without connecting (nor running exec plugins): a run
    that needs no cluster must still never print them, e.g. in a command check's output. Best effort: a
    kubeconfig that cannot be read is not this run's problem."""
    from gate.spec.yamlpos import load as load_yaml

    files = _kubeconfig_files(kubeconfig)
    if not files and in_cluster():
        _register_file(f"{SA_DIR}/token")
    for path in files:
        try:
            data, _ = load_yaml(path)
        except Exception:  # noqa: BLE001 - best effort, see above
            continue
        _register_clusters(data)
        users = data.get("users") if isinstance(data, dict) else None
        for entry in users if isinstance(users, list) else []:
            user = entry.get("user") if isinstance(entry, dict) else None
            if isinstance(user, dict):
                _register_user(user)


def _register_clusters(data: Any) -> None:
    """The credentials a cluster's server or proxy-url carries (`https://user:SECRET@host`, `?token=`)."""
    clusters = data.get("clusters") if isinstance(data, dict) else None
    for entry in clusters if isinstance(clusters, list) else []:
        cluster = entry.get("cluster") if isinstance(entry, dict) else None
        if isinstance(cluster, dict):
            for key in ("server", "proxy-url"):
                if isinstance(cluster.get(key), str):
                    redact.register_url(cluster[key])


def _register_user(user: dict) -> None:
    for key in ("token", "password", "client-key-data"):
        value = user.get(key)
        if isinstance(value, str) and value:
            redact.register(value)
            if key == "client-key-data":
                with contextlib.suppress(binascii.Error, ValueError):
                    redact.register(base64.b64decode(value).decode("utf-8", "replace").strip())
    if isinstance(user.get("username"), str) and isinstance(user.get("password"), str):
        redact.register(f"{user['username']}:{user['password']}")
    for key in ("tokenFile", "client-key"):
        if isinstance(user.get(key), str):
            _register_file(user[key])
    plugin = user.get("exec") if isinstance(user.get("exec"), dict) else {}
    env = plugin.get("env") if isinstance(plugin.get("env"), list) else []
    for item in env:  # an exec plugin's env values of secret-looking names (its run registers the rest)
        if isinstance(item, dict) and isinstance(item.get("name"), str) and redact.is_secret_name(item["name"]):
            redact.register(item.get("value") if isinstance(item.get("value"), str) else None)


def _register_file(path: str) -> None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read(1 << 20)
    except OSError:
        return
    redact.register(text.strip())


def _register_credentials(cfg: Any) -> None:
    """Every credential the kubeconfig gave: bearer token, basic-auth password, client key, and what its
    server and proxy URLs carry."""
    for url in (getattr(cfg, "host", None), getattr(cfg, "proxy", None)):
        redact.register_url(url if isinstance(url, str) else None)
    for value in (cfg.api_key or {}).values():
        token = str(value or "")
        redact.register(token.removeprefix("Bearer ").strip())
    if cfg.password:
        redact.register(cfg.password)
        redact.register(f"{cfg.username}:{cfg.password}")
    if cfg.key_file and os.path.isfile(cfg.key_file):
        try:
            with open(cfg.key_file, encoding="utf-8", errors="replace") as fh:
                key = fh.read()
        except OSError:
            return
        redact.register(key)
        redact.register(key.strip())


def _vet(cfg: Any, flag: str) -> None:
    """What either kubeconfig path does with the configuration it read before the first request: its
    credentials marked secret, then everything TLS and HTTP could only refuse mid-run made exit 2 now."""
    _register_credentials(cfg)
    _check_client_certificate(cfg, flag)
    _check_credentials_sendable(cfg, flag)
    _check_host_names(cfg, flag)


def _check_credentials_sendable(cfg: Any, flag: str) -> None:
    """A token HTTP cannot carry is exit 2 naming why (gate/headers.py), on either kubeconfig path."""
    from gate.headers import unsendable

    for value in (cfg.api_key or {}).values():
        why = unsendable(str(value or ""))
        if why:
            raise ConfigError(f"the kubeconfig's credentials cannot be sent: the user's token contains {why}",
                              key=flag)


def _check_host_names(cfg: Any, flag: str) -> None:
    """The server's host and tls-server-name must be names TLS can ask for: the library passes both to
    urllib3 as they are, and one that is not a string or not IDNA-encodable failed inside the first
    request (an internal error in a check) instead of naming the kubeconfig key (exit 2)."""
    from urllib3.util import parse_url

    try:
        host = parse_url(cfg.host).host
    except (ValueError, TypeError, urllib3.exceptions.LocationParseError):
        raise ConfigError("the kubeconfig's cluster server is not a URL", key=flag) from None
    sni = getattr(cfg, "tls_server_name", None)
    for key, name in (("server", host), ("tls-server-name", sni)):
        if name is None:
            continue
        if not isinstance(name, str):
            raise ConfigError(f"the kubeconfig's cluster {key} must be a host name, not {type(name).__name__}",
                              key=flag)
        try:
            name.encode("idna")
        except UnicodeError:
            raise ConfigError(f"the kubeconfig's cluster {key} is not a valid host name: {name!r}",
                              key=flag) from None


def _check_client_certificate(cfg: Any, flag: str) -> None:
    """A client certificate and key that TLS cannot load are the user's to fix (exit 2), not an
    'unreachable' after retries."""
    import ssl

    if not cfg.cert_file and not cfg.key_file:
        return
    try:
        ssl.create_default_context().load_cert_chain(cfg.cert_file, cfg.key_file)
    except (ssl.SSLError, OSError, TypeError, ValueError) as exc:
        raise ConfigError(f"the kubeconfig's client certificate or key cannot be used: "
                          f"{getattr(exc, 'reason', None) or exc}", key=flag) from None


@dataclass
class Response:
    status: int
    body: Any  # parsed JSON when it is JSON, else text
    headers: dict[str, str]


class KubeClient:
    """Raw JSON access to the API server. Thread-safe; shared by every check of a run."""

    origin: str = ""  # "kubeconfig F, context C, server S", named by errors about the cluster itself
    compression: bool = True  # ask for gzip (False: the kubeconfig's cluster says disable-compression)

    def _where(self) -> str:
        return f" ({self.origin})" if self.origin else ""

    def __init__(self, api_client: Any, request_timeout: float = 15.0, retry_budget: float = 20.0) -> None:
        self.api = api_client
        self.request_timeout = request_timeout
        self.retry_budget = retry_budget

    @property
    def host(self) -> str:
        return self.api.configuration.host

    # -- transport -------------------------------------------------------------------------------
    def request(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None,
                headers: dict[str, str] | None = None, *, retry: bool = True,
                timeout: float | None = None, proxied: bool = False,
                parse: Callable[[Iterable[bytes]], Any] | None = None,
                proto: Callable[[Iterable[bytes]], Any] | None = None) -> Response:
        """One API call; 5xx/429/connection errors retried (Retry-After honoured), then TransientError.

        `proxied`: the answer is a proxied service's, returned as it came (any status, body as text).
        `parse`: how the body's bytes become the Response body (default parse_body: JSON, else text).
        `proto`: the same for a protobuf answer (gate.cluster.protobody), which is then asked for first."""
        attempts = Retrying(
            stop=stop_after_attempt(4 if retry else 1) | stop_after_delay(self.retry_budget)
            | deadlines.stop_at_deadline,
            wait=wait_retry_after(initial=0.2, maximum=5.0),
            retry=retry_if_exception_type(TransientError),
            reraise=True,
        )
        return attempts(self._once, method, path, query, body, headers, timeout, proxied, parse, proto)

    def _once(self, method: str, path: str, query: dict[str, Any] | None, body: Any,
              headers: dict[str, str] | None, timeout: float | None, proxied: bool = False,
              parse: Callable[[Iterable[bytes]], Any] | None = None,
              proto: Callable[[Iterable[bytes]], Any] | None = None) -> Response:
        """One request. `parse` (a list read, gate.cluster.listbody) reads the body as its pieces arrive,
        unless the answer is recorded (gate capture keeps the bytes) or proxied (text). `proto` is asked
        for only when the answer is not recorded: a capture holds JSON, which replay serves as it came."""
        url = self.host + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None}, quote_via=quote)
        gzip = self.compression and not proxied  # a proxied service's answer comes back as it was sent
        proto = proto if tap.current is None and not proxied else None
        hdrs = {"Accept": ACCEPT_PROTOBUF if proto else "application/json", **(ACCEPT_GZIP if gzip else {}),
                **(headers or {})}
        body = _prepare_body(body, hdrs)
        self.api.update_params_for_auth(hdrs, [], ["BearerToken"], path, method, body)
        limit = deadlines.clamp(timeout or self.request_timeout, f"{method} {path}")
        try:
            raw = self.api.call_api(method, url, header_params=hdrs, body=body, _request_timeout=(limit, limit))
            if proto is not None and protobody.answered_in(raw.headers):
                parse = proto
            streamed = parse is not None and not proxied and tap.current is None and hasattr(raw, "response")
            if streamed:
                parsed, data = parse(deadlines.pieces(raw.response, f"{method} {path}")), b""  # type: ignore[misc]
            else:
                data = deadlines.read_body(raw.response, f"{method} {path}") if hasattr(raw, "response") \
                    else raw.read()
        except deadlines.DeadlineExceeded:
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if deadlines.passed():
                raise deadlines.DeadlineExceeded(f"{method} {path}: no answer before the deadline") from None
            if tap.current is not None:
                tap.current.kube_failure(method, path)
            raise TransientError(f"{method} {path}: {type(exc).__name__}: {exc}{self._where()}") from None
        except Exception as exc:  # kubernetes.client ApiException(status=0) for TLS errors
            if getattr(exc, "status", None) == 0:
                raise EvaluationError(f"{method} {path}: {getattr(exc, 'reason', exc)}{self._where()}") from None
            raise
        resp_headers = {k.lower(): v for k, v in raw.headers.items()}
        if tap.current is not None:  # gate capture / --capture-on-failure: keep what was read
            tap.current.kube_answer(method, path, query, raw.status, data, proxied, client=self)
        if proxied:
            return Response(raw.status, _text(data), resp_headers)
        if not streamed:
            parsed = parse([data]) if parse is not None else parse_body(data)
        resp = Response(raw.status, parsed, resp_headers)
        del data, parsed
        if raw.status in RETRYABLE_STATUS:
            err = TransientError(f"{method} {path}: HTTP {raw.status} {_message(resp.body)}")
            err.retry_after = resp.headers.get("retry-after")  # type: ignore[attr-defined]
            raise err
        return resp

    def checked(self, method: str, path: str, *, permission: Permission | None = None,
                **kwargs: Any) -> Response:
        """Like request(), but 401/403 become AuthError/PermissionDenied naming what was refused. A 401 to
        a credential that can be renewed (an exec plugin's, a token file's) renews it and asks once more."""
        creds = getattr(self.api.configuration, "gate_credentials", None)  # execcred.ExecPlugin, TokenFile
        seen = creds.generation if creds is not None else 0
        resp = self.request(method, path, **kwargs)
        if resp.status == 401 and creds is not None and creds.renew(seen):
            resp = self.request(method, path, **kwargs)
        if resp.status == 401:
            raise AuthError(f"the cluster rejected the gate's credentials (401) on {method} {path}{self._where()}")
        if resp.status == 403:
            what = permission.describe() if permission else f"{method} {path}"
            raise PermissionDenied(f"forbidden: the gate may not {what} ({_message(resp.body)})",
                                   permission=permission)
        return resp

    # -- reads -----------------------------------------------------------------------------------
    def list(self, res: Resource, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None, *, project: Callable[[dict], dict] | None = None,
             page_size: int | None = None) -> list[dict]:
        """All items, following `continue` tokens. A 404 means the API does not serve this kind.
        Every page must read as a `<Kind>List` (gate.cluster.answers), else UnreadableAnswer after retries.

        `project` (gate.cluster.projection) cuts each item down once its page has been judged, so only
        one page of full objects is held at a time."""
        return self.list_with_version(res, namespace, label_selector, field_selector, project=project,
                                      page_size=page_size)[0]

    def list_with_version(self, res: Resource, namespace: str | None = None, label_selector: str | None = None,
                          field_selector: str | None = None, *, project: Callable[[dict], dict] | None = None,
                          page_size: int | None = None, cached: bool = False) -> tuple[list[dict], str | None]:
        """list(), and the first page's metadata.resourceVersion (the list is consistent at it: where a
        watch resumes, gate.cluster.watches). `cached`: read from the API server's watch cache
        (`resourceVersion=0`: any version, which the cache serves whole, without etcd; docs/semantics.md
        "Reading big lists" says when the gate accepts that)."""
        perm = Permission("list", res.plural, res.group, namespace if res.namespaced else None)
        path = res.path(namespace)
        with gcpause.paused():
            return self._pages(res, path, perm, label_selector, field_selector, project, page_size, cached)

    def _pages(self, res: Resource, path: str, perm: Permission, label_selector: str | None,
               field_selector: str | None, project: Callable[[dict], dict] | None,
               page_size: int | None, cached: bool = False) -> tuple[list[dict], str | None]:
        items: list[dict] = []
        token: str | None = None
        version: str | None = None
        parse = functools.partial(listbody.parse_pieces, project=project, parse_body=parse_body)
        spec = getattr(project, "spec", None)  # a projection.projector()'s: protobuf is read into the same
        item = protobody.item_message(res, spec)
        proto = functools.partial(protobody.parse_pieces, project=project, item=item, spec=spec) if item else None

        def judge(body: Any) -> tuple[tuple[list[dict], str | None], str | None]:
            page = answers.kube_list(body, res.kind, f"GET {path}")
            rv = (body.get("metadata") or {}).get("resourceVersion")
            return page, rv if isinstance(rv, str) and rv else None

        while True:
            query = {"labelSelector": label_selector, "fieldSelector": field_selector,
                     "limit": page_size or PAGE_SIZE, "continue": token,
                     "resourceVersion": "0" if cached and token is None else None}
            resp, judged = self._read(path, perm, judge, query, parse=parse, proto=proto)
            if resp.status == 404:
                raise KindNotServed(res)
            (page_items, token), rv = judged
            version = version or rv  # the first page's
            items.extend(page_items)
            del resp, judged, page_items
            if not token:
                return items, version

    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict | None:
        """The object, or None when it does not exist. Raises KindNotServed for an unknown kind, and
        UnreadableAnswer (after retries) for a 200 that is not an object of this kind."""
        perm = Permission("get", res.plural, res.group, namespace if res.namespaced else None, name)
        path = res.path(namespace, name)
        resp, obj = self._read(path, perm, lambda body: answers.kube_object(body, res.kind, f"GET {path}"))
        if resp.status == 404:
            details = (resp.body or {}).get("details") if isinstance(resp.body, dict) else None
            if details and details.get("name"):
                return None
            raise KindNotServed(res)
        return obj

    def _read(self, path: str, perm: Permission, judge: Callable[[Any], Any],
              query: dict[str, Any] | None = None, parse: Callable[[Iterable[bytes]], Any] | None = None,
              proto: Callable[[Iterable[bytes]], Any] | None = None) -> tuple[Response, Any]:
        """GET path; a 2xx answer goes through `judge` (a gate.cluster.answers shape check) before anyone reads
        it. An unreadable answer is retried like a 503 (the next one may be whole), then raised."""
        def once() -> tuple[Response, Any]:
            resp = self.checked("GET", path, query=query, permission=perm, parse=parse, proto=proto)
            if resp.status == 404:
                return resp, None
            _raise_for(resp, "GET", path)
            return resp, judge(resp.body)

        attempts = Retrying(
            stop=stop_after_attempt(3) | stop_after_delay(self.retry_budget) | deadlines.stop_at_deadline,
            wait=wait_retry_after(initial=0.2, maximum=2.0),
            retry=retry_if_exception_type(answers.UnreadableAnswer),
            reraise=True,
        )
        return attempts(once)

    def access_review(self, perm: Permission) -> bool:
        """SelfSubjectAccessReview: the one write the gate makes (DESIGN.md, rules that never bend)."""
        verb_res = perm.resource.split("/", 1)
        attrs = {"verb": perm.verb, "group": perm.group, "resource": verb_res[0]}
        if len(verb_res) == 2:
            attrs["subresource"] = verb_res[1]
        if perm.namespace:
            attrs["namespace"] = perm.namespace
        if perm.name:
            attrs["name"] = perm.name
        body = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                "spec": {"resourceAttributes": attrs}}
        path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
        resp = self.checked("POST", path, body=body)
        _raise_for(resp, "POST", path)
        return bool((resp.body.get("status") or {}).get("allowed"))

    def service_proxy(self, namespace: str, service: str, port: str | int, path: str, method: str = "GET",
                      headers: dict[str, str] | None = None, body: Any = None,
                      timeout: float | None = None) -> Response:
        """A request to a Service through the API server's services/proxy subresource. The answer is the
        service's, as it came: its status (5xx included) and its body as text. A 401/403 is the API
        server refusing the gate (raised as such)."""
        ns, svc = segment(namespace, "namespace", label=True), segment(service, "Service name", label=True)
        proxy = f"/api/v1/namespaces/{ns}/services/{svc}:{quote(str(port), safe='')}/proxy/{path.lstrip('/')}"
        perm = Permission("get", "services/proxy", "", namespace, str(service))
        resp = self.request(method, proxy, headers=headers, body=body, retry=False, timeout=timeout,
                            proxied=True)
        if resp.status in (401, 403) and _is_status_object(resp.body):
            # The API server refused the gate itself; a 401/403 from the service passes through as is.
            if resp.status == 401:
                raise AuthError(f"the cluster rejected the gate's credentials (401) on {method} {proxy}"
                                f"{self._where()}")
            raise PermissionDenied(f"forbidden: the gate may not {perm.describe()}", permission=perm)
        return resp

    def pod_logs(self, namespace: str, pod: str, container: str | None = None,
                 since_seconds: int | None = None, tail_lines: int | None = None,
                 previous: bool = False) -> str:
        """The container's log as text, exactly as the kubelet sent it (a one-line JSON log is not
        re-parsed). `previous`: the last terminated instance (`kubectl logs --previous`, for crash loops)."""
        path = f"/api/v1/namespaces/{segment(namespace, 'namespace', label=True)}/pods/{segment(pod, 'Pod name')}/log"
        perm = Permission("get", "pods/log", "", namespace, pod)
        resp = self.checked("GET", path, permission=perm, proxied=True, query={
            "container": container, "sinceSeconds": since_seconds, "tailLines": tail_lines,
            "previous": "true" if previous else None})
        if resp.status >= 400:  # an error answer is a Status object: name its message
            with contextlib.suppress(ValueError):
                resp = Response(resp.status, json.loads(resp.body), resp.headers)
        _raise_for(resp, "GET", path)
        return resp.body if isinstance(resp.body, str) else ""


def _text(data: Any) -> str:
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")


def parse_body(data: Any) -> Any:
    """The answer as JSON, else as text. orjson when installed (a 20,000-pod list is ~80 MB of JSON:
    it parses it 2-3x faster than the standard library), json otherwise; both read the same values."""
    if _orjson is not None and isinstance(data, bytes) and data:
        try:
            return _orjson.loads(data)
        except ValueError:
            pass  # not JSON, or JSON orjson does not take (NaN, integers past 64 bits): the slow path says
    text = _text(data)
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def _prepare_body(body: Any, headers: dict[str, str]) -> Any:
    """The kubernetes REST client JSON-encodes any body sent as JSON, so hand it objects, and raw
    bytes only with a non-JSON content type."""
    if body is None:
        return None
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if not isinstance(body, (str, bytes)):
        if ctype is None:
            headers["Content-Type"] = "application/json"
        return body
    if ctype is None:
        headers["Content-Type"] = "application/octet-stream"
        return body
    if "json" in ctype.lower():
        try:
            return json.loads(body)
        except ValueError:
            headers["Content-Type"] = "application/octet-stream"  # not JSON after all: send as is
    return body


class KindNotServed(EvaluationError):
    """The API server does not serve this resource kind (its CRD is not installed)."""

    def __init__(self, res: Resource) -> None:
        self.resource = res
        super().__init__(f"the cluster does not serve {res.display} ({res.api_version}): "
                         f"is its CRD installed?")


def _is_status_object(text: Any) -> bool:
    try:
        body = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("kind") == "Status" and body.get("apiVersion") == "v1"


def _message(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error") or "")
    return redact.cut(str(body or ""), 200)  # masked before the cut


def _raise_for(resp: Response, method: str, path: str) -> None:
    if resp.status >= 400:
        raise EvaluationError(f"{method} {path}: HTTP {resp.status} {_message(resp.body)}")


class ClusterView:
    """What the cluster looked like in one poll round.

    Every check of the round that asks for the same (resource, namespace, selectors) gets the same list,
    fetched once; concurrent askers wait for the first fetch instead of repeating it. With `watches`
    (gate/cluster/watches.py), a list a live watch keeps is answered from its cache, with no request.
    """

    def __init__(self, kube: KubeClient, watches: Any = None) -> None:
        """`watches`: a gate.cluster.watches.Watches answering lists from live watches, or None."""
        self.kube = kube
        self.watches = watches
        self._lock = threading.Lock()
        self._entries: dict[tuple, _Entry] = {}

    def _cached(self, key: tuple, fetch: Callable[[], Any]) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = _Entry()
                owner = True
            else:
                owner = False
        if owner:
            try:
                entry.value = fetch()
            except BaseException as exc:
                entry.error = exc
            finally:
                entry.done.set()
        left = deadlines.remaining()  # another check's fetch: wait for it only until this one's deadline
        if not entry.done.wait(timeout=None if left is None else max(0.0, left)):
            raise deadlines.DeadlineExceeded(f"the deadline passed waiting for {key[0]} {key[1].display}")
        if entry.error is not None:
            raise entry.error
        return entry.value

    def list(self, res: Resource, namespace: str | None = None, label_selector: str | None = None,
             field_selector: str | None = None) -> list[dict]:
        key = ("list", res, namespace, label_selector or None, field_selector or None)
        project = projection.projector(res)
        if self.watches is None:
            return self._cached(key, lambda: self.kube.list(res, namespace, label_selector, field_selector,
                                                            project=project))
        from gate.cluster import watches

        watches.note(key[1:])  # this check reads this list: a change to it wakes the check
        return self._cached(key, lambda: self.watches.list(res, namespace, label_selector, field_selector,
                                                           project=project))

    def get(self, res: Resource, name: str, namespace: str | None = None) -> dict | None:
        """One object by name (None: it does not exist). With `watches`, a live watch on that name alone
        (`fieldSelector=metadata.name=…`) answers it once armed, with no request."""
        if self.watches is None:
            return self._cached(("get", res, namespace, name), lambda: self.kube.get(res, name, namespace))
        from gate.cluster import watches

        watches.note(watches.named_key(res, name, namespace))
        return self._cached(("get", res, namespace, name), lambda: self.watches.get(res, name, namespace))

    def named(self, res: Resource, names: list[str], namespace: str | None = None) -> dict[str, dict | None]:
        """name -> object or None: a GET per name, or one shared list of the namespace from
        gate.cluster.named.LIST_FROM names on (never a namespace listed to find a few objects)."""
        from gate.cluster import named

        return named.read(names, lambda name: self.get(res, name, namespace), lambda: self.list(res, namespace))


class _Entry:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: BaseException | None = None
