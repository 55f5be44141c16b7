"""Stack comparison: aiohttp server + pyreqwest (Rust reqwest/hyper) client, the pass-through of minimal_proxy.py.

Usage: python bench/stacks/aiohttp_pyreqwest.py --upstream http://127.0.0.1:9999 --port 8095 [--loop asyncio]
One ``pyreqwest`` ``Client`` (its own Tokio runtime thread, single-threaded by default), redirects off,
each upstream call a streamed request: JSON read whole, SSE relayed chunk by chunk as reqwest hands it
over. ``streamed_read_buffer_limit(0)``: by default pyreqwest reads up to 64 KiB ahead before it hands
the response over, which holds a slow SSE stream back until its end (bench/stacks/client_checks.py).
Needs pyreqwest (bench/requirements.txt).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from common import MAX_BODY, POOL_LIMIT, UPSTREAM_HEADERS, run_aiohttp
from pyreqwest.client import Client, ClientBuilder


def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    client_key = web.AppKey("client", Client)

    async def start(app: web.Application) -> None:
        app[client_key] = (
            ClientBuilder()
            .max_connections(POOL_LIMIT)
            .pool_max_idle_per_host(POOL_LIMIT)
            .follow_redirects(False)
            .timeout(timedelta(seconds=30))
            .build()
        )

    async def stop(app: web.Application) -> None:
        await app[client_key].close()

    async def proxy(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        req = app[client_key].post(upstream + request.path).headers(UPSTREAM_HEADERS).body_bytes(body)
        req = req.streamed_read_buffer_limit(0)
        async with req.build_streamed() as up:
            if not (up.get_header("content-type") or "").startswith("text/event-stream"):
                data = await up.bytes()
                return web.Response(status=up.status, body=memoryview(data), content_type="application/json")
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            reader = up.body_reader
            while (chunk := await reader.read_chunk()) is not None:
                await resp.write(memoryview(chunk))
            await resp.write_eof()
            return resp

    app.router.add_post("/v1/chat/completions", proxy)
    app.on_startup.append(start)
    app.on_cleanup.append(stop)
    return app


def main() -> None:
    run_aiohttp(make_app, 8095, __doc__)


if __name__ == "__main__":
    main()
