"""Stack comparison: granian's RSGI interface + aiohttp client, the same pass-through as minimal_proxy.py.

Usage: python bench/stacks/granian_rsgi.py --upstream http://127.0.0.1:9999 --port 8092
(runs ``granian --interface rsgi --workers 1 --runtime-threads 1 --loop asyncio``; the upstream
reaches the worker through the BENCH_UPSTREAM environment variable). Needs granian.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import aiohttp

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
            self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))
        body = await proto()
        headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-floor"}
        async with self.session.post(UPSTREAM + scope.path, data=body, headers=headers) as up:
            if up.content_type != "text/event-stream":
                proto.response_bytes(up.status, JSON_HEADERS, await up.read())
                return
            transport = proto.response_stream(up.status, SSE_HEADERS)
            async for data in up.content.iter_any():
                await transport.send_bytes(data)


app = App()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", default="http://127.0.0.1:9999")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8092)
    args = parser.parse_args()
    os.environ["BENCH_UPSTREAM"] = args.upstream
    here = os.path.dirname(os.path.abspath(__file__))
    argv = [
        "granian", "--interface", "rsgi", "--host", args.host, "--port", str(args.port),
        "--workers", "1", "--runtime-threads", "1", "--loop", "asyncio", "--no-ws",
        "--no-access-log", "--log-level", "warning", "--working-dir", here, "granian_rsgi:app",
    ]
    os.execvp(argv[0], argv)
    sys.exit(127)


if __name__ == "__main__":
    main()
