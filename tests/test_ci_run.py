""".ci/run's effect on the machine, with apt-get, dpkg-query, systemctl and python3 replaced by recorders.

What the host must see: the Debian packages installed while a policy-rc.d denies every service start, the
services this run newly installed disabled again, the policy removed, and every pip install going into
.venv (never the system python), then the README's test command. The real script, with real apt and pip,
runs in CI; this checks its decisions in under a second.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ("bash", "cat", "chmod", "dirname", "grep", "mkdir", "rm")

STUBS = {
    # dpkg-query -W -f=... PKG: "installed" for the packages named in $STUB_INSTALLED
    "dpkg-query": 'for p in $STUB_INSTALLED; do [ "$p" = "${!#}" ] && { printf installed; exit 0; }; done; exit 1',
    # apt-get: record the call and what a service start would be told while it runs
    "apt-get": 'echo "apt-get $* | policy: $([ -x "$GATE_CI_POLICY_RC_D" ] && "$GATE_CI_POLICY_RC_D"; echo $?)"'
               ' >> "$STUB_LOG"',
    "systemctl": 'echo "systemctl $*" >> "$STUB_LOG"',
    "kubectl": "exit 0",
    # python3 -m venv .venv: a venv whose python and ruff record their arguments
    "python3": 'echo "python3 $*" >> "$STUB_LOG"; [ "$1 $2" = "-m venv" ] || exit 1; mkdir -p "$3/bin"\n'
               'for t in python ruff; do printf \'#!/bin/bash\\necho "%s $*" >> "$STUB_LOG"\\n\' "$3/bin/$t"'
               ' > "$3/bin/$t"; chmod +x "$3/bin/$t"; done',
}


def run_ci(tmp_path: Path, *, installed: str, with_kubectl: bool = True) -> tuple[list[str], Path]:
    repo, bindir = tmp_path / "repo", tmp_path / "bin"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    bindir.mkdir()
    for tool in TOOLS:  # PATH is only this directory: no kubectl, apt or python of the machine's
        (bindir / tool).symlink_to(shutil.which(tool))
    for name, body in STUBS.items():
        if name == "kubectl" and not with_kubectl:
            continue
        (bindir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bindir / name).chmod(0o755)
    log, policy = tmp_path / "log", tmp_path / "policy-rc.d"
    env = {"PATH": str(bindir), "STUB_LOG": str(log), "STUB_INSTALLED": installed,
           "GATE_CI_POLICY_RC_D": str(policy), "HOME": str(tmp_path)}
    proc = subprocess.run([shutil.which("bash"), str(repo / ".ci" / "run")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return log.read_text().splitlines(), policy


def test_fresh_machine_installs_without_starting_or_enabling_services(tmp_path: Path) -> None:
    log, policy = run_ci(tmp_path, installed="tini", with_kubectl=False)
    assert log[0] == "apt-get update | policy: 101"
    assert log[1] == ("apt-get install -y --no-install-recommends nginx prometheus prometheus-alertmanager tini "
                      "openssl python3 python3-venv | policy: 101")
    assert log[2] == "apt-get install -y --no-install-recommends kubernetes-client | policy: 101"
    assert log[3:6] == [f"systemctl disable --quiet {s}" for s in ("nginx", "prometheus", "prometheus-alertmanager")]
    assert not policy.exists(), "the policy-rc.d this run wrote is removed again"
    assert log[6:] == [
        "python3 -m venv .venv",
        ".venv/bin/python -m pip install --quiet .[test] --constraint requirements/image.txt",
        ".venv/bin/ruff check gate checks tests benchmarks scripts",
        ".venv/bin/python -m pytest -q",
    ]


def test_services_installed_before_keep_their_state_and_an_existing_policy_stays(tmp_path: Path) -> None:
    (tmp_path / "policy-rc.d").write_text("#!/bin/sh\nexit 101\n")
    (tmp_path / "policy-rc.d").chmod(0o755)
    log, policy = run_ci(tmp_path, installed="nginx prometheus")
    assert [line for line in log if line.startswith("systemctl")] == [
        "systemctl disable --quiet prometheus-alertmanager"
    ]
    assert not any("kubernetes-client" in line for line in log), "a kubectl on PATH is kept"
    assert policy.read_text() == "#!/bin/sh\nexit 101\n", "a policy-rc.d that was there is left alone"
