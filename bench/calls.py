"""Python calls per request: the gateway (or the floor) served in this process, counted while wrk drives it.

    python bench/calls.py [--stream] [--floor] [--detail PREFIX]

A deterministic companion to the timings (which move with whatever else the machine runs): every Python
function entered (each resumption of a coroutine or generator counts again) and every C function called,
per request, grouped by package, for the configuration bench/run.py measures (governance, an MCP client
with no tools, metrics). ``--detail src/bifrost/server`` lists that prefix's functions one by one. Starts
its own fake provider; needs wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import FrameType
from typing import Any

import uvloop
from aiohttp import web

from run import BENCH_VK, PATH, WRK_SCRIPT, fake_provider, free_port, full_gateway_config

Counts = collections.Counter[tuple[str, str]]


def _where(filename: str) -> str:
    for cut in ("site-packages/", "/src/"):
        if cut in filename:
            return ("src/" if cut == "/src/" else "") + filename.split(cut)[-1]
    return filename


def profiler(counts: Counts) -> Any:
    def count(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            counts[(_where(frame.f_code.co_filename), frame.f_code.co_name)] += 1
        elif event == "c_call":
            counts[("C<" + _where(frame.f_code.co_filename), getattr(arg, "__qualname__", str(arg)))] += 1

    return count


def group(name: str) -> str:
    name = name[2:] if name.startswith("C<") else name
    if name.startswith("src/bifrost/"):
        return "/".join(name.split("/")[:3])
    if "/python3" in name or name.startswith("<"):
        return "stdlib"
    return name.split("/")[0]


async def serve(app: web.Application, url_wanted: list[str], stream: bool, seconds: int, counts: Counts) -> int:
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    url = f"http://127.0.0.1:{port}{PATH}"
    argv = ["wrk", "-t1", "-c8", "-s", str(WRK_SCRIPT), url] + (["--", "stream"] if stream else [])
    loop = asyncio.get_running_loop()

    def drive(duration: str) -> str:
        return subprocess.run([*argv[:3], f"-d{duration}", *argv[3:]], capture_output=True, text=True).stdout

    await loop.run_in_executor(None, drive, "1s")  # warm-up, not counted
    sys.setprofile(profiler(counts))  # this thread only: the event loop's
    out = await loop.run_in_executor(None, drive, f"{seconds}s")
    sys.setprofile(None)
    await runner.cleanup()
    line = next(ln for ln in out.splitlines() if ln.startswith("BENCHJSON "))
    return int(json.loads(line[len("BENCHJSON "):])["requests"])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stream", action="store_true")
    p.add_argument("--floor", action="store_true", help="count bench/minimal_proxy.py instead")
    p.add_argument("--seconds", type=int, default=2)
    p.add_argument("--detail", default="")
    p.add_argument("--governance", action="store_true",
                   help="bench_governance.py's virtual key: request and token windows, a concurrency cap, a budget")
    args = p.parse_args()
    os.environ["BENCH_API_KEY"] = BENCH_VK
    counts: Counts = collections.Counter()
    with tempfile.TemporaryDirectory() as tmp, fake_provider(Path(tmp)) as (_fake, fake_url):
        if args.floor:
            import minimal_proxy

            app = minimal_proxy.make_app(fake_url)
        else:
            from bifrost.config import load_config
            from bifrost.observability.observer import Observer
            from bifrost.server.app import create_app

            path = full_gateway_config(fake_url, Path(tmp))
            if args.governance:
                import bench_governance

                data = json.loads(path.read_text())
                data["governance"] = {"virtual_keys": [bench_governance.RULES]}
                os.environ["BENCH_API_KEY"] = bench_governance.VK
                path.write_text(json.dumps(data))
            config = load_config(str(path))
            app = create_app(config, Observer.from_config(config), bind_host="127.0.0.1")
        n = uvloop.run(serve(app, [], args.stream, args.seconds, counts))
    total = sum(counts.values())
    print(f"{'floor' if args.floor else 'bifrost'} {'streaming' if args.stream else 'non-streaming'}: "
          f"{n} requests, {total / n:.0f} Python and C calls per request")
    by_group: collections.Counter[str] = collections.Counter()
    for (where, _), c in counts.items():
        by_group[group(where)] += c
    for name, c in by_group.most_common(12):
        print(f"{c / n:8.1f}  {name}")
    if args.detail:
        for (where, name), c in counts.most_common():
            if args.detail in where:
                print(f"{c / n:8.2f}  {where}:{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
