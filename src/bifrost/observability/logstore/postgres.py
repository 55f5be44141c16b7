"""PostgreSQL request log store (asyncpg pool), for several gateway instances sharing one log.

Same table, columns and versioned migrations as SQLite (migrations serialised across instances with an
advisory lock). If the database is unreachable at start-up or later, the gateway keeps serving: batches are
dropped and counted, reads answer 503, and the pool is re-created at most every few seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bifrost.core.background import background_executor
from bifrost.observability.logstore.base import COLUMNS, TABLE, BaseLogStore, log, safe_rows
from bifrost.observability.record import RequestRecord

MIGRATION_LOCK_ID = 0x62696672  # "bifr"
RECONNECT_EVERY_S = 5.0
T = TypeVar("T")

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            seq BIGSERIAL PRIMARY KEY,
            request_id TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            route TEXT,
            method TEXT,
            stream BOOLEAN NOT NULL DEFAULT FALSE,
            model_requested TEXT,
            provider TEXT,
            model TEXT,
            key_name TEXT,
            status INTEGER NOT NULL,
            latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
            upstream_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
            ttft_ms DOUBLE PRECISION,
            prompt_tokens BIGINT NOT NULL DEFAULT 0,
            completion_tokens BIGINT NOT NULL DEFAULT 0,
            cached_tokens BIGINT NOT NULL DEFAULT 0,
            cost DOUBLE PRECISION NOT NULL DEFAULT 0,
            retries INTEGER NOT NULL DEFAULT 0,
            fallback_index INTEGER NOT NULL DEFAULT 0,
            error_type TEXT,
            error_message TEXT,
            attempts TEXT,
            prom_labels TEXT,
            request_body TEXT,
            response_content TEXT
        )""",
            f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_ts ON {TABLE} (ts)",
            f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_provider_model_ts ON {TABLE} (provider, model, ts)",
            f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_status_ts ON {TABLE} (status, ts)",
            f"CREATE INDEX IF NOT EXISTS idx_{TABLE}_request_id ON {TABLE} (request_id)",
        ],
    ),
    (
        2,  # the governance virtual key's id (refusals and governed requests)
        [f"ALTER TABLE {TABLE} ADD COLUMN virtual_key TEXT"],
    ),
]
_VALUES = ", ".join(f"${i + 1}" for i in range(len(COLUMNS)))
_INSERT = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({_VALUES})"


class StoreUnavailable(RuntimeError):
    pass


class PostgresLogStore(BaseLogStore):
    def __init__(self, url: str, *, pool_size: int = 4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.url = url
        self.pool_size = pool_size
        self._pool: Any = None
        self._last_attempt = 0.0
        self._closed = False
        self._rexec: ThreadPoolExecutor | None = None

    @staticmethod
    def placeholder(index: int) -> str:
        return f"${index}"

    async def _open(self) -> None:
        self._closed = False
        try:
            await self._connect()
        except Exception as exc:
            log.warning(
                "postgres logs store unreachable at start-up; will retry",
                extra={"fields": {"error": f"{type(exc).__name__}: {exc}"[:300]}},
            )

    async def _connect(self) -> Any:
        import asyncpg  # optional dependency: pip install bifrost-gateway[postgres]

        self._last_attempt = time.monotonic()
        pool = await asyncpg.create_pool(
            self.url, min_size=1, max_size=self.pool_size, timeout=5.0, command_timeout=30.0
        )
        try:
            await self._migrate(pool)
        except BaseException:
            await pool.close()
            raise
        self._pool = pool
        return pool

    async def _migrate(self, pool: Any) -> int:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_ID)
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            current = int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        await conn.execute(statement)
                    await conn.execute(
                        "INSERT INTO schema_version (version, applied_at) VALUES ($1, $2)",
                        version,
                        time.time(),
                    )
                    current = version
        return current

    async def _get_pool(self) -> Any:
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise StoreUnavailable("logs store is closed")
        if time.monotonic() - self._last_attempt < RECONNECT_EVERY_S:
            raise StoreUnavailable("postgres logs store is unreachable")
        return await self._connect()

    async def _close(self) -> None:
        self._closed = True
        if self._rexec is not None:
            self._rexec.shutdown(wait=False, cancel_futures=True)
            self._rexec = None
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await pool.close()
            except Exception:
                pool.terminate()

    async def _insert(self, items: list[tuple[RequestRecord, float]]) -> int:
        import asyncpg

        pool = await self._get_pool()
        rows, bad = safe_rows(items, self.include_content)
        try:
            await pool.executemany(_INSERT, rows)
            return bad
        except (asyncpg.PostgresError, asyncpg.DataError, ValueError, TypeError, UnicodeError, OverflowError) as exc:
            if isinstance(exc, asyncpg.PostgresConnectionError | asyncpg.InsufficientResourcesError):
                raise  # the store is failing, not a row
        for row in rows:  # only the bad row is lost
            try:
                await pool.execute(_INSERT, *row)
            except (asyncpg.PostgresError, asyncpg.DataError, ValueError, TypeError, UnicodeError, OverflowError):
                bad += 1
        return bad

    async def _fetch(self, sql: str, args: list[Any]) -> list[Mapping[str, Any]]:
        pool = await self._get_pool()
        return [dict(row) for row in await pool.fetch(sql, *args)]

    async def _fetch_converted(self, sql: str, args: list[Any], convert: Callable[[list[Mapping[str, Any]]], T]) -> T:
        rows = await self._fetch(sql, args)
        if self._rexec is None:
            self._rexec = background_executor("bifrost-logstore-pg-r")  # admin reads: below the loop
        return await asyncio.get_running_loop().run_in_executor(self._rexec, convert, rows)

    async def _delete_before(self, cutoff: float) -> int:
        pool = await self._get_pool()
        status = await pool.execute(f"DELETE FROM {TABLE} WHERE ts < $1", cutoff)
        try:
            return int(str(status).rsplit(" ", 1)[-1])
        except ValueError:
            return 0
