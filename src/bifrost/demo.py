"""`bifrost demo`: the gateway on the packaged demo config, every provider played by the fake provider.

Starts the fake provider, starts the gateway, answers one request through the official `openai` SDK
(when installed), then keeps serving until Ctrl-C, so you can point your own code at it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import urllib.request
from importlib.resources import files

from bifrost.config import ConfigError, load_config


def _first_request(port: int) -> None:
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
        return
    client = openai.OpenAI(base_url=base + "/openai", api_key="not-needed-for-the-demo")
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Hello from the Bifrost demo!"}]
    )
    print(f"demo: openai SDK -> {base}/openai -> {reply.model}: {reply.choices[0].message.content!r}")
    print(
        f"demo: Bifrost is serving on {base} (Ctrl-C to stop). Try:\n"
        f"  curl {base}/openai/v1/chat/completions -H 'Content-Type: application/json' "
        '-d \'{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}\'',
        flush=True,
    )


def run_demo(argv: list[str]) -> int:
    from bifrost.cli import _report, _setup_logging, run_worker
    from bifrost.testing.fake_provider import FakeProvider

    p = argparse.ArgumentParser(prog="bifrost demo")
    p.add_argument("--host", default=os.environ.get("BIFROST_HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("BIFROST_PORT", "8080")))
    p.add_argument("--config", default=str(files("bifrost") / "examples" / "demo.config.json"))
    p.add_argument("--once", action="store_true", help="answer the sample request, then stop")
    args = p.parse_args(argv)
    _setup_logging("info", "text")
    fake = FakeProvider.start()
    os.environ["BIFROST_DEMO_UPSTREAM"] = fake.url
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc)
        return 2
    _report(config, args.host, args.port, 1)

    async def serve() -> None:
        worker = asyncio.create_task(run_worker(config, args.host, args.port, reuse_port=False))
        await asyncio.to_thread(_first_request, args.port)
        if args.once:
            os.kill(os.getpid(), 15)
        await worker

    try:
        asyncio.run(serve())
    finally:
        fake.stop()
    return 0
