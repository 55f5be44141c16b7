"""OpenAI Responses API <-> OpenAI Chat Completions (the canonical shape), as pure functions on plain dicts.

Used when the provider that serves a Responses request has no Responses API of its own (``"responses":
"via_chat"``): the request becomes a chat request, which each provider already translates to its own wire
(Anthropic, chat-only OpenAI-compatible servers...), and the chat answer becomes a Responses ``Response``.
Nothing here does I/O or names a provider; the input is never mutated, big values are shared.

Request rules (`responses_request_to_chat`)
-------------------------------------------
* ``instructions`` -> a leading ``system`` message. ``input`` as a string -> one ``user`` message.
* ``input`` items: ``message`` (also the short form without ``type``) keeps its role (``user``, ``system``,
  ``developer``, ``assistant``); content parts ``input_text`` / ``output_text`` -> ``text``, ``refusal`` ->
  text, ``input_image`` -> ``image_url`` (``image_url`` kept, ``detail`` kept), ``input_file`` with
  ``file_data`` -> ``file`` (``file_data``, ``filename``), with ``file_id`` -> ``file`` (``file_id``), with
  ``file_url`` -> rejected; a lone text part collapses to a plain string.
* ``function_call`` items -> ``tool_calls`` of one assistant message (consecutive calls, and the assistant
  text just before them, share one message); ``function_call_output`` -> a ``tool`` message
  (``call_id`` -> ``tool_call_id``; an output given as content parts keeps its text).
* ``reasoning`` items: the summary texts -> ``reasoning_content`` of the next assistant message; an
  ``encrypted_content`` written by this gateway (``bf1:`` + base64 JSON of a provider's thinking blocks) ->
  ``thinking_blocks``, so extended thinking survives tool-use round trips. Any other item type
  (``item_reference``, built-in tool calls...) is rejected with a 400 naming it.
* ``tools``: ``function`` tools -> chat function tools (``name``, ``description``, ``parameters``,
  ``strict``). Built-in tools (``web_search``, ``file_search``, ``code_interpreter``, ``computer_use``,
  ``image_generation``, ``mcp``, ...) -> a 400 naming the tool and the provider. ``tool_choice``: ``auto``,
  ``none``, ``required`` kept; ``{"type": "function", "name"}`` -> a named function; other forms rejected.
  ``parallel_tool_calls`` copied.
* ``text.format``: ``json_schema`` -> ``response_format: {"type": "json_schema", "json_schema": {name,
  schema, strict, description}}``; ``json_object`` -> ``{"type": "json_object"}``; ``text`` -> nothing.
* ``reasoning.effort`` -> ``reasoning_effort``; ``reasoning.summary`` only asks for the reasoning item
  (every provider's thinking text is returned as its summary).
* ``max_output_tokens`` -> ``max_tokens``; ``temperature``, ``top_p``, ``user`` copied; ``stream`` copied
  with ``stream_options.include_usage``. ``metadata`` is echoed in the response, not sent upstream.
  ``store`` and ``previous_response_id`` are handled by the gateway (the earlier turns are expanded into
  ``input``). ``background``, ``conversation`` and ``prompt`` are rejected (400); every other field
  (``include``, ``truncation``, ``service_tier``, ``prompt_cache_key``, ``safety_identifier``...) is dropped.

Response rules (`chat_response_to_responses`, `ChatToResponsesStream`)
---------------------------------------------------------------------
* ``output`` in order: a ``reasoning`` item when the provider returned thinking (``reasoning_content`` ->
  one ``summary_text``; ``thinking_blocks`` -> ``encrypted_content``), a ``message`` item with one
  ``output_text`` part (or a ``refusal`` part) when there is text, then one ``function_call`` item per tool
  call (``call_id`` = the provider's tool-call id, arguments kept as text).
* ``finish_reason`` ``length`` -> ``status: "incomplete"``, ``incomplete_details.reason:
  "max_output_tokens"``; ``content_filter`` -> incomplete with ``content_filter``; anything else ->
  ``completed``.
* usage: ``input_tokens`` = prompt_tokens, ``input_tokens_details.cached_tokens`` / ``cache_write_tokens``
  from ``prompt_tokens_details``, ``output_tokens`` = completion_tokens,
  ``output_tokens_details.reasoning_tokens`` from ``completion_tokens_details``.
* The request's ``instructions``, ``tools``, ``tool_choice``, ``parallel_tool_calls``, ``temperature``,
  ``top_p``, ``max_output_tokens``, ``metadata``, ``reasoning``, ``text``, ``previous_response_id``,
  ``store`` and ``user`` are echoed; ``model`` is the model that answered.
* Streams: ``response.created``, ``response.in_progress``, then per output item ``output_item.added``,
  its parts and deltas (``reasoning_summary_part.added`` / ``reasoning_summary_text.delta``,
  ``content_part.added`` / ``output_text.delta``, ``function_call_arguments.delta``), their ``.done``
  events and ``output_item.done``, and last ``response.completed`` (or ``response.incomplete``), every
  event with its ``sequence_number``. A failure after the start ends with ``response.failed`` and an
  ``error`` event.
"""

from __future__ import annotations

import base64
import binascii
import os
import time
from typing import Any

import orjson

JSONDict = dict[str, Any]

# Tools only OpenAI runs itself; a provider served through chat has none of them.
BUILTIN_TOOLS = frozenset(
    {
        "web_search",
        "web_search_preview",
        "web_search_preview_2025_03_11",
        "web_search_2025_08_26",
        "file_search",
        "code_interpreter",
        "computer_use_preview",
        "computer_use",
        "image_generation",
        "mcp",
        "local_shell",
        "shell",
        "apply_patch",
        "custom",
    }
)
_REJECTED_FIELDS = {
    "background": "background responses",
    "conversation": "conversations",
    "prompt": "prompt templates",
}
_THINKING_PREFIX = "bf1:"


class ResponsesTranslationError(ValueError):
    """A Responses request that cannot be expressed as chat; rendered as a 400 naming `param`."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


def new_id(prefix: str) -> str:
    return prefix + os.urandom(16).hex()


# ---------------------------------------------------------------------------------------------------
# request: Responses -> chat
# ---------------------------------------------------------------------------------------------------


def input_items(value: Any) -> list[JSONDict]:
    """``input`` as a list of items (a string is one user message)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"type": "message", "role": "user", "content": value}]
    if isinstance(value, list):
        return value
    raise ResponsesTranslationError("'input' must be a string or a list of input items", "input")


def responses_request_to_chat(body: JSONDict, provider: str) -> JSONDict:
    """A Responses request body (earlier turns already expanded into ``input``) as a chat request body."""
    for name, what in _REJECTED_FIELDS.items():
        if body.get(name):
            raise ResponsesTranslationError(
                f"{what} ('{name}') are not available on provider {provider}, which is served through chat "
                "completions; use an OpenAI model or leave the field out",
                name,
            )
    messages: list[JSONDict] = []
    instructions = body.get("instructions")
    if isinstance(instructions, str) and instructions:
        messages.append({"role": "system", "content": instructions})
    elif isinstance(instructions, list):  # input items as instructions (echoed prompt templates)
        _items_to_messages(instructions, messages, "instructions")
    _items_to_messages(input_items(body.get("input")), messages, "input")
    if not messages:
        raise ResponsesTranslationError("'input' is required: a string or a non-empty list of items", "input")
    out: JSONDict = {"model": body.get("model"), "messages": messages}
    tools = body.get("tools")
    if tools:
        out["tools"] = _tools(tools, provider)
        choice = body.get("tool_choice")
        if choice is not None:
            out["tool_choice"] = _tool_choice(choice)
        parallel = body.get("parallel_tool_calls")
        if isinstance(parallel, bool):
            out["parallel_tool_calls"] = parallel
    fmt = _text_format(body.get("text"))
    if fmt is not None:
        out["response_format"] = fmt
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        out["reasoning_effort"] = reasoning["effort"]
    max_tokens = body.get("max_output_tokens")
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    for name in ("temperature", "top_p", "user"):
        value = body.get(name)
        if value is not None:
            out[name] = value
    if body.get("stream") is True:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def _items_to_messages(items: list[Any], messages: list[JSONDict], where: str) -> None:
    pending_reasoning: list[str] = []
    pending_blocks: list[Any] = []
    for i, item in enumerate(items):
        param = f"{where}[{i}]"
        if not isinstance(item, dict):
            raise ResponsesTranslationError(f"{param} must be an object (an input item)", param)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            role = item.get("role")
            if role not in ("user", "system", "developer", "assistant"):
                raise ResponsesTranslationError(
                    f"{param}.role must be user, system, developer or assistant (got {role!r})", f"{param}.role"
                )
            content = _content(item.get("content"), f"{param}.content")
            message: JSONDict = {"role": role, "content": content}
            if role == "assistant":
                _attach_reasoning(message, pending_reasoning, pending_blocks)
            messages.append(message)
        elif kind == "function_call":
            name, args, call_id = item.get("name"), item.get("arguments"), item.get("call_id")
            if not isinstance(name, str) or not isinstance(call_id, str):
                raise ResponsesTranslationError(f"{param}: a function_call needs 'name' and 'call_id'", param)
            arguments = args if isinstance(args, str) else orjson.dumps(args or {}).decode()
            call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            last = messages[-1] if messages else None
            if last is not None and last.get("role") == "assistant" and not pending_reasoning and not pending_blocks:
                last.setdefault("tool_calls", []).append(call)
            else:
                message = {"role": "assistant", "content": None, "tool_calls": [call]}
                _attach_reasoning(message, pending_reasoning, pending_blocks)
                messages.append(message)
        elif kind == "function_call_output":
            call_id = item.get("call_id")
            if not isinstance(call_id, str):
                raise ResponsesTranslationError(f"{param}: a function_call_output needs 'call_id'", param)
            output = item.get("output")
            text = output if isinstance(output, str) else _parts_text(output)
            messages.append({"role": "tool", "tool_call_id": call_id, "content": text})
        elif kind == "reasoning":
            for part in item.get("summary") or ():
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    pending_reasoning.append(part["text"])
            pending_blocks.extend(thinking_blocks_from(item.get("encrypted_content")))
        else:
            raise ResponsesTranslationError(
                f"{param}: input items of type {kind!r} cannot be sent to a provider served through chat "
                "completions (supported: message, function_call, function_call_output, reasoning)",
                f"{param}.type",
            )


def _attach_reasoning(message: JSONDict, texts: list[str], blocks: list[Any]) -> None:
    if texts:
        message["reasoning_content"] = "".join(texts)
        texts.clear()
    if blocks:
        message["thinking_blocks"] = list(blocks)
        blocks.clear()


def _parts_text(parts: Any) -> str:
    if not isinstance(parts, list):
        return "" if parts is None else str(parts)
    return "".join(p.get("text") or "" for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


def _content(content: Any, param: str) -> Any:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise ResponsesTranslationError(f"{param} must be a string or a list of content parts", param)
    parts: list[JSONDict] = []
    for j, part in enumerate(content):
        where = f"{param}[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text") or ""})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part.get("refusal") or ""})
        elif kind == "input_image":
            url = part.get("image_url")
            if not isinstance(url, str):
                raise ResponsesTranslationError(
                    f"{where}: only input_image with an image_url (http(s) or data URL) can be translated "
                    "(file_id images need OpenAI's file store)",
                    where,
                )
            image: JSONDict = {"url": url}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "input_file":
            file: JSONDict = {}
            if isinstance(part.get("file_data"), str):
                file["file_data"] = part["file_data"]
            elif isinstance(part.get("file_id"), str):
                file["file_id"] = part["file_id"]
            else:
                raise ResponsesTranslationError(
                    f"{where}: input_file needs file_data (file_url is only available on OpenAI)", where
                )
            if isinstance(part.get("filename"), str):
                file["filename"] = part["filename"]
            parts.append({"type": "file", "file": file})
        else:
            raise ResponsesTranslationError(f"{where}: unsupported content part type {kind!r}", where)
    if len(parts) == 1 and parts[0]["type"] == "text":
        return parts[0]["text"]
    return parts


def _tools(tools: Any, provider: str) -> list[JSONDict]:
    if not isinstance(tools, list):
        raise ResponsesTranslationError("'tools' must be a list of tool objects", "tools")
    out: list[JSONDict] = []
    for i, tool in enumerate(tools):
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "function":
            name = tool.get("name")
            if not isinstance(name, str) or not name:
                raise ResponsesTranslationError(f"tools[{i}].name is required for a function tool", f"tools[{i}].name")
            function: JSONDict = {"name": name}
            for field in ("description", "parameters", "strict"):
                if tool.get(field) is not None:
                    function[field] = tool[field]
            out.append({"type": "function", "function": function})
        else:
            raise ResponsesTranslationError(
                f"the built-in tool {kind!r} (tools[{i}]) is only available on OpenAI's Responses API; provider "
                f"{provider} has no such tool. Remove it, or send this request to an OpenAI model.",
                f"tools[{i}].type",
            )
    return out


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise ResponsesTranslationError(
        "tool_choice must be auto, none, required or {\"type\": \"function\", \"name\": ...} for this provider",
        "tool_choice",
    )


def _text_format(text: Any) -> JSONDict | None:
    if not isinstance(text, dict):
        return None
    fmt = text.get("format")
    if not isinstance(fmt, dict):
        return None
    kind = fmt.get("type")
    if kind == "json_object":
        return {"type": "json_object"}
    if kind == "json_schema":
        schema: JSONDict = {"name": fmt.get("name") or "response", "schema": fmt.get("schema") or {}}
        for field in ("strict", "description"):
            if fmt.get(field) is not None:
                schema[field] = fmt[field]
        return {"type": "json_schema", "json_schema": schema}
    if kind in (None, "text"):
        return None
    raise ResponsesTranslationError(f"text.format type {kind!r} is not supported", "text.format.type")


def thinking_blocks_from(encrypted: Any) -> list[Any]:
    """Thinking blocks this gateway packed into a reasoning item's ``encrypted_content`` (else none)."""
    if not isinstance(encrypted, str) or not encrypted.startswith(_THINKING_PREFIX):
        return []
    try:
        blocks = orjson.loads(base64.b64decode(encrypted[len(_THINKING_PREFIX) :], validate=True))
    except (binascii.Error, orjson.JSONDecodeError, ValueError):
        return []
    return blocks if isinstance(blocks, list) else []


def pack_thinking_blocks(blocks: list[Any]) -> str:
    return _THINKING_PREFIX + base64.b64encode(orjson.dumps(blocks)).decode()


# ---------------------------------------------------------------------------------------------------
# response: chat -> Responses
# ---------------------------------------------------------------------------------------------------


def response_skeleton(body: JSONDict, response_id: str, model: str, created_at: int | None = None) -> JSONDict:
    """The parts of a ``Response`` that echo the request (status ``in_progress``, no output yet)."""
    reasoning = body.get("reasoning")
    text = body.get("text")
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at if created_at is not None else int(time.time()),
        "status": "in_progress",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": reasoning if isinstance(reasoning, dict) else None,
        "store": body.get("store") is not False,
        "temperature": body.get("temperature"),
        "text": text if isinstance(text, dict) else {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice") or "auto",
        "tools": _echo_tools(body.get("tools")),
        "top_p": body.get("top_p"),
        "truncation": "disabled",
        "metadata": body.get("metadata") or {},
        **({"user": body["user"]} if isinstance(body.get("user"), str) else {}),
    }


def _echo_tools(tools: Any) -> list[Any]:
    """The request's tools as a Response lists them: function tools always carry parameters and strict."""
    if not isinstance(tools, list):
        return []
    return [
        {**tool, "parameters": tool.get("parameters"), "strict": tool.get("strict")}
        if isinstance(tool, dict) and tool.get("type") == "function" else tool
        for tool in tools
    ]


def usage_to_responses(usage: Any) -> JSONDict | None:
    if not isinstance(usage, dict):
        return None
    prompt = usage.get("prompt_tokens") or 0
    completion = usage.get("completion_tokens") or 0
    pdetails = usage.get("prompt_tokens_details") if isinstance(usage.get("prompt_tokens_details"), dict) else {}
    cdetails = (
        usage.get("completion_tokens_details") if isinstance(usage.get("completion_tokens_details"), dict) else {}
    )
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": pdetails.get("cached_tokens") or 0,
            "cache_write_tokens": pdetails.get("cache_write_tokens") or 0,
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": cdetails.get("reasoning_tokens") or 0},
        "total_tokens": usage.get("total_tokens") or prompt + completion,
    }


def finish_status(finish_reason: Any) -> tuple[str, JSONDict | None]:
    if finish_reason == "length":
        return "incomplete", {"reason": "max_output_tokens"}
    if finish_reason == "content_filter":
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def reasoning_item(text: str, blocks: list[Any] | None, item_id: str | None = None) -> JSONDict:
    item: JSONDict = {
        "id": item_id or new_id("rs_"),
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": text}] if text else [],
    }
    if blocks:
        item["encrypted_content"] = pack_thinking_blocks(blocks)
    return item


def text_part(text: str) -> JSONDict:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def message_item(parts: list[JSONDict], item_id: str | None = None, status: str = "completed") -> JSONDict:
    return {"id": item_id or new_id("msg_"), "type": "message", "status": status, "role": "assistant", "content": parts}


def function_call_item(call_id: str, name: str, arguments: str, item_id: str | None = None) -> JSONDict:
    return {
        "id": item_id or new_id("fc_"),
        "type": "function_call",
        "status": "completed",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


def chat_response_to_responses(chat: JSONDict, body: JSONDict, response_id: str, model: str) -> JSONDict:
    """A chat completion (canonical) as the Responses ``Response`` for `body`."""
    choices = chat.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    output: list[JSONDict] = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    blocks = message.get("thinking_blocks") if isinstance(message.get("thinking_blocks"), list) else None
    if reasoning or blocks:
        output.append(reasoning_item(reasoning if isinstance(reasoning, str) else "", blocks))
    content = message.get("content")
    text = content if isinstance(content, str) else _parts_text(content) if isinstance(content, list) else ""
    if text:
        output.append(message_item([text_part(text)]))
    elif isinstance(message.get("refusal"), str) and message["refusal"]:
        output.append(message_item([{"type": "refusal", "refusal": message["refusal"]}]))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        output.append(
            function_call_item(
                str(call.get("id") or new_id("call_")), str(function.get("name") or ""),
                str(function.get("arguments") or ""),
            )
        )
    resp = response_skeleton(body, response_id, chat.get("model") or model)
    status, details = finish_status(choice.get("finish_reason"))
    resp["status"] = status
    resp["incomplete_details"] = details
    resp["completed_at"] = int(time.time()) if status == "completed" else None
    resp["output"] = output
    usage = usage_to_responses(chat.get("usage"))
    if usage is not None:
        resp["usage"] = usage
    return resp


def output_text(resp: JSONDict) -> str:
    """The text of a Response's message items (what logs keep as the answer)."""
    texts: list[str] = []
    for item in resp.get("output") or ():
        if isinstance(item, dict) and item.get("type") == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") == "output_text":
                    texts.append(part.get("text") or "")
    return "".join(texts)


def error_code(status: int) -> str:
    """A gateway error status as one of the Responses ``error.code`` values."""
    if status == 429:
        return "rate_limit_exceeded"
    if status == 400:
        return "invalid_prompt"
    return "server_error"
