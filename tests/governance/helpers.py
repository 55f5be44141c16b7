"""Shared by the governance tests: configs with virtual keys, SDK clients, concurrent bursts."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiohttp
import openai
from multidict import CIMultiDict

from harness import GatewayProcess, openai_config

VK_A = "sk-bf-team-a-0123456789"
VK_B = "sk-bf-team-b-9876543210"
CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]}


def vk(vk_id: str, value: str, **rules: Any) -> dict[str, Any]:
    return {"id": vk_id, "value": value, **rules}


def gov_config(
    fake_url: str,
    virtual_keys: Sequence[dict[str, Any]] = (),
    providers: Mapping[str, Any] | None = None,
    state_store: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    """The harness's typical config plus a governance section (and a state store when given)."""
    governance: dict[str, Any] = {"virtual_keys": list(virtual_keys)}
    if providers:
        governance["providers"] = dict(providers)
    config = openai_config(fake_url, governance=governance, **overrides)
    if state_store is not None:
        config["state_store"] = dict(state_store)
    return config


def redis_store(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "redis", "config": {"url": url}, **extra}


def sdk(gw: GatewayProcess, api_key: str = VK_A, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key=api_key, max_retries=0, timeout=30, **kwargs)


def post(
    url: str, body: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None, timeout: float = 30
) -> tuple[int, CIMultiDict[str], Any]:
    """A raw POST (status, headers, parsed JSON body or text), without any SDK."""

    async def go() -> tuple[int, CIMultiDict[str], Any]:
        async with aiohttp.ClientSession() as session, session.post(
            url, json=body if body is not None else CHAT, headers=dict(headers or {}),
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as resp:
            text = await resp.text()
            try:
                data: Any = json.loads(text)
            except ValueError:
                data = text
            return resp.status, CIMultiDict(resp.headers), data

    return asyncio.run(go())


async def burst(
    urls: Sequence[str], n: int, headers: Mapping[str, str], body: Mapping[str, Any] | None = None
) -> list[int]:
    """`n` requests at once, spread round-robin over `urls`; their statuses."""
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = asyncio.Event()

        async def one(i: int) -> int:
            await start.wait()
            async with session.post(
                urls[i % len(urls)], json=body or CHAT, headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=60),
            ) as resp:
                await resp.read()
                return resp.status

        tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
        await asyncio.sleep(0.05)
        start.set()
        return list(await asyncio.gather(*tasks))


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until `check` returns a truthy value (for state that settles after an answer)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.05)


def usage_of(gw: GatewayProcess, vk_id: str) -> dict[str, Any]:
    from harness import http_get

    status, body = http_get(gw.url + "/api/governance/virtual-keys")
    assert status == 200, body
    keys = {k["id"]: k for k in json.loads(body)["virtual_keys"]}
    return keys[vk_id]
