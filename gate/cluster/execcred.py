"""kubeconfig `exec` credential plugins (`aws eks get-token`, `gke-gcloud-auth-plugin`, `kubelogin`), run
as client-go runs them (k8s.io/client-go/plugin/pkg/client/auth/exec/exec.go), for the library path.

The kubernetes package runs the plugin itself (kubernetes/config/exec_provider.py, kube_config.py
`_load_from_exec_plugin`), but: a failing or missing plugin is only logged (its stderr printed unmasked
through `logging`) and the run goes on unauthenticated; a refreshed token is never seen by gate.redact;
`interactiveMode` is ignored (the plugin gets the terminal's stdin when stdout is a terminal); the refresh
runs again on every request once the token is within 5 minutes of `expirationTimestamp`, from any thread.
So gate.cluster.kube hands the library a loader whose exec step is this module's:

- `apiVersion` client.authentication.k8s.io/v1 or v1beta1; v1 requires `interactiveMode` (client-go's
  validation); the gate never runs a plugin interactively (stdin closed, `spec.interactive: false`), so
  `interactiveMode: Always` is refused (exit 2), `IfAvailable`/`Never` run non-interactively.
- `command` looked up on PATH, or relative to the kubeconfig's directory when it names a path; `args`;
  `env` added to the gate's environment (values of secret-looking names registered as secrets);
  `provideClusterInfo` passes the cluster in KUBERNETES_EXEC_INFO.
- The credential (`status.token`, or `clientCertificateData`/`clientKeyData`) is registered as a secret
  and kept until shortly before `expirationTimestamp` (a tenth of its lifetime, between 1 and 60
  seconds), then the plugin runs again, once, whichever thread asks first: a wait longer than the
  token's life keeps working. A 401 before then runs it again unless it ran since (`renew`,
  KubeClient.checked), as client-go does.
- A plugin that is missing, fails, hangs past its limit (60 s, or the run's deadline when sooner) or
  prints no ExecCredential is exit 3 naming the command, with its stderr masked and cut.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gate import redact
from gate.errors import ConfigError, EvaluationError

API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
INTERACTIVE_MODES = ("Never", "IfAvailable", "Always")
RUN_LIMIT = 60.0  # seconds a plugin may take (an SSO login that waits for a browser never ends in CI)
STDERR_LIMIT = 500  # characters of a failing plugin's stderr quoted in the message


class ExecPluginError(EvaluationError):
    """The exec credential plugin could not give a credential: exit 3, naming the command."""


@dataclass
class Credential:
    token: str | None
    cert_data: str | None
    key_data: str | None
    expires: float | None  # epoch seconds
    refresh_at: float | None


class ExecPlugin:
    """One user's `exec` block: runs the plugin when the credential it gave is about to expire."""

    def __init__(self, exec_config: Any, base_dir: str, cluster: dict | None = None) -> None:
        conf = exec_config if isinstance(exec_config, dict) else {}
        self.api_version = conf.get("apiVersion")
        command = conf.get("command")
        if not isinstance(command, str) or not command:
            raise ConfigError("the kubeconfig's exec plugin has no command", key="users[].user.exec.command")
        self.command = command
        if self.api_version not in API_VERSIONS:
            raise ConfigError(f"exec plugin {command!r}: apiVersion must be one of {', '.join(API_VERSIONS)}, "
                              f"not {self.api_version!r}", key="users[].user.exec.apiVersion")
        mode = conf.get("interactiveMode")
        if mode is None and self.api_version.endswith("/v1"):
            raise ConfigError(f"exec plugin {command!r}: interactiveMode must be specified for "
                              f"{self.api_version} (Never in CI)", key="users[].user.exec.interactiveMode")
        if mode is not None and mode not in INTERACTIVE_MODES:
            raise ConfigError(f"exec plugin {command!r}: interactiveMode must be one of "
                              f"{', '.join(INTERACTIVE_MODES)}, not {mode!r}", key="users[].user.exec.interactiveMode")
        if mode == "Always":
            raise ConfigError(f"exec plugin {command!r} needs interactiveMode: Always, and the gate never runs "
                              f"a plugin interactively: use a non-interactive login (interactiveMode: Never)",
                              key="users[].user.exec.interactiveMode")
        args = conf.get("args") or []
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ConfigError(f"exec plugin {command!r}: args must be a list of strings",
                              key="users[].user.exec.args")
        self.env = dict(os.environ)
        for item in conf.get("env") or []:
            if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                    or not isinstance(item.get("value"), str):
                raise ConfigError(f"exec plugin {command!r}: env entries need a name and a string value",
                                  key="users[].user.exec.env")
            self.env[item["name"]] = item["value"]
            if redact.is_secret_name(item["name"]):
                redact.register(item["value"])
        self.argv = [self._resolve(command, base_dir, self.env), *args]
        self.cluster = cluster if conf.get("provideClusterInfo") else None
        self._lock = threading.Lock()
        self._cred: Credential | None = None
        self.generation = 0  # how many credentials the plugin gave (KubeClient.checked reads it)

    @staticmethod
    def _resolve(command: str, base_dir: str, env: dict[str, str]) -> str:
        """client-go: a command naming a path is relative to the kubeconfig's directory; else PATH."""
        if os.sep in command:
            return command if os.path.isabs(command) else os.path.normpath(os.path.join(base_dir, command))
        return shutil.which(command, path=env.get("PATH")) or command

    def credential(self) -> Credential:
        """The current credential, from the plugin when there is none yet or it is about to expire."""
        with self._lock:
            cred = self._cred
            if cred is None or (cred.refresh_at is not None and time.time() >= cred.refresh_at):
                self._cred = cred = self._run()
            return cred

    def renew(self, seen: int) -> bool:
        """The server refused the credential of generation `seen` (a 401 before its expiry): run the plugin
        again unless it ran since (client-go `maybeRefreshCreds`); True when there is another credential."""
        with self._lock:
            if self.generation != seen:
                return True  # another request's 401, or the expiry, rotated it already
            old = self._cred
            self._cred = cred = self._run()
            return old is None or (cred.token, cred.cert_data) != (old.token, old.cert_data)

    def refresh_hook(self, configuration: Any) -> None:
        """kubernetes.client.Configuration.refresh_api_key_hook: the current token on every request."""
        token = self.credential().token
        if token:
            configuration.api_key["BearerToken"] = f"Bearer {token}"

    def _run(self) -> Credential:
        cred = self._exec()
        self.generation += 1
        return cred

    def _exec(self) -> Credential:
        info: dict[str, Any] = {"apiVersion": self.api_version, "kind": "ExecCredential",
                                "spec": {"interactive": False}}
        if self.cluster is not None:
            info["spec"]["cluster"] = self.cluster
        env = {**self.env, "KUBERNETES_EXEC_INFO": json.dumps(info)}
        name = self.command
        from gate.engine import deadlines

        limit = deadlines.clamp(RUN_LIMIT, f"the exec credential plugin {name!r} ran") or RUN_LIMIT
        try:
            proc = subprocess.run(self.argv, env=env, stdin=subprocess.DEVNULL,  # the gate's cwd, as client-go
                                  capture_output=True, text=True, errors="replace", timeout=limit)
        except FileNotFoundError:
            raise ExecPluginError(f"the kubeconfig's exec credential plugin {name!r} was not found "
                                  f"(not on PATH, or no such file)") from None
        except PermissionError:
            raise ExecPluginError(f"the kubeconfig's exec credential plugin {name!r} is not executable") from None
        except subprocess.TimeoutExpired:
            raise ExecPluginError(f"the kubeconfig's exec credential plugin {name!r} did not finish within "
                                  f"{limit:.0f}s (does it wait for an interactive login?)") from None
        except OSError as exc:
            raise ExecPluginError(f"the kubeconfig's exec credential plugin {name!r} could not run: "
                                  f"{exc.strerror or type(exc).__name__}") from None
        if proc.returncode != 0:
            err = redact.tail(proc.stderr.strip(), STDERR_LIMIT)
            raise ExecPluginError(f"the kubeconfig's exec credential plugin {name!r} failed (exit "
                                  f"{proc.returncode})" + (f": {err}" if err else ""))
        return self._parse(proc.stdout)

    def _parse(self, stdout: str) -> Credential:
        name = self.command
        try:
            data = json.loads(stdout)
        except ValueError:
            raise ExecPluginError(f"the kubeconfig's exec credential plugin {name!r} printed no JSON "
                                  f"ExecCredential") from None
        status = data.get("status") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("kind") != "ExecCredential" or not isinstance(status, dict):
            raise ExecPluginError(f"the kubeconfig's exec credential plugin {name!r} printed something "
                                  f"other than an ExecCredential with a status")
        for key in ("token", "clientCertificateData", "clientKeyData"):
            value = status.get(key)
            if isinstance(value, str) and value:
                redact.register(value)
        if data.get("apiVersion") != self.api_version:
            raise ExecPluginError(f"the kubeconfig's exec credential plugin {name!r} answered "
                                  f"{data.get('apiVersion')!r}, the kubeconfig asks for {self.api_version}")
        token = status.get("token")
        cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
        if not (isinstance(token, str) and token) and not (isinstance(cert, str) and cert
                                                          and isinstance(key, str) and key):
            raise ExecPluginError(f"the kubeconfig's exec credential plugin {name!r} gave neither a token nor "
                                  f"a client certificate and key")
        expires = self._expiry(status.get("expirationTimestamp"))
        refresh_at = None
        if expires is not None:
            now = time.time()
            margin = min(60.0, max(1.0, (expires - now) / 10))
            refresh_at = expires - margin
        return Credential(token if isinstance(token, str) and token else None,
                          cert if isinstance(cert, str) else None, key if isinstance(key, str) else None,
                          expires, refresh_at)

    def _expiry(self, value: Any) -> float | None:
        if value in (None, ""):
            return None
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ExecPluginError(f"the kubeconfig's exec credential plugin {self.command!r} gave an "
                                  f"expirationTimestamp that is not RFC 3339: {redact.cut(str(value), 60)}") \
                from None


def loader_class() -> type:
    """kubernetes' KubeConfigLoader with its exec step replaced by ExecPlugin, and the `tokenFile` a token
    came from remembered (gate.cluster.tokenfile re-reads it); the order of the authentication methods,
    and everything else it reads, unchanged."""
    from kubernetes.config.kube_config import FileOrData, KubeConfigLoader

    class GateKubeConfigLoader(KubeConfigLoader):  # type: ignore[misc]
        exec_plugin: ExecPlugin | None = None
        token_file: str | None = None  # the user's tokenFile, when it is where the token came from

        def _load_user_token(self) -> bool | None:
            """As the library, and remember a `tokenFile` (no `token`): client-go re-reads it
            (CachedFileTokenSource), so a token a sidecar or the kubelet rewrites keeps working."""
            found = super()._load_user_token()
            name = self._user.safe_get("tokenFile")
            if found and not self._user.safe_get("token") and isinstance(name, str) and name:
                self.token_file = os.path.join(self._get_base_path(self._user.path), name)
            return found

        def _load_from_exec_plugin(self) -> bool | None:
            if "exec" not in self._user:
                return None
            base = self._get_base_path(self._user.path)
            cluster = self._cluster.value if self._cluster is not None else None
            self.exec_plugin = ExecPlugin(self._user["exec"].value, base, _cluster_info(cluster))
            cred = self.exec_plugin.credential()
            if cred.token:
                self.token = f"Bearer {cred.token}"
                return True
            status = {"clientCertificateData": cred.cert_data, "clientKeyData": cred.key_data}
            self.cert_file = FileOrData(status, None, data_key_name="clientCertificateData",
                                        base64_file_content=False, temp_file_path=self._temp_file_path).as_file()
            self.key_file = FileOrData(status, None, data_key_name="clientKeyData",
                                       base64_file_content=False, temp_file_path=self._temp_file_path).as_file()
            return True

    return GateKubeConfigLoader


def _cluster_info(cluster: Any) -> dict | None:
    """KUBERNETES_EXEC_INFO's spec.cluster (client-go clientauthentication Cluster) from a kubeconfig cluster."""
    if not isinstance(cluster, dict):
        return None
    keys = ("server", "tls-server-name", "insecure-skip-tls-verify", "certificate-authority-data", "proxy-url")
    out = {key: cluster[key] for key in keys if key in cluster}
    for ext in cluster.get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == "client.authentication.k8s.io/exec":
            out["config"] = ext.get("extension")
    return out
