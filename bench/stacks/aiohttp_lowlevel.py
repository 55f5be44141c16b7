"""Stack comparison: aiohttp's low-level server (no Application, router or middleware) + aiohttp client.

Usage: python bench/stacks/aiohttp_lowlevel.py --upstream http://127.0.0.1:9999 --port 8094 [--loop asyncio]
``web.Server`` with one plain handler behind ``web.ServerRunner`` + ``web.TCPSite``: what is left of
aiohttp's server once the application layer (routing, middlewares, signals, the ``web.Request`` subclass)
is gone. The handler answers POST /v1/chat/completions like bench/minimal_proxy.py, and 404 otherwise.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
from aiohttp import web
from common import MAX_BODY, POOL_LIMIT, UPSTREAM_HEADERS, loop_factory, parse_args

PATH = "/v1/chat/completions"


def request_factory(loop: asyncio.AbstractEventLoop) -> Any:
    """Requests that may carry bodies up to MAX_BODY (the low-level Server's own factory keeps 1 MiB)."""

    def make(message: Any, payload: Any, protocol: Any, writer: Any, task: Any) -> web.BaseRequest:
        return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=MAX_BODY)

    return make


async def serve(upstream: str, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL_LIMIT))

    async def proxy(request: web.BaseRequest) -> web.StreamResponse:
        if request.method != "POST" or request.path != PATH:
            return web.Response(status=404)
        body = await request.read()
        async with session.post(upstream + PATH, data=body, headers=UPSTREAM_HEADERS) as up:
            if up.content_type != "text/event-stream":
                return web.Response(status=up.status, body=await up.read(), content_type="application/json")
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(request)
            async for data in up.content.iter_any():
                await resp.write(data)
            await resp.write_eof()
            return resp

    server = web.Server(proxy, request_factory=request_factory(loop), access_log=None)
    runner = web.ServerRunner(server, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    try:
        await stopped.wait()
    finally:
        await runner.cleanup()
        await session.close()


def main() -> None:
    args = parse_args(8094, __doc__)
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        runner.run(serve(args.upstream, args.host, args.port))


if __name__ == "__main__":
    main()
