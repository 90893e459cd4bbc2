"""Each credential shape capture redaction and `gate capture --check` know (gate/capture/scrub.py SHAPES):
one it must find and mask, one look-alike it must leave alone. A shape added without an entry here fails."""

from __future__ import annotations

import pytest

from gate.capture.scrub import PLACEHOLDER, SHAPES, find, mask_shapes
from gate.capture.world import relative_times

EXAMPLES: dict[str, tuple[str, str]] = {
    "JWT": ("token eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJnYXRlIn0.c2lnbmF0dXJl here", "eyJhbGciOiJSUzI1NiJ9 alone"),
    "PEM private key": ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
                        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----"),
    "AWS access key": ("key AKIAIOSFODNN7EXAMPLE", "AKIA is a prefix"),
    "AWS secret key": ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYAB", "aws_secret_access_key="),
    "Google API key": ("AIzaSyA-1234567890abcdefghijklmnopqrstu", "AIza short"),
    "Azure storage key": ("DefaultEndpointsProtocol=https;AccountKey=" + "A" * 86 + "==", "AccountKey=short"),
    "GitHub token": ("ghp_" + "a1B2" * 9, "ghp_short"),
    "GitLab token": ("glpat-abcdefghij0123456789", "glpat-x"),
    "Slack token": ("xoxb-1234567890-abcdef", "xoxb-1"),
    "bearer credential": ("Authorization: Bearer abcdefghijklmnop0123", "bearer of good news"),
    "*_TOKEN= value": ("export DEPLOY_TOKEN=abcdef123456", "DEPLOY_TOKEN=${env:DEPLOY_TOKEN}"),
}


def test_every_shape_has_an_example() -> None:
    assert {s.name for s in SHAPES} == set(EXAMPLES)


@pytest.mark.parametrize("name", [s.name for s in SHAPES])
def test_shape_is_found_and_masked_and_its_look_alike_is_not(name: str) -> None:
    found, look_alike = EXAMPLES[name]
    assert name in find(found)
    masked = mask_shapes(found)
    assert PLACEHOLDER in masked and name not in find(masked)
    assert name not in find(look_alike)
    assert mask_shapes(look_alike) == look_alike


def test_times_become_relative_to_when_the_object_was_read() -> None:
    read_at = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    obj = {"metadata": {"creationTimestamp": "2027-01-15T07:55:00Z"},
           "status": {"until": "2027-01-15T08:02:00.500Z", "note": "at 2027-01-15T07:55:00Z"}}
    assert relative_times(obj, read_at) == {
        "metadata": {"creationTimestamp": "${now-300s}"},
        "status": {"until": "${now+120s}", "note": "at 2027-01-15T07:55:00Z"}}
