"""Anthropic Messages wire format: /v1/messages (JSON and SSE) and count_tokens."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .reply import Plan, content_text, make_plan, messages_input, new_id, split_pieces, split_words
from .respond import Call, Wire, error_response, json_response, send_events, sse_event

SIGNATURE = "ZmFrZS1zaWduYXR1cmU="  # base64 of "fake-signature"
MODELS = ("claude-3-5-sonnet-20241022", "claude-3-5-haiku-20241022", "claude-3-sonnet-20240229")

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}
_STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def error_body(status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
    if error_type is None:
        error_type = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": new_id("req_")}


def stream_error(message: str, error_type: str | None) -> bytes:
    return sse_event(
        "error", {"type": "error", "error": {"type": error_type or "overloaded_error", "message": message}}
    )


WIRE = Wire("anthropic", error_body, stream_error)


def stop_reason(finish_reason: str) -> str:
    return _STOP_REASONS.get(finish_reason, finish_reason)


def input_size(body: dict[str, Any]) -> tuple[int, str]:
    return messages_input(body.get("messages"), len(content_text(body.get("system"))))


def _usage(plan: Plan) -> dict[str, int]:
    """Anthropic counts cached prompt tokens apart from ``input_tokens``."""
    cached = min(plan.cached_tokens, plan.prompt_tokens)
    written = min(plan.cache_write_tokens, plan.prompt_tokens - cached)
    return {
        "input_tokens": plan.prompt_tokens - cached - written,
        "output_tokens": plan.completion_tokens,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
    }


def _validate(call: Call) -> web.Response | None:
    body = call.body
    if not call.model:
        return error_response(call, 400, "model: Field required")
    if not isinstance(body.get("messages"), list):
        return error_response(call, 400, "messages: Field required")
    if not isinstance(body.get("max_tokens"), int):
        return error_response(call, 400, "max_tokens: Field required")
    return None


async def messages(call: Call) -> web.StreamResponse:
    invalid = _validate(call)
    if invalid is not None:
        return invalid
    chars, last_user = input_size(call.body)
    plan = make_plan(call.script, call.model, chars, last_user)
    if call.stream:
        return await send_events(call, message_events(plan, call.model))
    return json_response(call, message(plan, call.model))


def message(plan: Plan, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if plan.thinking is not None:
        content.append({"type": "thinking", "thinking": plan.thinking, "signature": SIGNATURE})
    if plan.text or not plan.tool_calls:
        content.append({"type": "text", "text": plan.text})
    content.extend(
        {"type": "tool_use", "id": tc.id or new_id("toolu_"), "name": tc.name, "input": tc.input}
        for tc in plan.tool_calls
    )
    return {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(plan.finish_reason),
        "stop_sequence": None,
        "usage": _usage(plan),
    }


def _block(index: int, start: dict[str, Any], deltas: list[dict[str, Any]]) -> list[bytes]:
    events = [
        sse_event(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": start}
        )
    ]
    events.extend(
        sse_event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        for delta in deltas
    )
    events.append(sse_event("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def message_events(plan: Plan, model: str) -> list[bytes]:
    start_usage = {**_usage(plan), "output_tokens": 1}
    head = {
        "id": new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": start_usage,
    }
    events = [
        sse_event("message_start", {"type": "message_start", "message": head}),
        sse_event("ping", {"type": "ping"}),
    ]
    index = 0
    if plan.thinking is not None:
        deltas = [{"type": "thinking_delta", "thinking": w} for w in split_words(plan.thinking)]
        deltas.append({"type": "signature_delta", "signature": SIGNATURE})
        events += _block(index, {"type": "thinking", "thinking": "", "signature": ""}, deltas)
        index += 1
    if plan.text or not plan.tool_calls:
        deltas = [{"type": "text_delta", "text": w} for w in split_words(plan.text)]
        events += _block(index, {"type": "text", "text": ""}, deltas)
        index += 1
    for tc in plan.tool_calls:
        start = {"type": "tool_use", "id": tc.id or new_id("toolu_"), "name": tc.name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in split_pieces(tc.arguments)]
        events += _block(index, start, deltas)
        index += 1
    delta = {"stop_reason": stop_reason(plan.finish_reason), "stop_sequence": None}
    events.append(
        sse_event(
            "message_delta",
            # the real API repeats the cumulative input and cache counts here (clients such as LangChain read them)
            {"type": "message_delta", "delta": delta, "usage": _usage(plan)},
        )
    )
    events.append(sse_event("message_stop", {"type": "message_stop"}))
    return events


async def count_tokens(call: Call) -> web.StreamResponse:
    invalid = None if call.model else error_response(call, 400, "model: Field required")
    if invalid is not None:
        return invalid
    chars, _ = input_size(call.body)
    scripted = (call.script or {}).get("usage") or {}
    return json_response(call, {"input_tokens": int(scripted.get("prompt_tokens", max(1, chars // 4)))})


async def models(call: Call) -> web.StreamResponse:
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": "2024-10-22T00:00:00Z", "lifecycle": "active"}
        for m in MODELS
    ]
    return json_response(
        call, {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]}
    )
