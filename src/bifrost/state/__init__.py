"""Shared gateway state: rate-limit windows, budgets, concurrency slots, key cool-downs and a small KV.

This package owns *where* counters live, not what they mean: governance decides which counters a request
charges and what a refusal looks like. Two backends behave identically:

- ``memory`` — one process; the default. Every operation is synchronous under the hood, so it is atomic
  within the event loop.
- ``redis`` — every worker and instance shares the counters; each admission is one Lua script (check all,
  then charge all, or charge nothing), so concurrent gateways never race a read-modify-write.

A backend that cannot be reached raises :class:`StateUnavailable`; the caller applies the configured
``state_store.fail_open`` policy.
"""

from __future__ import annotations

from bifrost.state.base import Counter, Decision, StateStore, StateUnavailable


def create_state_store(kind: str, url: str | None = None) -> StateStore:
    """The configured backend (``memory`` or ``redis``)."""
    if kind == "redis":
        from bifrost.state.redis import RedisStore

        assert url is not None
        return RedisStore(url)
    from bifrost.state.memory import MemoryStore

    return MemoryStore()


__all__ = ["Counter", "Decision", "StateStore", "StateUnavailable", "create_state_store"]
