"""SQLite request log store: one file (created on first start), WAL, stdlib sqlite3 off the event loop.

Writes go through one dedicated thread and connection, reads through another (WAL lets them overlap), so a
slow write never blocks the event loop and a long query never blocks writes. Several worker processes may
share the file (busy timeout; migrations run under ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bifrost.core.background import background_executor
from bifrost.observability.logstore.base import COLUMNS, TABLE, BaseLogStore, log, safe_rows
from bifrost.observability.record import RequestRecord

T = TypeVar("T")

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            f"""CREATE TABLE IF NOT EXISTS {TABLE} (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL,
            ts REAL NOT NULL,
            route TEXT,
            method TEXT,
            stream INTEGER NOT NULL DEFAULT 0,
            model_requested TEXT,
            provider TEXT,
            model TEXT,
            key_name TEXT,
            status INTEGER NOT NULL,
            latency_ms REAL NOT NULL DEFAULT 0,
            upstream_ms REAL NOT NULL DEFAULT 0,
            ttft_ms REAL,
            prompt_tokens INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            cached_tokens INTEGER NOT NULL DEFAULT 0,
            cost REAL NOT NULL DEFAULT 0,
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
_INSERT = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})"


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.row_factory = sqlite3.Row
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply pending migrations; returns the schema version."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)")
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0]
        for version, statements in MIGRATIONS:
            if version > current:
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (?, ?)", (version, time.time()))
                current = version
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if current > MIGRATIONS[-1][0]:
        log.warning(
            "logs store schema is newer than this version of bifrost",
            extra={"fields": {"schema_version": current}},
        )
    return int(current)


class SQLiteLogStore(BaseLogStore):
    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._wexec: ThreadPoolExecutor | None = None
        self._rexec: ThreadPoolExecutor | None = None

    @staticmethod
    def placeholder(index: int) -> str:
        return "?"

    async def _in(self, executor: ThreadPoolExecutor | None, fn: Callable[[], T]) -> T:
        if executor is None:
            raise RuntimeError("logs store is not started")
        return await asyncio.get_running_loop().run_in_executor(executor, fn)

    async def _open(self) -> None:
        self._wexec = ThreadPoolExecutor(1, thread_name_prefix="bifrost-logstore-sqlite-w")
        self._rexec = background_executor("bifrost-logstore-sqlite-r")  # admin reads: below the loop
        await self._in(self._wexec, self._open_writer)

    def _open_writer(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        conn = _connect(self.path)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            log.warning("sqlite logs store is not in WAL mode", extra={"fields": {"mode": mode}})
        conn.execute("PRAGMA synchronous = NORMAL")
        migrate(conn)
        self._wconn = conn

    async def _close(self) -> None:
        wexec, rexec = self._wexec, self._rexec
        self._wexec = self._rexec = None
        for executor, attr in ((wexec, "_wconn"), (rexec, "_rconn")):
            if executor is None:
                continue
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self._in(executor, functools.partial(self._close_conn, attr))
            executor.shutdown(wait=False, cancel_futures=True)

    def _close_conn(self, attr: str) -> None:
        conn = getattr(self, attr)
        setattr(self, attr, None)
        if conn is not None:
            conn.close()

    async def _insert(self, items: list[tuple[RequestRecord, float]]) -> int:
        include = self.include_content

        def run() -> int:
            rows, bad = safe_rows(items, include)
            return bad + (self._insert_sync(rows) or 0)

        return await self._in(self._wexec, run)

    def _insert_sync(self, rows: list[tuple[Any, ...]]) -> int:
        """One transaction for the batch; if the database refuses it, row by row. Returns rows dropped."""
        conn = self._wconn
        if conn is None:
            raise RuntimeError("logs store is closed")
        conn.execute("BEGIN")
        try:
            conn.executemany(_INSERT, rows)
            conn.execute("COMMIT")
            return 0
        except (sqlite3.OperationalError, sqlite3.DatabaseError, ValueError, TypeError) as exc:
            conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and not isinstance(exc, sqlite3.IntegrityError):
                raise  # locked, disk full, I/O: the store is failing, not a row
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        dropped = 0
        for row in rows:  # only the bad row is lost
            try:
                conn.execute(_INSERT, row)
            except (sqlite3.DatabaseError, ValueError, TypeError, OverflowError):
                dropped += 1
        return dropped

    async def _fetch(self, sql: str, args: list[Any]) -> list[Mapping[str, Any]]:
        return await self._in(self._rexec, lambda: self._fetch_sync(sql, args))

    async def _fetch_converted(self, sql: str, args: list[Any], convert: Callable[[list[Mapping[str, Any]]], T]) -> T:
        return await self._in(self._rexec, lambda: convert(self._fetch_sync(sql, args)))

    def _fetch_sync(self, sql: str, args: list[Any]) -> list[Mapping[str, Any]]:
        if self._rconn is None:
            self._rconn = _connect(self.path)
        return [dict(row) for row in self._rconn.execute(sql, args).fetchall()]

    async def _delete_before(self, cutoff: float) -> int:
        def run() -> int:
            if self._wconn is None:
                raise RuntimeError("logs store is closed")
            return self._wconn.execute(f"DELETE FROM {TABLE} WHERE ts < ?", (cutoff,)).rowcount

        return await self._in(self._wexec, run)
