"""Per-provider admission: at most `concurrency` upstream calls in flight, `buffer_size` callers waiting."""

from __future__ import annotations

import asyncio
from typing import Any

from bifrost.config.model import ProviderConfig
from bifrost.core.errors import GatewayError


class ProviderQueue:
    __slots__ = ("_sem", "buffer_size", "concurrency", "drop_excess", "in_flight", "metrics", "provider", "waiting")

    def __init__(self, provider: ProviderConfig, drop_excess: bool) -> None:
        self.provider = provider.name
        self.concurrency = provider.concurrency.concurrency
        self.buffer_size = provider.concurrency.buffer_size
        self.drop_excess = drop_excess
        self.in_flight = 0
        self.waiting = 0
        self._sem = asyncio.Semaphore(self.concurrency)
        self.metrics: Any = None  # observability's Metrics: queue depth and queue-full counts when set

    async def acquire(self) -> None:
        """Take a slot, waiting if needed. A cancelled waiter (client gone) leaves the queue."""
        if self._sem.locked():
            if self.waiting >= self.buffer_size and self.drop_excess:
                if self.metrics is not None:
                    self.metrics.rate_limited(self.provider, "queue_full")
                raise GatewayError(
                    429,
                    f"queue full for provider {self.provider}: {self.concurrency} requests in flight and "
                    f"{self.waiting} waiting (concurrency {self.concurrency}, buffer_size {self.buffer_size}); "
                    "retry later or raise concurrency_and_buffer_size",
                    provider=self.provider,
                    code="queue_full",
                    retry_after=1.0,
                    retryable=False,
                )
            self._waiting(+1)
            try:
                await self._sem.acquire()
            finally:
                self._waiting(-1)
        else:
            await self._sem.acquire()
        self.in_flight += 1

    def _waiting(self, delta: int) -> None:
        self.waiting += delta
        if self.metrics is not None:
            self.metrics.queue_depth(self.provider, self.waiting)

    def release(self) -> None:
        self.in_flight -= 1
        self._sem.release()
