"""Client connections: slow and idle clients are closed, and accept-time failures log one line a second.

* ``keepalive_timeout_seconds``: an idle connection (no request in progress, nothing received) is closed
  after this long; aiohttp applies it from the moment a connection opens, too.
* ``header_read_timeout_seconds``: once the first byte of a request head arrives, the whole head must
  arrive within this time, or the connection is closed (partial heads, one byte every few seconds).
* ``body_read_timeout_seconds`` bounds reading a request body (`Gateway.read_json`: 408).
* Running out of file descriptors makes ``accept()`` fail on every loop turn; asyncio's own handler would
  print a traceback each time. `install_loop_guards` logs such loop errors as one line per second.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

from bifrost.config.model import ClientConfig

log = logging.getLogger("bifrost.server")


LINGER_S = 2.0  # how long the unread rest of a refused body is read and discarded (aiohttp's default: 10 s)


def client_connection_settings(client: ClientConfig) -> dict[str, Any]:
    """aiohttp server settings (AppRunner keyword arguments) from config.client.

    ``auto_decompress`` off: compressed bodies are inflated by bifrost.server.bodies, off the event loop, so
    the rest of a refused body is only read and discarded, never inflated ("lingering", up to LINGER_S):
    closing a socket with unread data would reset the connection, and the client would lose the 413 it is
    owed before it finished sending."""
    return {
        "keepalive_timeout": client.keepalive_timeout_seconds,
        "auto_decompress": False,
        "lingering_time": LINGER_S,
    }


def apply_client_settings(runner: web.AppRunner, client: ClientConfig) -> None:
    """A reloaded config.client for connections accepted from now on (open ones keep their settings)."""
    server: Any = runner.server
    if isinstance(server, _GuardedServer):
        server._timeout = client.header_read_timeout_seconds
        server = server._server
    if server is not None:
        server._kwargs.update(client_connection_settings(client))


class _HeadDeadline(asyncio.Protocol):
    """Wraps aiohttp's request handler: a request head that starts arriving must finish within `timeout`."""

    __slots__ = ("_count", "_handle", "_inner", "_loop", "_timeout", "_transport")

    def __init__(self, inner: Any, timeout: float, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._timeout = timeout
        self._loop = loop
        self._handle: asyncio.TimerHandle | None = None
        self._count = 0
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        inner = self._inner
        waiting = inner._current_request is None and not inner._messages  # between requests: a head starts
        if waiting and self._handle is None:
            # Only a connection's first bytes are checked: later ones may be the rest of a body whose request
            # was already answered (a refused body that aiohttp drains), which is not a head at all.
            line, newline, _ = data.partition(b"\n")
            first = inner._request_count == 0
            if first and newline and b" HTTP/" not in line and self._transport is not None:
                self._transport.close()  # HTTP/0.9 or not HTTP at all: no head will ever follow
                return
            self._count = inner._request_count
            self._handle = self._loop.call_later(self._timeout, self._expire)
        inner.data_received(data)
        if self._handle is not None and inner._request_count != self._count:
            self._handle.cancel()  # the head is complete
            self._handle = None

    def _expire(self) -> None:
        self._handle = None
        if self._inner._request_count == self._count and self._transport is not None:
            self._transport.close()  # a head still incomplete: drop the connection

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _GuardedServer:
    """aiohttp's Server, whose protocols get a head deadline; everything else is the Server's own."""

    def __init__(self, server: web.Server, timeout: float) -> None:
        self._server = server
        self._timeout = timeout

    def __call__(self) -> _HeadDeadline:
        return _HeadDeadline(self._server(), self._timeout, asyncio.get_running_loop())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._server, name)


def guard_runner(runner: web.AppRunner, client: ClientConfig) -> None:
    """After `runner.setup()`: every connection the runner's sites accept gets the head deadline."""
    server = runner.server
    if server is not None and not isinstance(server, _GuardedServer):
        runner._server = _GuardedServer(server, client.header_read_timeout_seconds)  # type: ignore[assignment]


class _OncePerSecond:
    """A loop exception handler: one line per second per kind of error, no traceback, a count of the rest."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        kind = f"{context.get('message', 'loop error')}: {type(exc).__name__ if exc else ''}"
        now = time.monotonic()
        if now - self._last.get(kind, 0.0) < 1.0:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._last[kind] = now
        more = self._suppressed.pop(kind, 0)
        detail = f" ({exc})" if exc else ""
        log.error("%s%s%s", kind, detail, f"; {more} more like it in the last second" if more else "")


def install_loop_guards(loop: asyncio.AbstractEventLoop) -> None:
    loop.set_exception_handler(_OncePerSecond())
    _quiet_aiohttp_server_log()


class _OneLine(logging.Filter):
    """aiohttp's 'Error handling request' for a malformed message: one line, no traceback, at most 1/s."""

    def __init__(self) -> None:
        super().__init__()
        self._last = 0.0

    def filter(self, record: logging.LogRecord) -> bool:
        now = time.monotonic()
        if now - self._last < 1.0:
            return False
        self._last = now
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text}: {type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
        record.msg, record.args = " ".join(text.split()), None
        record.exc_info = None
        record.exc_text = None
        return True


def _quiet_aiohttp_server_log() -> None:
    """aiohttp's server logger writes through bifrost's handler (format, redaction), one line per message."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _OneLine) for f in logger.filters):
        logger.addFilter(_OneLine())
    handlers = logging.getLogger("bifrost").handlers
    if handlers:
        logger.handlers = list(handlers)
        logger.propagate = False
