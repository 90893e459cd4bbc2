"""One place that knows every secret value the process has seen, so no output can carry one.

Values come from `${env:NAME}` substitutions, tokens (kubeconfig, Kargo) and Secret data the `secret`
check reads. Every reporter and progress line passes its text through `redact()`.
"""

from __future__ import annotations

import base64
import threading

MASK = "***"
# Shorter values (e.g. a Secret holding "admin") would mask ordinary words all over the report; the
# gate never prints secret values in the first place, this is the second line of defence.
MIN_LENGTH = 6
_lock = threading.Lock()
_secrets: set[str] = set()


def register(value: str | None) -> None:
    """Remember a secret value (and its base64 form, as it appears in Secret objects)."""
    if not value or len(value) < MIN_LENGTH:
        return
    with _lock:
        _secrets.add(value)
        _secrets.add(base64.b64encode(value.encode()).decode())


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    return text


def clear() -> None:
    """For tests only."""
    with _lock:
        _secrets.clear()
