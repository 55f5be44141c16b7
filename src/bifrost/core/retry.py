"""Backoff between tries: exponential with jitter, bounded, honouring Retry-After."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

RETRY_AFTER_CAP_S = 30.0  # never sleep longer than this on an upstream's say-so


def backoff_seconds(attempt: int, initial_ms: int, max_ms: int, retry_after: float | None = None) -> float:
    """Delay before retry number `attempt` (0 for the first retry)."""
    if retry_after is not None and retry_after > 0:
        return min(retry_after, RETRY_AFTER_CAP_S)
    ceiling = min(max_ms, initial_ms * (2**attempt))
    # "equal jitter": at least half the exponential step, never below the initial bound
    delay_ms = max(initial_ms, random.uniform(ceiling / 2, ceiling))
    return min(delay_ms, max_ms) / 1000.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        import datetime as _dt

        when = parsedate_to_datetime(value)
        return max(0.0, (when - _dt.datetime.now(when.tzinfo)).total_seconds())
    except (TypeError, ValueError):
        return None
