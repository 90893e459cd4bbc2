"""The "Environment:" section of every command's --help, generated, so it cannot drift from the code.

From each option's `envvar` setting, plus the variables a command reads outside its options (below):
the settings keys' GATE_<KEY> variables (gate/spec/settings.py), KUBECONFIG (gate/cluster/kube.py),
GATE_KUBE_CLIENT (gate/cluster/lightclient.py), job mode's downward-API variables (gate/jobmode.py),
GitHub Actions' files (gate/reports/github.py), and the demo's TMPDIR (gate/commands/demo.py).
"""

from __future__ import annotations

import click

from gate import jobmode

TITLE = "Environment:"
_JOB_MODE = [
    (jobmode.ENV_UID, "job mode: the AnalysisRun's uid (from the downward API)"),
    (jobmode.ENV_NAMESPACE, "job mode: the pod's namespace (from the downward API)"),
    (jobmode.ENV_LABELS_FILE, f"job mode: pod labels file (default {jobmode.DEFAULT_LABELS_FILE})"),
]
# command path -> variables it reads that are not option envvars
EXTRA: dict[str, list[tuple[str, str]]] = {
    "verify": _JOB_MODE,
    "rbac check": _JOB_MODE[:2],
    "demo": [("TMPDIR", "where the demo's temporary directory goes (removed afterwards unless --keep)")],
}


def _option_rows(cmd: click.Command) -> list[tuple[str, str]]:
    rows = []
    for param in cmd.params:
        if not isinstance(param, click.Option) or param.hidden or not param.envvar:
            continue
        names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar)
        flag = max(param.opts, key=len)
        rows += [(name, flag) for name in names]
    return rows


def environment_rows(cmd: click.Command, path: str) -> list[tuple[str, str]]:
    """(variable, what it sets) for everything the command reads from the environment."""
    names = {p.name for p in cmd.params}
    rows = _option_rows(cmd)
    if "kubeconfig" in names:
        rows.append(("KUBECONFIG", "kubeconfig file(s) when --kubeconfig is not given"))
        rows.append(("GATE_KUBE_CLIENT", "library: every kubeconfig through the kubernetes package"))
    if "config" in names or path == "init":
        rows.append(("GATE_<KEY>", "a .gitops-config.yaml key, e.g. GATE_KARGO_NAMESPACE, GATE_DOMAIN"))
    if "junit" in names:
        rows.append(("GITHUB_ACTIONS", "true: a step summary, annotations and outputs too"))
    rows += EXTRA.get(path, [])
    seen: set[str] = set()
    return [r for r in rows if not (r[0] in seen or seen.add(r[0]))]  # type: ignore[func-returns-value]


def epilog(cmd: click.Command, path: str) -> str | None:
    rows = environment_rows(cmd, path)
    if not rows:
        return None
    width = max(len(name) for name, _ in rows)
    # "\b" keeps click from re-wrapping the table
    return "\b\n" + TITLE + "\n" + "\n".join(f"  {name.ljust(width)}  {what}" for name, what in rows)


def attach(cmd: click.Command, path: str) -> click.Command:
    """Set the epilog of `cmd` and, for a group, of each of its subcommands (once)."""
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            attach(sub, f"{path} {name}")
    if not getattr(cmd, "_env_epilog", False):
        from gate.helpexamples import example_epilog

        for text in (example_epilog(path), epilog(cmd, path)):
            if text:
                cmd.epilog = f"{cmd.epilog}\n\n{text}" if cmd.epilog else text
        cmd._env_epilog = True  # type: ignore[attr-defined]
    return cmd
