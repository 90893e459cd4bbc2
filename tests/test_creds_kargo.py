"""KARGO_API_TOKEN as Kargo issues it: a JWT (2,000 characters here, as an OIDC id-token with many groups
or a Kargo-issued token grows), with `gate precheck` and `gate promote` against the simulated Kargo API
that accepts exactly that token. The Promotion is created with it, and no output carries it."""

from __future__ import annotations

from pathlib import Path

from test_kargo_support import F2, PROMOTE_PATH, Kit
from test_secrets_canary import forms

from gate import redact
from gate.sim.kargo_api import mount
from gate.sim.server import start
from gate.sim.tokens import jwt_of_length

KARGO = jwt_of_length(2000, {"iss": "https://kargo.example.com", "sub": "admin", "iat": 1_780_000_000})


def test_precheck_and_promote_with_a_2000_character_kargo_token(tmp_path: Path, capsys) -> None:
    redact.clear()
    with start({"extends": "promote-ok", "kargo": {"token": KARGO}}, speed=10.0,
               workdir=str(tmp_path / "sim")) as sim:
        info = mount(sim)
        assert info.token == KARGO
        kit = Kit(sim, KARGO, tmp_path)
        code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys)
        assert code == 0, out
        code, out = kit.gate("promote", "--stage", "monitoring", "--freight", F2, "--no-wait", capsys=capsys)
        assert code == 0, out
        assert [p["status"] for p in kit.posts(PROMOTE_PATH)] == [201]
        code, out = kit.gate("precheck", "--stage", "monitoring", "--freight", F2, capsys=capsys,
                             token=jwt_of_length(2000))  # a well-formed token Kargo never issued
        assert code == 3, out
    text = "\n".join(kit.outputs)
    assert [how for how, form in forms(KARGO).items() if form in text] == []
    assert "Traceback" not in text
