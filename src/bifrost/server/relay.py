"""One stream relay for the drop-in routes (Anthropic, GenAI): chunks go to the client as they arrive.

The route supplies a `StreamOut` that turns each upstream event into the bytes of its own wire (the raw bytes
when the wire is the same on both sides), the closing bytes, and an error event. The relay owns the rest:
headers, time to first token, chunk counts, the error event when the upstream fails after the stream
started, a client that went away (499), and releasing the upstream stream.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Protocol

from aiohttp import web

from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError
from bifrost.providers.base import ChatStream
from bifrost.providers.sse import BEFORE_READ
from bifrost.server.gateway import Gateway

SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "Connection": "keep-alive"}


class Gathered:
    """A stream's bytes to its client, gathered and sent in one write per upstream read.

    Inside `with gathered:` the upstream reader (providers/sse.py) awaits `flush` before it reads the network
    again: the events one upstream read produced go out together, as a plain proxy would write that read, and
    none of them waits for the next read. What is still gathered when the stream ends goes out with its end.
    """

    __slots__ = ("_response", "_token", "add", "pending")

    def __init__(self, response: web.StreamResponse) -> None:
        self._response = response
        self.pending: list[bytes] = []
        self.add = self.pending.append  # what to send next (the list's own method: no Python call per event)
        self._token: Any = None

    async def flush(self) -> None:
        pending = self.pending
        if pending:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            await self._response.write(data)

    def rest(self, tail: bytes) -> bytes:
        """What is still gathered, followed by `tail`: the bytes that end the response."""
        pending = self.pending
        if not pending:
            return tail
        pending.append(tail)
        data = b"".join(pending)
        pending.clear()
        return data

    def __enter__(self) -> Gathered:
        self._token = BEFORE_READ.set(self.flush)
        return self

    def __exit__(self, *exc: object) -> None:
        BEFORE_READ.reset(self._token)


class StreamOut(Protocol):
    def event(self, event: dict[str, Any], raw: bytes) -> bytes:
        """The bytes to send for one upstream event (b"" for none)."""
        ...

    def end(self) -> bytes:
        """The bytes that close a stream that ended well."""
        ...

    def error(self, exc: GatewayError) -> bytes:
        """The error event that ends a stream that failed after it started."""
        ...


async def relay(
    gw: Gateway, request: web.Request, ctx: RequestContext, stream: ChatStream, out: StreamOut
) -> web.StreamResponse:
    record = ctx.record
    response = web.StreamResponse(
        headers={**SSE_HEADERS, "x-request-id": record.request_id, "x-bifrost-provider": stream.provider}
    )
    tail = b""
    chunks = 0
    first = last = 0.0
    gathered = Gathered(response)
    try:
        await response.prepare(request)
        add = gathered.add
        with gathered:
            async for event, raw in stream:
                data = out.event(event, raw)
                if data:
                    add(data)
                last = time.perf_counter()
                if not chunks:
                    first = last
                    record.ttft_s = first - ctx.started
                chunks += 1
        tail = out.end()  # written with the end of the response: one write, not two
    except GatewayError as exc:
        gw.failed(exc, ctx)  # the stream's headers are sent: the error goes in an event
        tail = out.error(exc)
    except ConnectionError:
        record.status = 499
        return response
    finally:
        await stream.aclose()
        record.stream_chunks = chunks
        record.stream_duration_s = last - first
    with contextlib.suppress(ConnectionError):
        await response.write_eof(gathered.rest(tail))
    return response
