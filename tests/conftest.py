"""Shared fixtures: the real servers (nginx, Prometheus, Alertmanager, stubs) live in conftest_servers."""

from conftest_servers import *  # noqa: F401,F403
