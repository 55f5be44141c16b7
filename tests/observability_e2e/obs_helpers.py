"""Helpers for the observability e2e tests: scrape and diff /metrics, wait for log lines, query /api/logs."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import aiohttp
import openai
from openai.types.chat import ChatCompletionMessageParam
from prometheus_client.parser import text_string_to_metric_families

from harness import GatewayProcess, http_get

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy

T = TypeVar("T")
Labels = frozenset[tuple[str, str]]
Samples = dict[tuple[str, Labels], float]

HELLO: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hello!"}]


def user(text: str) -> list[ChatCompletionMessageParam]:
    return [{"role": "user", "content": text}]


def L(**labels: str) -> Labels:
    return frozenset(labels.items())


def sdk(gw: GatewayProcess, **kwargs: Any) -> openai.OpenAI:
    """The official SDK pointed at the gateway (no SDK retries: every request is exactly one request)."""
    return openai.OpenAI(base_url=gw.openai_url, api_key="sk-client-ignored", max_retries=0, timeout=20, **kwargs)


def post_json(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 20.0
) -> tuple[int, bytes]:
    """POST a JSON body without proxies; (status, raw body) also for error statuses."""
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=all_headers)
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


async def fresh_connection_posts(url: str, body: dict[str, Any], n: int, concurrency: int = 16) -> list[int]:
    """n POSTs, each on its own TCP connection (so SO_REUSEPORT spreads them over ``--workers``); statuses."""
    sem = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(force_close=True, limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one() -> int:
            async with sem, session.post(url, json=body) as resp:
                await resp.read()
                return resp.status

        return await asyncio.gather(*(one() for _ in range(n)))


def scrape_text(gw: GatewayProcess) -> str:
    status, body = http_get(gw.url + "/metrics")
    assert status == 200, body[:300]
    return body.decode()


def parse(text: str) -> Samples:
    """Every sample of a Prometheus text exposition, parsed with prometheus_client's own parser."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def scrape(gw: GatewayProcess) -> Samples:
    return parse(scrape_text(gw))


def named(samples: Samples, name: str) -> dict[Labels, float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def delta(before: Samples, after: Samples, name: str) -> dict[Labels, float]:
    """Per label set, how much ``name`` grew between two scrapes (label sets that did not change left out)."""
    old = named(before, name)
    out: dict[Labels, float] = {}
    for labels, value in named(after, name).items():
        grew = value - old.get(labels, 0.0)
        if grew:
            out[labels] = grew
    return out


def label_names(samples: Samples, name: str) -> set[frozenset[str]]:
    """The distinct label-name sets ``name`` is exposed with (``le`` left out)."""
    return {frozenset(k for k, _ in labels if k != "le") for labels in named(samples, name)}


def wait_for(check: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
    """Poll ``check`` until it returns something truthy; its value is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.02)


def log_lines(gw: GatewayProcess) -> list[str]:
    return [line for line in gw.logs().splitlines() if line.strip()]


def wait_for_lines(gw: GatewayProcess, needles: Iterable[str], timeout: float = 5.0) -> list[str]:
    """Wait until every needle appears in the gateway's output (the log writer is asynchronous)."""
    wanted = list(needles)

    def seen() -> list[str] | None:
        text = gw.logs()
        return log_lines(gw) if all(n in text for n in wanted) else None

    return wait_for(seen, timeout, f"log output containing {wanted}")


def api(gw: GatewayProcess, path: str, **params: Any) -> tuple[int, Any]:
    query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
    status, body = http_get(gw.url + path + (f"?{query}" if query else ""))
    return status, json.loads(body) if body else None


def logs_api(gw: GatewayProcess, **params: Any) -> dict[str, Any]:
    status, body = api(gw, "/api/logs", **params)
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def stats_api(gw: GatewayProcess, **params: Any) -> dict[str, Any]:
    status, body = api(gw, "/api/logs/stats", **params)
    assert status == 200, body
    assert isinstance(body, dict)
    return body


def wait_for_logged(gw: GatewayProcess, total: int, timeout: float = 10.0, **params: Any) -> dict[str, Any]:
    """Wait until /api/logs (with filters) holds ``total`` records; returns that answer."""
    last: dict[str, Any] = {}

    def check() -> dict[str, Any] | None:
        nonlocal last
        last = logs_api(gw, **params)
        return last if last["total"] >= total else None

    try:
        return wait_for(check, timeout, f"{total} records in /api/logs {params}")
    except AssertionError:
        raise AssertionError(f"/api/logs {params} holds {last.get('total')} records, expected {total}") from None


class StoreBackend:
    """Where a gateway's log store lives, and how to stall its writes from outside the gateway process."""

    def __init__(self, kind: str, location: str) -> None:
        self.kind = kind
        self.location = location  # sqlite: file path; postgres: database URL

    def logs_store(self) -> dict[str, Any]:
        """The ``logs_store`` section of config.json."""
        where = {"path": self.location} if self.kind == "sqlite" else {"url": self.location}
        return {"enabled": True, "type": self.kind, "config": where}

    @contextmanager
    def stalled(self) -> Iterator[None]:
        """Block every write to the request log table (reads still work) until the block ends.

        SQLite: an exclusive transaction held from this process (WAL: readers go on, writers wait on the lock).
        PostgreSQL: ``LOCK TABLE ... IN EXCLUSIVE MODE`` held in an open transaction (SELECT still allowed).
        """
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.location, isolation_level=None, timeout=5.0)
            try:
                conn.execute("BEGIN EXCLUSIVE")
                try:
                    yield
                finally:
                    conn.execute("COMMIT")
            finally:
                conn.close()
            return
        import asyncpg

        loop = asyncio.new_event_loop()
        try:
            pg = loop.run_until_complete(asyncpg.connect(self.location))
            try:
                loop.run_until_complete(pg.execute("BEGIN; LOCK TABLE request_logs IN EXCLUSIVE MODE"))
                try:
                    yield
                finally:
                    loop.run_until_complete(pg.execute("COMMIT"))
            finally:
                loop.run_until_complete(pg.close())
        finally:
            loop.close()
