"""AWS Bedrock wire format: Converse, ConverseStream (AWS event-stream frames) and InvokeModel embeddings.

Requests must carry a Bedrock API key (``Authorization: Bearer ...``) or a SigV4 ``Authorization`` header of
the right shape (algorithm, credential scope for the ``bedrock`` service, signed headers including host and
x-amz-date, a 64-hex signature) and an ``X-Amz-Date``; otherwise the fake answers 403 as AWS does. Stream
frames are encoded here from the event-stream spec: prelude (total length, headers length, CRC32), string
headers, payload, message CRC32.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Any

import orjson
from aiohttp import web

from .openai_wire import embedding_vector
from .reply import Plan, content_text, make_plan, messages_input, split_pieces, split_words
from .respond import Call, Wire, error_response, json_response, send_events

SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[A-Z0-9]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/bedrock/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=[0-9a-f]{64}"
)
_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "content_filtered"}
_ERRORS = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One AWS event-stream message (all headers of type string, 7)."""
    head = b""
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        head += struct.pack(">B", len(raw_name)) + raw_name + b"\x07" + struct.pack(">H", len(raw_value)) + raw_value
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack(">I", zlib.crc32(message))


def event(name: str, data: dict[str, Any]) -> bytes:
    headers = {":event-type": name, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, orjson.dumps(data))


def error_body(status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
    return {"message": message}


def stream_error(message: str, error_type: str | None) -> bytes:
    kind = error_type or "throttlingException"
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, orjson.dumps({"message": message}))


WIRE = Wire("bedrock", error_body, stream_error)


def target(request: web.Request, body: dict[str, Any]) -> tuple[str, bool]:
    return request.match_info["model"], request.path.endswith("/converse-stream")


def _denied(call: Call) -> web.Response | None:
    headers = call.request.headers
    auth = headers.get("Authorization")
    if not auth:
        return error_response(call, 403, "Missing Authentication Token")
    if auth.startswith("Bearer ") and len(auth) > 7:  # a Bedrock API key
        return None
    match = SIGV4.fullmatch(auth)
    signed = match.group("signed").split(";") if match else []
    if match is None or "host" not in signed or "x-amz-date" not in signed or "X-Amz-Date" not in headers:
        return error_response(call, 403, "The request signature we calculated does not match the one you provided.")
    return None


def _input(body: dict[str, Any]) -> tuple[int, str]:
    return messages_input(body.get("messages"), len(content_text(body.get("system"))))


def _usage(plan: Plan) -> dict[str, int]:
    cached = min(plan.cached_tokens, plan.prompt_tokens)
    return {
        "inputTokens": plan.prompt_tokens - cached,
        "outputTokens": plan.completion_tokens,
        "totalTokens": plan.prompt_tokens + plan.completion_tokens,
        "cacheReadInputTokens": cached,
        "cacheWriteInputTokens": 0,
    }


def _tool_id(tc: Any, i: int) -> str:
    return tc.id or f"tooluse_fake{i}"


async def converse(call: Call) -> web.StreamResponse:
    denied = _denied(call)
    if denied is not None:
        return denied
    messages = call.body.get("messages")
    if not isinstance(messages, list) or not messages:
        return error_response(call, 400, "1 validation error detected: Value at 'messages' failed a constraint")
    chars, last_user = _input(call.body)
    plan = make_plan(call.script, call.model, chars, last_user)
    stop = _STOP.get(plan.finish_reason, plan.finish_reason)
    if call.stream:
        return await send_events(call, _events(plan, stop), "application/vnd.amazon.eventstream")
    content: list[dict[str, Any]] = []
    if plan.thinking is not None:
        content.append({"reasoningContent": {"reasoningText": {"text": plan.thinking, "signature": "c2ln"}}})
    if plan.text or not plan.tool_calls:
        content.append({"text": plan.text})
    content.extend(
        {"toolUse": {"toolUseId": _tool_id(tc, i), "name": tc.name, "input": tc.input}}
        for i, tc in enumerate(plan.tool_calls)
    )
    return json_response(
        call,
        {
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": stop,
            "usage": _usage(plan),
            "metrics": {"latencyMs": 12},
        },
    )


def _events(plan: Plan, stop: str) -> list[bytes]:
    events = [event("messageStart", {"role": "assistant", "p": "abcd"})]
    index = 0
    if plan.text or not plan.tool_calls:
        for word in split_words(plan.text):
            events.append(event("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": word}}))
        events.append(event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    for i, tc in enumerate(plan.tool_calls):
        start = {"toolUse": {"toolUseId": _tool_id(tc, i), "name": tc.name}}
        events.append(event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        for piece in split_pieces(tc.arguments):
            delta = {"toolUse": {"input": piece}}
            events.append(event("contentBlockDelta", {"contentBlockIndex": index, "delta": delta}))
        events.append(event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    events.append(event("messageStop", {"stopReason": stop}))
    events.append(event("metadata", {"usage": _usage(plan), "metrics": {"latencyMs": 12}}))
    return events


async def invoke(call: Call) -> web.StreamResponse:
    denied = _denied(call)
    if denied is not None:
        return denied
    body = call.body
    if "cohere." in call.model:
        texts = body.get("texts")
        if not isinstance(texts, list) or "input_type" not in body:
            return error_response(call, 400, "Malformed input request: texts and input_type are required")
        vectors = [embedding_vector(str(t), 8) for t in texts]
        answer = {"embeddings": vectors, "id": "emb-1", "response_type": "embeddings_floats", "texts": texts}
        return json_response(call, answer)
    text = body.get("inputText")
    if not isinstance(text, str):
        return error_response(call, 400, "Malformed input request: required key [inputText] not found")
    vector = embedding_vector(text, int(body.get("dimensions") or 8))
    return json_response(call, {"embedding": vector, "inputTextTokenCount": max(1, len(text) // 4)})
