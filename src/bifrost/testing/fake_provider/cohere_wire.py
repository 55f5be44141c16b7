"""Cohere v2 wire format: /v2/chat (JSON and SSE events) and /v2/embed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .openai_wire import embedding_vector
from .reply import Plan, make_plan, messages_input, new_id, split_pieces, split_words
from .respond import Call, Wire, error_response, json_response, send_events, sse_event

_FINISH = {"stop": "COMPLETE", "length": "MAX_TOKENS", "tool_calls": "TOOL_CALL", "content_filter": "ERROR_TOXIC"}


def error_body(status: int, message: str, error_type: str | None, code: str | None) -> dict[str, Any]:
    return {"id": new_id(""), "message": message}


def stream_error(message: str, error_type: str | None) -> bytes:
    # Cohere ends a failing stream with message-end and finish_reason ERROR
    delta = {"finish_reason": "ERROR", "error": message, "usage": {}}
    return sse_event("message-end", {"type": "message-end", "delta": delta})


WIRE = Wire("cohere", error_body, stream_error)


def _input(body: dict[str, Any]) -> tuple[int, str]:
    return messages_input(body.get("messages"), 0)


def _usage(plan: Plan) -> dict[str, Any]:
    counts = {"input_tokens": plan.prompt_tokens, "output_tokens": plan.completion_tokens}
    return {"billed_units": counts, "tokens": counts, "cached_tokens": plan.cached_tokens}


def _calls(plan: Plan) -> list[dict[str, Any]]:
    return [
        {"id": tc.id or new_id("call_"), "type": "function", "function": {"name": tc.name, "arguments": tc.arguments}}
        for tc in plan.tool_calls
    ]


async def chat(call: Call) -> web.StreamResponse:
    if not call.model:
        return error_response(call, 400, "invalid request: model must be specified")
    if not isinstance(call.body.get("messages"), list) or not call.body["messages"]:
        return error_response(call, 400, "invalid request: messages must not be empty")
    chars, last_user = _input(call.body)
    plan = make_plan(call.script, call.model, chars, last_user)
    finish = _FINISH.get(plan.finish_reason, plan.finish_reason.upper())
    if call.stream:
        return await send_events(call, _events(plan, finish))
    message: dict[str, Any] = {"role": "assistant"}
    if plan.text or not plan.tool_calls:
        message["content"] = [{"type": "text", "text": plan.text}]
    if plan.tool_calls:
        message["tool_plan"] = "I will call the tools."
        message["tool_calls"] = _calls(plan)
    return json_response(
        call, {"id": new_id(""), "finish_reason": finish, "message": message, "usage": _usage(plan)}
    )


def _events(plan: Plan, finish: str) -> list[bytes]:
    start = {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}
    events = [sse_event("message-start", {"type": "message-start", "id": new_id(""), "delta": start})]
    if plan.tool_calls:
        events.append(
            sse_event("tool-plan-delta", {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "I will"}}})
        )
        for index, tc in enumerate(_calls(plan)):
            head = {**tc, "function": {"name": tc["function"]["name"], "arguments": ""}}
            events.append(
                sse_event(
                    "tool-call-start",
                    {"type": "tool-call-start", "index": index, "delta": {"message": {"tool_calls": head}}},
                )
            )
            for piece in split_pieces(tc["function"]["arguments"]):
                delta = {"message": {"tool_calls": {"function": {"arguments": piece}}}}
                events.append(
                    sse_event("tool-call-delta", {"type": "tool-call-delta", "index": index, "delta": delta})
                )
            events.append(sse_event("tool-call-end", {"type": "tool-call-end", "index": index}))
    if plan.text or not plan.tool_calls:
        content = {"message": {"content": {"type": "text", "text": ""}}}
        events.append(sse_event("content-start", {"type": "content-start", "index": 0, "delta": content}))
        for word in split_words(plan.text):
            delta = {"message": {"content": {"text": word}}}
            events.append(sse_event("content-delta", {"type": "content-delta", "index": 0, "delta": delta}))
        events.append(sse_event("content-end", {"type": "content-end", "index": 0}))
    end = {"finish_reason": finish, "usage": _usage(plan)}
    events.append(sse_event("message-end", {"type": "message-end", "delta": end}))
    return events


async def embed(call: Call) -> web.StreamResponse:
    texts = call.body.get("texts")
    if not call.model or not isinstance(texts, list) or not texts:
        return error_response(call, 400, "invalid request: model and texts are required")
    if "input_type" not in call.body:
        return error_response(call, 400, "invalid request: input_type is required for embed models v3 and higher")
    dims = int(call.body.get("output_dimension") or 8)
    vectors = [embedding_vector(str(t), dims) for t in texts]
    scripted = (call.script or {}).get("usage") or {}
    tokens = int(scripted.get("prompt_tokens", max(1, sum(len(str(t)) for t in texts) // 4)))
    return json_response(
        call,
        {
            "id": new_id(""),
            "embeddings": {"float": vectors},
            "texts": texts,
            "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": tokens}},
            "response_type": "embeddings_by_type",
        },
    )
