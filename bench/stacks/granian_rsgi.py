"""Stack comparison: granian's RSGI interface + aiohttp client, the same pass-through as minimal_proxy.py.

Usage: python bench/stacks/granian_rsgi.py --upstream http://127.0.0.1:9999 --port 8092 [--loop asyncio]
(runs ``granian --interface rsgi --workers 1 --runtime-threads 1 --loop uvloop``; the upstream
reaches the worker through the BENCH_UPSTREAM environment variable). Needs granian.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp
from common import POOL_LIMIT, UPSTREAM_HEADERS, exec_granian

UPSTREAM = os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:9999")
JSON_HEADERS = [("content-type", "application/json")]
SSE_HEADERS = [("content-type", "text/event-stream")]


class App:
    """An RSGI application; the client session is made on the worker's loop at first use."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def __rsgi__(self, scope: Any, proto: Any) -> None:
        if scope.proto != "http":
            return
        if self.session is None:
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL_LIMIT))
        body = await proto()
        async with self.session.post(UPSTREAM + scope.path, data=body, headers=UPSTREAM_HEADERS) as up:
            if up.content_type != "text/event-stream":
                proto.response_bytes(up.status, JSON_HEADERS, await up.read())
                return
            transport = proto.response_stream(up.status, SSE_HEADERS)
            async for data in up.content.iter_any():
                await transport.send_bytes(data)


app = App()


def main() -> None:
    exec_granian("granian_rsgi:app", 8092, __doc__)


if __name__ == "__main__":
    main()
