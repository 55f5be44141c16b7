"""The Python floor: the smallest useful pass-through proxy (aiohttp server + pooled aiohttp client).

Usage: python bench/minimal_proxy.py --upstream http://127.0.0.1:9999 --port 8090 [--loop uvloop|asyncio]
Forwards POST /v1/chat/completions (JSON or SSE) to the upstream with the body untouched. Runs on uvloop by
default (what a user writing their own proxy would pick); `--loop asyncio` gives the default-loop floor.
The command line, the pool size, the body limit and the upstream headers are those of every bench/stacks/
proxy (bench/stacks/common.py).
"""

from __future__ import annotations

import aiohttp
from aiohttp import web

from stacks.common import MAX_BODY, POOL_LIMIT, UPSTREAM_HEADERS, run_aiohttp


def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def start(app: web.Application) -> None:
        app[session_key] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL_LIMIT))

    async def stop(app: web.Application) -> None:
        await app[session_key].close()

    async def proxy(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        async with app[session_key].post(upstream + request.path, data=body, headers=UPSTREAM_HEADERS) as up:
            if up.content_type != "text/event-stream":
                return web.Response(status=up.status, body=await up.read(), content_type="application/json")
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            async for data in up.content.iter_any():
                await resp.write(data)
            await resp.write_eof()
            return resp

    app.router.add_post("/v1/chat/completions", proxy)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def main() -> None:
    run_aiohttp(make_app, 8090, __doc__)


if __name__ == "__main__":
    main()
