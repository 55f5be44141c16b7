"""Server-sent events off an upstream response, one complete event at a time, as they arrive."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar

import aiohttp

from bifrost.core.errors import GatewayError

# Set by the relay that is sending a stream to its client, for that stream's duration (server/relay.py). It is
# awaited before every network read, so everything one upstream read produced (several SSE events, and whatever
# a translator made of them) reaches the client in one write instead of one write per event.
BEFORE_READ: ContextVar[Callable[[], Awaitable[None]] | None] = ContextVar("before_read", default=None)


async def iter_event_runs(
    resp: aiohttp.ClientResponse, provider: str, idle_timeout: float
) -> AsyncIterator[bytes]:
    """Per upstream read, the complete events it finished, as one run of bytes (each event ending in a blank
    line, CRLF made LF). Never a partial event.

    The idle timeout is enforced by the session's `sock_read` timeout (no timer per chunk here); a
    connection that ends mid-event, stalls or breaks raises a GatewayError the caller turns into an
    error event for the client.
    """
    buf = b""
    async for data in iter_chunks(resp, provider, idle_timeout):
        buf = buf + data if buf else data
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n")
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            continue
        run, buf = buf[: cut + 2], buf[cut + 2 :]
        yield run
    if buf.strip():
        # the upstream closed mid-event: the last event never completed
        raise GatewayError(502, f"{provider} stream ended in the middle of an event", provider=provider)


async def iter_events(
    resp: aiohttp.ClientResponse, provider: str, idle_timeout: float
) -> AsyncIterator[bytes]:
    """Raw event blocks (without the blank-line separator), one at a time, as they arrive (iter_event_runs)."""
    async for run in iter_event_runs(resp, provider, idle_timeout):
        for block in run.split(b"\n\n"):
            if block:
                yield block


async def iter_chunks(resp: aiohttp.ClientResponse, provider: str, idle_timeout: float) -> AsyncIterator[bytes]:
    """The raw bytes of a non-SSE stream (e.g. AWS event-stream frames) as they arrive; same failures."""
    content = resp.content
    while True:
        flush = BEFORE_READ.get()
        if flush is not None:
            await flush()
        try:
            data = await content.readany()
        except (aiohttp.ServerTimeoutError, TimeoutError):
            raise stream_stalled(provider, idle_timeout) from None
        except aiohttp.ClientError as exc:
            raise stream_broke(provider, exc) from None
        if not data:
            return
        yield data


async def finish_body(resp: aiohttp.ClientResponse, bound: float = 1.0) -> None:
    """Read what is left of an answer whose last event is in (normally just the chunked terminator), so its
    connection goes back to the pool instead of being closed; past `bound` seconds, or on garbage, let go."""
    content = resp.content
    if content.is_eof():
        return
    flush = BEFORE_READ.get()
    if flush is not None:
        await flush()
    try:
        async with asyncio.timeout(bound):
            while await content.readany():
                pass
    except (TimeoutError, aiohttp.ClientError):
        resp.close()


def stream_stalled(provider: str, idle_timeout: float) -> GatewayError:
    return GatewayError(
        504,
        f"{provider} stream stalled: no data for {idle_timeout:g}s "
        f"(providers.{provider}.network_config.stream_idle_timeout_in_seconds)",
        provider=provider,
    )


def stream_broke(provider: str, exc: BaseException) -> GatewayError:
    return GatewayError(502, f"{provider} stream broke: {type(exc).__name__}", provider=provider)


def event_data(block: bytes) -> bytes | None:
    """The `data:` payload of one event block (multi-line data joined), or None for comments/pings."""
    if block.startswith(b"data: ") and b"\n" not in block:
        return block[6:]
    parts = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            parts.append(line[6:] if line[5:6] == b" " else line[5:])
    return b"\n".join(parts) if parts else None


def event_name(block: bytes) -> str | None:
    """The `event:` field of one event block, if any."""
    for line in block.split(b"\n"):
        if line.startswith(b"event:"):
            return line[6:].strip().decode()
    return None
