"""Stack comparison: aiohttp server + httpx AsyncClient, the same pass-through as bench/minimal_proxy.py.

Usage: python bench/stacks/aiohttp_httpx.py --upstream http://127.0.0.1:9999 --port 8091 [--loop asyncio]
Needs httpx (bench/requirements.txt).
"""

from __future__ import annotations

import httpx
from aiohttp import web
from common import MAX_BODY, POOL_LIMIT, UPSTREAM_HEADERS, run_aiohttp


def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    client_key = web.AppKey("client", httpx.AsyncClient)

    async def start(app: web.Application) -> None:
        limits = httpx.Limits(max_connections=POOL_LIMIT, max_keepalive_connections=POOL_LIMIT)
        app[client_key] = httpx.AsyncClient(limits=limits, timeout=30.0)

    async def stop(app: web.Application) -> None:
        await app[client_key].aclose()

    async def proxy(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        client = app[client_key]
        url = upstream + request.path
        up = await client.send(client.build_request("POST", url, content=body, headers=UPSTREAM_HEADERS), stream=True)
        try:
            if not up.headers.get("content-type", "").startswith("text/event-stream"):
                data = await up.aread()
                return web.Response(status=up.status_code, body=data, content_type="application/json")
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            async for data in up.aiter_raw():
                await resp.write(data)
            await resp.write_eof()
            return resp
        finally:
            await up.aclose()

    app.router.add_post("/v1/chat/completions", proxy)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def main() -> None:
    run_aiohttp(make_app, 8091, __doc__)


if __name__ == "__main__":
    main()
