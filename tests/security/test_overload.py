"""Finding 10: a key cooling down for a second must not turn a 5% upstream 429 rate into near-total refusal.

Two keys; 5% of upstream answers are 429 with Retry-After: 1. Before, 98.3% of client requests got the
gateway's own 429 all_keys_cooling_down. Now a request that finds every key cooling waits for the soonest
one when it is free within the request's timeout (holding no queue slot). Measured client error rate for
this mix (printed; docs/security.md): the target is under 10%.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import aiohttp

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory

from .helpers import CHAT

N_REQUESTS = 600
CONCURRENCY = 24


async def _load(url: str) -> Counter[int]:
    sem = asyncio.Semaphore(CONCURRENCY)
    async with aiohttp.ClientSession() as session:

        async def one() -> int:
            async with sem, session.post(url, json=CHAT) as resp:
                await resp.read()
                return resp.status

        return Counter(await asyncio.gather(*(one() for _ in range(N_REQUESTS))))


def test_five_percent_upstream_429s_stay_a_few_percent_of_client_errors(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    keys = [{"name": n, "value": f"sk-{n}-0000", "models": ["gpt-4o-mini"]} for n in ("one", "two")]
    gw = start_gateway({"providers": {"openai": {"keys": keys, "network_config": {"base_url": fake.url}}}})
    fake.control.default({"fail_rate": 0.05, "status": 429, "retry_after": 1, "latency_ms": 5})
    statuses = asyncio.run(_load(gw.v1_url + "/chat/completions"))
    errors = N_REQUESTS - statuses[200]
    upstream_429 = sum(1 for r in fake.control.log() if r) - statuses[200]
    rate = errors / N_REQUESTS
    print(f"\nclient error rate {rate:.1%} ({dict(statuses)}); upstream 429s: {upstream_429}")
    assert set(statuses) <= {200, 429}
    assert rate < 0.10, statuses
