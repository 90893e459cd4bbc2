"""Credentials a URL carries (userinfo, `token=`/`access_token=` query values) never appear in any output,
wherever the gate reads the URL: the kubeconfig's server (light path and library path), KARGO_API_ADDRESS,
a check's URL (issue 19, item 3). Every run ends exit 3 or 1 (nothing listens on 127.0.0.1:1) and writes JUnit
and JSON; the secret is looked for in stdout, stderr and both reports, plain and percent-decoded."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "gate" / "demo" / "config.yaml")
SPEC = str(ROOT / "gate" / "demo" / "l1.yaml")
SECRET = "SECRETpw7Q"  # as written in the URL
KUBECONFIG = """apiVersion: v1
kind: Config
current-context: c
clusters: [{name: c, cluster: {server: "SERVER"}}]
users: [{name: u, user: {token: kube-token-not-under-test}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
"""


def _gate(tmp: Path, *args: str, env: dict[str, str] | None = None, spec: str = SPEC,
          kubeconfig: str | None = None) -> tuple[int, str]:
    junit, js = tmp / "j.xml", tmp / "r.json"
    full = {k: v for k, v in os.environ.items() if not k.startswith(("KARGO_", "GATE_"))}
    full.update(env or {})
    argv = [sys.executable, "-m", "gate", *args, "--config", CONFIG, "--spec", spec, "--junit", str(junit),
            "--json", str(js), "--timeout", "4s"]
    if kubeconfig:
        argv += ["--kubeconfig", kubeconfig]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=tmp, env=full)
    texts = [proc.stdout, proc.stderr, *(p.read_text() for p in (junit, js) if p.exists())]
    assert junit.exists() and js.exists(), proc.stdout + proc.stderr
    return proc.returncode, "\n".join(texts)


@pytest.mark.parametrize("transport", ["auto", "library"])
@pytest.mark.parametrize("server", [f"https://ops:{SECRET}@127.0.0.1:1", f"https://{SECRET}@127.0.0.1:1",
                                    f"https://127.0.0.1:1/?access_token={SECRET}"])
def test_kubeconfig_server_credentials_never_printed(tmp_path: Path, transport: str, server: str) -> None:
    """Old code: the server URL, userinfo and all, was named in the unreachable-cluster error on stdout,
    stderr, JUnit and JSON, on both kubeconfig paths."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.replace("SERVER", server))
    code, text = _gate(tmp_path, "verify", "--stage", "monitoring", kubeconfig=str(kubeconfig),
                       env={"GATE_KUBE_CLIENT": transport})
    assert code == 3, text
    assert "127.0.0.1" in text  # the server is still named, only its credentials are masked
    assert SECRET not in text and "Traceback" not in text


def test_kargo_api_address_credentials_never_printed(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG.replace("SERVER", "https://127.0.0.1:1"))
    code, text = _gate(tmp_path, "precheck", "--stage", "monitoring", "--freight", "f" * 40,
                       kubeconfig=str(kubeconfig),
                       env={"KARGO_API_ADDRESS": f"https://ops:{SECRET}@127.0.0.1:1/?token={SECRET}x",
                            "KARGO_API_TOKEN": "kargo-token-not-under-test"})
    assert code == 3, text
    assert SECRET not in text and "Traceback" not in text


def test_check_url_credentials_never_printed(tmp_path: Path) -> None:
    spec = tmp_path / "gate.yaml"
    spec.write_text("defaults: {timeout: 2s, interval: 0.2s}\nstages:\n  monitoring:\n    levels:\n      2:\n"
                    f"        - http: {{url: 'http://ops:{SECRET}@127.0.0.1:1/healthz?access_token={SECRET}y'}}\n"
                    f"        - http: {{url: 'http://127.0.0.1:1/metrics?token={SECRET}z'}}\n")
    code, text = _gate(tmp_path, "verify", "--stage", "monitoring", "--levels", "2", spec=str(spec))
    assert code == 1, text  # connection refused: the level fails
    assert "127.0.0.1" in text
    assert SECRET not in text and "Traceback" not in text


def test_only_url_variables_the_gate_uses_register_their_userinfo(monkeypatch: pytest.MonkeyPatch) -> None:
    """KARGO_API_ADDRESS (and the proxy variables, and secret-named ones) carry credentials in their userinfo;
    an unrelated `https://git@host/repo` does not make "git" a secret (it would mask `git-clone`)."""
    from gate import redact
    from gate.cli import cli
    from gate.entry import run

    redact.clear()
    monkeypatch.setenv("KARGO_API_ADDRESS", f"https://{SECRET}@kargo.example")
    monkeypatch.setenv("SOME_REPO_URL", "https://git@example.com/org/repo")
    assert run(cli, ["lint", "--help"]) == 0
    try:
        assert redact.redact(f"x {SECRET} y") == "x *** y"
        assert redact.redact("step git-clone: git") == "step git-clone: git"
    finally:
        redact.clear()
