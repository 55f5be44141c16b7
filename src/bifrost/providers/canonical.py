"""Reading and writing the canonical shape (OpenAI Chat Completions dicts) for the translating providers.

Pure helpers shared by the `translate.py` modules: the request fields every wire reads the same way
(max tokens, stop, tool definitions, tool-call arguments, data URLs) and the response/chunk envelopes
every wire writes the same way. Nothing here knows a provider's wire.
"""

from __future__ import annotations

import base64
import struct
import time
from typing import Any

import orjson

JSONDict = dict[str, Any]


class TranslationError(ValueError):
    """The request cannot be expressed for the other wire; render as 400 invalid_request_error."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


# --- request ------------------------------------------------------------------------------------------


def max_tokens(body: JSONDict) -> int | None:
    """``max_completion_tokens``, else ``max_tokens``; a positive integer or None."""
    value, param = body.get("max_completion_tokens"), "max_completion_tokens"
    if value is None:
        value, param = body.get("max_tokens"), "max_tokens"
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise TranslationError(f"{param} must be a positive integer", param)
    return value


def stop_sequences(body: JSONDict) -> list[str]:
    stop = body.get("stop")
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


def reject_n(body: JSONDict, provider: str) -> None:
    n = body.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        raise TranslationError(f"n>1 is not supported by {provider}", "n")


def tool_definitions(body: JSONDict) -> list[tuple[str, str | None, JSONDict]]:
    """(name, description, JSON-schema parameters) of each ``tools`` function (and legacy ``functions``)."""
    out: list[tuple[str, str | None, JSONDict]] = []
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise TranslationError("tools must be an array", "tools")
        for k, tool in enumerate(tools):
            if not isinstance(tool, dict) or tool.get("type", "function") != "function":
                kind = tool.get("type") if isinstance(tool, dict) else None
                raise TranslationError(f"tool type {kind!r} is not supported; use function tools", f"tools[{k}]")
            out.append(_definition(tool.get("function"), f"tools[{k}].function"))
    functions = body.get("functions")
    if isinstance(functions, list):
        out.extend(_definition(f, f"functions[{k}]") for k, f in enumerate(functions))
    return out


def _definition(function: Any, param: str) -> tuple[str, str | None, JSONDict]:
    if not isinstance(function, dict):
        raise TranslationError("a function definition is required", param)
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise TranslationError("functions need a name", f"{param}.name")
    schema = function.get("parameters")
    description = function.get("description")
    return (
        name,
        description if isinstance(description, str) and description else None,
        schema if isinstance(schema, dict) else {"type": "object", "properties": {}},
    )


def tool_choice(body: JSONDict) -> str | None:
    """``auto`` / ``none`` / ``required`` / a function name, or None when not given."""
    choice = body.get("tool_choice")
    if choice is None:
        choice = body.get("function_call")
        if isinstance(choice, dict) and isinstance(choice.get("name"), str):
            return str(choice["name"])
    if choice is None or choice in ("auto", "none", "required"):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("function"), dict):
        name = choice["function"].get("name")
        if isinstance(name, str) and name:
            return name
    raise TranslationError("invalid tool_choice", "tool_choice")


def tool_arguments(raw: Any, param: str) -> JSONDict:
    """A tool call's ``arguments`` (JSON text; ``""`` means ``{}``) as an object."""
    if isinstance(raw, dict):
        return raw
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise TranslationError("tool call arguments must be a JSON string", param)
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise TranslationError("tool call arguments are not valid JSON", param) from None
    if not isinstance(value, dict):
        raise TranslationError("tool call arguments must be a JSON object", param)
    return value


def data_url(url: str) -> tuple[str, str] | None:
    """``data:<media type>;base64,<data>`` -> (media type, base64 data); anything else -> None."""
    if not url.startswith("data:"):
        return None
    head, sep, data = url[5:].partition(",")
    if not sep or not head.endswith(";base64"):
        return None
    return head[: -len(";base64")].lower() or "application/octet-stream", data


def content_text(content: Any, param: str) -> str:
    """The text of a message's content (string or text parts); other parts are the caller's to handle."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array of parts", param)
    texts = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
            kind = part.get("type") if isinstance(part, dict) else None
            raise TranslationError(f"content part type {kind!r} is not supported here", f"{param}[{j}]")
        texts.append(str(part.get("text") or part.get("refusal") or ""))
    return "".join(texts)


# --- response -----------------------------------------------------------------------------------------


def count(value: Any) -> int:
    """A token count off the wire (missing or not a number: 0)."""
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0


def usage(prompt: int, completion: int, cached: int = 0) -> JSONDict:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def tool_call(call_id: str, name: str, arguments: Any) -> JSONDict:
    text = arguments if isinstance(arguments, str) else orjson.dumps(arguments or {}).decode()
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def completion(
    rid: str, model: str, text: str | None, calls: list[JSONDict], finish: str, usage_: JSONDict
) -> JSONDict:
    message: JSONDict = {"role": "assistant", "content": text if text or not calls else None, "refusal": None}
    if message["content"] is None and not calls:
        message["content"] = ""
    if calls:
        message["tool_calls"] = calls
    return {
        "id": rid,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": usage_,
    }


def stream_chunk(
    chunk_id: str, created: int, model: str, delta: JSONDict, finish: str | None = None, index: int = 0
) -> JSONDict:
    """One ``chat.completion.chunk`` with one choice's delta (every stream translator builds these)."""
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }


def usage_chunk(chunk_id: str, created: int, model: str, usage_: JSONDict) -> JSONDict:
    """The usage-only ``chat.completion.chunk`` that ends a stream when the client asked for usage."""
    return {
        "id": chunk_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage_,
    }


class ChunkWriter:
    """``chat.completion.chunk`` dicts for one stream (same id, created and model in each)."""

    __slots__ = ("created", "id", "model")

    def __init__(self, rid: str, model: str) -> None:
        self.id = rid
        self.model = model
        self.created = int(time.time())

    def chunk(self, delta: JSONDict, finish: str | None = None) -> JSONDict:
        return stream_chunk(self.id, self.created, self.model, delta, finish)

    def usage_chunk(self, usage_: JSONDict) -> JSONDict:
        return usage_chunk(self.id, self.created, self.model, usage_)

    def tool_start(self, index: int, call_id: str, name: str, arguments: str = "") -> JSONDict:
        call = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        return self.chunk({"tool_calls": [call]})

    def tool_arguments(self, index: int, arguments: str) -> JSONDict:
        return self.chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})


def embeddings_list(vectors: list[Any], tokens: int, model: str, encoding_format: Any = None) -> JSONDict:
    """An OpenAI embeddings answer; ``encoding_format: base64`` is little-endian float32, base64-encoded."""
    data = []
    for i, vector in enumerate(vectors):
        value: Any = vector
        if encoding_format == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": i, "embedding": value})
    return {"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
