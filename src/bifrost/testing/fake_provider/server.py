"""Running the fake: in a background thread (``FakeProvider``) or as a program (``main``)."""

from __future__ import annotations

import argparse
import asyncio
import threading
from types import TracebackType

from aiohttp import web

from .app import create_app
from .control import FakeControl
from .state import FakeState

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9999


class FakeProvider:
    """A fake provider serving on its own event loop in a daemon thread.

    ``with FakeProvider.start() as fake: ... fake.url ... fake.control.script({...})``
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.state = FakeState()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._run, name=f"fake-provider-{port}", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @classmethod
    def start(cls, host: str = DEFAULT_HOST, port: int = 0) -> FakeProvider:
        """Start serving on ``host:port`` (0: a free port) and return once it accepts requests."""
        fake = cls(host, port)
        fake._thread.start()
        fake._ready.wait()
        if fake._error is not None:
            fake._thread.join()
            raise RuntimeError(f"fake provider failed to start on {host}:{port}") from fake._error
        return fake

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def control(self) -> FakeControl:
        return FakeControl(self.url)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        self._loop.close()

    async def _serve(self) -> None:
        runner = web.AppRunner(create_app(self.state), handler_cancellation=True, access_log=None)
        await runner.setup()
        self._runner = runner
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        if self.port == 0:
            self.port = int(runner.addresses[0][1])

    def stop(self) -> None:
        """Stop serving and end the thread (idempotent)."""
        if not self._thread.is_alive():
            return
        runner = self._runner
        if runner is not None:
            future = asyncio.run_coroutine_threadsafe(runner.cleanup(), self._loop)
            future.result(timeout=10)
            self._runner = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self) -> FakeProvider:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """``bifrost-fake-provider [--host H] [--port P]``"""
    parser = argparse.ArgumentParser(
        prog="bifrost-fake-provider",
        description="Fake OpenAI / Anthropic / Gemini provider with a control API under /_fake/.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    args = parser.parse_args(argv)
    web.run_app(
        create_app(),
        host=args.host,
        port=args.port,
        handler_cancellation=True,
        access_log=None,
        print=lambda *_: print(
            f"bifrost fake provider listening on http://{args.host}:{args.port}", flush=True
        ),
    )
