"""`bifrost demo`: the gateway on the packaged demo config, every provider played by the fake provider.

Starts the fake provider, starts the gateway with the SQLite log store in a temporary folder, answers one
request through the official `openai` SDK (when installed), prints where everything is and a curl line to
try, then keeps serving until Ctrl-C, so you can point your own code at it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
import urllib.request
from importlib.resources import files

from bifrost.config import ConfigError, load_config


def _first_request(port: int, fake_url: str) -> None:
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(base + "/health", timeout=1).read()
            break
        except OSError:
            time.sleep(0.05)
    try:
        import openai
    except ImportError:
        print(f"demo: gateway up at {base}/openai (install the openai package to see a sample request)")
    else:
        client = openai.OpenAI(base_url=base + "/openai", api_key="not-needed-for-the-demo")
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello from the Bifrost demo!"}]
        )
        print(f"demo: openai SDK -> {base}/openai -> {reply.model}: {reply.choices[0].message.content!r}")
    print(
        f"demo: Bifrost is serving on {base} (Ctrl-C to stop); every provider is the fake provider at {fake_url}\n"
        "demo: try a request, then see it in the request log:\n"
        f"  curl {base}/openai/v1/chat/completions -H 'Content-Type: application/json' "
        '-d \'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}\'\n'
        f"  curl '{base}/api/logs?limit=5'\n"
        f"  curl {base}/metrics",
        flush=True,
    )


def run_demo(argv: list[str]) -> int:
    from bifrost.cli import ListenError, _setup_logging, run_worker
    from bifrost.testing.fake_provider import FakeProvider

    p = argparse.ArgumentParser(prog="bifrost demo")
    p.add_argument("--host", default=os.environ.get("BIFROST_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("BIFROST_PORT", "8080")))
    p.add_argument("--config", default=str(files("bifrost") / "examples" / "demo.config.json"))
    p.add_argument("--once", action="store_true", help="answer the sample request, then stop")
    args = p.parse_args(argv)
    _setup_logging("info", "text")
    fake = FakeProvider.start()
    logs_dir = tempfile.mkdtemp(prefix="bifrost-demo-")
    os.environ["BIFROST_DEMO_UPSTREAM"] = fake.url
    os.environ["BIFROST_DEMO_LOGS_DB"] = os.path.join(logs_dir, "logs.db")
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc)
        return 2
    print(f"demo: request log (SQLite) in {os.environ['BIFROST_DEMO_LOGS_DB']}", flush=True)

    async def serve() -> None:
        bound = asyncio.Event()
        worker = asyncio.create_task(run_worker(config, args.host, args.port, reuse_port=False, bound=bound))
        await asyncio.wait({worker, asyncio.create_task(bound.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if worker.done():  # could not bind: raise its ListenError
            await worker
        await asyncio.to_thread(_first_request, args.port, fake.url)
        if args.once:
            os.kill(os.getpid(), 15)
        await worker

    try:
        asyncio.run(serve())
    except ListenError as exc:
        print(exc, file=sys.stderr)
        return 1
    finally:
        fake.stop()
        shutil.rmtree(logs_dir, ignore_errors=True)
    return 0
