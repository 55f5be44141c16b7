"""Stack comparison: aiohttp server + curl-cffi ``AsyncSession`` (libcurl multi), the pass-through of minimal_proxy.py.

Usage: python bench/stacks/aiohttp_curlcffi.py --upstream http://127.0.0.1:9999 --port 8096 [--loop asyncio]
One ``AsyncSession`` (``max_clients`` curl handles, each keeping its connection alive), redirects off,
each upstream call a streamed request (``stream=True``): JSON read whole, SSE relayed chunk by chunk as
libcurl's write callback delivers it. Needs curl-cffi (bench/requirements.txt).
"""

from __future__ import annotations

from aiohttp import web
from common import MAX_BODY, POOL_LIMIT, UPSTREAM_HEADERS, run_aiohttp
from curl_cffi.requests import AsyncSession


def make_app(upstream: str) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY)
    session_key = web.AppKey("session", AsyncSession)

    async def start(app: web.Application) -> None:
        app[session_key] = AsyncSession(max_clients=POOL_LIMIT, timeout=30, allow_redirects=False, trust_env=False)

    async def stop(app: web.Application) -> None:
        await app[session_key].close()

    async def proxy(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        up = await app[session_key].post(upstream + request.path, data=body, headers=UPSTREAM_HEADERS, stream=True)
        try:
            if not up.headers.get("content-type", "").startswith("text/event-stream"):
                data = await up.acontent()
                return web.Response(status=up.status_code, body=data, content_type="application/json")
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            async for data in up.aiter_content():
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
    run_aiohttp(make_app, 8096, __doc__)


if __name__ == "__main__":
    main()
