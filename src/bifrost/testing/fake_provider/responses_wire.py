"""OpenAI Responses API wire: POST /v1/responses (JSON and its SSE events), stored responses (GET, DELETE,
input_items, cancel) and /v1/responses/input_tokens, as OpenAI answers them."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from . import openai_wire
from .control_api import STATE
from .reply import Plan, content_text, make_plan, new_id, now, split_pieces, split_words
from .respond import Call, Wire, error_response, json_response, send_events, sse_event


def stream_error(message: str, error_type: str | None) -> bytes:
    return sse_event(
        "error",
        {
            "type": "error", "code": error_type or "server_error", "message": message, "param": None,
            "sequence_number": 0,
        },
    )


WIRE = Wire("openai", openai_wire.error_body, stream_error)


def _items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        part = {"type": "input_text", "text": value}
        return [{"id": new_id("msg_"), "type": "message", "role": "user", "content": [part]}]
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        if isinstance(item, dict):
            out.append({"id": item.get("id") or new_id("msg_"), "type": item.get("type") or "message", **item})
    return out


def _input(body: dict[str, Any]) -> tuple[int, str]:
    chars = len(content_text(body.get("instructions")))
    last_user = ""
    for item in _items(body.get("input")):
        text = content_text(item.get("content")) or str(item.get("output") or "")
        chars += len(text)
        if item.get("role") == "user":
            last_user = text
    return chars, last_user


def _usage(plan: Plan) -> dict[str, Any]:
    reasoning = len(plan.thinking.split()) if plan.thinking else 0
    return {
        "input_tokens": plan.prompt_tokens,
        "input_tokens_details": {"cached_tokens": plan.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": plan.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": plan.prompt_tokens + plan.completion_tokens,
    }


def build_response(plan: Plan, body: dict[str, Any], model: str) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if plan.thinking is not None:
        summary = [{"type": "summary_text", "text": plan.thinking}]
        output.append({"id": new_id("rs_"), "type": "reasoning", "summary": summary})
    if plan.text or not plan.tool_calls:
        part = {"type": "output_text", "text": plan.text, "annotations": [], "logprobs": []}
        output.append(
            {"id": new_id("msg_"), "type": "message", "status": "completed", "role": "assistant", "content": [part]}
        )
    for call in plan.tool_calls:
        output.append(
            {
                "id": new_id("fc_"), "type": "function_call", "status": "completed",
                "call_id": call.id or new_id("call_"), "name": call.name, "arguments": call.arguments,
            }
        )
    incomplete = plan.finish_reason == "length"
    return {
        "id": new_id("resp_"),
        "object": "response",
        "created_at": now(),
        "status": "incomplete" if incomplete else "completed",
        "completed_at": None if incomplete else now(),
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": [  # OpenAI echoes function tools with their defaults filled in
            {"strict": True, "parameters": None, **tool} if tool.get("type") == "function" else tool
            for tool in body.get("tools") or () if isinstance(tool, dict)
        ],
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": _usage(plan),
        "metadata": body.get("metadata") or {},
        **({"user": body["user"]} if isinstance(body.get("user"), str) else {}),
    }


def response_events(resp: dict[str, Any]) -> list[bytes]:
    """The SSE events OpenAI sends for `resp`, in order, numbered."""
    events: list[bytes] = []

    def emit(kind: str, **fields: Any) -> None:
        events.append(sse_event(kind, {"type": kind, "sequence_number": len(events), **fields}))

    start = {**resp, "status": "in_progress", "output": [], "completed_at": None}
    del start["usage"]
    emit("response.created", response=start)
    emit("response.in_progress", response=start)
    for index, item in enumerate(resp["output"]):
        kind, item_id = item["type"], item["id"]
        if kind == "message":
            added = {**item, "status": "in_progress", "content": []}
            emit("response.output_item.added", output_index=index, item=added)
            text = item["content"][0]["text"]
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            emit("response.content_part.added", item_id=item_id, output_index=index, content_index=0, part=empty)
            for word in split_words(text):
                emit("response.output_text.delta", item_id=item_id, output_index=index, content_index=0, delta=word,
                     logprobs=[])
            emit("response.output_text.done", item_id=item_id, output_index=index, content_index=0, text=text,
                 logprobs=[])
            emit("response.content_part.done", item_id=item_id, output_index=index, content_index=0,
                 part=item["content"][0])
        elif kind == "reasoning":
            emit("response.output_item.added", output_index=index, item={**item, "summary": []})
            text = item["summary"][0]["text"]
            emit("response.reasoning_summary_part.added", item_id=item_id, output_index=index, summary_index=0,
                 part={"type": "summary_text", "text": ""})
            for word in split_words(text):
                emit("response.reasoning_summary_text.delta", item_id=item_id, output_index=index, summary_index=0,
                     delta=word)
            emit("response.reasoning_summary_text.done", item_id=item_id, output_index=index, summary_index=0,
                 text=text)
            emit("response.reasoning_summary_part.done", item_id=item_id, output_index=index, summary_index=0,
                 part=item["summary"][0])
        else:
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "arguments": ""})
            for piece in split_pieces(item["arguments"]):
                emit("response.function_call_arguments.delta", item_id=item_id, output_index=index, delta=piece)
            emit("response.function_call_arguments.done", item_id=item_id, output_index=index, name=item["name"],
                 arguments=item["arguments"])
        emit("response.output_item.done", output_index=index, item=item)
    final = "response.completed" if resp["status"] == "completed" else "response.incomplete"
    emit(final, response=resp)
    return events


def _not_found(call: Call, response_id: str) -> web.Response:
    return error_response(call, 404, f"No response found with id '{response_id}'.")


async def create(call: Call) -> web.StreamResponse:
    body = call.body
    if not call.model:
        return error_response(call, 400, "Missing required parameter: 'model'.", code="missing_required_parameter")
    state = call.request.app[STATE]
    previous = body.get("previous_response_id")
    if previous and previous not in state.responses:
        return error_response(
            call, 400, f"Previous response with id '{previous}' not found.", code="previous_response_not_found"
        )
    chars, last_user = _input(body)
    plan = make_plan(call.script, call.model, chars, last_user)
    resp = build_response(plan, body, call.model)
    if body.get("store") is not False:
        state.responses[resp["id"]] = (resp, _items(body.get("input")), time.time())
    if call.stream:
        return await _send(call, response_events(resp))
    return json_response(call, resp)


async def _send(call: Call, events: list[bytes]) -> web.StreamResponse:
    """Stream `events`; a scripted mid-stream error is an ``error`` event numbered in sequence."""
    script = call.script or {}
    after = script.get("stream_error_after")
    if after is not None:
        after = min(int(after), len(events))
        message = str(script.get("error_message") or "The server had an error while processing your request.")
        error = {"type": "error", "code": script.get("error_type") or "server_error", "message": message,
                 "param": None, "sequence_number": after}
        events = [*events[:after], sse_event("error", error)]
        call.script = {k: v for k, v in script.items() if k != "stream_error_after"}
    return await send_events(call, events)


async def retrieve(call: Call) -> web.StreamResponse:
    response_id = call.request.match_info["id"]
    stored = call.request.app[STATE].responses.get(response_id)
    if stored is None:
        return _not_found(call, response_id)
    if call.request.query.get("stream") == "true":
        return await _send(call, response_events(stored[0]))
    return json_response(call, stored[0])


async def delete(call: Call) -> web.StreamResponse:
    response_id = call.request.match_info["id"]
    if call.request.app[STATE].responses.pop(response_id, None) is None:
        return _not_found(call, response_id)
    return json_response(call, {"id": response_id, "object": "response", "deleted": True})


async def input_items(call: Call) -> web.StreamResponse:
    response_id = call.request.match_info["id"]
    stored = call.request.app[STATE].responses.get(response_id)
    if stored is None:
        return _not_found(call, response_id)
    items = list(reversed(stored[1])) if call.request.query.get("order", "desc") == "desc" else stored[1]
    return json_response(
        call,
        {
            "object": "list", "data": items, "first_id": items[0]["id"] if items else None,
            "last_id": items[-1]["id"] if items else None, "has_more": False,
        },
    )


async def cancel(call: Call) -> web.StreamResponse:
    response_id = call.request.match_info["id"]
    if response_id not in call.request.app[STATE].responses:
        return _not_found(call, response_id)
    return error_response(call, 400, "Cannot cancel a synchronous response.")


async def input_tokens(call: Call) -> web.StreamResponse:
    chars, _ = _input(call.body)
    return json_response(call, {"object": "response.input_tokens", "input_tokens": max(1, chars // 4)})
