"""Fixtures of the governance tests: a real redis-server (skipped with the reason when there is none)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from redisserver import RedisServer, RedisUnavailable, throwaway_redis


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    try:
        with throwaway_redis() as server:
            yield server
    except RedisUnavailable as exc:
        print(f"SKIP: {exc}")
        pytest.skip(str(exc))


@pytest.fixture
def redis(redis_server: RedisServer) -> RedisServer:
    """The module's redis-server, emptied before the test (and running, if a test killed it)."""
    if redis_server.proc is None or redis_server.proc.poll() is not None:
        redis_server.start()
    redis_server.flush()
    return redis_server
