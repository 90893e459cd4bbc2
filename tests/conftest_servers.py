"""Session fixtures for the Level 2-4 tests: real servers on 127.0.0.1, started once, stopped after.

Import into tests/conftest.py with `from conftest_servers import *  # noqa: F401,F403`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from servers.nginx import Nginx, start_nginx
from servers.prometheus import Alertmanager, Prometheus, start_alertmanager, start_prometheus
from servers.stub import Stub, start_stub

# Canary secrets: the tests assert they never appear in any output.
CANARY_TOKEN = "canary-bearer-7f3a9c1e5b"
CANARY_API_KEY = "canary-apikey-2d8e4b6f0a"
CANARY_USER, CANARY_PASSWORD = "gate", "canary-basic-9c4e1a7b3d"


def _need(binary: str) -> None:
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} is not installed (apt-get install {binary})")


@pytest.fixture(scope="session")
def nginx_server() -> Iterator[Nginx]:
    _need("nginx")
    server = start_nginx(CANARY_TOKEN, CANARY_API_KEY, (CANARY_USER, CANARY_PASSWORD))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def prometheus_server() -> Iterator[Prometheus]:
    _need("prometheus")
    server = start_prometheus()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def alertmanager_server() -> Iterator[Alertmanager]:
    _need("prometheus-alertmanager")
    server = start_alertmanager()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stub_server() -> Iterator[Stub]:
    """A programmable HTTP server (Loki stand-in, slow endpoints); tests set routes on it."""
    server = start_stub()
    yield server
    server.stop()


@pytest.fixture
def canary_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The canary secrets as environment variables, for `${env:…}` references."""
    values = {"GATE_TEST_TOKEN": CANARY_TOKEN, "GATE_TEST_API_KEY": CANARY_API_KEY,
              "GATE_TEST_PASSWORD": CANARY_PASSWORD}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values
