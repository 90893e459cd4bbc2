"""Canary secrets never leave the process: not on stdout or stderr, not in JUnit, JSON or the GitHub step
summary, and not percent-encoded, base64-encoded or JSON-escaped either (issue 8, item 5).

The gate runs as a user runs it (`python -m gate verify`), with no cluster needed: `--no-preflight`, and
checks (command, http against a local stub) that never touch the Kubernetes API. The kubeconfig points
at a closed port and carries a canary bearer token of its own.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Special characters on purpose: their percent, base64 and JSON forms all differ from the value.
LONG = "canary-LONG/sec+ret=v&al\"ue\\-" + "x7Kp2" * 14  # longer than any cut the gate makes of a name
SHORT = "Zq9x"
KARGO = "canary-kargo-4f1d7b2e9a0c"
GITHUB = "ghs_canaryGithub5e8b1c7d3f"
CI_JOB = "canary-ci-job-8a3f6e2d1b"
KUBE = "canary-kube-bearer-3c9e7a1f"
CANARIES = {"long": LONG, "short": SHORT, "kargo": KARGO, "github": GITHUB, "ci_job": CI_JOB,
            "kube": KUBE}


def forms(value: str) -> dict[str, str]:
    """The encodings a secret could travel in."""
    data = value.encode()
    lower_hex = re.sub("%[0-9A-F]{2}", lambda m: m[0].lower(), quote(value, safe=""))
    out = {"plain": value, "quote": quote(value, safe=""), "quote_lower": lower_hex,
           "quote_plus": quote_plus(value), "twice": quote(quote(value, safe=""), safe=""),
           "b64": base64.b64encode(data).decode(), "b64url": base64.urlsafe_b64encode(data).decode(),
           "b64_basic": base64.b64encode(b"gate:" + data).decode(),
           "b64_inside": base64.b64encode(b"{\"auth\": \"" + data + b"\"}").decode(),
           "json": json.dumps(value)[1:-1]}
    if len(value) < 6:  # a short value is masked alone; inside a larger blob it is not findable
        out = {k: v for k, v in out.items() if k not in ("b64_basic", "b64_inside")}
    return {k: v for k, v in out.items() if len(v) >= 4}


def leaks(text: str) -> list[str]:
    found = []
    for who, value in CANARIES.items():
        for how, form in forms(value).items():
            if who == "short":  # a short secret is masked where it stands as a word
                if re.search(rf"(?<![A-Za-z0-9]){re.escape(form)}(?![A-Za-z0-9])", text):
                    found.append(f"{who}/{how}")
            elif form in text:
                found.append(f"{who}/{how}")
    return found


def kubeconfig(path: Path, token: str = KUBE) -> str:
    path.write_text(f"""apiVersion: v1
kind: Config
clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:9"}}}}]
users: [{{name: u, user: {{token: {token}}}}}]
contexts: [{{name: x, context: {{cluster: c, user: u}}}}]
current-context: x
""")
    return str(path)


def run_gate(tmp: Path, spec: str, *args: str, extra_env: dict[str, str] | None = None,
             timeout: float = 60) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run `gate verify` with the canaries in the environment; every output it left, as text."""
    (tmp / "gate.yaml").write_text(spec)
    summary, outputs = tmp / "summary.md", tmp / "outputs.txt"
    env = {**os.environ, "CANARY_LONG": LONG, "CANARY_SHORT": SHORT, "KARGO_API_TOKEN": KARGO,
           "GITHUB_TOKEN": GITHUB, "CI_JOB_TOKEN": CI_JOB, "GITHUB_ACTIONS": "true",
           "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs), "GATE_TIMEOUT": "20s",
           "PYTHONPATH": str(ROOT), **(extra_env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "verify", "--stage", "s", "--no-preflight", "--spec",
         str(tmp / "gate.yaml"), "--config", str(tmp / "none.yaml"), "--kubeconfig", kubeconfig(tmp / "kc"),
         "--junit", str(tmp / "junit.xml"), "--json", str(tmp / "result.json"), *args],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=timeout)
    texts = [proc.stdout, proc.stderr]
    texts += [p.read_text() for p in (tmp / "junit.xml", tmp / "result.json", summary, outputs) if p.exists()]
    return proc, texts


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    (tmp_path / "none.yaml").write_text("{}\n")
    return tmp_path


def _encoded_lines() -> str:
    """Shell lines printing every form of every canary, as a leaky tool would."""
    lines = []
    for value in CANARIES.values():
        for form in forms(value).values():
            lines.append("printf '%s\\n' " + "'" + form.replace("'", "'\\''") + "'")
    return "; ".join(lines)


def test_command_output_with_every_form_of_every_canary_is_masked(tmp: Path) -> None:
    script = f"env; echo short $CANARY_SHORT end; {_encoded_lines()}; exit 1"
    spec = {"defaults": {"timeout": "5s", "interval": "0.2s"},
            "stages": {"s": {"levels": {"1": [
                {"command": {"run": ["sh", "-c", script],
                             "env": {"CANARY_SHORT": "${env:CANARY_SHORT}", "CANARY_LONG": "${env:CANARY_LONG}"}}},
            ]}}}}
    proc, texts = run_gate(tmp, json.dumps(spec))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "internal error" not in proc.stdout + proc.stderr
    assert "***" in texts[0]
    for text in texts:
        assert leaks(text) == [], text[:2000]


def test_secret_longer_than_the_name_cut_is_masked_whole(tmp: Path) -> None:
    # The default name of a command check is its command line cut to 60 characters: the cut lands in
    # the middle of the secret, and no prefix of it may survive.
    run = ["sh", "-c", "exit 1", "pad", "${env:CANARY_LONG}"]
    spec = {"stages": {"s": {"levels": {"1": [{"command": {"run": run}}]}}},
            "defaults": {"timeout": "5s"}}
    proc, texts = run_gate(tmp, json.dumps(spec))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    prefix = LONG[:20]
    for text in texts:
        assert prefix not in text
        assert leaks(text) == []
    result = json.loads((tmp / "result.json").read_text())
    assert result["levels"][0]["checks"][0]["name"] == "command sh -c 'exit 1' pad '***'"


def test_percent_encoded_secret_in_a_redirect_location_is_masked(tmp: Path, stub_server) -> None:
    inner = f"/callback?token={quote(LONG, safe='')}"
    location = f"/login?next={quote(inner, safe='')}&short={SHORT}&b64={base64.b64encode(LONG.encode()).decode()}"
    stub_server.route("/canary-redirect", status=302, headers={"Location": location}, body="")
    spec = {"defaults": {"timeout": "2s", "interval": "0.2s"},
            "stages": {"s": {"levels": {"1": [
                {"http": {"url": f"{stub_server.url}/canary-redirect", "follow_redirects": False,
                          "headers": {"X-Token": "${env:CANARY_LONG}", "X-Short": "${env:CANARY_SHORT}"},
                          "expect": {"status": 200}}},
            ]}}}}
    proc, texts = run_gate(tmp, json.dumps(spec))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "redirect" in texts[0].lower() or "302" in texts[0]
    for text in texts:
        assert leaks(text) == [], text[:2000]


def test_json_escaped_secret_in_a_body_is_masked(tmp: Path, stub_server) -> None:
    stub_server.route("/canary-json", status=500, body={"error": f"bad token {LONG}", "short": SHORT})
    spec = {"defaults": {"timeout": "2s", "interval": "0.2s"},
            "stages": {"s": {"levels": {"1": [
                {"http": {"url": f"{stub_server.url}/canary-json",
                          "headers": {"Authorization": "Bearer ${env:CANARY_LONG}",
                                      "X-Short": "${env:CANARY_SHORT}"},
                          "expect": {"status": 200}}},
            ]}}}}
    proc, texts = run_gate(tmp, json.dumps(spec))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "bad token" in "".join(texts)
    for text in texts:
        assert leaks(text) == [], text[:2000]


def test_kube_token_and_env_secrets_never_reach_stderr_on_errors(tmp: Path) -> None:
    # The cluster is unreachable (a closed port) and the preflight is on: exit 3, and the error text,
    # which names the request, carries no token.
    spec = {"stages": {"s": {"levels": {"1": [{"pods": {"namespace": "x"}}]}}}}
    proc, texts = run_gate(tmp, json.dumps(spec), "--preflight", extra_env={"GATE_TIMEOUT": "3s"})
    assert proc.returncode == 3, proc.stdout + proc.stderr
    for text in texts:
        assert leaks(text) == []


def test_a_trivial_env_value_is_used_but_warned_about_once(tmp: Path) -> None:
    spec = {"stages": {"s": {"levels": {"1": [
        {"command": {"run": ["sh", "-c", "echo flag=$F; exit 1"], "env": {"F": "${env:CANARY_FLAG}"}}},
        {"command": {"run": ["sh", "-c", "exit 1"], "env": {"G": "${env:CANARY_FLAG}"}}}]}}},
        "defaults": {"timeout": "5s"}}
    proc, _ = run_gate(tmp, json.dumps(spec), extra_env={"CANARY_FLAG": "true"})
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.count("${env:CANARY_FLAG}") == 1
    assert "too common to be masked" in proc.stderr
    assert "flag=true" in proc.stdout


def test_library_log_records_and_warnings_are_masked(capsys, monkeypatch) -> None:
    import logging
    import warnings

    from gate import redact
    from gate.cli import cli
    from gate.entry import run

    monkeypatch.setenv("SOME_SERVICE_TOKEN", KARGO)
    redact.clear()
    assert run(cli, ["verify", "--help"]) == 0  # any command: the group registers and installs the hooks
    capsys.readouterr()
    logging.getLogger("urllib3.connectionpool").warning("Retrying after error: GET /x?token=%s", KARGO)
    warnings.warn(f"insecure request to https://h/?t={KARGO}", UserWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert "Retrying after error" in err and "insecure request" in err
    assert KARGO not in err
    redact.clear()
