"""Request log store over the real HTTP API, against SQLite and a throwaway PostgreSQL server."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bifrost.config.model import ClientConfig, LogsStoreConfig
from bifrost.observability.logging import set_secrets
from bifrost.observability.logstore import create_log_store
from bifrost.observability.logstore.base import BaseLogStore, LogFilters
from bifrost.observability.logstore.postgres import PostgresLogStore
from bifrost.observability.logstore.sqlite import SQLiteLogStore
from bifrost.observability.metrics import Metrics
from bifrost.observability.record import Attempt, RequestRecord
from bifrost.observability.routes import register_routes
from pgserver import PostgresUnavailable, drop_database, fresh_database, throwaway_postgres

NOW = time.time()
FAST: dict[str, Any] = {"flush_interval": 0.02, "stop_timeout": 2.0}


# ---- helpers ---------------------------------------------------------------------------------------------
def rec(**kw: Any) -> RequestRecord:
    base: dict[str, Any] = {"request_id": "r", "started_at": NOW, "route": "openai", "method": "chat"}
    base.update(kw)
    return RequestRecord(**base)


def sample_records() -> list[RequestRecord]:
    return [
        rec(
            request_id="ok-1",
            started_at=NOW - 30,
            provider="openai",
            model="gpt-4o-mini",
            key_name="main",
            status=200,
            latency_s=0.5,
            upstream_s=0.4,
            prompt_tokens=100,
            completion_tokens=50,
            request_body={"messages": [{"role": "user", "content": "hello"}]},
            response_content="hi there",
            attempts=[Attempt("openai", "gpt-4o-mini", "main", 200, latency_s=0.4)],
        ),
        rec(
            request_id="err-1",
            started_at=NOW - 20,
            provider="openai",
            model="gpt-4o",
            key_name="main",
            status=429,
            latency_s=0.2,
            upstream_s=0.15,
            retries=2,
            error_type="rate_limit_exceeded",
            error_message="openai: rate limited",
            attempts=[Attempt("openai", "gpt-4o", "main", 429, "rate limited", 0.05)] * 3,
        ),
        rec(
            request_id="st-1",
            started_at=NOW - 10,
            provider="anthropic",
            model="claude-3-5-sonnet-20241022",
            model_requested="gpt-4o",
            status=200,
            stream=True,
            latency_s=1.5,
            upstream_s=1.45,
            ttft_s=0.3,
            stream_chunks=11,
            stream_duration_s=1.0,
            prompt_tokens=20,
            completion_tokens=200,
            fallback_index=1,
            prom_labels={"environment": "prod"},
        ),
    ]


@asynccontextmanager
async def serve(store: Any, metrics: Metrics | None = None) -> AsyncIterator[Callable[..., Any]]:
    app = web.Application()
    register_routes(app, metrics or Metrics(), store)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    async with aiohttp.ClientSession() as http:

        async def get(path: str, **params: Any) -> tuple[int, Any]:
            async with http.get(f"http://{host}:{port}{path}", params=params) as resp:
                if resp.content_type == "application/json":
                    return resp.status, await resp.json()
                return resp.status, await resp.text()

        try:
            yield get
        finally:
            await runner.cleanup()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- a throwaway PostgreSQL server (tests/pgserver.py, shared with tests/observability_e2e) --------------
@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        reason = f"{exc}: postgres log store tests skipped"
        print(f"\nSKIP: {reason}")
        pytest.skip(reason)


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A fresh database per test on the session's server."""
    url = fresh_database(pg_server)
    yield url
    drop_database(url)


# ---- the store under test, per backend -------------------------------------------------------------------
class Backend:
    def __init__(self, kind: str, location: str) -> None:
        self.kind, self.location = kind, location
        self.stores: list[BaseLogStore] = []
        self.metrics = Metrics()

    def config(self, retention_days: int = 30) -> LogsStoreConfig:
        if self.kind == "sqlite":
            return LogsStoreConfig(enabled=True, type="sqlite", path=self.location, log_retention_days=retention_days)
        return LogsStoreConfig(enabled=True, type="postgres", url=self.location, log_retention_days=retention_days)

    def make(
        self, *, retention_days: int = 30, no_content: bool = False, cls: type | None = None, **options: Any
    ) -> BaseLogStore:
        opts = {**FAST, **options}
        if cls is None:
            store = create_log_store(
                self.config(retention_days), ClientConfig(disable_content_logging=no_content), self.metrics, **opts
            )
        else:
            where = {"path": self.location} if self.kind == "sqlite" else {"url": self.location}
            store = cls(
                *where.values(),
                retention_days=retention_days,
                include_content=not no_content,
                metrics=self.metrics,
                **opts,
            )
        assert isinstance(store, BaseLogStore)
        self.stores.append(store)
        return store

    @property
    def cls(self) -> type[BaseLogStore]:
        return SQLiteLogStore if self.kind == "sqlite" else PostgresLogStore


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return "sqlite", str(tmp_path / "sub" / "logs.db")  # the directory does not exist yet
    return "postgres", request.getfixturevalue("pg_url")


@pytest.fixture
async def backend(location: tuple[str, str]) -> AsyncIterator[Backend]:
    b = Backend(*location)
    yield b
    for store in b.stores:
        await store.stop()


async def started(store: BaseLogStore, records: list[RequestRecord] | None = None) -> BaseLogStore:
    await store.start()
    for r in records or []:
        store.submit(r, cost=0.001 * (r.prompt_tokens + r.completion_tokens) / 10)
    await store.flush()
    return store


# ---- tests -----------------------------------------------------------------------------------------------
async def test_records_queryable_with_filters_and_pagination(backend: Backend) -> None:
    store = await started(backend.make(), sample_records())
    async with serve(store) as get:
        status, body = await get("/api/logs")
        assert status == 200
        assert body["total"] == 3 and body["has_more"] is False
        assert [log["id"] for log in body["logs"]] == ["st-1", "err-1", "ok-1"]  # newest first

        st, err, ok = body["logs"]
        assert ok["provider"] == "openai" and ok["model"] == "gpt-4o-mini" and ok["key_name"] == "main"
        assert ok["status"] == 200 and ok["latency_ms"] == pytest.approx(500) and ok["ttft_ms"] is None
        assert (ok["prompt_tokens"], ok["completion_tokens"]) == (100, 50)
        assert ok["cost"] == pytest.approx(0.015)
        assert ok["request_body"] == {"messages": [{"role": "user", "content": "hello"}]}
        assert ok["response_content"] == "hi there"
        assert ok["attempts"][0]["key_name"] == "main" and ok["timestamp"] == pytest.approx(NOW - 30)
        assert err["status"] == 429 and err["retries"] == 2 and err["error_message"] == "openai: rate limited"
        assert err["error_type"] == "rate_limit_exceeded" and len(err["attempts"]) == 3
        assert st["stream"] is True and st["ttft_ms"] == pytest.approx(300) and st["fallback_index"] == 1
        assert st["model_requested"] == "gpt-4o" and st["prom_labels"] == {"environment": "prod"}

        async def ids(**params: Any) -> list[str]:
            status, body = await get("/api/logs", **params)
            assert status == 200, body
            return [log["id"] for log in body["logs"]]

        assert await ids(provider="anthropic") == ["st-1"]
        assert await ids(model="gpt-4o") == ["err-1"]
        assert await ids(status="error") == ["err-1"]
        assert await ids(status="success") == ["st-1", "ok-1"]
        assert await ids(status="429") == ["err-1"]
        assert await ids(start=str(NOW - 25)) == ["st-1", "err-1"]
        iso = datetime.fromtimestamp(NOW - 15, UTC).isoformat()
        assert await ids(end=iso) == ["err-1", "ok-1"]
        assert await ids(start=str(NOW - 25), end=iso, provider="openai") == ["err-1"]

        status, page = await get("/api/logs", limit="2")
        assert [log["id"] for log in page["logs"]] == ["st-1", "err-1"] and page["has_more"] is True
        status, page = await get("/api/logs", limit="2", offset="2")
        assert [log["id"] for log in page["logs"]] == ["ok-1"] and page["has_more"] is False
        assert page["total"] == 3

        for bad in (
            {"limit": "0"},
            {"limit": "5000"},
            {"offset": "-1"},
            {"status": "abc"},
            {"start": "yesterday"},
            {"start": str(NOW), "end": str(NOW - 10)},
        ):
            status, err_body = await get("/api/logs", **bad)
            assert status == 400, bad
            assert err_body["error"]["type"] == "invalid_request_error"
            assert err_body["error"]["param"] in bad
            assert err_body["error"]["message"]


async def test_stats(backend: Backend) -> None:
    records = [
        rec(
            request_id=f"o{i}",
            started_at=NOW - 100 + i,
            provider="openai",
            model="gpt-4o-mini",
            status=500 if i < 2 else 200,
            latency_s=(i + 1) / 100,
            prompt_tokens=10,
            completion_tokens=5,
        )
        for i in range(10)
    ] + [
        rec(
            request_id="a0",
            started_at=NOW - 50,
            provider="anthropic",
            model="claude-3-haiku",
            status=200,
            latency_s=0.007,
            prompt_tokens=1,
            completion_tokens=2,
        )
    ]
    store = await started(backend.make(), records)
    async with serve(store) as get:
        status, stats = await get("/api/logs/stats")
        assert status == 200
        assert stats["total"] == 11 and stats["errors"] == 2
        assert stats["error_rate"] == pytest.approx(2 / 11)
        # nearest rank over [7, 10, 20, ..., 100] ms
        assert stats["latency_ms"]["p50"] == pytest.approx(50)
        assert stats["latency_ms"]["p99"] == pytest.approx(100)
        assert stats["tokens"] == {"input": 101, "output": 52}
        assert stats["cost"] == pytest.approx(10 * 0.0015 + 0.0003)
        groups = stats["by_provider_model"]
        assert [(g["provider"], g["model"], g["total"]) for g in groups] == [
            ("openai", "gpt-4o-mini", 10),
            ("anthropic", "claude-3-haiku", 1),
        ]
        openai = groups[0]
        assert openai["errors"] == 2 and openai["error_rate"] == pytest.approx(0.2)
        assert openai["latency_ms"] == {"p50": pytest.approx(50), "p99": pytest.approx(100)}
        assert openai["tokens"] == {"input": 100, "output": 50}
        assert groups[1]["latency_ms"] == {"p50": pytest.approx(7), "p99": pytest.approx(7)}

        status, stats = await get("/api/logs/stats", provider="anthropic")
        assert stats["total"] == 1 and stats["errors"] == 0 and len(stats["by_provider_model"]) == 1
        status, stats = await get("/api/logs/stats", start=str(NOW + 10))
        assert stats["total"] == 0 and stats["error_rate"] == 0.0 and stats["latency_ms"]["p50"] is None
        assert stats["by_provider_model"] == []
        status, err = await get("/api/logs/stats", status="nope")
        assert status == 400 and err["error"]["param"] == "status"


async def test_survives_restart_and_migrations_are_versioned(backend: Backend) -> None:
    first = backend.make()
    await first.start()
    for r in sample_records():
        first.submit(r, 0.0)
    await first.stop()  # stop flushes what is queued
    if backend.kind == "sqlite":
        assert os.path.exists(backend.location)
        with sqlite3.connect(backend.location) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"

    second = await started(backend.make())
    result = await second.query(LogFilters())
    assert result["total"] == 3
    versions = await second._fetch("SELECT version FROM schema_version ORDER BY version", [])
    assert [int(v["version"]) for v in versions] == [1, 2]


async def test_retention_deletes_old_rows(backend: Backend) -> None:
    old = [rec(request_id=f"old{i}", started_at=NOW - 40 * 86400, provider="openai", model="m") for i in range(3)]
    new = [rec(request_id="new", started_at=NOW - 86400, provider="openai", model="m")]
    store = await started(backend.make(retention_days=0), old + new)  # 0: keep forever
    assert (await store.query(LogFilters()))["total"] == 4
    await store.stop()

    restarted = await started(backend.make(retention_days=30))  # retention runs on start (then hourly)
    result = await restarted.query(LogFilters())
    assert [log["id"] for log in result["logs"]] == ["new"]
    restarted.retention_days = 1
    assert await restarted.apply_retention() == 1
    assert (await restarted.query(LogFilters()))["total"] == 0


async def test_content_omitted_when_disabled(backend: Backend) -> None:
    store = await started(backend.make(no_content=True), sample_records())
    logs = (await store.query(LogFilters()))["logs"]
    assert len(logs) == 3
    assert all(log["request_body"] is None and log["response_content"] is None for log in logs)
    assert logs[2]["prompt_tokens"] == 100  # everything else is still recorded


async def test_secret_values_never_stored(backend: Backend) -> None:
    secret = "sk-live-THIS-IS-A-SECRET-0123456789"
    set_secrets([secret])
    try:
        r = rec(
            request_id="s1",
            provider="openai",
            model="m",
            status=401,
            error_message=f"Incorrect API key provided: {secret}",
            request_body={"note": f"key {secret}"},
            attempts=[Attempt("openai", "m", "main", 401, f"invalid key {secret}")],
        )
        store = await started(backend.make(), [r])
        logs = (await store.query(LogFilters()))["logs"]
    finally:
        set_secrets([])
    assert secret not in repr(logs)
    assert logs[0]["error_message"] == "Incorrect API key provided: ***"
    assert logs[0]["request_body"] == {"note": "key ***"}
    assert logs[0]["attempts"][0]["error"] == "invalid key ***"


def _dropped(metrics: Metrics, reason: str) -> float:
    assert metrics.registry is not None
    value = metrics.registry.get_sample_value("bifrost_logstore_dropped_total", {"reason": reason})
    return value or 0.0


async def test_stalled_backend_never_blocks_submit(backend: Backend) -> None:
    class Stalled(backend.cls):  # type: ignore[name-defined,misc]
        async def _insert(self, items: list[tuple[RequestRecord, float]]) -> None:
            await asyncio.sleep(3600)

    store = await started(backend.make(cls=Stalled, queue_size=500, batch_size=100, stop_timeout=0.2))
    records = [rec(request_id=f"s{i}", provider="openai", model="m") for i in range(2000)]
    t0 = time.perf_counter()
    for r in records:
        store.submit(r, 0.0)
    elapsed = time.perf_counter() - t0
    print(
        f"\n2,000 submits against a stalled {backend.kind} store: {elapsed * 1e3:.2f} ms "
        f"({elapsed / 2000 * 1e6:.2f} us each)"
    )
    assert elapsed < 0.25
    assert store.dropped == 1500 and _dropped(backend.metrics, "queue_full") == 1500
    await asyncio.sleep(0.1)  # the writer takes a batch and stalls on it
    t0 = time.perf_counter()
    await asyncio.sleep(0.01)
    assert time.perf_counter() - t0 < 0.5  # the event loop stays responsive
    await store.stop()  # gives up after stop_timeout: everything left is dropped and counted
    assert store.dropped == 2000
    assert _dropped(backend.metrics, "queue_full") + _dropped(backend.metrics, "shutdown") == 2000


async def test_failing_backend_drops_and_counts(backend: Backend) -> None:
    class Failing(backend.cls):  # type: ignore[name-defined,misc]
        async def _insert(self, items: list[tuple[RequestRecord, float]]) -> None:
            raise ConnectionError("store is down")

    store = await started(backend.make(cls=Failing))
    for r in sample_records():
        store.submit(r, 0.0)
    await store.flush()
    assert store.dropped == 3 and _dropped(backend.metrics, "store_error") == 3


async def test_sqlite_write_blocked_in_thread_keeps_loop_and_reads_alive(tmp_path: Path) -> None:
    release = threading.Event()

    class Blocking(SQLiteLogStore):
        def _insert_sync(self, rows: list[tuple[Any, ...]]) -> None:
            release.wait(10)  # a write stuck inside sqlite (locked file, slow disk)
            super()._insert_sync(rows)

    metrics = Metrics()
    store = Blocking(str(tmp_path / "logs.db"), metrics=metrics, queue_size=300, batch_size=100, **FAST)
    await store.start()
    try:
        t0 = time.perf_counter()
        for i in range(2000):
            store.submit(rec(request_id=f"b{i}", provider="openai", model="m"), 0.0)
        assert time.perf_counter() - t0 < 0.25
        await asyncio.sleep(0.1)
        async with serve(store, metrics) as get:
            t0 = time.perf_counter()
            status, body = await get("/api/logs")  # reads use their own connection and thread
            assert status == 200 and body["total"] == 0
            assert time.perf_counter() - t0 < 2
            status, text = await get("/metrics")
            assert status == 200 and 'bifrost_logstore_dropped_total{reason="queue_full"} 1700.0' in text
        release.set()
        await store.flush()  # the stuck batch lands, then the rest of the queue
    finally:
        release.set()
        await store.stop()
    assert store.dropped == 1700
    assert _dropped(metrics, "queue_full") == 1700
    assert (await _reopen_total(tmp_path / "logs.db")) == 300


async def _reopen_total(path: Path) -> int:
    store = SQLiteLogStore(str(path), **FAST)
    await store.start()
    try:
        return int((await store.query(LogFilters()))["total"])
    finally:
        await store.stop()


async def test_disabled_store_answers_404() -> None:
    assert create_log_store(LogsStoreConfig(enabled=False), ClientConfig(), None) is None
    async with serve(None) as get:
        for path in ("/api/logs", "/api/logs/stats"):
            status, body = await get(path)
            assert status == 404
            assert body["error"]["type"] == "invalid_request_error"
            assert "logs store is disabled" in body["error"]["message"]


async def test_unreachable_postgres_never_blocks_and_reads_answer_503() -> None:
    pytest.importorskip("asyncpg")
    metrics = Metrics()
    url = f"postgresql://postgres:pw-secret@127.0.0.1:{_free_port()}/none"
    store = PostgresLogStore(url, metrics=metrics, **FAST)
    await store.start()  # does not raise: the gateway starts without its log database
    try:
        store.submit(rec(request_id="x", provider="openai", model="m"), 0.0)
        await store.flush()
        assert store.dropped == 1 and _dropped(metrics, "store_error") == 1
        async with serve(store, metrics) as get:
            status, body = await get("/api/logs")
            assert status == 503 and body["error"]["type"] == "server_error"
            assert "pw-secret" not in str(body)
    finally:
        await store.stop()
