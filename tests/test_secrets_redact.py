"""gate.redact: which values are masked, in which forms, how short values are treated, and that masking
happens before any cut."""

from __future__ import annotations

import base64
import html
import io
import json
import time
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from gate.checks.command import TAIL_CHARS, tail
from hypothesis import given, settings
from hypothesis import strategies as st

from gate import redact


@pytest.fixture(autouse=True)
def clean() -> Iterator[None]:
    redact.clear()
    yield
    redact.clear()


SECRET = "p@ss/w+rd=\"x\\y&z-0123456789"


@pytest.mark.parametrize("form", [
    SECRET, quote(SECRET, safe=""), quote(SECRET), quote_plus(SECRET), quote(SECRET, safe="").lower(),
    quote(quote(SECRET, safe=""), safe=""), base64.b64encode(SECRET.encode()).decode(),
    base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="), json.dumps(SECRET)[1:-1],
    html.escape(SECRET),
])
def test_every_form_of_a_secret_is_masked(form: str) -> None:
    redact.register(SECRET)
    assert redact.redact(f"before {form} after") == f"before {redact.MASK} after"


@pytest.mark.parametrize("prefix", [b"", b"u:", b"user:", b'{"token": "', b"x" * 7])
def test_a_secret_inside_a_larger_base64_blob_is_masked(prefix: bytes) -> None:
    redact.register(SECRET)
    blob = base64.b64encode(prefix + SECRET.encode() + b'", "more": 1}').decode()
    masked = redact.redact(blob)
    assert redact.MASK in masked
    assert len(masked) < len(blob) - 20  # the secret's characters are gone, not just a few


def test_short_secret_is_masked_as_a_whole_word_only() -> None:
    redact.register("adm1n")
    assert redact.redact("user adm1n, pass=adm1n;") == "user ***, pass=***;"
    assert redact.redact("sysadm1nistrator") == "sysadm1nistrator"
    assert redact.redact(base64.b64encode(b"adm1n").decode()) == "***"


@pytest.mark.parametrize("value", ["", "true", "False", "0", "1", "yes", "null"])
def test_trivial_values_are_refused_with_a_warning(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert redact.register(value, name="${env:FLAG}") is False
    assert redact.redact("true 0 1 yes null") == "true 0 1 yes null"
    if value:
        assert "${env:FLAG}" in capsys.readouterr().err


def test_environment_credentials_are_registered_by_name() -> None:
    env = {"GITHUB_TOKEN": "ghs_abcdef123456", "CI_JOB_TOKEN": "glcbt-xyz98765", "MY_API_KEY": "k-1234567",
           "DB_PASSWORD": "pw-7654321", "HOME": "/root-home-dir", "FEATURE_KEY": "1",
           "CI_REPOSITORY_URL": "https://gitlab-ci-token:glcbt-other555@gitlab.example.com/g/p.git"}
    redact.register_environment(env)
    text = " ".join(env.values())
    masked = redact.redact(text)
    for name in ("GITHUB_TOKEN", "CI_JOB_TOKEN", "MY_API_KEY", "DB_PASSWORD", "CI_REPOSITORY_URL"):
        assert env[name] not in masked
    assert "/root-home-dir" in masked and " 1 " in masked
    assert "glcbt-other555" not in redact.redact("token glcbt-other555 used")


def test_cut_masks_first_so_no_prefix_survives() -> None:
    redact.register(SECRET)
    text = "command echo " + SECRET
    assert redact.cut(text, 20) == "command echo ***"
    assert SECRET[:5] not in redact.cut("x" * 10 + SECRET + "y" * 100, 30)


def test_command_output_tail_never_starts_with_a_secret_suffix() -> None:
    redact.register(SECRET)
    # The secret straddles the point where the tail starts reading the file.
    body = ("a" * (TAIL_CHARS * 3) + SECRET + "b" * (TAIL_CHARS * 2 - 5)).encode()
    out = tail(io.BytesIO(body))
    assert SECRET[-8:] not in out
    assert len(out) <= TAIL_CHARS


def test_many_secrets_over_a_large_output_stay_fast() -> None:
    for i in range(200):
        redact.register(f"secret-value-{i:04d}-{'k' * (i % 17)}")
    text = ("ordinary log line with nothing to hide 0123456789 " * 20_000) + f"secret-value-0199-{'k' * 12}."
    start = time.perf_counter()
    masked = redact.redact(text)
    took = time.perf_counter() - start
    assert masked.endswith(" ***.")
    assert took < 2.0, f"masking 1 MB with 200 secrets took {took:.2f}s"


def test_a_multi_line_secret_is_masked_line_by_line_and_folded() -> None:
    key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n" \
          "-----END PRIVATE KEY-----\n"
    redact.register(key)
    assert "MIIEvQIBADANBgkq" not in redact.redact("last line: BKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj")
    assert "MIIEvQIBADANBgkq" not in redact.redact(" ".join(key.split()))
    assert "BEGIN PRIVATE KEY" in redact.redact("-----BEGIN PRIVATE KEY-----")  # not a secret on its own


def test_error_excerpts_are_masked_before_they_are_cut() -> None:
    from gate.cluster.kube import _message
    from gate.httpclient import _reason
    from gate.kargo.client import error_message

    redact.register(SECRET)
    body = "x" * 290 + SECRET
    assert SECRET[:6] not in error_message(body)
    assert SECRET[:6] not in _reason(Exception(body))
    assert SECRET[:6] not in _message("y" * 190 + SECRET)


SECRET_CHARS = "ab/+=%&\\\"x01"


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.text(alphabet=SECRET_CHARS, min_size=6, max_size=12), min_size=1, max_size=6),
       st.lists(st.text(alphabet=" -_.:", max_size=4), max_size=6))
def test_no_registered_value_survives_whatever_surrounds_it(secrets: list[str], fillers: list[str]) -> None:
    """Secrets back to back, overlapping, or inside one another: nothing of any of them is left."""
    redact.clear()
    for value in secrets:
        redact.register(value)
    padded = fillers + [""] * len(secrets)
    text = "".join(f"{filler}{value}" for filler, value in zip(padded[: len(secrets)], secrets, strict=True))
    left = redact.redact(text).replace(redact.MASK, "")
    assert not set(left) & set(SECRET_CHARS), (secrets, text, left)


def test_overlapping_secrets_are_masked_as_one() -> None:
    redact.register("aaaaaabbbbbb")
    redact.register("bbbbbbcccccc")
    assert redact.redact("x aaaaaabbbbbbcccccc y") == "x *** y"


def test_every_kubeconfig_credential_is_registered(tmp_path) -> None:
    from types import SimpleNamespace

    from gate.cluster.kube import _register_credentials

    key = tmp_path / "key.pem"
    key.write_text("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBkgQ2FuYXJ5S2V5TWF0ZXJpYWwxMjM0NTY3\n"
                   "-----END EC PRIVATE KEY-----\n")
    cfg = SimpleNamespace(api_key={"BearerToken": "Bearer kube-canary-token-1"}, username="admin",
                          password="kube-canary-pass-2", key_file=str(key))
    _register_credentials(cfg)
    text = redact.redact("kube-canary-token-1 kube-canary-pass-2 "
                         + base64.b64encode(b"admin:kube-canary-pass-2").decode()
                         + " MHcCAQEEIBkgQ2FuYXJ5S2V5TWF0ZXJpYWwxMjM0NTY3 "
                         + base64.b64encode(key.read_bytes()).decode())
    assert text == " ".join([redact.MASK] * 5)
