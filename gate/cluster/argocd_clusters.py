"""Argo CD's cluster Secrets: which one names a destination, and the API client its credentials give.

Read as Argo CD v3.5.1 reads them (docs/semantics.md, "Destination clusters"): a Secret in Argo CD's
namespace labelled `argocd.argoproj.io/secret-type: cluster` holds `name`, `server` (trailing "/" cut)
and `config`, the JSON of `ClusterConfig` (`bearerToken`, `username`/`password`, `tlsClientConfig`
with base64 `caData`/`certData`/`keyData`, `serverName`, `insecure`; `execProviderConfig`,
`awsAuthConfig`). `https://kubernetes.default.svc` and the name `in-cluster` are Argo CD's own cluster:
the control plane the gate already reads.

The client is built the way `Cluster.RawRestConfig()` builds Argo CD's: the config turned into one
in-memory kubeconfig (cluster, user, context) that is loaded as a kubeconfig file is
(gate.cluster.kube.load_config_dict), so TLS (the Secret's CA, SNI name, client certificate) behaves as
kubectl's and an exec plugin runs through gate.cluster.execcred (its token masked, refreshed). A bearer
token with a CA goes through gate.cluster.lightclient, as a kubeconfig of that shape does. Every
credential is registered for masking before anything can print it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from gate import redact
from gate.errors import ConfigError

LABEL_SECRET_TYPE = "argocd.argoproj.io/secret-type"  # common/common.go:198
CLUSTER_SELECTOR = f"{LABEL_SECRET_TYPE}=cluster"  # common/common.go:202
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"  # application_defaults.go:31
IN_CLUSTER_NAME = "in-cluster"  # application_defaults.go:34
AWS_AUTH_COMMAND = "argocd-k8s-auth"  # types.go:4002-4018: awsAuthConfig runs `argocd-k8s-auth aws ...`
EXEC_API_VERSION = "client.authentication.k8s.io/v1beta1"


@dataclass
class ArgoCluster:
    """One cluster Secret, decoded."""

    secret: str  # "<namespace>/<name>" of the Secret
    name: str
    server: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def in_cluster(self) -> bool:
        return self.server == IN_CLUSTER_SERVER

    def warnings(self) -> list[str]:
        tls = self.config.get("tlsClientConfig") or {}
        if tls.get("insecure") is True:
            return [f"cluster {self.name}: the Argo CD cluster Secret {self.secret} sets tlsClientConfig.insecure: "
                    f"the destination's TLS certificate is NOT verified"]
        return []


def decode_secret(obj: dict) -> ArgoCluster:
    """The Secret's `name`, `server` and `config` (SecretToCluster, util/db/cluster.go:422-480). The
    credentials in it are registered for masking first, whatever is wrong with the rest."""
    meta = obj.get("metadata") or {}
    ref = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
    data = obj.get("data") or {}
    raw_config = data.get("config") if isinstance(data, dict) else None
    if isinstance(raw_config, str):
        redact.register(raw_config)  # the base64 of the whole config: it holds the token
    fields: dict[str, str] = {}
    for key in ("name", "server", "config"):
        value = data.get(key) if isinstance(data, dict) else None
        if value is None:
            continue
        try:
            fields[key] = base64.b64decode(str(value), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise ConfigError(f"the Argo CD cluster Secret {ref} has a `{key}` that is not base64 text") from None
    config: dict[str, Any] = {}
    if fields.get("config"):
        try:
            config = json.loads(fields["config"])
        except ValueError:
            raise ConfigError(f"the Argo CD cluster Secret {ref}: `config` is not JSON") from None
        if not isinstance(config, dict):
            raise ConfigError(f"the Argo CD cluster Secret {ref}: `config` is not a JSON object")
    register_credentials(config)
    server = fields.get("server", "").rstrip("/")
    if not server:
        raise ConfigError(f"the Argo CD cluster Secret {ref} has no `server`")
    return ArgoCluster(ref, fields.get("name") or server, server, config)


def register_credentials(config: dict[str, Any]) -> None:
    """Every secret the config holds, in the forms it may be printed: token, password, client key."""
    for key in ("bearerToken", "password"):
        if isinstance(config.get(key), str) and config[key]:
            redact.register(config[key])
    if isinstance(config.get("username"), str) and isinstance(config.get("password"), str):
        redact.register(f"{config['username']}:{config['password']}")
    tls = config.get("tlsClientConfig")
    key_data = tls.get("keyData") if isinstance(tls, dict) else None
    if isinstance(key_data, str) and key_data:
        redact.register(key_data)
        with contextlib.suppress(binascii.Error, ValueError):
            redact.register(base64.b64decode(key_data).decode("utf-8", "replace").strip())
    execp = config.get("execProviderConfig")
    for value in ((execp.get("env") or {}).values() if isinstance(execp, dict) and
                  isinstance(execp.get("env"), dict) else []):
        if isinstance(value, str) and len(value) >= 8:
            redact.register(value)


def matches(cluster: ArgoCluster, *, server: str | None = None, name: str | None = None) -> bool:
    """Argo CD's lookup: by server URL (trailing "/" ignored, cluster_informer GetClusterByURL) or by
    the cluster's `name` (GetClusterServersByName)."""
    if server is not None:
        return cluster.server == server.rstrip("/")
    return cluster.name == name


def unsupported(cluster: ArgoCluster, label: str) -> None:
    """Exit 2 at start for credentials this image cannot use: never a silent fallback."""
    config = cluster.config
    if config.get("awsAuthConfig") and shutil.which(AWS_AUTH_COMMAND) is None:
        raise ConfigError(
            f"cluster {label}: the Argo CD cluster Secret {cluster.secret} uses awsAuthConfig, which Argo CD "
            f"runs as `{AWS_AUTH_COMMAND} aws`; that command is not on this image's PATH, so the gate cannot "
            f"authenticate to {cluster.server} (give the gate a Secret with a bearerToken, or an image with "
            f"{AWS_AUTH_COMMAND})")
    execp = config.get("execProviderConfig")
    if execp:
        command = execp.get("command") if isinstance(execp, dict) else None
        if not isinstance(command, str) or not command:
            raise ConfigError(f"cluster {label}: the Argo CD cluster Secret {cluster.secret} has an "
                              f"execProviderConfig without a command")
        if shutil.which(command) is None:
            hint = execp.get("installHint") or ""
            raise ConfigError(
                f"cluster {label}: the Argo CD cluster Secret {cluster.secret} authenticates with "
                f"execProviderConfig command {command!r}, which is not on this image's PATH; the gate cannot "
                f"authenticate to {cluster.server}" + (f" ({hint})" if hint else ""))
    if config.get("proxyUrl"):
        raise ConfigError(f"cluster {label}: the Argo CD cluster Secret {cluster.secret} sets proxyUrl, which the "
                          f"gate does not support")


def kubeconfig(cluster: ArgoCluster, label: str) -> dict[str, Any]:
    """The config as one kubeconfig (RawRestConfig, types.go:3966-4060)."""
    config = cluster.config
    tls = config.get("tlsClientConfig") or {}
    entry: dict[str, Any] = {"server": cluster.server}
    if tls.get("insecure") is True:
        entry["insecure-skip-tls-verify"] = True
    elif tls.get("caData"):
        entry["certificate-authority-data"] = tls["caData"]
    if tls.get("serverName"):
        entry["tls-server-name"] = tls["serverName"]
    user: dict[str, Any] = {}
    if tls.get("certData"):
        user["client-certificate-data"] = tls["certData"]
    if tls.get("keyData"):
        user["client-key-data"] = tls["keyData"]
    aws, execp = config.get("awsAuthConfig"), config.get("execProviderConfig")
    if aws:
        args = ["aws", "--cluster-name", str(aws.get("clusterName") or "")]
        if aws.get("roleARN"):
            args += ["--role-arn", str(aws["roleARN"])]
        if aws.get("profile"):
            args += ["--profile", str(aws["profile"])]
        user["exec"] = {"apiVersion": EXEC_API_VERSION, "command": AWS_AUTH_COMMAND, "args": args}
    elif execp:
        user["exec"] = {"apiVersion": execp.get("apiVersion") or EXEC_API_VERSION, "command": execp["command"],
                        "args": list(execp.get("args") or []),
                        "env": [{"name": k, "value": v} for k, v in (execp.get("env") or {}).items()]}
    else:
        if config.get("bearerToken"):
            user["token"] = config["bearerToken"]
        if config.get("username"):
            user["username"] = config["username"]
            user["password"] = config.get("password") or ""
    return {"apiVersion": "v1", "kind": "Config", "current-context": label,
            "clusters": [{"name": label, "cluster": entry}], "users": [{"name": label, "user": user}],
            "contexts": [{"name": label, "context": {"cluster": label, "user": label}}]}


def client_for(cluster: ArgoCluster, label: str, request_timeout: float = 15.0) -> Any:
    """A gate.cluster.kube.KubeClient for the destination (exit 2 for credentials it cannot use)."""
    from gate.cluster import kube as kubemod
    from gate.cluster import lightclient

    unsupported(cluster, label)
    data = kubeconfig(cluster, label)
    origin = f"cluster {label}, Argo CD Secret {cluster.secret}, server {cluster.server}"
    flag = f"the Argo CD cluster Secret {cluster.secret}"
    light = None
    if lightclient.wanted() and not any(os.environ.get(v) for v in lightclient.PROXY_VARIABLES):
        user, entry = data["users"][0]["user"], data["clusters"][0]["cluster"]
        if set(user) == {"token"} and set(entry) <= {"server", "certificate-authority-data"} \
                and cluster.server.startswith("https://"):
            cfg = lightclient.LightConfiguration(host=cluster.server,
                                                 api_key={"BearerToken": f"Bearer {user['token']}"})
            if "certificate-authority-data" in entry:
                cfg.ca_cert_data = lightclient._pem(entry["certificate-authority-data"])
                if cfg.ca_cert_data is None:
                    raise ConfigError(f"cluster {label}: tlsClientConfig.caData in {flag} is not a base64 PEM "
                                      f"certificate")
            light = lightclient.LightApi(cfg, context=label)
    if light is not None:
        kubemod._vet(light.configuration, flag)
        client = kubemod.KubeClient(light, request_timeout=request_timeout)
    else:
        from kubernetes import client as kclient

        from gate.errors import GateError

        cfg = kclient.Configuration()
        try:  # as a kubeconfig file is read: exec plugins run by gate.cluster.execcred, their tokens masked
            kubemod.load_config_dict(data, label, cfg)
        except GateError:
            raise  # an exec plugin that failed (exit 3) or is set up wrong (exit 2) says so itself
        except Exception as exc:  # noqa: BLE001 - the library's answer to a bad config is any exception
            raise ConfigError(f"cluster {label}: cannot use {flag}: {kubemod._library_error(exc)}") from None
        kubemod._vet(cfg, flag)
        cfg.retries = False
        try:
            api = kclient.ApiClient(cfg)
        except Exception as exc:  # noqa: BLE001
            raise ConfigError(f"cluster {label}: cannot use {flag}: {kubemod._library_error(exc)}") from None
        client = kubemod.KubeClient(api, request_timeout=request_timeout)
    client.origin = origin
    # as Argo CD builds its rest config (argo-cd v3.5.1 pkg/apis/application/v1alpha1/types.go:2535-2536, 4073)
    client.compression = cluster.config.get("disableCompression") is not True
    return client
