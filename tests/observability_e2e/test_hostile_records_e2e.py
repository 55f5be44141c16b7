"""Finding 2: one bad request never costs other requests their log records (SQLite and PostgreSQL).

Before: 100 good requests plus one with ``"model": {"a": 1}`` stored 0 of 101 records (the whole batch
failed); an ``x-request-id`` or ``x-bf-api-key`` with byte 0xFF lost every record of its batch. Now records
are made safe when their row is built (types coerced, text cleaned), and a batch the database still refuses
is written row by row: only the refused row is dropped, and counted as ``reason="bad_record"``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

from obs_helpers import StoreBackend, api, scrape, wait_for

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, openai_config
from security.helpers import chat_bytes, raw_request, status_of

GOOD = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


def _total(gw: GatewayProcess) -> int:
    status, body = api(gw, "/api/logs", limit=1)
    assert status == 200, body
    return int(body["total"])


def _dropped(gw: GatewayProcess) -> dict[str, float]:
    return {dict(labels)["reason"]: v for (name, labels), v in scrape(gw).items()
            if name == "bifrost_logstore_dropped_total"}


async def _good(url: str, n: int) -> list[int]:
    import aiohttp

    async with aiohttp.ClientSession() as session:

        async def one(i: int) -> int:
            async with session.post(url, json=GOOD, headers={"x-request-id": f"good-{i}"}) as resp:
                await resp.read()
                return resp.status

        return await asyncio.gather(*(one(i) for i in range(n)))


def test_hostile_requests_are_stored_safely_next_to_good_ones(
    fake: FakeProvider, start_gateway: GatewayFactory, store_backend: StoreBackend
) -> None:
    config = openai_config(fake.url, logs_store=store_backend.logs_store(), client={"prometheus_labels": ["team"]})
    gw = start_gateway(config)
    hostile: list[bytes] = [
        chat_bytes(body={"model": {"a": 1}, "messages": GOOD["messages"]}),
        chat_bytes(body={"model": ["x"], "messages": GOOD["messages"]}),
        chat_bytes(body={"model": "openai/m\x00\x1b", "messages": [{"role": "user", "content": "nul \x00"}]}),
        chat_bytes([(b"x-request-id", b"id-\xff\xfe")]),
        chat_bytes([(b"x-bf-api-key", b"\xff\xfe")]),
        chat_bytes([(b"x-bf-prom-team", b"\xff")]),
    ]
    statuses = asyncio.run(_good(gw.v1_url + "/chat/completions", 100))
    assert set(statuses) == {200}
    for data in hostile:
        assert status_of(raw_request(gw.port, data)) < 500
    wait_for(lambda: _total(gw) == 100 + len(hostile), timeout=15, what="every record stored")
    status, body = api(gw, "/api/logs", limit=1000)
    assert status == 200
    models = {log["model_requested"] for log in body["logs"]}
    assert '{"a":1}' in models and '["x"]' in models  # coerced to text, not refused
    assert not any("\x00" in str(m) for m in models)
    assert _dropped(gw).get("store_error", 0) == 0 and _dropped(gw).get("bad_record", 0) == 0


def _refuse_poison(backend: StoreBackend) -> None:
    """The database itself refuses one kind of row (a constraint a DBA added): the store's last line."""
    if backend.kind == "sqlite":
        conn = sqlite3.connect(backend.location, isolation_level=None)
        conn.execute(
            "CREATE TRIGGER refuse_poison BEFORE INSERT ON request_logs WHEN NEW.model_requested = 'openai/poison' "
            "BEGIN SELECT RAISE(ABORT, 'poison refused'); END"
        )
        conn.close()
        return
    import asyncpg

    async def run() -> None:
        pg = await asyncpg.connect(backend.location)
        try:
            await pg.execute("ALTER TABLE request_logs ADD CONSTRAINT refuse_poison "
                             "CHECK (model_requested IS DISTINCT FROM 'openai/poison')")
        finally:
            await pg.close()

    asyncio.run(run())


def test_a_batch_the_database_refuses_is_written_row_by_row(
    fake: FakeProvider, start_gateway: GatewayFactory, store_backend: StoreBackend
) -> None:
    config: dict[str, Any] = openai_config(fake.url, logs_store={**store_backend.logs_store(),
                                                                 "flush_interval_ms": 300})
    gw = start_gateway(config)
    _refuse_poison(store_backend)
    statuses = asyncio.run(_good(gw.v1_url + "/chat/completions", 50))
    poison = raw_request(gw.port, chat_bytes(body={"model": "openai/poison", "messages": GOOD["messages"]}))
    assert status_of(poison) == 404 and set(statuses) == {200}
    wait_for(lambda: _dropped(gw).get("bad_record") == 1, timeout=15, what="the poison row dropped alone")
    assert _total(gw) == 50
    assert _dropped(gw).get("store_error", 0) == 0
