"""Stack comparison: uvicorn + a raw ASGI app + aiohttp client, the same pass-through as minimal_proxy.py.

Usage: python bench/stacks/uvicorn_asgi.py --upstream http://127.0.0.1:9999 --port 8093
(uvicorn with the asyncio loop and httptools when installed, access log off). Needs uvicorn.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import uvicorn

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
                self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
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
        headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-floor"}
        url = self.upstream + scope["path"]
        async with self.session.post(url, data=b"".join(chunks), headers=headers) as up:
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
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", default="http://127.0.0.1:9999")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8093)
    args = parser.parse_args()
    try:
        import httptools  # noqa: F401

        http = "httptools"
    except ImportError:
        http = "h11"
    uvicorn.run(
        App(args.upstream), host=args.host, port=args.port, loop="asyncio", http=http,
        lifespan="on", access_log=False, log_level="warning",
    )


if __name__ == "__main__":
    main()
