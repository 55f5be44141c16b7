"""OpenAI wire format: chat completions, text completions, embeddings, models."""

from __future__ import annotations

import base64
import math
import struct
import zlib
from typing import Any

from aiohttp import web

from .reply import Plan, content_text, make_plan, new_id, now, split_pieces, split_words
from .respond import Call, Wire, error_response, json_response, send_events, sse

FINGERPRINT = "fp_fake"
DONE = b"data: [DONE]\n\n"
MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-3.5-turbo-instruct", "text-embedding-3-small")

_ERROR_TYPES = {429: "requests"}
_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


def error_body(status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
    if error_type is None:
        error_type = "server_error" if status >= 500 else _ERROR_TYPES.get(status, "invalid_request_error")
    return {
        "error": {
            "message": message,
            "type": error_type,
            "param": None,
            "code": code if code is not None else _ERROR_CODES.get(status),
        }
    }


def stream_error(message: str, error_type: str | None) -> bytes:
    return sse(
        {"error": {"message": message, "type": error_type or "server_error", "param": None, "code": None}}
    )


WIRE = Wire("openai", error_body, stream_error)


def usage(plan: Plan) -> dict[str, Any]:
    reasoning = len(plan.thinking.split()) if plan.thinking else 0
    return {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
        "prompt_tokens_details": {"cached_tokens": plan.cached_tokens},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _chat_input(messages: list[Any]) -> tuple[int, str]:
    chars = 0
    last_user = ""
    for message in messages:
        if not isinstance(message, dict):
            continue
        text = content_text(message.get("content"))
        chars += len(text)
        if message.get("role") == "user":
            last_user = text
    return chars, last_user


def _missing(call: Call, field: str) -> web.Response:
    return error_response(
        call, 400, f"Missing required parameter: '{field}'.", code="missing_required_parameter"
    )


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


async def chat_completions(call: Call) -> web.StreamResponse:
    messages = call.body.get("messages")
    if not call.model:
        return _missing(call, "model")
    if not isinstance(messages, list) or not messages:
        return _missing(call, "messages")
    chars, last_user = _chat_input(messages)
    plan = make_plan(call.script, call.model, chars, last_user)
    if call.stream:
        return await send_events(call, chat_chunks(plan, call.model, _include_usage(call.body)))
    return json_response(call, chat_completion(plan, call.model))


def chat_completion(plan: Plan, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": plan.text if plan.text or not plan.tool_calls else None,
        "refusal": None,
    }
    if plan.thinking is not None:  # the de-facto field of OpenAI-compatible reasoning servers (vLLM, DeepSeek)
        message["reasoning_content"] = plan.thinking
    if plan.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or new_id("call_"),
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in plan.tool_calls
        ]
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": now(),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": plan.finish_reason}],
        "usage": usage(plan),
        "system_fingerprint": FINGERPRINT,
    }


def chat_chunks(plan: Plan, model: str, include_usage: bool) -> list[bytes]:
    base = {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": now(),
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data: dict[str, Any] = {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if include_usage:
            data["usage"] = None
        return sse(data)

    first = {"role": "assistant", "content": "" if plan.text or not plan.tool_calls else None}
    events = [chunk(first)]
    if plan.thinking is not None:
        events.extend(chunk({"reasoning_content": word}) for word in split_words(plan.thinking))
    events.extend(chunk({"content": word}) for word in split_words(plan.text))
    for index, call in enumerate(plan.tool_calls):
        head = {
            "index": index,
            "id": call.id or new_id("call_"),
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(chunk({"tool_calls": [head]}))
        events.extend(
            chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
            for piece in split_pieces(call.arguments)
        )
    events.append(chunk({}, plan.finish_reason))
    if include_usage:
        events.append(sse({**base, "choices": [], "usage": usage(plan)}))
    events.append(DONE)
    return events


def _prompt_input(prompt: Any) -> tuple[int, str]:
    if isinstance(prompt, str):
        return len(prompt), prompt
    if isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        return sum(len(p) for p in prompt), prompt[-1]
    if isinstance(prompt, list):
        return len(prompt) * 4, ""  # token ids: about one token each
    return 0, ""


async def completions(call: Call) -> web.StreamResponse:
    if not call.model:
        return _missing(call, "model")
    if "prompt" not in call.body:
        return _missing(call, "prompt")
    chars, last = _prompt_input(call.body["prompt"])
    plan = make_plan(call.script, call.model, chars, last)
    cid, created = new_id("cmpl-"), now()
    base = {"id": cid, "object": "text_completion", "created": created, "model": call.model}
    plain_usage = {
        "prompt_tokens": plan.prompt_tokens,
        "completion_tokens": plan.completion_tokens,
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
    }
    if not call.stream:
        choice = {"text": plan.text, "index": 0, "logprobs": None, "finish_reason": plan.finish_reason}
        return json_response(call, {**base, "choices": [choice], "usage": plain_usage})

    def chunk(text: str, finish: str | None = None) -> bytes:
        return sse(
            {**base, "choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}
        )

    events = [chunk(word) for word in split_words(plan.text)]
    events.append(chunk("", plan.finish_reason))
    if _include_usage(call.body):
        events.append(sse({**base, "choices": [], "usage": plain_usage}))
    events.append(DONE)
    return await send_events(call, events)


def embedding_vector(text: str, dims: int) -> list[float]:
    """A deterministic unit vector for ``text``."""
    seed = zlib.crc32(text.encode()) or 1
    values: list[float] = []
    for _ in range(dims):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        values.append(seed / 0x3FFFFFFF - 1.0)
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _embedding_inputs(raw: Any) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        return [str(raw)]
    if isinstance(raw, list):
        return [x if isinstance(x, str) else str(x) for x in raw]
    return []


async def embeddings(call: Call) -> web.StreamResponse:
    if not call.model:
        return _missing(call, "model")
    inputs = _embedding_inputs(call.body.get("input"))
    if not inputs:
        return error_response(call, 400, "'input' must be a non-empty string or array.", code=None)
    dims = int(call.body.get("dimensions") or 8)
    as_base64 = call.body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(inputs):
        vector = embedding_vector(text, dims)
        value: Any = vector
        if as_base64:
            value = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    prompt = max(1, sum(len(t) for t in inputs) // 4)
    scripted = (call.script or {}).get("usage") or {}
    prompt = int(scripted.get("prompt_tokens", prompt))
    return json_response(
        call,
        {
            "object": "list",
            "data": data,
            "model": call.model,
            "usage": {"prompt_tokens": prompt, "total_tokens": prompt},
        },
    )


async def models(call: Call) -> web.StreamResponse:
    data = [{"id": m, "object": "model", "created": 1700000000, "owned_by": "fake"} for m in MODELS]
    return json_response(call, {"object": "list", "data": data})
