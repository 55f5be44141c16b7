"""The Python floor: the smallest useful pass-through proxy (aiohttp server + pooled aiohttp client).

Usage: python bench/minimal_proxy.py --upstream http://127.0.0.1:9999 --port 8090 [--loop uvloop|asyncio]
Forwards POST /v1/chat/completions (JSON or SSE) to the upstream with the body untouched. Runs on uvloop by
default (what a user writing their own proxy would pick); `--loop asyncio` gives the default-loop floor.
"""

from __future__ import annotations

import argparse
import asyncio

import aiohttp
from aiohttp import web


def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=100 * 1024 * 1024)
    session_key = web.AppKey("session", aiohttp.ClientSession)

    async def start(app: web.Application) -> None:
        app[session_key] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))

    async def stop(app: web.Application) -> None:
        await app[session_key].close()

    async def proxy(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-floor"}
        async with app[session_key].post(upstream + request.path, data=body, headers=headers) as up:
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
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", default="http://127.0.0.1:9999")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    loop = None
    if args.loop == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    web.run_app(
        make_app(args.upstream), host=args.host, port=args.port, access_log=None, print=None, loop=loop
    )


if __name__ == "__main__":
    main()
