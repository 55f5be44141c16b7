"""Shared answering machinery: the per-request ``Call``, JSON/error responses,
scripted faults (latency, status, malformed, cut, stall) and the SSE stream driver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson
from aiohttp import web

from .script import Script

GARBAGE_BODY = b"this is not json{"
GARBAGE_EVENT = b"data: {not json\n\n"

ErrorBody = Callable[[int, str, "str | None", "str | None"], dict[str, Any]]
StreamError = Callable[[str, "str | None"], bytes]


class CutConnection(Exception):
    """Raised after the fake itself dropped the connection (a scripted cut, not a client leaving)."""


@dataclass(frozen=True, slots=True)
class Wire:
    """What differs between providers when answering errors."""

    name: str
    error_body: ErrorBody  # (status, message, error_type, code) -> JSON object
    stream_error: StreamError  # (message, error_type) -> one SSE frame


@dataclass(slots=True)
class Call:
    """One provider request being answered."""

    request: web.Request
    wire: Wire
    body: dict[str, Any]
    model: str
    key: str | None
    script: Script | None
    stream: bool


def extra_headers(script: Script | None) -> dict[str, str] | None:
    if not script:
        return None
    headers = {str(k): str(v) for k, v in (script.get("headers") or {}).items()}
    if script.get("retry_after") is not None:
        headers["Retry-After"] = str(script["retry_after"])
    return headers or None


def json_response(call: Call, data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data),
        status=status,
        content_type="application/json",
        headers=extra_headers(call.script),
    )


def error_response(
    call: Call, status: int, message: str, error_type: str | None = None, code: str | None = None
) -> web.Response:
    return json_response(call, call.wire.error_body(status, message, error_type, code), status)


def scripted_error(call: Call, script: Script) -> web.Response:
    status = int(script["status"])
    if "error_body" in script:
        return json_response(call, script["error_body"], status)
    message = str(script.get("error_message") or f"fake {call.wire.name} error (status {status})")
    size = script.get("error_size")
    if size:
        message = message + "x" * max(0, int(size) - len(message))
    echo = set(script.get("echo_key") or ())
    error_type, code = script.get("error_type"), script.get("error_code")
    if echo:
        leaked = f"key {call.key}"
        error_type = leaked if "type" in echo else error_type
        code = leaked if "code" in echo else code
        message = f"{message} ({leaked})" if "message" in echo else message
    body = call.wire.error_body(status, message, error_type, code)
    if "param" in echo and isinstance(body.get("error"), dict):
        body["error"]["param"] = f"key {call.key}"
    return json_response(call, body, status)


def redirect(call: Call, script: Script) -> web.Response:
    status = int(script.get("status") or 307)
    headers = {**(extra_headers(script) or {}), "Location": str(script["redirect_to"])}
    return web.Response(status=status if 300 <= status < 400 else 307, headers=headers)


def cut(request: web.Request) -> NoReturn:
    """Drop the connection without finishing the response."""
    transport = request.transport
    if transport is not None:
        transport.close()
    raise CutConnection


async def hang(request: web.Request) -> NoReturn:
    """Wait until the client goes away (aiohttp may also cancel us first)."""
    while (transport := request.transport) is not None and not transport.is_closing():
        await asyncio.sleep(0.05)
    raise asyncio.CancelledError


async def before_answer(call: Call) -> web.StreamResponse | None:
    """Apply the script's pre-response behaviour; a response here short-cuts the answer."""
    script = call.script
    assert script is not None
    latency = script.get("latency_ms")
    if latency:
        await asyncio.sleep(float(latency) / 1000)
    if not call.stream:
        if script.get("cut_after") is not None:
            cut(call.request)
        if script.get("stall_after") is not None:
            await hang(call.request)
    if script.get("redirect_to"):
        return redirect(call, script)
    if script.get("status"):
        return scripted_error(call, script)
    if script.get("malformed") and not call.stream:
        return web.Response(body=GARBAGE_BODY, content_type="application/json", headers=extra_headers(script))
    return None


def _fault_at(script: Script, name: str, count: int) -> int:
    value = script.get(name)
    return -1 if value is None else min(int(value), count)


async def send_events(
    call: Call, events: list[bytes], content_type: str = "text/event-stream"
) -> web.StreamResponse:
    """Send pre-encoded frames (SSE, or another framing), applying the script's stream faults and delays."""
    script = call.script or {}
    resp = web.StreamResponse(headers=extra_headers(script))
    resp.content_type = content_type
    if content_type.startswith("text/"):
        resp.charset = "utf-8"
    resp.headers["Cache-Control"] = "no-cache"
    await resp.prepare(call.request)
    count = len(events)
    malformed_at = min(int(script.get("malformed_after") or 0), count) if script.get("malformed") else -1
    error_at = _fault_at(script, "stream_error_after", count)
    cut_at = _fault_at(script, "cut_after", count)
    stall_at = _fault_at(script, "stall_after", count)
    delay = float(script.get("chunk_delay_ms") or 0) / 1000
    end_delay = float(script.get("end_delay_ms") or 0) / 1000
    if not delay and malformed_at == error_at == cut_at == stall_at == -1:
        await resp.write(b"".join(events))
        if end_delay:
            await asyncio.sleep(end_delay)
        await resp.write_eof()
        return resp
    for i in range(count + 1):
        if i == malformed_at:
            await resp.write(GARBAGE_EVENT)
        if i == error_at:
            message = str(script.get("error_message") or "Overloaded")
            error_type = f"key {call.key}" if "type" in (script.get("echo_key") or ()) else script.get("error_type")
            await resp.write(call.wire.stream_error(message, error_type))
            break
        if i == cut_at:
            cut(call.request)
        if i == stall_at:
            await hang(call.request)
        if i == count:
            break
        if delay and i:
            await asyncio.sleep(delay)
        await resp.write(events[i])
    if end_delay:
        await asyncio.sleep(end_delay)
    await resp.write_eof()
    return resp


def sse(data: Any) -> bytes:
    """A ``data:``-only SSE frame (OpenAI, Gemini)."""
    return b"data: " + orjson.dumps(data) + b"\n\n"


def sse_event(event: str, data: Any) -> bytes:
    """An SSE frame with an ``event:`` line (Anthropic)."""
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
