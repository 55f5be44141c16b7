"""Anthropic Messages client wire <-> OpenAI Chat Completions (canonical), for ``POST /anthropic/v1/messages``
when the target provider is not Anthropic (Anthropic -> Anthropic passes bytes through untouched).

Pure functions on plain dicts; the input is never mutated and big values are shared, not copied.

Request rules (`anthropic_request_to_openai`)
--------------------------------------------
* What the translation must understand is checked here (the native Anthropic path checks nothing): ``messages``
  a non-empty array of objects, ``max_tokens`` a positive integer (Anthropic requires it, so a request that
  works here works there too), ``stream`` a boolean.
* ``system`` (a string, or text blocks joined with a blank line) -> a leading ``system`` message.
* A ``system`` message inside ``messages`` (Claude Code sends them under the beta
  ``mid-conversation-system-2026-04-07``) -> a ``system`` message at the same place, its text blocks joined
  with a blank line. A mid-conversation system message with non-text blocks, and any role other than
  user/assistant/system, is refused with Anthropic's own wording, ``Unexpected role "system". The input
  message role must be "user" or "assistant".``, which Claude Code recognizes: it retries at once with the
  system text moved into the user turn as a ``<system-reminder>`` (and stops sending the beta).
* user content: a string stays a string; blocks become parts: ``text`` -> text part (a lone text part is
  collapsed to a plain string); ``image`` base64 -> ``image_url`` with a data URL, url -> ``image_url``
  with that URL; ``document`` with a base64 PDF -> ``file`` part (``file_data`` data URL, ``filename`` =
  title or ``document.pdf``), with a plain-text source -> text part; other document sources are
  rejected. ``tool_result`` blocks -> ``tool`` role messages placed BEFORE the rest of that user turn;
  their content is the string, or the text blocks joined with a newline; ``is_error: true`` prefixes
  the content with ``"Error: "``; images inside a tool result move to the user message that follows
  the tool messages (OpenAI tool messages carry text only).
* assistant content: text blocks joined -> ``content`` (``None`` when there is only tool use);
  ``tool_use`` -> ``tool_calls`` (``arguments`` = compact JSON of ``input``); ``thinking`` and
  ``redacted_thinking`` are dropped (their signatures mean nothing to another provider). Any other block
  type (server tools, containers...) is rejected with `TranslationError`, never silently lost.
* ``cache_control`` is dropped wherever it appears (system, message and tool-result blocks, tools): OpenAI-wire
  providers cache prompts without being asked.
* ``tools``: custom tools -> function tools (``input_schema`` -> ``parameters``; ``cache_control``,
  ``strict``, ``defer_loading`` and other Anthropic-only tool fields dropped); Anthropic server tools
  (``web_search_...``, ``bash_...``...) are rejected. ``tool_choice`` (used only with tools): auto ->
  ``"auto"``, any -> ``"required"``, tool -> named function, none -> ``"none"``;
  ``disable_parallel_tool_use: true`` -> ``parallel_tool_calls: false``.
* ``max_tokens``, ``temperature``, ``top_p`` copied; ``stop_sequences`` -> ``stop``; ``stream`` copied and,
  when streaming, ``stream_options: {"include_usage": true}`` so usage reaches ``message_delta``;
  ``metadata.user_id`` -> ``user`` when it is at most 64 characters (OpenAI's limit for end-user ids;
  Claude Code's longer JSON id is dropped). Extended thinking ``{"type": "enabled", "budget_tokens": B}`` ->
  ``reasoning_effort`` (`effort_for_budget`: B <= 1024 low, <= 8192 medium, else high), which the provider
  translates on (Gemini ``thinkingConfig``; OpenAI reasoning models take it as is, see
  ``Provider.adapt_translated``); disabled and adaptive thinking send nothing. Dropped because the target has
  no equivalent it is sure to accept: ``output_config`` (``effort``), ``context_management`` (the edits are
  server-side bookkeeping), ``top_k``, ``service_tier``, ``container``, ``mcp_servers`` and every other field.
* Gemini (the Gemini provider's translation of these canonical messages, `providers/gemini/translate.py`): the leading
  system text -> ``systemInstruction``; a later ``system`` message -> an in-place ``user`` turn whose text is
  marked as a system note (wrapped in ``<system-reminder>...</system-reminder>``, as Claude Code itself does
  when the beta is refused).

Response rules (`openai_response_to_anthropic`, `OpenAIStreamToAnthropic`)
-------------------------------------------------------------------------
* ``id``: ``msg_`` + the OpenAI id unless it already starts with ``msg_``. ``model``: the upstream's,
  else the given one. Content: one text block (content, else refusal) then ``tool_use`` blocks (ids kept
  so the client's ``tool_result`` matches the upstream's call; ``input`` parsed from ``arguments``,
  invalid JSON or a non-object -> ``{"_raw": arguments}``). Reasoning text is dropped (Anthropic
  thinking blocks need a signature no other provider can produce).
* ``finish_reason`` -> ``stop_reason``: stop -> end_turn, length -> max_tokens, tool_calls /
  function_call -> tool_use, content_filter -> refusal; a ``stop`` (or missing) finish after tool calls
  becomes tool_use, since Anthropic clients loop on it.
* usage in Anthropic's sense: ``input_tokens`` = prompt_tokens - cached_tokens - cache_write_tokens,
  ``cache_read_input_tokens`` = ``prompt_tokens_details.cached_tokens``, ``cache_creation_input_tokens``
  = ``prompt_tokens_details.cache_write_tokens`` (0 when absent), ``output_tokens`` = completion_tokens.
* Streams assume tool-call fragments arrive call after call (as OpenAI sends them): a fragment for a
  new ``index`` (or a new ``id``) closes the open block and opens a ``tool_use`` block.
"""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from bifrost.core.text_completion import content_text
from bifrost.providers.anthropic.translate import TranslationError, tool_use_to_call

__all__ = [
    "OpenAIStreamToAnthropic",
    "TranslationError",
    "anthropic_request_to_openai",
    "effort_for_budget",
    "openai_error_to_anthropic",
    "openai_response_to_anthropic",
    "tool_input",
]

JSONDict = dict[str, Any]
Event = tuple[str, JSONDict]
MAX_USER_ID = 64  # OpenAI's limit on `user` (end-user id) length


# ---------------------------------------------------------------------------------------------------
# request: Anthropic -> OpenAI
# ---------------------------------------------------------------------------------------------------


def anthropic_request_to_openai(body: JSONDict) -> JSONDict:
    """Translate an Anthropic Messages request body into an OpenAI chat completion request body."""
    messages: list[JSONDict] = []
    system = body.get("system")
    if isinstance(system, str):
        if system:
            messages.append({"role": "system", "content": system})
    elif isinstance(system, list):
        texts: list[str] = []
        for k, block in enumerate(system):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise TranslationError("system blocks must be text blocks", f"system.{k}")
            texts.append(block.get("text") or "")
        if texts:
            messages.append({"role": "system", "content": "\n\n".join(texts)})
    elif system is not None:
        raise TranslationError("system must be a string or an array of text blocks", "system")

    source = body.get("messages")
    if not isinstance(source, list) or not source:
        raise TranslationError(
            'messages: field required, a non-empty list of {"role", "content"} objects', "messages"
        )
    for i, msg in enumerate(source):
        if not isinstance(msg, dict):
            raise TranslationError(f"messages.{i}: each message must be an object", f"messages.{i}")
        role = msg.get("role")
        if role == "user":
            _user_message(msg.get("content"), i, messages)
        elif role == "assistant":
            messages.append(_assistant_message(msg.get("content"), i))
        elif role == "system":
            messages.append({"role": "system", "content": _system_text(msg.get("content"), i)})
        else:
            raise TranslationError(_unexpected_role(role, f"messages.{i}.role"), f"messages.{i}.role")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise TranslationError("max_tokens: field required, a positive integer", "max_tokens")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise TranslationError("stream: must be true or false", "stream")

    out: JSONDict = {"model": body.get("model"), "messages": messages, "max_tokens": max_tokens}
    stop = body.get("stop_sequences")
    if stop:
        out["stop"] = stop
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None:
            out[key] = value
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        user_id = metadata.get("user_id")
        if isinstance(user_id, str) and 0 < len(user_id) <= MAX_USER_ID:
            out["user"] = user_id
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        out["reasoning_effort"] = effort_for_budget(thinking.get("budget_tokens"))

    tools = body.get("tools")
    if tools:
        out["tools"] = [_tool(tool, k) for k, tool in enumerate(tools)]
        choice = body.get("tool_choice")
        if isinstance(choice, dict):
            ctype = choice.get("type")
            if ctype == "auto":
                out["tool_choice"] = "auto"
            elif ctype == "any":
                out["tool_choice"] = "required"
            elif ctype == "none":
                out["tool_choice"] = "none"
            elif ctype == "tool":
                out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
            else:
                raise TranslationError(f"unsupported tool_choice type {ctype!r}", "tool_choice.type")
            if choice.get("disable_parallel_tool_use") is True:
                out["parallel_tool_calls"] = False
    return out


def effort_for_budget(budget: Any) -> str:
    """A thinking token budget (Anthropic ``budget_tokens``, Gemini ``thinkingBudget``) -> ``reasoning_effort``."""
    if not isinstance(budget, int) or isinstance(budget, bool):
        return "medium"
    return "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"


def _unexpected_role(role: Any, param: str) -> str:
    """Anthropic's wording for a role it does not take (Claude Code retries on it), and where."""
    shown = role if isinstance(role, str) else orjson.dumps(role).decode()
    return (
        f'Unexpected role "{shown}". The input message role must be "user" or "assistant". ({param})'
    )


def _system_text(content: Any, i: int) -> str:
    """A mid-conversation system message's text; anything but text is refused in words Claude Code knows."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for j, block in enumerate(content):
            if not isinstance(block, dict) or block.get("type") != "text":
                raise TranslationError(
                    _unexpected_role("system", f"messages.{i}.content.{j}: only text blocks can be translated"),
                    f"messages.{i}.role",
                )
            texts.append(block.get("text") or "")
        return "\n\n".join(texts)
    raise TranslationError(_unexpected_role("system", f"messages.{i}.content"), f"messages.{i}.role")


def _tool(tool: Any, k: int) -> JSONDict:
    if not isinstance(tool, dict):
        raise TranslationError("tools must be objects", f"tools.{k}")
    ttype = tool.get("type")
    if ttype not in (None, "custom"):
        raise TranslationError(
            f"Anthropic server tool {ttype!r} is only available on Anthropic models", f"tools.{k}.type"
        )
    function: JSONDict = {"name": tool.get("name")}
    description = tool.get("description")
    if description:
        function["description"] = description
    schema = tool.get("input_schema")
    function["parameters"] = schema if isinstance(schema, dict) else {"type": "object", "properties": {}}
    return {"type": "function", "function": function}


def _user_message(content: Any, i: int, messages: list[JSONDict]) -> None:
    if isinstance(content, str):
        messages.append({"role": "user", "content": content})
        return
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array of blocks", f"messages.{i}.content")
    parts: list[JSONDict] = []
    moved_images: list[JSONDict] = []
    for j, block in enumerate(content):
        param = f"messages.{i}.content.{j}"
        btype = block.get("type") if isinstance(block, dict) else None
        if btype == "text":
            parts.append({"type": "text", "text": block.get("text") or ""})
        elif btype == "image":
            parts.append(_image_part(block.get("source"), param))
        elif btype == "document":
            parts.append(_document_part(block, param))
        elif btype == "tool_result":
            messages.append(_tool_message(block, param, moved_images))
        elif btype in ("thinking", "redacted_thinking"):
            continue
        else:
            raise TranslationError(f"content block type {btype!r} is not supported for this model", param)
    if moved_images:
        parts = moved_images + parts
    if not parts:
        return
    if len(parts) == 1 and parts[0]["type"] == "text":
        messages.append({"role": "user", "content": parts[0]["text"]})
    else:
        messages.append({"role": "user", "content": parts})


def _tool_message(block: JSONDict, param: str, moved_images: list[JSONDict]) -> JSONDict:
    content = block.get("content")
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts: list[str] = []
        for k, item in enumerate(content):
            itype = item.get("type") if isinstance(item, dict) else None
            if itype == "text":
                texts.append(item.get("text") or "")
            elif itype == "image":
                moved_images.append(_image_part(item.get("source"), f"{param}.content.{k}"))
            elif itype == "document":
                moved_images.append(_document_part(item, f"{param}.content.{k}"))
            else:
                raise TranslationError(
                    f"tool_result content type {itype!r} is not supported for this model",
                    f"{param}.content.{k}",
                )
        text = "\n".join(texts)
    elif content is None:
        text = ""
    else:
        raise TranslationError("tool_result content must be a string or an array", f"{param}.content")
    if block.get("is_error") is True:
        text = f"Error: {text}" if text else "Error"
    return {"role": "tool", "tool_call_id": block.get("tool_use_id") or "", "content": text}


def _image_part(source: Any, param: str) -> JSONDict:
    stype = source.get("type") if isinstance(source, dict) else None
    if stype == "base64":
        url = f"data:{source.get('media_type') or 'image/png'};base64,{source.get('data') or ''}"
    elif stype == "url":
        url = source.get("url") or ""
    else:
        raise TranslationError(f"image source type {stype!r} is not supported for this model", f"{param}.source")
    return {"type": "image_url", "image_url": {"url": url}}


def _document_part(block: JSONDict, param: str) -> JSONDict:
    source = block.get("source")
    if not isinstance(source, dict):
        source = {}
    stype = source.get("type")
    if stype == "base64" and source.get("media_type") == "application/pdf":
        title = block.get("title")
        return {
            "type": "file",
            "file": {
                "filename": title if isinstance(title, str) and title else "document.pdf",
                "file_data": f"data:application/pdf;base64,{source.get('data') or ''}",
            },
        }
    if stype == "text":
        return {"type": "text", "text": source.get("data") or ""}
    raise TranslationError(
        f"document source type {stype!r} is not supported for this model (use a base64 PDF or text)",
        f"{param}.source",
    )


def _assistant_message(content: Any, i: int) -> JSONDict:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array of blocks", f"messages.{i}.content")
    texts: list[str] = []
    tool_calls: list[JSONDict] = []
    for j, block in enumerate(content):
        btype = block.get("type") if isinstance(block, dict) else None
        if btype == "text":
            texts.append(block.get("text") or "")
        elif btype == "tool_use":
            tool_calls.append(tool_use_to_call(block))
        elif btype in ("thinking", "redacted_thinking"):
            continue
        else:
            raise TranslationError(
                f"content block type {btype!r} is not supported for this model", f"messages.{i}.content.{j}"
            )
    message: JSONDict = {
        "role": "assistant",
        "content": "".join(texts) if texts else (None if tool_calls else ""),
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


# ---------------------------------------------------------------------------------------------------
# response: OpenAI -> Anthropic
# ---------------------------------------------------------------------------------------------------

_STOP_REASONS: dict[str, str] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


def _stop_reason(finish_reason: Any, saw_tool_use: bool) -> str:
    if saw_tool_use and finish_reason in (None, "stop"):
        return "tool_use"
    return _STOP_REASONS.get(finish_reason, "end_turn") if isinstance(finish_reason, str) else "end_turn"


def _message_id(openai_id: Any) -> str:
    if not isinstance(openai_id, str) or not openai_id:
        return f"msg_{uuid.uuid4().hex}"
    return openai_id if openai_id.startswith("msg_") else f"msg_{openai_id}"


def tool_input(arguments: Any) -> JSONDict:
    """OpenAI tool-call ``arguments`` as an object; invalid JSON or a non-object is kept as ``{"_raw": ...}``."""
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str) or not arguments or arguments.isspace():
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return {"_raw": arguments}
    return parsed if isinstance(parsed, dict) else {"_raw": arguments}


def _anthropic_usage(usage: Any) -> JSONDict:
    """OpenAI usage -> Anthropic usage (input_tokens excludes cache reads and writes)."""
    if not isinstance(usage, dict):
        usage = {}
    prompt = usage.get("prompt_tokens") or 0
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or 0
    written = details.get("cache_write_tokens") or 0
    return {
        "input_tokens": max(prompt - cached - written, 0),
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": written,
    }


def openai_response_to_anthropic(resp: JSONDict, model: str) -> JSONDict:
    """Translate an OpenAI ``chat.completion`` into an Anthropic ``message`` object."""
    choices = resp.get("choices") or [{}]
    choice = choices[0]
    message = choice.get("message") or {}
    blocks: list[JSONDict] = []
    text = content_text(message.get("content")) or message.get("refusal") or ""
    if text:
        blocks.append({"type": "text", "text": text})
    for k, call in enumerate(message.get("tool_calls") or ()):
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": call.get("id") or f"toolu_{k}_{uuid.uuid4().hex[:12]}",
                "name": function.get("name") or "",
                "input": tool_input(function.get("arguments")),
            }
        )
    function_call = message.get("function_call")
    if isinstance(function_call, dict):
        blocks.append(
            {
                "type": "tool_use",
                "id": f"toolu_{uuid.uuid4().hex[:24]}",
                "name": function_call.get("name") or "",
                "input": tool_input(function_call.get("arguments")),
            }
        )
    saw_tool_use = len(blocks) > (1 if text else 0)
    return {
        "id": _message_id(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": resp.get("model") or model,
        "content": blocks,
        "stop_reason": _stop_reason(choice.get("finish_reason"), saw_tool_use),
        "stop_sequence": None,
        "usage": _anthropic_usage(resp.get("usage")),
    }


class OpenAIStreamToAnthropic:
    """OpenAI ``chat.completion.chunk`` dicts -> Anthropic stream events ``(event_name, data)``.

    Call `feed` per chunk (including the usage-only final chunk with ``choices: []``), then `finish`
    once the upstream stream ended; `finish` closes the open block and emits ``message_delta`` (with the
    final usage) and ``message_stop``.
    """

    __slots__ = (
        "_block_index",
        "_cache_creation",
        "_cache_read",
        "_finish_reason",
        "_finished",
        "_input_tokens",
        "_open",
        "_open_tool_id",
        "_open_tool_key",
        "_output_tokens",
        "_saw_tool_use",
        "_started",
        "id",
        "model",
    )

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = ""
        self._started = False
        self._finished = False
        self._block_index = -1
        self._open: str | None = None  # "text" | "tool_use" | None
        self._open_tool_key: Any = None
        self._open_tool_id: str | None = None
        self._saw_tool_use = False
        self._finish_reason: str | None = None
        self._input_tokens = 0
        self._cache_read = 0
        self._cache_creation = 0
        self._output_tokens = 0

    def _take_usage(self, usage: JSONDict) -> None:
        converted = _anthropic_usage(usage)
        self._input_tokens = converted["input_tokens"]
        self._cache_read = converted["cache_read_input_tokens"]
        self._cache_creation = converted["cache_creation_input_tokens"]
        self._output_tokens = converted["output_tokens"]

    def _start(self, chunk: JSONDict, events: list[Event]) -> None:
        self._started = True
        self.id = _message_id(chunk.get("id"))
        if chunk.get("model"):
            self.model = chunk["model"]
        events.append(
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        "id": self.id,
                        "type": "message",
                        "role": "assistant",
                        "model": self.model,
                        "content": [],
                        "stop_reason": None,
                        "stop_sequence": None,
                        "usage": {
                            "input_tokens": self._input_tokens,
                            "output_tokens": 0,
                            "cache_read_input_tokens": self._cache_read,
                            "cache_creation_input_tokens": self._cache_creation,
                        },
                    },
                },
            )
        )

    def _close(self, events: list[Event]) -> None:
        if self._open is not None:
            events.append(("content_block_stop", {"type": "content_block_stop", "index": self._block_index}))
            self._open = None
            self._open_tool_key = None
            self._open_tool_id = None

    def _open_block(self, events: list[Event], kind: str, block: JSONDict) -> None:
        self._close(events)
        self._block_index += 1
        self._open = kind
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": self._block_index, "content_block": block},
            )
        )

    def _text(self, text: str, events: list[Event]) -> None:
        if self._open != "text":
            self._open_block(events, "text", {"type": "text", "text": ""})
        events.append(
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": self._block_index,
                    "delta": {"type": "text_delta", "text": text},
                },
            )
        )

    def feed(self, chunk: JSONDict) -> list[Event]:
        """Translate one OpenAI chunk into zero or more Anthropic events."""
        events: list[Event] = []
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._take_usage(usage)
        if not self._started:
            self._start(chunk, events)
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            text = delta.get("content")
            if text:
                self._text(text if isinstance(text, str) else content_text(text), events)
            refusal = delta.get("refusal")
            if refusal:
                self._text(refusal, events)
            for call in delta.get("tool_calls") or ():
                key = call.get("index", 0)
                call_id = call.get("id")
                function = call.get("function") or {}
                if (
                    self._open != "tool_use"
                    or key != self._open_tool_key
                    or (call_id and call_id != self._open_tool_id)
                ):
                    tool_id = call_id or f"toolu_{self.id.removeprefix('msg_')}_{key}"
                    self._open_block(
                        events,
                        "tool_use",
                        {"type": "tool_use", "id": tool_id, "name": function.get("name") or "", "input": {}},
                    )
                    self._open_tool_key = key
                    self._open_tool_id = tool_id
                    self._saw_tool_use = True
                arguments = function.get("arguments")
                if arguments:
                    events.append(
                        (
                            "content_block_delta",
                            {
                                "type": "content_block_delta",
                                "index": self._block_index,
                                "delta": {"type": "input_json_delta", "partial_json": arguments},
                            },
                        )
                    )
            finish_reason = choice.get("finish_reason")
            if finish_reason:
                self._finish_reason = finish_reason
        return events

    def finish(self) -> list[Event]:
        """Close the message: open block stop, ``message_delta`` (stop_reason, usage), ``message_stop``."""
        if self._finished:
            return []
        self._finished = True
        events: list[Event] = []
        if not self._started:
            self._start({}, events)
        self._close(events)
        events.append(
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {
                        "stop_reason": _stop_reason(self._finish_reason, self._saw_tool_use),
                        "stop_sequence": None,
                    },
                    "usage": {
                        "output_tokens": self._output_tokens,
                        "input_tokens": self._input_tokens,
                        "cache_read_input_tokens": self._cache_read,
                        "cache_creation_input_tokens": self._cache_creation,
                    },
                },
            )
        )
        events.append(("message_stop", {"type": "message_stop"}))
        return events


# ---------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------

_STATUS_TO_TYPE: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def openai_error_to_anthropic(status: int, error: JSONDict) -> JSONDict:
    """OpenAI error (``{"error": {...}}`` or the inner object) -> Anthropic error body, typed by status:
    400/401/402/403/404/413/429/529 as in Anthropic's docs (402 -> billing_error), other 5xx ->
    api_error, other 4xx -> invalid_request_error."""
    inner = error.get("error") if isinstance(error, dict) else None
    if not isinstance(inner, dict):
        inner = error if isinstance(error, dict) else {}
    message = inner.get("message")
    if not isinstance(message, str) or not message:
        message = f"upstream returned HTTP {status}"
    etype = _STATUS_TO_TYPE.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    return {"type": "error", "error": {"type": etype, "message": message}}
