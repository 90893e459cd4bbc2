"""A Kargo API error's hint names the Kargo API (KARGO_API_ADDRESS / KARGO_API_TOKEN) and a command that
tests it, never the kubeconfig context or kubectl: the gate promoting through the simulator's Kargo API."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from test_kargo_support import kargo_sim

from gate.reports.actions import KARGO_TEST

KUBE_WORDS = ("kubeconfig context", "kubectl", "--context")


def _action(out: str) -> str:
    lines = [line for line in out.splitlines() if line.startswith("Action Required:")]
    assert lines, out
    return lines[-1]


def test_a_rejected_token_names_kargo_api_token_and_a_test(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with kargo_sim("promote-ok", tmp_path) as kit:
        code, out = kit.gate("promote", "--stage", "monitoring", "--freight-alias", "calm-crane",
                             capsys=capsys, token="eyJ.wrong.token")
        assert not kit.posts()
    assert code == 3, out
    action = _action(out)
    assert "KARGO_API_TOKEN" in action and KARGO_TEST in action
    assert not any(word in action for word in KUBE_WORDS), action
    assert "eyJ.wrong.token" not in out
    assert out.count(KARGO_TEST) == 1, out  # said once: as Action Required, not also as the row's hint


def test_an_unreachable_address_names_kargo_api_address(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with kargo_sim("promote-ok", tmp_path) as kit:
        monkeypatch.setattr(kit.sim, "url", f"https://127.0.0.1:{port}")  # what KARGO_API_ADDRESS gets
        code, out = kit.gate("promote", "--stage", "monitoring", "--freight-alias", "calm-crane",
                             capsys=capsys, env={"GATE_TIMEOUT": "20s"})
    assert code == 3, out
    action = _action(out)
    assert "KARGO_API_ADDRESS" in action and KARGO_TEST in action
    assert not any(word in action for word in KUBE_WORDS), action


def test_a_kargo_permission_denied_names_the_token_s_identity(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture) -> None:
    with kargo_sim("promote-ok", tmp_path) as kit:
        kit.sim.kargo.tokens["eyJ.limited.x"] = {"deny": ["promote"]}
        code, out = kit.gate("promote", "--stage", "monitoring", "--freight-alias", "calm-crane",
                             capsys=capsys, token="eyJ.limited.x")
    assert code == 3, out
    action = _action(out)
    assert "KARGO_API_TOKEN" in action and "gate rbac check" not in action
