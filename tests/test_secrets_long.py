"""Real credentials are long: a ServiceAccount token is ~900 characters, a Kargo API token or an OIDC
id-token a JWT of 1,000-2,000, an EKS token `k8s-aws-v1.` + ~1,000, a client key a PEM block (issue 24).

Masking built its regex one nested level per character, so any secret of ~450 characters or more ended
every run in a RecursionError, and the internal-error handler, which redacts too, crashed again: exit 1,
which a Kargo verification Job reads as a failed verification. These tests register secrets of real
shapes and lengths, run the gate with them as a user would, and force a failure inside redaction.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import click
import pytest

from gate import redact
from gate.entry import run
from gate.sim.server import start
from gate.sim.tokens import jwt_of_length as jwt  # signed RS256, as Kubernetes and Kargo issue them

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "gate/demo/config.yaml"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def pem_key() -> str:
    body = base64.b64encode(secrets.token_bytes(1190)).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *lines, "-----END RSA PRIVATE KEY-----"]) + "\n"


@pytest.fixture(autouse=True)
def fresh_secrets():
    redact.clear()
    yield
    redact.clear()


@pytest.mark.parametrize("value", [
    jwt(914), jwt(2000), "k8s-aws-v1." + b64url(secrets.token_bytes(760)),
    secrets.token_hex(5000), b64url(secrets.token_bytes(75000)),
], ids=["sa-token-914", "jwt-2000", "eks-1024", "hex-10000", "b64-100000"])
def test_a_long_secret_is_masked_in_every_form(value: str) -> None:
    assert redact.register(value)
    data = value.encode()
    forms = [value, quote(value, safe=""), quote_plus(value), json.dumps(value)[1:-1],
             base64.b64encode(data).decode(), base64.b64encode(b"user:" + data).decode()]
    for form in forms:
        text = f"before {form} after"
        masked = redact.redact(text)
        assert value[:40] not in masked and form[8:48] not in masked, form[:60]
        assert masked.startswith("before ") and masked.endswith(" after")


def test_a_pem_key_is_masked_whole_and_line_by_line() -> None:
    key = pem_key()
    redact.register(key)
    lines = key.splitlines()
    assert redact.redact(key) == "***"
    assert redact.redact(f"log: {lines[5]}") == "log: ***"
    assert redact.redact(lines[0]) == lines[0]  # the PEM armour is public


def test_hundreds_of_secrets_of_real_length_are_masked_and_cheap() -> None:
    values = [jwt(1000) for _ in range(300)] + [secrets.token_urlsafe(24) for _ in range(300)]
    started = time.perf_counter()
    for value in values:
        redact.register(value)
    text = "\n".join(f"line {i}: {values[i * 37 % len(values)]} ok" for i in range(40))
    masked = redact.redact(text)
    elapsed = time.perf_counter() - started
    assert not any(value in masked for value in values)
    assert masked.count("***") == 40
    # Not a speed target (benchmarks/bench_startup.py prints the figures): a bound that only a
    # per-character or per-pair cost would break, even on a loaded machine.
    assert elapsed < 30


def test_overlapping_and_nested_secrets_mask_their_union() -> None:
    long_value = jwt(1200)
    redact.register(long_value)
    redact.register(long_value[100:700])  # a secret inside another
    redact.register("q" * 600)
    for n in range(1, 400):  # prefixes of each other: the old trie nested one group per value
        redact.register("z" * n + "Y")
    assert redact.redact(f"a {long_value} b") == "a *** b"
    # 600 q's stand at 51 overlapping places in 650: their union is masked, no q survives.
    assert redact.redact("x" + "q" * 650 + "x") == "x***x"
    assert redact.redact("x" + "q" * 599 + "x") == "x" + "q" * 599 + "x"
    assert redact.redact("zzzY and " + "z" * 399 + "Y.") == "*** and ***."


def test_a_failure_while_handling_an_internal_error_is_still_exit_3_with_nothing_shown(
        monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    token = jwt(2000)
    redact.register(token)

    @click.group()
    def cli() -> None:
        pass

    @cli.command()
    def boom() -> None:
        raise RuntimeError(f"a bug that names {token}")

    def broken(text: str) -> str:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("gate.entry.redact", broken)
    assert run(cli, ["boom"]) == 3
    out, err = capfd.readouterr()
    assert token not in out + err and token[:100] not in out + err
    assert "details were withheld" in err
    assert "Traceback" not in err


def _verify(sim, tmp: Path, env: dict[str, str], kubeconfig: str) -> tuple[subprocess.CompletedProcess, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "gate", "verify", "--stage", "monitoring", "--levels", "1",
         "--spec", str(ROOT / "gate/demo/l1.yaml"), "--config", str(CONFIG), "--kubeconfig", kubeconfig,
         "--junit", str(tmp / "j.xml"), "--json", str(tmp / "r.json"), "--timeout", "20s"],
        capture_output=True, text=True, timeout=120, cwd=tmp,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    outputs = proc.stdout + proc.stderr
    outputs += "".join(p.read_text() for p in (tmp / "j.xml", tmp / "r.json") if p.exists())
    return proc, outputs


@pytest.mark.parametrize("client", ["auto", "library"])
def test_verify_with_2000_character_tokens_everywhere(client: str, tmp_path: Path) -> None:
    kube, kargo, ci = jwt(2000), jwt(2000), jwt(1800)
    env = {"KARGO_API_TOKEN": kargo, "DEPLOY_ID_TOKEN": ci, "GATE_KUBE_CLIENT": client}
    identity = {"user": "system:serviceaccount:platform:gate",
                "groups": ["system:serviceaccounts", "system:serviceaccounts:platform", "system:authenticated"]}
    with start({"extends": "healthy", "gate_token": kube, "tokens": {kube: identity}}) as sim:
        assert kube in Path(sim.kubeconfig).read_text()
        proc, outputs = _verify(sim, tmp_path, env, sim.kubeconfig)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        # The same credentials against a server that is gone: exit 3, no traceback.
        gone = tmp_path / "gone-kubeconfig"
        gone.write_text(Path(sim.kubeconfig).read_text().replace(sim.url, "https://127.0.0.1:9"))
    proc_gone, outputs_gone = _verify(None, tmp_path, env, str(gone))
    assert proc_gone.returncode == 3, proc_gone.stdout[-3000:] + proc_gone.stderr[-3000:]
    for text in (outputs, outputs_gone):
        assert "Traceback" not in text and "internal error" not in text
        for value in (kube, kargo, ci):
            assert value[:64] not in text and value[-64:] not in text
