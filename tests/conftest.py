"""Shared fixtures: the real servers (nginx, Prometheus, Alertmanager, stubs) live in conftest_servers."""

import os
import sys
from pathlib import Path

from conftest_servers import *  # noqa: F401,F403

# Run as `.venv/bin/python -m pytest` (the README's test command) without activating the venv: its console
# scripts (gate, ruff, hadolint, actionlint, check-jsonschema) sit beside the interpreter, so put them first
# on PATH for the tests and the processes they start, as `. .venv/bin/activate` would.
if sys.prefix != sys.base_prefix:
    _bindir = str(Path(sys.executable).parent)
    if _bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join(filter(None, [_bindir, os.environ.get("PATH")]))
