"""`ssh_command` is one of the guide's keys: accepted, but not used to reach the cluster. The gate says so
once per run, with how to reach the cluster instead, and never prints the value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = "stages:\n  uat:\n    levels:\n      1:\n        - argocd_apps: {names: [web]}\n"
SSH = "ssh -i /home/ops/.ssh/bastion-key ops@bastion.internal"


def _render(tmp_path: Path, config: str, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "gate.yaml").write_text(SPEC)
    (tmp_path / ".gitops-config.yaml").write_text("kargo_project: platform\nargocd_namespace: argocd\n" + config)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GATE_")}
    environ.update(PYTHONPATH=str(ROOT), **env)
    return subprocess.run([sys.executable, "-m", "gate", "render", "analysis-template", "--offline", "--stage",
                           "uat", "--image", "g:1"], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                          env=environ)


def test_ssh_command_is_noted_once_without_its_value(tmp_path: Path) -> None:
    proc = _render(tmp_path, f"ssh_command: {SSH!r}\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("ssh_command (file .gitops-config.yaml:3) is not used to reach the cluster") == 1
    assert "ssh -N -L" in proc.stderr and "--kubeconfig" in proc.stderr
    assert "bastion-key" not in proc.stderr and "ops@bastion" not in proc.stderr


def test_ssh_command_from_the_environment_is_noted_too(tmp_path: Path) -> None:
    proc = _render(tmp_path, "", GATE_SSH_COMMAND=SSH)
    assert proc.returncode == 0, proc.stderr
    assert "ssh_command (env GATE_SSH_COMMAND) is not used" in proc.stderr


def test_no_note_without_ssh_command(tmp_path: Path) -> None:
    for config in ("", "ssh_command: ''\n"):  # empty: "no SSH", nothing to say
        proc = _render(tmp_path, config)
        assert proc.returncode == 0 and "ssh_command" not in proc.stderr, proc.stderr
