"""Gemini wire format: models/{model}:generateContent, :streamGenerateContent, :countTokens."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .reply import Plan, content_text, make_plan, new_id, split_words
from .respond import Call, Wire, error_response, json_response, send_events, sse

MODELS = ("gemini-1.5-flash", "gemini-1.5-pro", "gemini-2.0-flash")

_STATUSES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_calls": "STOP", "content_filter": "SAFETY"}


def error_body(status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
    name = error_type or _STATUSES.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    return {"error": {"code": status, "message": message, "status": name}}


def stream_error(message: str, error_type: str | None) -> bytes:
    return sse({"error": {"code": 503, "message": message, "status": error_type or "UNAVAILABLE"}})


WIRE = Wire("gemini", error_body, stream_error)


def target(request: web.Request, body: dict[str, Any]) -> tuple[str, bool]:
    """Model and stream flag from ``/v1beta/models/{model}:{action}`` (or ``/v1/...``)."""
    model, _, action = request.match_info["target"].rpartition(":")
    return model, action == "streamGenerateContent" and request.query.get("alt") == "sse"


def finish_reason(reason: str) -> str:
    return _FINISH.get(reason, reason.upper())


def _input(body: dict[str, Any]) -> tuple[int, str]:
    system = body.get("systemInstruction") or body.get("system_instruction")
    chars = len(content_text(system.get("parts"))) if isinstance(system, dict) else 0
    last_user = ""
    for content in body.get("contents") or ():
        if not isinstance(content, dict):
            continue
        text = content_text(content.get("parts"))
        chars += len(text)
        if content.get("role", "user") == "user":
            last_user = text
    return chars, last_user


def _usage(plan: Plan) -> dict[str, int]:
    thoughts = min(len(plan.thinking.split()), plan.completion_tokens) if plan.thinking else 0
    usage = {
        "promptTokenCount": plan.prompt_tokens,
        "candidatesTokenCount": plan.completion_tokens - thoughts,
        "totalTokenCount": plan.prompt_tokens + plan.completion_tokens,
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if plan.cached_tokens:
        usage["cachedContentTokenCount"] = plan.cached_tokens
    return usage


def _function_call(tc: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"name": tc.name, "args": tc.input}
    if tc.id:
        call["id"] = tc.id
    return {"functionCall": call}


def _response(parts: list[dict[str, Any]], model: str, rid: str, extra: dict[str, Any]) -> dict[str, Any]:
    candidate = {"content": {"parts": parts, "role": "model"}, "index": 0, **extra}
    return {"candidates": [candidate], "modelVersion": model, "responseId": rid}


def generate(plan: Plan, model: str) -> dict[str, Any]:
    parts: list[dict[str, Any]] = []
    if plan.thinking is not None:
        parts.append({"text": plan.thinking, "thought": True})
    if plan.text or not plan.tool_calls:
        parts.append({"text": plan.text})
    parts.extend(_function_call(tc) for tc in plan.tool_calls)
    data = _response(parts, model, new_id(""), {"finishReason": finish_reason(plan.finish_reason)})
    data["usageMetadata"] = _usage(plan)
    return data


def stream_chunks(plan: Plan, model: str) -> list[dict[str, Any]]:
    rid = new_id("")
    pieces: list[list[dict[str, Any]]] = []
    if plan.thinking is not None:
        pieces.append([{"text": plan.thinking, "thought": True}])
    pieces.extend([{"text": word}] for word in split_words(plan.text))
    if plan.tool_calls:
        pieces.append([_function_call(tc) for tc in plan.tool_calls])
    if not pieces:
        pieces.append([{"text": ""}])
    running = {"promptTokenCount": plan.prompt_tokens, "totalTokenCount": plan.prompt_tokens}
    chunks = []
    for parts in pieces[:-1]:
        chunk = _response(parts, model, rid, {})
        chunk["usageMetadata"] = running
        chunks.append(chunk)
    last = _response(pieces[-1], model, rid, {"finishReason": finish_reason(plan.finish_reason)})
    last["usageMetadata"] = _usage(plan)
    chunks.append(last)
    return chunks


async def handle(call: Call) -> web.StreamResponse:
    action = call.request.match_info["target"].rpartition(":")[2]
    if action not in ("generateContent", "streamGenerateContent", "countTokens"):
        return error_response(call, 404, f"Method {action!r} not found for model {call.model!r}.")
    chars, last_user = _input(call.body)
    if action == "countTokens":
        scripted = (call.script or {}).get("usage") or {}
        return json_response(call, {"totalTokens": int(scripted.get("prompt_tokens", max(1, chars // 4)))})
    if not isinstance(call.body.get("contents"), list) or not call.body["contents"]:
        return error_response(call, 400, "* GenerateContentRequest.contents: contents is not specified")
    plan = make_plan(call.script, call.model, chars, last_user)
    if action == "generateContent":
        return json_response(call, generate(plan, call.model))
    chunks = stream_chunks(plan, call.model)
    if call.stream:  # ?alt=sse
        return await send_events(call, [sse(chunk) for chunk in chunks])
    return json_response(call, chunks)  # without alt=sse Gemini streams one JSON array


async def models(call: Call) -> web.StreamResponse:
    methods = ["generateContent", "streamGenerateContent", "countTokens"]
    data = [{"name": f"models/{m}", "displayName": m, "supportedGenerationMethods": methods} for m in MODELS]
    return json_response(call, {"models": data})
