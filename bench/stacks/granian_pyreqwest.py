"""Stack comparison: granian RSGI + pyreqwest client (both Rust), the same pass-through as minimal_proxy.py.

Usage: python bench/stacks/granian_pyreqwest.py --upstream http://127.0.0.1:9999 --port 8097 [--loop asyncio]
(runs ``granian --interface rsgi --workers 1 --runtime-threads 1 --loop uvloop``; the upstream reaches the
worker through the BENCH_UPSTREAM environment variable). The client is set up as in aiohttp_pyreqwest.py.
Needs granian and pyreqwest. With BENCH_WATCH_DISCONNECT=1 each request also races the proxying against
``proto.client_disconnect()`` and cancels it when the client goes away (what aiohttp's
``handler_cancellation=True`` gives the gateway for free): the cost of that per-request watcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import timedelta
from typing import Any

from common import POOL_LIMIT, UPSTREAM_HEADERS, exec_granian
from pyreqwest.client import Client, ClientBuilder

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:9999")
WATCH_DISCONNECT = os.environ.get("BENCH_WATCH_DISCONNECT") == "1"
JSON_HEADERS = [("content-type", "application/json")]
SSE_HEADERS = [("content-type", "text/event-stream")]


class App:
    """An RSGI application; the client is made on the worker's loop at first use."""

    def __init__(self) -> None:
        self.client: Client | None = None

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        if not WATCH_DISCONNECT:
            return await self.proxy(scope, proto)
        work = asyncio.ensure_future(self.proxy(scope, proto))
        gone = asyncio.ensure_future(proto.client_disconnect())
        await asyncio.wait((work, gone), return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if not work.done():
            work.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await work

    async def proxy(self, scope: Any, proto: Any) -> None:
        if self.client is None:
            self.client = (ClientBuilder().max_connections(POOL_LIMIT).pool_max_idle_per_host(POOL_LIMIT)
                           .follow_redirects(False).timeout(timedelta(seconds=30)).build())
        body = await proto()
        req = self.client.post(UPSTREAM + scope.path).headers(UPSTREAM_HEADERS).body_bytes(body)
        async with req.streamed_read_buffer_limit(0).build_streamed() as up:
            if not (up.get_header("content-type") or "").startswith("text/event-stream"):
                proto.response_bytes(up.status, JSON_HEADERS, bytes(await up.bytes()))
                return
            transport = proto.response_stream(up.status, SSE_HEADERS)
            reader = up.body_reader
            while (chunk := await reader.read_chunk()) is not None:
                await transport.send_bytes(bytes(chunk))


app = App()


def main() -> None:
    exec_granian("granian_pyreqwest:app", 8097, __doc__)


if __name__ == "__main__":
    main()
