"""OpenAI Chat Completions (the gateway's canonical shape) <-> Anthropic Messages, as pure functions.

Everything here works on plain dicts, never mutates its input and never deep-copies: big values
(base64 images, JSON schemas, tool inputs) are shared by reference between input and output.

Request rules (`openai_to_anthropic_request`)
---------------------------------------------
* ``system`` and ``developer`` messages, wherever they appear, become the top-level ``system``: a string
  (the texts joined with a blank line, in order) when every such message has string content, else a
  list of text blocks (one per text part; ``cache_control`` kept). Non-text parts there are rejected.
* Consecutive turns of the same role are merged into one turn (content blocks concatenated), since
  Anthropic wants user/assistant alternation. ``tool`` messages become ``tool_result`` blocks in a user
  turn, so consecutive tool results, and a user message right after them, share one user turn; inside a
  user turn the ``tool_result`` blocks are moved first (Anthropic requires it), other blocks keep order.
* The OpenAI ``name`` field of a message is dropped (Anthropic has no per-message name); the content is
  sent unchanged, nothing is prefixed.
* Empty content: Anthropic rejects empty and whitespace-only text blocks and empty content lists, so a
  text that is empty or only whitespace produces no block and a message left with no block is omitted
  (its neighbours may then merge). An assistant message with only ``tool_calls`` becomes only
  ``tool_use`` blocks. A tool result with empty content is sent without ``content``. If no message is
  left, the request is rejected (``TranslationError`` on ``messages``). Trailing whitespace of a final
  assistant (prefill) text is stripped, which Anthropic also requires.
* Content parts: ``text``; ``refusal`` (assistant) as text; ``image_url`` with a base64 data URL ->
  base64 image source (``image/jpg`` is normalised to ``image/jpeg``; only jpeg/png/gif/webp accepted),
  with an http(s) URL -> url image source (``detail`` dropped); ``file`` with ``file_data`` (a data URL,
  or bare base64 which is taken as PDF) -> ``document`` (``application/pdf`` as base64 source,
  ``text/plain`` decoded into a text source; ``filename`` becomes the document ``title``); ``file_id``
  and ``input_audio`` are rejected. A part's ``cache_control`` (Anthropic/LiteLLM convention) is kept;
  an OpenAI ``prompt_cache_breakpoint`` becomes ``cache_control: {"type": "ephemeral"}``.
* Assistant ``tool_calls`` -> ``tool_use`` blocks (arguments parsed; ``""`` means ``{}``; invalid JSON or a
  non-object is a ``TranslationError`` naming ``messages[i].tool_calls[j].function.arguments``). Legacy
  ``function_call`` / ``function`` role messages are paired through a synthesised id. Tool-call ids are
  kept, characters outside ``[A-Za-z0-9_-]`` replaced by ``_`` (same rule for tool_use and tool_result).
  An assistant ``thinking_blocks`` list (as returned by `anthropic_to_openai_response`) is replayed as
  the first blocks of its turn, so extended thinking with tool use survives a round trip; the plain
  ``reasoning_content`` string is dropped (it has no signature).
* ``tools`` (type ``function``) and legacy ``functions`` -> ``tools`` with ``input_schema`` (default
  ``{"type": "object", "properties": {}}``; ``strict`` dropped). ``tool_choice`` (or legacy
  ``function_call``): auto -> auto, none -> none, required -> any, named function -> tool;
  ``parallel_tool_calls: false`` -> ``disable_parallel_tool_use: true`` (on ``{"type": "auto"}`` when no
  choice was given). Without tools, ``tool_choice`` and ``parallel_tool_calls`` are dropped.
* ``max_completion_tokens`` or else ``max_tokens`` -> ``max_tokens`` (``default_max_tokens`` when absent).
  ``stop`` -> ``stop_sequences``; ``temperature`` (clamped to Anthropic's maximum 1.0), ``top_p``,
  ``stream`` copied. ``user`` (else ``safety_identifier``) -> ``metadata.user_id``.
* ``reasoning_effort`` -> ``thinking: {"type": "enabled", "budget_tokens": REASONING_BUDGETS[effort]}``
  (``none`` means no thinking). When thinking is enabled (also by an explicit ``thinking``) and
  ``max_tokens`` is not above the budget, ``max_tokens`` becomes ``budget + max_tokens``.
* ``response_format``: ``json_object`` / ``json_schema`` append an instruction to ``system`` asking for a
  single JSON object only, and for ``json_schema`` the schema itself (compact JSON); ``text`` is a no-op.
* ``n`` > 1 is rejected. The OpenAI parameters in `DROPPED_PARAMS` are dropped, and so is every other
  field not listed above: nothing unknown reaches Anthropic. Anthropic extras accepted as-is: ``top_k``
  and ``thinking``; of ``metadata`` only ``user_id`` is forwarded (OpenAI's ``metadata`` is a free-form
  tag map that Anthropic would reject), and it wins over ``user``.

Response rules (`anthropic_to_openai_response`, `AnthropicStreamTranslator`)
----------------------------------------------------------------------------
* text blocks concatenated -> ``message.content`` (``None`` when there is no text but tool calls, ``""``
  when there is neither); ``tool_use`` -> ``tool_calls`` (ids kept, arguments as compact JSON);
  ``thinking`` text -> ``message.reasoning_content`` (non-OpenAI extra field, the de-facto convention of
  OpenAI-compatible servers) and all thinking / redacted_thinking blocks verbatim in
  ``message.thinking_blocks`` (extra field, accepted back by the request translation). Streams carry
  ``delta.reasoning_content`` only (signatures are not streamed). Server-tool blocks are dropped. A
  streamed ``tool_use`` block that ends without any argument fragment (a tool without parameters) gets
  the arguments ``"{}"``, as OpenAI sends them, so clients can always parse them.
* ``stop_reason`` -> ``finish_reason`` with `FINISH_REASONS` (``None`` -> ``stop``).
* usage: ``prompt_tokens = input_tokens + cache_read_input_tokens + cache_creation_input_tokens``,
  ``completion_tokens = output_tokens``, ``prompt_tokens_details.cached_tokens = cache_read_input_tokens``
  and ``prompt_tokens_details.cache_write_tokens = cache_creation_input_tokens`` when non-zero.
* ``id`` kept (``msg_...``), ``created`` is now, ``model`` is the upstream's model, else the given one.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import orjson

from bifrost.providers.canonical import TranslationError, stream_chunk, usage_chunk

JSONDict = dict[str, Any]

__all__ = [
    "DROPPED_PARAMS",
    "FINISH_REASONS",
    "REASONING_BUDGETS",
    "AnthropicStreamTranslator",
    "TranslationError",
    "UpstreamStreamError",
    "anthropic_error_to_openai",
    "anthropic_to_openai_response",
    "file_part_data",
    "function_tools",
    "openai_completion_prompt_to_messages",
    "openai_to_anthropic_request",
    "parse_data_url",
    "tool_use_to_call",
    "usage_chunk",
]


class UpstreamStreamError(Exception):
    """Anthropic sent an ``error`` event in the middle of a stream."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message


# OpenAI Chat Completions parameters with no Anthropic equivalent: silently dropped.
DROPPED_PARAMS: frozenset[str] = frozenset(
    {
        "audio",
        "frequency_penalty",
        "logit_bias",
        "logprobs",
        "modalities",
        "moderation",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "seed",
        "service_tier",
        "store",
        "stream_options",
        "top_logprobs",
        "verbosity",
        "web_search_options",
    }
)

# reasoning_effort -> thinking.budget_tokens (Anthropic's minimum budget is 1024).
REASONING_BUDGETS: dict[str, int] = {
    "minimal": 1024,
    "low": 1024,
    "medium": 4096,
    "high": 16384,
    "xhigh": 32768,
    "max": 32768,
}

FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_TOOL_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_JSON_INSTRUCTION = (
    "Respond with a single valid JSON object and nothing else: no prose, no explanation, no Markdown code fences."
)


# ---------------------------------------------------------------------------------------------------
# request: OpenAI -> Anthropic
# ---------------------------------------------------------------------------------------------------


def openai_to_anthropic_request(body: JSONDict, model: str, default_max_tokens: int = 4096) -> JSONDict:
    """Translate an OpenAI chat completion request body into an Anthropic Messages request body."""
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("messages must be a non-empty array", "messages")

    n = body.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        raise TranslationError("n>1 is not supported by Anthropic", "n")

    system_blocks: list[JSONDict] = []
    system_all_strings = True
    turns: list[JSONDict] = []
    legacy_call_id: str | None = None

    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise TranslationError("each message must be an object", f"messages[{i}]")
        role = msg.get("role")
        if role == "user":
            _append_turn(turns, "user", _user_blocks(msg.get("content"), i))
        elif role == "assistant":
            blocks, call_id = _assistant_blocks(msg, i)
            if call_id is not None:
                legacy_call_id = call_id
            _append_turn(turns, "assistant", blocks)
        elif role == "tool":
            tool_call_id = msg.get("tool_call_id")
            if not isinstance(tool_call_id, str) or not tool_call_id:
                raise TranslationError("tool messages need a tool_call_id", f"messages[{i}].tool_call_id")
            _append_turn(turns, "user", [_tool_result_block(tool_call_id, msg.get("content"), i)])
        elif role in ("system", "developer"):
            if not _system_blocks(msg.get("content"), i, system_blocks):
                system_all_strings = False
        elif role == "function":
            if legacy_call_id is None:
                raise TranslationError("a function message must follow an assistant function_call", f"messages[{i}]")
            _append_turn(turns, "user", [_tool_result_block(legacy_call_id, msg.get("content"), i)])
            legacy_call_id = None
        else:
            raise TranslationError(f"unsupported message role {role!r}", f"messages[{i}].role")

    if not turns:
        raise TranslationError(
            "messages must contain at least one user or assistant message with non-empty content",
            "messages",
        )
    for turn in turns:
        if turn["role"] == "user":
            _tool_results_first(turn["content"])
    last = turns[-1]
    if last["role"] == "assistant":
        tail = last["content"][-1]
        if tail.get("type") == "text" and tail["text"][-1:].isspace():
            last["content"][-1] = {**tail, "text": tail["text"].rstrip()}

    out: JSONDict = {"model": model, "messages": turns}

    # max_tokens and thinking
    max_tokens = body.get("max_completion_tokens")
    param = "max_completion_tokens"
    if max_tokens is None:
        max_tokens, param = body.get("max_tokens"), "max_tokens"
    if max_tokens is None:
        max_tokens = default_max_tokens
    elif not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise TranslationError(f"{param} must be a positive integer", param)
    thinking = body.get("thinking")
    if thinking is None:
        effort = body.get("reasoning_effort")
        if effort is not None and effort != "none":
            budget = REASONING_BUDGETS.get(effort) if isinstance(effort, str) else None
            if budget is None:
                raise TranslationError(
                    f"unsupported reasoning_effort {effort!r}; use one of " + ", ".join(["none", *REASONING_BUDGETS]),
                    "reasoning_effort",
                )
            thinking = {"type": "enabled", "budget_tokens": budget}
    if thinking is not None:
        out["thinking"] = thinking
        if isinstance(thinking, dict) and thinking.get("type") == "enabled":
            budget = thinking.get("budget_tokens")
            if isinstance(budget, int) and max_tokens <= budget:
                max_tokens = budget + max_tokens
    out["max_tokens"] = max_tokens

    # system (+ response_format instruction)
    system: str | list[JSONDict] | None = None
    if system_blocks:
        system = "\n\n".join(b["text"] for b in system_blocks) if system_all_strings else system_blocks
    instruction = _response_format_instruction(body.get("response_format"))
    if instruction is not None:
        if system is None:
            system = instruction
        elif isinstance(system, str):
            system = f"{system}\n\n{instruction}"
        else:
            system.append({"type": "text", "text": instruction})
    if system is not None:
        out["system"] = system

    # tools
    tools = _tools(body)
    if tools:
        out["tools"] = tools
        choice = _tool_choice(body)
        if body.get("parallel_tool_calls") is False:
            if choice is None:
                choice = {"type": "auto"}
            if choice["type"] != "none":
                choice["disable_parallel_tool_use"] = True
        if choice is not None:
            out["tool_choice"] = choice

    # sampling and the rest
    stop = body.get("stop")
    if isinstance(stop, str):
        if stop:
            out["stop_sequences"] = [stop]
    elif isinstance(stop, list):
        sequences = [s for s in stop if isinstance(s, str) and s]
        if sequences:
            out["stop_sequences"] = sequences
    temperature = body.get("temperature")
    if temperature is not None:
        out["temperature"] = 1.0 if isinstance(temperature, int | float) and temperature > 1 else temperature
    for key in ("top_p", "top_k"):
        value = body.get(key)
        if value is not None:
            out[key] = value
    if body.get("stream"):
        out["stream"] = True
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if user_id is None:
        user_id = body.get("user") or body.get("safety_identifier")
    if isinstance(user_id, str) and user_id:
        out["metadata"] = {"user_id": user_id}
    return out


def openai_completion_prompt_to_messages(prompt: str | list[Any]) -> list[JSONDict]:
    """`/v1/completions` prompt -> chat messages (one user message). Several prompts or token arrays
    cannot be expressed for a chat-only provider and raise `TranslationError`."""
    if isinstance(prompt, list):
        if len(prompt) != 1:
            raise TranslationError(
                f"only a single prompt is supported by this provider (got a list of {len(prompt)} prompts or tokens)",
                "prompt",
            )
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise TranslationError("prompt must be a string (token arrays are not supported)", "prompt")
    return [{"role": "user", "content": prompt}]


def _has_text(text: str) -> bool:
    return bool(text) and not text.isspace()


def _append_turn(turns: list[JSONDict], role: str, blocks: list[JSONDict]) -> None:
    if not blocks:
        return
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def _tool_results_first(content: list[JSONDict]) -> None:
    seen_other = False
    for block in content:
        if block.get("type") == "tool_result":
            if seen_other:
                break
        else:
            seen_other = True
    else:
        return
    results = [b for b in content if b.get("type") == "tool_result"]
    others = [b for b in content if b.get("type") != "tool_result"]
    content[:] = results + others


def _system_blocks(content: Any, i: int, out: list[JSONDict]) -> bool:
    """Append the text blocks of one system message; True when its content was a plain string."""
    if content is None:
        return True
    if isinstance(content, str):
        if _has_text(content):
            out.append({"type": "text", "text": content})
        return True
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array", f"messages[{i}].content")
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") != "text":
            raise TranslationError(
                "system and developer messages may only contain text for Anthropic",
                f"messages[{i}].content[{j}]",
            )
        block = _text_part(part, f"messages[{i}].content[{j}]")
        if block is not None:
            out.append(block)
    return False


def _user_blocks(content: Any, i: int) -> list[JSONDict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if _has_text(content) else []
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array", f"messages[{i}].content")
    blocks: list[JSONDict] = []
    for j, part in enumerate(content):
        block = _content_part(part, f"messages[{i}].content[{j}]", user=True)
        if block is not None:
            blocks.append(block)
    return blocks


def _assistant_blocks(msg: JSONDict, i: int) -> tuple[list[JSONDict], str | None]:
    blocks: list[JSONDict] = []
    thinking_blocks = msg.get("thinking_blocks")
    if isinstance(thinking_blocks, list):
        blocks.extend(
            b for b in thinking_blocks if isinstance(b, dict) and b.get("type") in ("thinking", "redacted_thinking")
        )
    content = msg.get("content")
    if isinstance(content, str):
        if _has_text(content):
            blocks.append({"type": "text", "text": content})
    elif isinstance(content, list):
        for j, part in enumerate(content):
            block = _content_part(part, f"messages[{i}].content[{j}]", user=False)
            if block is not None:
                blocks.append(block)
    elif content is not None:
        raise TranslationError("content must be a string or an array", f"messages[{i}].content")
    if content is None or content == "":
        refusal = msg.get("refusal")
        if isinstance(refusal, str) and _has_text(refusal):
            blocks.append({"type": "text", "text": refusal})

    tool_calls = msg.get("tool_calls")
    if tool_calls:
        if not isinstance(tool_calls, list):
            raise TranslationError("tool_calls must be an array", f"messages[{i}].tool_calls")
        for j, call in enumerate(tool_calls):
            blocks.append(_tool_use_block(call, f"messages[{i}].tool_calls[{j}]"))

    legacy_id: str | None = None
    function_call = msg.get("function_call")
    if isinstance(function_call, dict):
        param = f"messages[{i}].function_call"
        name = function_call.get("name")
        if not isinstance(name, str) or not name:
            raise TranslationError("function_call needs a name", f"{param}.name")
        legacy_id = f"toolu_legacy_{i}"
        blocks.append(
            {
                "type": "tool_use",
                "id": legacy_id,
                "name": name,
                "input": _parse_arguments(function_call.get("arguments"), f"{param}.arguments"),
            }
        )
    return blocks, legacy_id


def _tool_use_block(call: Any, param: str) -> JSONDict:
    if not isinstance(call, dict) or call.get("type", "function") != "function":
        raise TranslationError("only function tool calls are supported by Anthropic", f"{param}.type")
    call_id = call.get("id")
    if not isinstance(call_id, str) or not call_id:
        raise TranslationError("tool calls need an id", f"{param}.id")
    function = call.get("function")
    if not isinstance(function, dict):
        function = {}
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError("tool calls need a function name", f"{param}.function.name")
    return {
        "type": "tool_use",
        "id": _tool_id(call_id),
        "name": name,
        "input": _parse_arguments(function.get("arguments"), f"{param}.function.arguments"),
    }


def _parse_arguments(arguments: Any, param: str) -> JSONDict:
    if arguments is None:
        return {}
    if isinstance(arguments, dict):
        return arguments
    if not isinstance(arguments, str):
        raise TranslationError("arguments must be a JSON string", param)
    if not arguments or arguments.isspace():
        return {}
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError as exc:
        raise TranslationError(f"{param} is not valid JSON: {exc}", param) from None
    if not isinstance(parsed, dict):
        raise TranslationError(f"{param} must be a JSON object for Anthropic", param)
    return parsed


def _tool_id(call_id: str) -> str:
    if _TOOL_ID_CHARS.issuperset(call_id):
        return call_id
    return "".join(c if c in _TOOL_ID_CHARS else "_" for c in call_id)


def _tool_result_block(tool_call_id: str, content: Any, i: int) -> JSONDict:
    block: JSONDict = {"type": "tool_result", "tool_use_id": _tool_id(tool_call_id)}
    if isinstance(content, str):
        if _has_text(content):
            block["content"] = content
    elif isinstance(content, list):
        parts: list[JSONDict] = []
        for j, part in enumerate(content):
            converted = _content_part(part, f"messages[{i}].content[{j}]", user=True)
            if converted is not None:
                parts.append(converted)
        if parts:
            block["content"] = parts
    elif content is not None:
        raise TranslationError("content must be a string or an array", f"messages[{i}].content")
    return block


def _content_part(part: Any, param: str, *, user: bool) -> JSONDict | None:
    if not isinstance(part, dict):
        raise TranslationError("content parts must be objects", param)
    ptype = part.get("type")
    if ptype == "text":
        return _text_part(part, param)
    block: JSONDict
    if ptype == "refusal" and not user:
        refusal = part.get("refusal")
        if not isinstance(refusal, str):
            raise TranslationError("refusal parts need a refusal string", f"{param}.refusal")
        if not _has_text(refusal):
            return None
        block = {"type": "text", "text": refusal}
    elif ptype == "image_url" and user:
        block = _image_block(part.get("image_url"), f"{param}.image_url")
    elif ptype == "file" and user:
        block = _document_block(part.get("file"), f"{param}.file")
    elif ptype == "input_audio":
        raise TranslationError("input_audio content parts are not supported by Anthropic", param)
    else:
        raise TranslationError(f"content part type {ptype!r} is not supported here by Anthropic", f"{param}.type")
    _cache_control(part, block)
    return block


def _text_part(part: JSONDict, param: str) -> JSONDict | None:
    text = part.get("text")
    if not isinstance(text, str):
        raise TranslationError("text parts need a text string", f"{param}.text")
    if not _has_text(text):
        return None
    block: JSONDict = {"type": "text", "text": text}
    _cache_control(part, block)
    return block


def _cache_control(part: JSONDict, block: JSONDict) -> None:
    cache_control = part.get("cache_control")
    if cache_control is not None:
        block["cache_control"] = cache_control
    elif part.get("prompt_cache_breakpoint") is not None:
        block["cache_control"] = {"type": "ephemeral"}


def parse_data_url(url: str, param: str) -> tuple[str, str]:
    comma = url.find(",")
    if comma < 0:
        raise TranslationError("malformed data URL", param)
    header = url[5:comma]
    if not header.endswith(";base64"):
        raise TranslationError("data URLs must be base64-encoded", param)
    media_type = header[:-7].split(";", 1)[0].strip().lower()
    return media_type, url[comma + 1 :]


def _image_block(image_url: Any, param: str) -> JSONDict:
    url = image_url.get("url") if isinstance(image_url, dict) else image_url
    if not isinstance(url, str) or not url:
        raise TranslationError("image_url.url is required", f"{param}.url")
    if url.startswith("data:"):
        media_type, data = parse_data_url(url, f"{param}.url")
        if media_type == "image/jpg":
            media_type = "image/jpeg"
        if media_type not in _IMAGE_MEDIA_TYPES:
            raise TranslationError(
                f"unsupported image media type {media_type!r}; Anthropic accepts image/jpeg, "
                "image/png, image/gif and image/webp",
                f"{param}.url",
            )
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("https://", "http://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise TranslationError("image_url.url must be an http(s) URL or a base64 data URL", f"{param}.url")


def file_part_data(file: Any, param: str, provider: str) -> tuple[str, str]:
    """An OpenAI ``file`` part's inline data as (media type, base64 payload); bare base64 is taken as PDF.
    A ``file_id`` (OpenAI's Files API) or a missing ``file_data`` is a `TranslationError`."""
    if not isinstance(file, dict):
        raise TranslationError("file parts need a file object", param)
    data = file.get("file_data")
    if not isinstance(data, str) or not data:
        if file.get("file_id"):
            raise TranslationError(
                f"file_id refers to OpenAI's Files API and is not supported by {provider}; "
                "send the file inline as file_data",
                f"{param}.file_id",
            )
        raise TranslationError("file.file_data is required", f"{param}.file_data")
    if data.startswith("data:"):
        return parse_data_url(data, f"{param}.file_data")
    return "application/pdf", data


def _document_block(file: Any, param: str) -> JSONDict:
    media_type, payload = file_part_data(file, param, "Anthropic")
    source: JSONDict
    if media_type == "application/pdf":
        source = {"type": "base64", "media_type": "application/pdf", "data": payload}
    elif media_type == "text/plain":
        try:
            text = base64.b64decode(payload, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise TranslationError("file_data is not valid base64 UTF-8 text", f"{param}.file_data") from None
        source = {"type": "text", "media_type": "text/plain", "data": text}
    else:
        raise TranslationError(
            f"unsupported file media type {media_type!r}; Anthropic accepts application/pdf and text/plain",
            f"{param}.file_data",
        )
    block: JSONDict = {"type": "document", "source": source}
    filename = file.get("filename")
    if isinstance(filename, str) and filename:
        block["title"] = filename
    return block


def function_tools(body: JSONDict, provider: str) -> list[tuple[Any, str, JSONDict | None]]:
    """Every function definition of ``tools`` (type ``function``) and legacy ``functions``, as (definition, its
    param path, the tool object or None); another tool type is a `TranslationError` naming the provider."""
    out: list[tuple[Any, str, JSONDict | None]] = []
    tools = body.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise TranslationError("tools must be an array", "tools")
        for k, tool in enumerate(tools):
            if not isinstance(tool, dict) or tool.get("type", "function") != "function":
                raise TranslationError(f"only function tools are supported by {provider}", f"tools[{k}].type")
            out.append((tool.get("function"), f"tools[{k}].function", tool))
    functions = body.get("functions")
    if functions:
        if not isinstance(functions, list):
            raise TranslationError("functions must be an array", "functions")
        out.extend((function, f"functions[{k}]", None) for k, function in enumerate(functions))
    return out


def _tools(body: JSONDict) -> list[JSONDict]:
    out: list[JSONDict] = []
    for function, param, tool in function_tools(body, "Anthropic"):
        definition = _tool_definition(function, param)
        if tool is not None and tool.get("cache_control") is not None:
            definition["cache_control"] = tool["cache_control"]
        out.append(definition)
    return out


def _tool_definition(function: Any, param: str) -> JSONDict:
    if not isinstance(function, dict):
        raise TranslationError("a function definition is required", param)
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError("functions need a name", f"{param}.name")
    schema = function.get("parameters")
    definition: JSONDict = {
        "name": name,
        "input_schema": schema if isinstance(schema, dict) else {"type": "object", "properties": {}},
    }
    description = function.get("description")
    if isinstance(description, str) and description:
        definition["description"] = description
    return definition


def _tool_choice(body: JSONDict) -> JSONDict | None:
    choice = body.get("tool_choice")
    param = "tool_choice"
    if choice is None:
        choice = body.get("function_call")
        param = "function_call"
        if choice is None:
            return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "none":
        return {"type": "none"}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict):
        if param == "function_call":
            name = choice.get("name")
        elif choice.get("type") == "function" and isinstance(choice.get("function"), dict):
            name = choice["function"].get("name")
        else:
            raise TranslationError(
                f"tool_choice type {choice.get('type')!r} is not supported by Anthropic", "tool_choice"
            )
        if isinstance(name, str) and name:
            return {"type": "tool", "name": name}
    raise TranslationError(f"invalid {param}", param)


def _response_format_instruction(response_format: Any) -> str | None:
    if response_format is None:
        return None
    rtype = response_format.get("type") if isinstance(response_format, dict) else None
    if rtype == "text":
        return None
    if rtype == "json_object":
        return _JSON_INSTRUCTION
    if rtype == "json_schema":
        spec = response_format.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, dict) else None
        if schema is None:
            return _JSON_INSTRUCTION
        return (
            f"{_JSON_INSTRUCTION}\nThe JSON object must conform to this JSON Schema:\n{orjson.dumps(schema).decode()}"
        )
    raise TranslationError(f"unsupported response_format type {rtype!r}", "response_format.type")


# ---------------------------------------------------------------------------------------------------
# response: Anthropic -> OpenAI
# ---------------------------------------------------------------------------------------------------


def _finish_reason(stop_reason: Any) -> str:
    return FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"


def _count(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _openai_usage(input_tokens: int, cache_read: int, cache_creation: int, output_tokens: int) -> JSONDict:
    prompt = input_tokens + cache_read + cache_creation
    details: JSONDict = {"cached_tokens": cache_read}
    if cache_creation:
        details["cache_write_tokens"] = cache_creation
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output_tokens,
        "total_tokens": prompt + output_tokens,
        "prompt_tokens_details": details,
    }


def tool_use_to_call(block: JSONDict) -> JSONDict:
    """An Anthropic ``tool_use`` block as an OpenAI tool call (id kept, input as compact JSON arguments)."""
    return {
        "id": block.get("id") or "",
        "type": "function",
        "function": {"name": block.get("name") or "", "arguments": orjson.dumps(block.get("input") or {}).decode()},
    }


def anthropic_to_openai_response(resp: JSONDict, model: str | None = None) -> JSONDict:
    """Translate an Anthropic Messages response into an OpenAI ``chat.completion`` object."""
    texts: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[JSONDict] = []
    tool_calls: list[JSONDict] = []
    for block in resp.get("content") or ():
        btype = block.get("type")
        if btype == "text":
            texts.append(block.get("text") or "")
        elif btype == "tool_use":
            tool_calls.append(tool_use_to_call(block))
        elif btype == "thinking":
            reasoning.append(block.get("thinking") or "")
            thinking_blocks.append(block)
        elif btype == "redacted_thinking":
            thinking_blocks.append(block)

    message: JSONDict = {
        "role": "assistant",
        "content": "".join(texts) if texts else (None if tool_calls else ""),
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = "".join(reasoning)
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks

    usage = resp.get("usage") or {}
    return {
        "id": resp.get("id") or "",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": resp.get("model") or model or "",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(resp.get("stop_reason")),
            }
        ],
        "usage": _openai_usage(
            _count(usage.get("input_tokens")),
            _count(usage.get("cache_read_input_tokens")),
            _count(usage.get("cache_creation_input_tokens")),
            _count(usage.get("output_tokens")),
        ),
    }


class AnthropicStreamTranslator:
    """Anthropic SSE events -> OpenAI ``chat.completion.chunk`` dicts, one upstream event at a time.

    After the stream, `usage` (OpenAI shape) and `finish_reason` are available for metrics, whether or
    not the client asked for ``stream_options.include_usage``.
    """

    __slots__ = (
        "_block_tool_index",
        "_cache_creation",
        "_cache_read",
        "_input_tokens",
        "_output_tokens",
        "_tool_count",
        "_tools_without_arguments",
        "created",
        "finish_reason",
        "id",
        "include_usage",
        "model",
    )

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = ""
        self.created = int(time.time())
        self.finish_reason: str | None = None
        self._block_tool_index: dict[int, int] = {}
        self._tools_without_arguments: set[int] = set()  # tool indexes with no argument fragment yet
        self._tool_count = 0
        self._input_tokens = 0
        self._cache_read = 0
        self._cache_creation = 0
        self._output_tokens = 0

    @property
    def usage(self) -> JSONDict:
        return _openai_usage(self._input_tokens, self._cache_read, self._cache_creation, self._output_tokens)

    def _chunk(self, delta: JSONDict, finish_reason: str | None = None) -> JSONDict:
        return stream_chunk(self.id, self.created, self.model, delta, finish_reason)

    def _take_usage(self, usage: JSONDict) -> None:
        value = usage.get("input_tokens")
        if isinstance(value, int):
            self._input_tokens = value
        value = usage.get("cache_read_input_tokens")
        if isinstance(value, int):
            self._cache_read = value
        value = usage.get("cache_creation_input_tokens")
        if isinstance(value, int):
            self._cache_creation = value
        value = usage.get("output_tokens")
        if isinstance(value, int):
            self._output_tokens = value

    def feed(self, event: str, data: JSONDict) -> list[JSONDict]:
        """Translate one event (SSE ``event:`` name, parsed ``data:``) into zero or more chunks."""
        etype = event or data.get("type")
        if etype == "content_block_delta":
            delta = data.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                text = delta.get("text")
                return [self._chunk({"content": text})] if text else []
            if dtype == "input_json_delta":
                index = self._block_tool_index.get(data.get("index", -1))
                partial = delta.get("partial_json")
                if index is None or not partial:
                    return []
                self._tools_without_arguments.discard(index)
                return [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": partial}}]})]
            if dtype == "thinking_delta":
                thinking = delta.get("thinking")
                return [self._chunk({"reasoning_content": thinking})] if thinking else []
            return []  # signature_delta, citations_delta
        if etype == "content_block_start":
            block = data.get("content_block") or {}
            btype = block.get("type")
            if btype == "tool_use":
                index = self._tool_count
                self._tool_count += 1
                self._block_tool_index[data.get("index", -1)] = index
                tool_input = block.get("input")
                if not tool_input:
                    self._tools_without_arguments.add(index)
                return [
                    self._chunk(
                        {
                            "tool_calls": [
                                {
                                    "index": index,
                                    "id": block.get("id") or "",
                                    "type": "function",
                                    "function": {
                                        "name": block.get("name") or "",
                                        "arguments": orjson.dumps(tool_input).decode() if tool_input else "",
                                    },
                                }
                            ]
                        }
                    )
                ]
            if btype == "text" and block.get("text"):
                return [self._chunk({"content": block["text"]})]
            if btype == "thinking" and block.get("thinking"):
                return [self._chunk({"reasoning_content": block["thinking"]})]
            return []
        if etype == "content_block_stop":
            index = self._block_tool_index.get(data.get("index", -1))
            if index is None or index not in self._tools_without_arguments:
                return []
            # a tool without parameters: Anthropic streams its input as one empty partial_json, but
            # OpenAI clients parse the arguments, which OpenAI itself sends as "{}"
            self._tools_without_arguments.discard(index)
            return [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": "{}"}}]})]
        if etype == "message_start":
            message = data.get("message") or {}
            self.id = message.get("id") or self.id
            if message.get("model"):
                self.model = message["model"]
            self._take_usage(message.get("usage") or {})
            return [self._chunk({"role": "assistant", "content": ""})]
        if etype == "message_delta":
            self._take_usage(data.get("usage") or {})
            if self.finish_reason is not None:
                return []
            self.finish_reason = _finish_reason((data.get("delta") or {}).get("stop_reason"))
            return [self._chunk({}, self.finish_reason)]
        if etype == "message_stop":
            if not self.include_usage:
                return []
            return [usage_chunk(self.id, self.created, self.model, self.usage)]
        if etype == "error":
            error = data.get("error") or {}
            raise UpstreamStreamError(
                error.get("type") or "api_error", error.get("message") or "Anthropic stream error"
            )
        return []  # ping, unknown future events


# ---------------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------------

# Anthropic error type -> (OpenAI error type, code); codes follow bifrost.core.errors' defaults.
_ERROR_TYPES: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "authentication_error": ("authentication_error", "invalid_api_key"),
    "permission_error": ("permission_error", None),
    "not_found_error": ("not_found_error", None),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit_error": ("rate_limit_exceeded", "rate_limit_exceeded"),
    "overloaded_error": ("overloaded_error", "overloaded"),
    "api_error": ("api_error", None),
    "timeout_error": ("timeout", "timeout"),
    "billing_error": ("billing_error", None),
}
_STATUS_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def anthropic_error_to_openai(status: int, body: JSONDict | None) -> tuple[int, JSONDict]:
    """Anthropic error body -> (same status, OpenAI error object ``{message, type, param, code}``).

    The returned object is the inner ``error`` value; the caller wraps it, names the provider in the
    message and adds ``extra_fields``. An unknown Anthropic type is kept verbatim (code None); a body
    without a type is classified by status.
    """
    atype: Any = None
    message: Any = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            atype, message = error.get("type"), error.get("message")
        else:
            message = body.get("message")
    if not isinstance(atype, str) or not atype:
        atype = _STATUS_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")
    otype, code = _ERROR_TYPES.get(atype, (atype, None))
    if not isinstance(message, str) or not message:
        message = f"upstream returned HTTP {status}"
    return status, {"message": message, "type": otype, "param": None, "code": code}
