"""Soak: hostile clients next to normal traffic. Normal requests all succeed, and their p99 latency is
measured alone and with the hostile clients running (printed; no timed assertion: the suite shares the
machine). The latency claim, normal p99 unchanged within noise, is measured by ``bench/soak_hostile.py``
with the gateway on a core of its own, and recorded in docs/security.md."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import time
import zlib
from pathlib import Path

import aiohttp

from bifrost.testing.fake_provider import FakeProvider
from harness import HOST, GatewayFactory, openai_config

from .helpers import CHAT

PHASE_S = 8.0
NORMAL_CONCURRENCY = 4
NORMAL_PAUSE_S = 0.05  # normal traffic at a steady ~70 req/s, below saturation, so a stall would show


async def _normal(url: str, until: float) -> list[float]:
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:

        async def worker() -> None:
            while time.monotonic() < until:
                started = time.perf_counter()
                async with session.post(url, json=CHAT) as resp:
                    await resp.read()
                    assert resp.status == 200, await resp.text()
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(NORMAL_PAUSE_S)

        await asyncio.gather(*(worker() for _ in range(NORMAL_CONCURRENCY)))
    return latencies


HOSTILE_KINDS = ("heads", "junk", "bombs", "logs")


async def _hostile(port: int, base: str, until: float, kinds: frozenset[str] = frozenset(HOSTILE_KINDS)) -> int:
    """Slow heads, bad bytes, label floods, compressed bombs and big admin reads, in a loop (or some of them:
    bench/soak_hostile.py measures them one kind at a time)."""
    loop = asyncio.get_running_loop()
    bomb = zlib.compress(b'{"model":"gpt-4o-mini","pad":"' + b" " * (8 * 1024 * 1024), 9)
    sent = 0
    async with aiohttp.ClientSession() as session:

        async def slow_heads() -> None:
            nonlocal sent
            while time.monotonic() < until:
                socks = []
                for _ in range(20):
                    s = socket.socket()
                    s.setblocking(False)
                    await loop.sock_connect(s, (HOST, port))
                    await loop.sock_sendall(s, b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
                    socks.append(s)
                sent += 20
                await asyncio.sleep(1.0)
                for s in socks:
                    s.close()

        async def junk() -> None:
            nonlocal sent
            while time.monotonic() < until:
                if "junk" in kinds:
                    headers = {"x-bf-prom-team": f"team-{sent}", "x-request-id": "r" * 150, "x-bf-api-key": "nope"}
                    async with session.post(base + "/v1/chat/completions", data=b"{not json", headers=headers) as r:
                        await r.read()
                    sent += 1
                if "bombs" in kinds:
                    try:  # refused and the connection closed: the client may see its upload cut
                        async with session.post(base + "/v1/chat/completions", data=bomb,
                                                headers={"Content-Encoding": "deflate"}) as r:
                            await r.read()
                    except aiohttp.ClientError:
                        pass
                    sent += 1
                if "logs" in kinds:
                    async with session.get(base + "/api/logs?limit=1000") as r:
                        await r.read()
                    sent += 1
                if not kinds & {"junk", "bombs", "logs"}:
                    await asyncio.sleep(1.0)

        await asyncio.gather(junk(), junk(), *([slow_heads()] if "heads" in kinds else []))
    return sent


def _hostile_process(port: int, base: str, seconds: float, kinds: tuple[str, ...] = HOSTILE_KINDS,
                     cpus: set[int] | None = None) -> int:
    """The hostile clients. `cpus`: run on these CPUs at the lowest priority, standing for attackers on
    other machines (their own CPU use is then not taken from the gateway or the normal client)."""
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
        os.nice(19)
    return asyncio.run(_hostile(port, base, time.monotonic() + seconds, frozenset(kinds)))


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 100 else max(values)


def test_hostile_clients_do_not_hurt_normal_traffic(
    fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    config = openai_config(fake.url, client={"max_request_body_size_mb": 1, "prometheus_labels": ["team"]},
                           logs_store={"enabled": True, "type": "sqlite", "config": {"path": str(tmp_path / "l.db")}})
    gw = start_gateway(config)
    url = gw.v1_url + "/chat/completions"
    alone = asyncio.run(_normal(url, time.monotonic() + PHASE_S))

    # the hostile clients run in their own process, so they do not slow the normal client's own event loop
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        pending = pool.apply_async(_hostile_process, (gw.port, gw.url, PHASE_S + 1.0))
        time.sleep(0.5)
        mixed = asyncio.run(_normal(url, time.monotonic() + PHASE_S))
        hostile = pending.get(timeout=PHASE_S * 4)
    report = {"normal_alone": {"n": len(alone), "p50_ms": round(statistics.median(alone) * 1000, 2),
                               "p99_ms": round(_p99(alone) * 1000, 2)},
              "normal_with_hostile": {"n": len(mixed), "p50_ms": round(statistics.median(mixed) * 1000, 2),
                                      "p99_ms": round(_p99(mixed) * 1000, 2)},
              "hostile_requests": hostile}
    print("\nsoak:", json.dumps(report))
    assert alone and mixed and hostile
    assert gw.alive()
