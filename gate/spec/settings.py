"""Settings: `.gitops-config.yaml` with the guide's keys, then `GATE_<KEY>` variables, then flags.

Each value remembers where it came from (`gate discover` prints it). Keys still missing may be filled
from the cluster by gate.spec.discovery, only when something needs them.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gate.errors import ConfigError
from gate.spec.yamlpos import load

DEFAULT_FILE = ".gitops-config.yaml"

# settings key -> the spec variable it provides (the guide's names)
VARIABLES: dict[str, str] = {
    "kargo_namespace": "KARGO_NS",
    "kargo_controller_namespace": "KARGO_CONTROLLER_NS",
    "argocd_namespace": "ARGOCD_NS",
    "argocd_controller_namespace": "ARGOCD_CONTROLLER_NS",
    "monitoring_namespace": "MONITORING_NS",
    "app_namespace": "APP_NS",
    "domain": "DOMAIN",
    "kargo_project": "KARGO_PROJECT",
    "warehouse_name": "WAREHOUSE",
    "ssh_command": "SSH_CMD",
}
KEYS: tuple[str, ...] = tuple(VARIABLES)
KEY_OF_VARIABLE: dict[str, str] = {var: key for key, var in VARIABLES.items()}
DEFAULTS: dict[str, str] = {"kargo_controller_namespace": "kargo", "argocd_controller_namespace": "argocd"}
FLAG_KEYS: dict[str, str] = {"project": "kargo_project"}  # flag name -> settings key

# How authoritative a source is; a derived value follows the rank of what it was derived from.
_RANK = {"default": 0, "file": 1, "env": 2, "flag": 3}


def env_name(key: str) -> str:
    return f"GATE_{key.upper()}"


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


@dataclass
class Settings:
    """One value per key (None when unknown) and where each came from."""

    kargo_namespace: str | None = None
    kargo_controller_namespace: str | None = None
    argocd_namespace: str | None = None
    argocd_controller_namespace: str | None = None
    monitoring_namespace: str | None = None
    app_namespace: str | None = None
    domain: str | None = None
    kargo_project: str | None = None
    warehouse_name: str | None = None
    ssh_command: str | None = None
    file: str | None = None  # the settings file that was read, if any
    sources: dict[str, str] = field(default_factory=dict)
    file_keys: set[str] = field(default_factory=set)  # keys the file itself sets
    notes: dict[str, str] = field(default_factory=dict)  # why discovery could not find a key

    def get(self, key: str) -> str | None:
        if key not in VARIABLES:
            raise KeyError(key)
        return getattr(self, key)

    def source(self, key: str) -> str:
        return self.sources.get(key, "not set")

    def missing(self, keys: set[str] | None = None) -> set[str]:
        return {k for k in (keys if keys is not None else KEYS) if self.get(k) is None}

    def variables(self) -> dict[str, str]:
        """`${VAR}` values for the spec: only keys that have a value."""
        return {var: value for key, var in VARIABLES.items() if (value := self.get(key)) is not None}

    def with_values(self, values: Mapping[str, str], source: str) -> Settings:
        """A copy with these keys set (source e.g. "discovered: ...")."""
        updated = dataclasses.replace(self, sources=dict(self.sources), notes=dict(self.notes))
        for key, value in values.items():
            setattr(updated, key, value)
            updated.sources[key] = source
            updated.notes.pop(key, None)
        return updated

    def with_notes(self, notes: Mapping[str, str]) -> Settings:
        return dataclasses.replace(self, notes={**self.notes, **notes})

    def hint(self, key: str) -> str:
        """Where a person can set the key."""
        where = f"set it in {self.file or DEFAULT_FILE} or {env_name(key)}"
        return where + (" or pass --project" if key == "kargo_project" else "")


def _read_file(path: str) -> tuple[dict[str, str], dict[str, int]]:
    data, positions = load(path)
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping of settings (keys: {', '.join(KEYS)}), "
                          f"got {type(data).__name__}", file=path, line=positions.line(()))
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for raw_key, value in data.items():
        key = str(raw_key)
        line = positions.line((key,))
        if key not in VARIABLES:
            raise ConfigError(f"unknown key {key!r}{did_you_mean(key, KEYS)}; known keys: {', '.join(KEYS)}",
                              file=path, line=line, key=key)
        if value is None:
            continue  # `key:` with no value leaves it unset (to be discovered)
        if not isinstance(value, str):
            raise ConfigError(f"expected a string, got {_describe(value)}", file=path, line=line, key=key)
        values[key], lines[key] = value, line or 0
    return values, lines


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"number {value}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def load_settings(path: str | None, flags: Mapping[str, str | None],
                  env: Mapping[str, str] = os.environ) -> Settings:
    """Defaults < `.gitops-config.yaml` (or `path`) < GATE_<KEY> variables < flags.

    An explicit `path` must exist; without one, ./.gitops-config.yaml is read when present.
    `flags` may hold settings keys or flag names ("project"); None means "not given".
    """
    layers: dict[str, tuple[str, str, int]] = {}  # key -> (value, source, rank)
    for key, value in DEFAULTS.items():
        layers[key] = (value, "default", _RANK["default"])

    file = path
    if path is not None and not os.path.isfile(path):
        what = "not a regular file" if os.path.exists(path) else "settings file not found"
        raise ConfigError(what, file=path, key="--config")
    if path is None and os.path.isfile(DEFAULT_FILE):
        file = DEFAULT_FILE
    file_values: dict[str, str] = {}
    if file:
        file_values, lines = _read_file(file)
        for key, value in file_values.items():
            layers[key] = (value, f"file {file}:{lines[key]}", _RANK["file"])

    for key in KEYS:
        value = env.get(env_name(key))
        if value:
            layers[key] = (value, f"env {env_name(key)}", _RANK["env"])

    for name, value in flags.items():
        key = FLAG_KEYS.get(name, name)
        if value is None or key not in VARIABLES:
            continue
        flag = next((f for f, k in FLAG_KEYS.items() if k == key), key.replace("_", "-"))
        layers[key] = (value, f"flag --{flag}", _RANK["flag"])

    for key, (value, source, _) in layers.items():
        _check_value(key, value, source, file)
    _link_project_and_namespace(layers, file_values)
    settings = Settings(file=file, file_keys=set(file_values))
    for key, (value, source, _) in layers.items():
        setattr(settings, key, value)
        settings.sources[key] = source
    if settings.ssh_command:
        _note_ssh_command(settings.source("ssh_command"))
    return settings


SSH_COMMAND_NOTE = (
    "ssh_command ({source}) is not used to reach the cluster: the gate connects with the kubeconfig "
    "(--kubeconfig, KUBECONFIG, --context), and the spec may use the value as ${{SSH_CMD}}. To go through "
    "SSH, open a tunnel yourself (e.g. ssh -N -L 6443:API_SERVER:6443 BASTION) and point a kubeconfig's "
    "server at https://127.0.0.1:6443 with tls-server-name: API_SERVER."
)
_noted: list[str] = []  # the note goes out once per process


def _note_ssh_command(source: str) -> None:
    """Say once that ssh_command is accepted (it is one of the guide's keys) but not used to connect. The
    value itself is not printed: a command line may carry a key path or a host that is nobody's business."""
    if _noted:
        return
    _noted.append(source)
    import sys

    sys.stderr.write("gate: note: " + SSH_COMMAND_NOTE.format(source=source) + "\n")
# What each name-like setting must be (gate/cluster/resources.py): a value such as `${` reached a check as
# an "internal error in kargo_stage check: ConfigError" instead of naming the file and line at load.
NAME_RULES: dict[str, bool] = {  # key -> a DNS-1123 label (True) or subdomain (False)
    "kargo_namespace": True, "kargo_controller_namespace": True, "argocd_namespace": True,
    "argocd_controller_namespace": True, "monitoring_namespace": True, "app_namespace": True,
    "kargo_project": True, "warehouse_name": False, "domain": False,
}


def _check_value(key: str, value: str, source: str, file: str | None) -> None:
    """A name-like setting that cannot be one is exit 2 naming where it came from (file:line, the
    GATE_* variable or the flag)."""
    from gate.cluster.resources import check_name

    if key not in NAME_RULES:
        return
    try:
        # a domain is a host name in any case, perhaps with a port (grafana.${DOMAIN} in a URL)
        name = re.sub(r":\d{1,5}$", "", value.lower()) if key == "domain" else value
        check_name(name, key, label=NAME_RULES[key])
    except ConfigError as exc:
        if source.startswith("file "):
            line = int(source.rsplit(":", 1)[1])
            raise ConfigError(exc.detail, file=file, line=line or None, key=key) from None
        where = source.split(" ", 1)[1] if " " in source else source
        raise ConfigError(exc.detail, key=where) from None  # the GATE_* variable or the flag


def _link_project_and_namespace(layers: dict[str, tuple[str, str, int]], file_values: dict[str, str]) -> None:
    """A Kargo Project's namespace has the project's name: each fills in the other when missing, and
    a project chosen by env/flag over the file's moves the namespace along with it."""
    project, namespace = layers.get("kargo_project"), layers.get("kargo_namespace")
    if project and not namespace:
        layers["kargo_namespace"] = (project[0], "derived from kargo_project", project[2])
    elif namespace and not project:
        layers["kargo_project"] = (namespace[0], "derived from kargo_namespace", namespace[2])
    elif project and namespace and project[2] > namespace[2] \
            and file_values.get("kargo_project") not in (None, project[0]):
        layers["kargo_namespace"] = (project[0], f"derived from kargo_project ({project[1]})", project[2])
