"""Compressed request bodies (``Content-Encoding: gzip`` / ``deflate``), inflated off the event loop.

The gateway's server runs aiohttp with ``auto_decompress=False`` (``connections.client_connection_settings``):
aiohttp would inflate in its protocol's ``data_received``, on the event loop, and a 1 MB body that inflates
past the size limit costs 7-20 ms of CPU there. Here the first 64 KiB of output of each received chunk are
inflated inline (a normal compressed JSON body never leaves the loop), and anything more in one worker
thread shared by the process (zlib releases the GIL while it inflates), with the size limit enforced as the
output grows: a body never inflates further than one byte past the limit. One thread bounds what a flood of
compression bombs can take to one core, and it runs below the event loop's CPU priority
(``core/background.py``); compressed bodies queue behind each other meanwhile, plain bodies never wait for it.

When aiohttp did inflate the body (an app embedded in a server with the default ``auto_decompress``),
``request.content.total_compressed_bytes`` says so and the body is taken as it is.
"""

from __future__ import annotations

import asyncio
import zlib
from concurrent.futures import ThreadPoolExecutor

from aiohttp import web

from bifrost.core.background import background_executor
from bifrost.core.secrets import clean_text

INLINE_OUTPUT = 64 * 1024  # inflated on the loop per received chunk before moving to the thread
_THREAD_OUTPUT = 1024 * 1024  # per thread call (bounded by the limit too)
_executor: ThreadPoolExecutor | None = None


class BodyDecodeError(ValueError):
    """The compressed body does not decode (or names an encoding the gateway does not decode)."""


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = background_executor("bifrost-inflate")
    return _executor


class Inflater:
    """One request body's decompressor; `feed` appends the inflated bytes to a buffer, up to limit + 1."""

    __slots__ = ("_d", "_encoding", "_first", "_pending")

    def __init__(self, encoding: str) -> None:
        self._encoding = encoding
        self._d: zlib._Decompress | None = None
        self._first = True
        self._pending = b""  # input not yet consumed (output held back by max_length)

    def _start(self, first_byte: int) -> zlib._Decompress:
        if self._encoding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # RFC 1950 zlib stream (CM = 8), else a raw deflate stream, as clients send either (aiohttp's rule)
        return zlib.decompressobj(zlib.MAX_WBITS if first_byte & 0xF == 8 else -zlib.MAX_WBITS)

    def _step(self, data: bytes, out: bytearray, room: int) -> bool:
        """Inflate at most `room` bytes into `out`; True when input is left (output was held back)."""
        d = self._d
        if d is None:
            d = self._d = self._start(data[0])
        try:
            while room > 0 and data:
                chunk = d.decompress(data, room)
                out += chunk
                room -= len(chunk)
                data = d.unconsumed_tail
                if d.eof and d.unused_data and self._encoding == "gzip":  # concatenated gzip members
                    data = d.unused_data + data
                    d = self._d = self._start(data[0])
                elif d.eof:
                    data = b""
        except zlib.error as exc:
            raise BodyDecodeError(f"Content-Encoding {self._encoding}: {exc}") from None
        self._pending = data
        return bool(data)

    async def feed(self, chunk: bytes, out: bytearray, limit: int) -> None:
        """Inflate `chunk` into `out`, stopping once `out` is past `limit` (the caller answers 413)."""
        data = self._pending + chunk if self._pending else chunk
        if not data:
            return
        more = self._step(data, out, min(INLINE_OUTPUT, limit + 1 - len(out)))
        loop = asyncio.get_running_loop()
        while more and len(out) <= limit:
            room = min(_THREAD_OUTPUT, limit + 1 - len(out))
            more = await loop.run_in_executor(_pool(), self._step, self._pending, out, room)  # `out` is ours alone

    def finish(self) -> None:
        """The body ended: a stream cut short is an error."""
        if self._d is not None and not self._d.eof:
            raise BodyDecodeError(f"Content-Encoding {self._encoding}: the compressed body ends too early")


def inflater_for(request: web.Request) -> Inflater | None:
    """The body's decompressor, or None when it is not compressed (or aiohttp already inflated it).
    Call it once the first chunk of the body has been read (aiohttp marks its own inflating then)."""
    encoding = request.headers.get("Content-Encoding")
    if not encoding:
        return None
    encoding = encoding.strip().lower()
    if encoding in ("identity", ""):
        return None
    if getattr(request.content, "total_compressed_bytes", None) is not None:
        return None  # aiohttp inflated it (auto_decompress on)
    if encoding in ("gzip", "deflate"):
        return Inflater(encoding)
    raise BodyDecodeError(
        f"Content-Encoding {clean_text(encoding)[:40]!r} is not supported: send gzip, deflate or no encoding"
    )


async def read_body(request: web.Request, limit: int) -> bytearray:
    """The body in one buffer (inflated), the size limit enforced as it arrives.

    Raises ``web.HTTPRequestEntityTooLarge`` past the limit and `BodyDecodeError` when it does not decode.
    Not `request.read()`: that copies the body once more into bytes and keeps that copy on the request for
    its whole life; this buffer is dropped as soon as the caller is done with it."""
    buf = bytearray()
    content = request.content
    inflater: Inflater | None = None
    first = True
    while True:
        chunk = await content.readany()
        if not chunk:
            break
        if first:
            first = False
            inflater = inflater_for(request)
        if inflater is None:
            buf += chunk
        else:
            await inflater.feed(chunk, buf, limit)
        if len(buf) > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=len(buf))
    if inflater is not None:
        inflater.finish()
    return buf
