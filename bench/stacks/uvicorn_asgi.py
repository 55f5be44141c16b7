"""Stack comparison: uvicorn + a raw ASGI app + aiohttp client, the same pass-through as minimal_proxy.py.

Usage: python bench/stacks/uvicorn_asgi.py --upstream http://127.0.0.1:9999 --port 8093 [--loop asyncio]
(uvicorn on uvloop with httptools, access log off). Needs uvicorn and httptools.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import uvicorn
from common import POOL_LIMIT, UPSTREAM_HEADERS, parse_args

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [(b"content-type", b"text/event-stream")]


class App:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.session: aiohttp.ClientSession | None = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        elif scope["type"] == "http":
            await self.proxy(scope, receive, send)

    async def lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL_LIMIT))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def proxy(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        assert self.session is not None
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        url = self.upstream + scope["path"]
        async with self.session.post(url, data=b"".join(chunks), headers=UPSTREAM_HEADERS) as up:
            if up.content_type != "text/event-stream":
                body = await up.read()
                await send({"type": "http.response.start", "status": up.status, "headers": JSON_HEADERS})
                await send({"type": "http.response.body", "body": body})
                return
            await send({"type": "http.response.start", "status": up.status, "headers": SSE_HEADERS})
            async for data in up.content.iter_any():
                await send({"type": "http.response.body", "body": data, "more_body": True})
            await send({"type": "http.response.body", "body": b""})


def main() -> None:
    args = parse_args(8093, __doc__)
    uvicorn.run(
        App(args.upstream), host=args.host, port=args.port, loop=args.loop, http="httptools",
        lifespan="on", access_log=False, log_level="warning",
    )


if __name__ == "__main__":
    main()
