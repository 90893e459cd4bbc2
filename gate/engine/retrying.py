"""Retry policy shared by every client: which answers are transient, and how long to wait for them."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime
from time import time

from tenacity import RetryCallState
from tenacity.wait import wait_base

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 30.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time())
    except (TypeError, ValueError):
        return None


class wait_retry_after(wait_base):  # noqa: N801 - tenacity's naming style
    """Capped exponential backoff with jitter, unless the server said how long (Retry-After)."""

    def __init__(self, initial: float = 0.2, maximum: float = 5.0, jitter: float = 0.1) -> None:
        self.initial, self.maximum, self.jitter = initial, maximum, jitter

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hinted = parse_retry_after(getattr(exc, "retry_after", None))
        if hinted is not None:
            return min(hinted, MAX_RETRY_AFTER)
        backoff = self.initial * 2 ** (retry_state.attempt_number - 1)
        return min(self.maximum, backoff) + random.uniform(0, self.jitter)
