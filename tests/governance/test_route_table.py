"""No route bypasses governance: walk the real app's router and try every inference route.

Every route the app serves is either on the short exempt list below (health, metrics, the admin API,
model lists, the unknown-route answer) or must refuse a request without a virtual key (401) and one from
a key whose budget is spent (402) before doing anything else. A route added later (Responses, /genai,
passthrough, MCP) is covered by this test without changes; if it bypasses governance, this test fails.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
from aiohttp import web
from helpers import VK_A, VK_B, gov_config, vk

from bifrost.config.schema import build_config
from bifrost.server.app import create_app
from bifrost.testing.fake_provider import FakeProvider
from harness import free_port

EXEMPT_PREFIXES = ("/api/",)
EXEMPT = {("GET", "/health"), ("HEAD", "/health"), ("GET", "/metrics"), ("HEAD", "/metrics"), ("*", "/{tail}")}
_PARAM = re.compile(r"\{([a-zA-Z_]+)(?::[^}]*)?\}")
SAMPLES = {"model": "gpt-4o-mini", "tail": "x"}


def _exempt(method: str, path: str) -> bool:
    if (method, path) in EXEMPT or path.startswith(EXEMPT_PREFIXES) or method == "OPTIONS":
        return True
    return method in ("GET", "HEAD") and path.endswith("/models")  # lists of configured models


def _inference_routes(app: web.Application) -> list[tuple[str, str]]:
    routes = []
    for route in app.router.routes():
        resource = route.resource
        path = resource.canonical if resource is not None else ""
        if not _exempt(route.method, path):
            method = "POST" if route.method == "*" else route.method  # a route for every method
            routes.append((method, _PARAM.sub(lambda m: SAMPLES.get(m.group(1), "abc123"), path)))
    return routes


def test_every_inference_route_enforces_auth_and_budget(fake: FakeProvider) -> None:
    config = build_config(
        gov_config(
            fake.url,
            [vk("spender", VK_A), vk("broke", VK_B, budget={"max_limit": 0, "reset_duration": "1d"})],
            client={"enforce_auth_on_inference": True},
        ),
        {},
    )

    async def go() -> list[str]:
        app = create_app(config)
        routes = _inference_routes(app)
        assert len(routes) >= 6, routes  # chat, completions, embeddings on three prefixes, messages, ...
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        failures = []
        try:
            async with aiohttp.ClientSession() as session:
                for method, path in routes:
                    url = f"http://127.0.0.1:{port}{path}"
                    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
                    async with session.request(method, url, json=body) as resp:
                        if resp.status != 401:
                            failures.append(f"{method} {path}: no key -> {resp.status}, expected 401")
                    async with session.request(method, url, json=body, headers={"x-bf-vk": VK_B}) as resp:
                        if resp.status != 402:
                            failures.append(f"{method} {path}: spent budget -> {resp.status}, expected 402")
        finally:
            await runner.cleanup()
        return failures

    failures = asyncio.run(go())
    assert not failures, "inference routes that bypass governance:\n" + "\n".join(failures)
    assert fake.control.log() == []  # nothing reached a provider
