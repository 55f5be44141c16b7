"""What every bench/stacks/ proxy and the floor (bench/minimal_proxy.py) share: the command line, the event
loop choice and the upstream headers.

Each proxy is a script (``python bench/stacks/NAME.py --upstream URL --port N [--loop uvloop|asyncio]``)
with the behaviour of bench/minimal_proxy.py: POST /v1/chat/completions, body passed through untouched,
JSON or SSE relayed as it arrives, pooled upstream connections. uvloop is the default loop, as for the
floor; ``--loop asyncio`` runs the same proxy on the standard library's loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from typing import Any

UPSTREAM_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-floor"}
POOL_LIMIT = 1000  # upstream connections per proxy
MAX_BODY = 100 * 1024 * 1024  # the largest request body read
LOOPS = ("uvloop", "asyncio")


def parse_args(default_port: int, doc: str | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--upstream", default="http://127.0.0.1:9999")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--loop", choices=LOOPS, default="uvloop", help="event loop (default uvloop)")
    return parser.parse_args()


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """A function making a new event loop of the kind ``name`` (``uvloop`` or ``asyncio``)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def run_aiohttp(make_app: Callable[[str], Any], default_port: int, doc: str | None) -> None:
    """Parse the command line and serve ``make_app(upstream)`` (an aiohttp Application) on the chosen loop."""
    from aiohttp import web

    args = parse_args(default_port, doc)
    web.run_app(make_app(args.upstream), host=args.host, port=args.port, access_log=None, print=None,
                loop=loop_factory(args.loop)())


def exec_granian(app: str, default_port: int, doc: str | None) -> None:
    """Parse the command line and replace this process with granian serving the RSGI ``app`` ("module:name").

    One worker, one Rust runtime thread; the upstream reaches the worker through BENCH_UPSTREAM.
    """
    args = parse_args(default_port, doc)
    os.environ["BENCH_UPSTREAM"] = args.upstream
    argv = [
        "granian", "--interface", "rsgi", "--host", args.host, "--port", str(args.port),
        "--workers", "1", "--runtime-threads", "1", "--loop", args.loop, "--no-ws",
        "--no-access-log", "--log-level", "warning", "--working-dir", os.path.dirname(os.path.abspath(__file__)), app,
    ]
    os.execvp(argv[0], argv)
    sys.exit(127)
