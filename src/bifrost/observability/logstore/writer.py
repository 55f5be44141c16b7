"""Bounded in-memory queue + background batch writer shared by every log store backend.

``submit`` is O(1), never awaits and never raises: when the queue is full the record is dropped and counted
(``bifrost_logstore_dropped_total{reason="queue_full"}``). The writer task drains the queue in batches
(when a batch is full or every ``flush_interval`` seconds); a batch the backend fails to write, or does not
write within ``write_timeout``, is dropped and counted (``reason="store_error"``). A backend that refuses a
batch because of one bad record writes it row by row and reports the records it dropped
(``reason="bad_record"``), so one bad request never costs the others their records. Records still queued when
``stop`` gives up are counted as ``reason="shutdown"``.

Crash accounting (see ``crashcount``): ``counts[ACCEPTED]`` is bumped for every record queued and
``counts[SETTLED]`` for every record written or dropped; with a counter file mapped in, the difference
survives a ``kill -9`` and the next start counts it as ``reason="crash"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bifrost.observability.logstore.crashcount import ACCEPTED, SETTLED, unmapped
from bifrost.observability.record import RequestRecord

if TYPE_CHECKING:
    from bifrost.observability.metrics import Metrics

log = logging.getLogger("bifrost.logstore")

Item = tuple[RequestRecord, float]
Sink = Callable[[list[Item]], Awaitable[int | None]]  # returns how many records it had to drop
_WARN_EVERY_S = 60.0


class BatchWriter:
    def __init__(
        self,
        sink: Sink,
        *,
        metrics: Metrics | None = None,
        max_queue: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        write_timeout: float = 30.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self._sink = sink
        self._metrics = metrics
        self._max = max_queue
        self._batch = batch_size
        self._interval = flush_interval
        self._timeout = write_timeout
        self._stop_timeout = stop_timeout
        self._items: deque[Item] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock: asyncio.Lock | None = None
        self._last_warn = 0.0
        self.dropped = 0
        self.written = 0
        self.counts = unmapped()  # [ACCEPTED], [SETTLED]; a crash counter file's mapping when there is one

    def __len__(self) -> int:
        return len(self._items)

    def submit(self, rec: RequestRecord, cost: float) -> None:
        try:
            items = self._items
            if len(items) >= self._max:
                self._drop("queue_full", 1)
                return
            items.append((rec, cost))
            self.counts[ACCEPTED] += 1
            wake = self._wake
            if wake is not None and len(items) >= self._batch and not wake.is_set():
                wake.set()
        except Exception:  # the request path must never see a logging failure
            pass

    def start(self) -> None:
        if self._task is None:
            self._wake = asyncio.Event()
            self._lock = asyncio.Lock()
            self._task = asyncio.create_task(self._run(), name="bifrost-logstore-writer")

    async def flush(self) -> None:
        """Write everything queued now (waits for the backend)."""
        while self._items:
            await self._write_one()
        if self._lock is not None:
            async with self._lock:  # a batch the writer task popped may still be in flight
                pass

    async def stop(self, timeout: float | None = None) -> None:
        """Stop the task, then write what is queued within ``timeout`` (default: stop_timeout)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        try:
            async with asyncio.timeout(self._stop_timeout if timeout is None else timeout):
                await self.flush()
        except Exception:
            pass
        if self._items:
            self._drop("shutdown", len(self._items))
            self.counts[SETTLED] += len(self._items)
            self._items.clear()

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a concurrent cancel()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
            self._wake.clear()
            while self._items:
                await self._write_one()

    async def _write_one(self) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            items = self._items
            if not items:
                return
            n = min(len(items), self._batch)
            batch = [items.popleft() for _ in range(n)]
            try:
                async with asyncio.timeout(self._timeout):
                    bad = await self._sink(batch) or 0
                self.written += n - bad
                self.counts[SETTLED] += n
                if bad:
                    self._drop("bad_record", bad)
            except asyncio.CancelledError:
                self._drop("shutdown", n)
                self.counts[SETTLED] += n
                raise
            except Exception as exc:
                self._drop("store_error", n)
                self.counts[SETTLED] += n
                now = time.monotonic()
                if now - self._last_warn >= _WARN_EVERY_S:
                    self._last_warn = now
                    log.warning(
                        "logs store write failed; records dropped",
                        extra={"fields": {"error": repr(exc)[:300], "dropped": n}},
                    )

    @property
    def flush_interval(self) -> float:
        return self._interval

    def count_crash(self, lost: int) -> None:
        """Records a previous process accepted and never wrote (it was killed): counted, not this process's."""
        self._drop("crash", lost)
        self.dropped -= lost

    def _drop(self, reason: str, n: int) -> None:
        self.dropped += n
        if self._metrics is not None:
            with contextlib.suppress(Exception):
                self._metrics.logstore_dropped(reason, n)
