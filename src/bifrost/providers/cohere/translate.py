"""OpenAI Chat Completions (canonical) <-> Cohere v2 (`/v2/chat`, `/v2/embed`), as pure functions.

Request rules (`openai_to_cohere_request`)
------------------------------------------
* Messages keep their order and roles: ``system``/``developer`` -> ``system`` (text only), ``user`` ->
  ``user`` (a string, or text and ``image_url`` parts; ``detail`` kept), ``assistant`` -> ``assistant``
  (text content; ``tool_calls`` kept as Cohere's identical ``tool_calls``, arguments as JSON text),
  ``tool`` -> ``tool`` with ``tool_call_id`` and the content (text parts joined). ``file`` and
  ``input_audio`` parts are rejected (400): Cohere's chat takes no PDFs or audio.
* ``tools`` (function) -> Cohere ``tools`` (same ``{"type": "function", "function": {...}}`` shape).
  ``tool_choice``: ``required`` -> ``REQUIRED``, ``none`` -> ``NONE``, ``auto`` -> left out; a named function
  is not expressible and is rejected (400). ``parallel_tool_calls`` is dropped.
* ``max_completion_tokens``/``max_tokens`` -> ``max_tokens``; ``stop`` -> ``stop_sequences``; ``temperature``,
  ``seed``, ``frequency_penalty``, ``presence_penalty`` copied; ``top_p`` -> ``p``; ``top_k`` -> ``k``;
  ``response_format`` json_object -> ``{"type": "json_object"}``, json_schema -> with ``json_schema``;
  ``reasoning_effort`` ``none`` -> ``thinking: {"type": "disabled"}``, others -> ``{"type": "enabled"}``.
* ``n`` > 1 is rejected. Every other OpenAI field is dropped.

Response rules (`cohere_to_openai_response`, `CohereStreamTranslator`)
-----------------------------------------------------------------------
* text content parts joined -> ``content``; ``thinking`` parts -> ``reasoning_content``; ``tool_calls`` kept
  (ids, names, argument text); ``tool_plan`` is dropped.
* ``finish_reason``: COMPLETE / STOP_SEQUENCE -> stop, MAX_TOKENS -> length, TOOL_CALL -> tool_calls,
  ERROR_TOXIC -> content_filter, anything else -> stop.
* usage from ``usage.tokens`` (else ``usage.billed_units``): input -> prompt, output -> completion;
  ``usage.cached_tokens`` -> ``prompt_tokens_details.cached_tokens``.
* Stream events: ``content-delta`` -> content (or reasoning) deltas, ``tool-call-start`` -> a tool call with
  id and name, ``tool-call-delta`` -> argument fragments, ``message-end`` -> finish reason and usage.
* Embeddings: ``input`` (string or list of strings) -> ``texts``, ``input_type`` (Cohere extra, default
  ``search_document``), ``dimensions`` -> ``output_dimension``, ``embedding_types: ["float"]``; the answer's
  float vectors become OpenAI ``embedding`` objects (base64 when ``encoding_format`` is base64).
"""

from __future__ import annotations

from typing import Any

from bifrost.providers.canonical import (
    ChunkWriter,
    JSONDict,
    TranslationError,
    completion,
    content_text,
    count,
    embeddings_list,
    max_tokens,
    reject_n,
    stop_sequences,
    tool_arguments,
    tool_choice,
    tool_definitions,
    usage,
)

__all__ = [
    "FINISH_REASONS",
    "CohereStreamTranslator",
    "cohere_to_openai_embeddings",
    "cohere_to_openai_response",
    "openai_to_cohere_embed",
    "openai_to_cohere_request",
]

FINISH_REASONS = {
    "COMPLETE": "stop",
    "STOP_SEQUENCE": "stop",
    "MAX_TOKENS": "length",
    "TOOL_CALL": "tool_calls",
    "ERROR_TOXIC": "content_filter",
}
_COPIED = ("temperature", "seed", "frequency_penalty", "presence_penalty")


def openai_to_cohere_request(body: JSONDict, model: str) -> JSONDict:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise TranslationError("messages must be a non-empty array", "messages")
    reject_n(body, "Cohere")
    out: JSONDict = {"model": model, "messages": [_message(m, i) for i, m in enumerate(messages)]}
    tools = tool_definitions(body)
    if tools:
        out["tools"] = [
            {
                "type": "function",
                "function": {"name": n, **({"description": d} if d else {}), "parameters": p},
            }
            for n, d, p in tools
        ]
        choice = tool_choice(body)
        if choice == "required":
            out["tool_choice"] = "REQUIRED"
        elif choice == "none":
            out["tool_choice"] = "NONE"
        elif choice not in (None, "auto"):
            raise TranslationError("Cohere cannot force one named tool; use 'required' or 'auto'", "tool_choice")
    limit = max_tokens(body)
    if limit is not None:
        out["max_tokens"] = limit
    stops = stop_sequences(body)
    if stops:
        out["stop_sequences"] = stops
    for name in _COPIED:
        if body.get(name) is not None:
            out[name] = body[name]
    if body.get("top_p") is not None:
        out["p"] = body["top_p"]
    if body.get("top_k") is not None:
        out["k"] = body["top_k"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema"):
        schema = (fmt.get("json_schema") or {}).get("schema") if fmt["type"] == "json_schema" else None
        out["response_format"] = {"type": "json_object", **({"json_schema": schema} if schema else {})}
    effort = body.get("reasoning_effort")
    if isinstance(effort, str):
        out["thinking"] = {"type": "disabled" if effort == "none" else "enabled"}
    if body.get("stream"):
        out["stream"] = True
    return out


def _message(msg: Any, i: int) -> JSONDict:
    param = f"messages[{i}]"
    if not isinstance(msg, dict):
        raise TranslationError("each message must be an object", param)
    role = msg.get("role")
    content = msg.get("content")
    if role in ("system", "developer"):
        return {"role": "system", "content": content_text(content, f"{param}.content")}
    if role == "user":
        return {"role": "user", "content": _user_content(content, f"{param}.content")}
    if role == "assistant":
        out: JSONDict = {"role": "assistant"}
        text = content_text(content, f"{param}.content")
        if text:
            out["content"] = text
        calls = msg.get("tool_calls")
        if isinstance(calls, list) and calls:
            out["tool_calls"] = [_tool_call(c, f"{param}.tool_calls[{j}]") for j, c in enumerate(calls)]
        if "content" not in out and "tool_calls" not in out:
            out["content"] = ""
        return out
    if role == "tool":
        call_id = msg.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise TranslationError("tool messages need a tool_call_id", f"{param}.tool_call_id")
        return {"role": "tool", "tool_call_id": call_id, "content": content_text(content, f"{param}.content")}
    raise TranslationError(f"unsupported message role {role!r}", f"{param}.role")


def _user_content(content: Any, param: str) -> str | list[JSONDict]:
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise TranslationError("content must be a string or an array of parts", param)
    parts: list[JSONDict] = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            parts.append({"type": "text", "text": str(part.get("text") or "")})
        elif kind == "image_url" and isinstance(part.get("image_url"), dict):
            parts.append({"type": "image_url", "image_url": part["image_url"]})
        else:
            raise TranslationError(f"content part type {kind!r} is not supported by Cohere", f"{param}[{j}]")
    return parts


def _tool_call(call: Any, param: str) -> JSONDict:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise TranslationError("a tool call needs a function name", param)
    arguments = function.get("arguments")
    tool_arguments(arguments, f"{param}.function.arguments")  # valid JSON object, or a 400 now
    return {
        "id": str(call.get("id") or ""),
        "type": "function",
        "function": {"name": function["name"], "arguments": arguments or "{}"},
    }


# --- responses ----------------------------------------------------------------------------------------


def _finish(reason: Any) -> str:
    return FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"


def _usage(raw: Any) -> JSONDict:
    raw = raw if isinstance(raw, dict) else {}
    tokens = raw.get("tokens") or raw.get("billed_units") or {}
    prompt, done = tokens.get("input_tokens"), tokens.get("output_tokens")
    return usage(count(prompt), count(done), count(raw.get("cached_tokens")))


def cohere_to_openai_response(resp: JSONDict, model: str) -> JSONDict:
    message = resp.get("message") or {}
    texts, thoughts = [], []
    for part in message.get("content") or ():
        if isinstance(part, dict):
            if part.get("type") == "thinking":
                thoughts.append(str(part.get("thinking") or ""))
            elif part.get("type", "text") == "text":
                texts.append(str(part.get("text") or ""))
    calls = [
        {
            "id": str(c.get("id") or ""),
            "type": "function",
            "function": {
                "name": str((c.get("function") or {}).get("name") or ""),
                "arguments": str((c.get("function") or {}).get("arguments") or "{}"),
            },
        }
        for c in message.get("tool_calls") or ()
        if isinstance(c, dict)
    ]
    finish = _finish(resp.get("finish_reason"))
    out = completion(str(resp.get("id") or ""), model, "".join(texts), calls, finish, _usage(resp.get("usage")))
    if thoughts:
        out["choices"][0]["message"]["reasoning_content"] = "".join(thoughts)
    return out


class CohereStreamTranslator:
    """Cohere v2 stream events -> ``chat.completion.chunk`` dicts; `usage`/`finish_reason` kept for metrics."""

    def __init__(self, model: str, include_usage: bool) -> None:
        self.writer = ChunkWriter("", model)
        self.include_usage = include_usage
        self.usage: JSONDict = usage(0, 0)
        self.finish_reason: str | None = None
        self.ended = False

    def feed(self, event: JSONDict) -> list[JSONDict]:
        etype = event.get("type")
        delta = event.get("delta") if isinstance(event.get("delta"), dict) else {}
        message = delta.get("message") if isinstance(delta.get("message"), dict) else {}
        w = self.writer
        if etype == "content-delta":
            content = message.get("content") or {}
            if content.get("thinking"):
                return [w.chunk({"reasoning_content": content["thinking"]})]
            text = content.get("text")
            return [w.chunk({"content": text})] if text else []
        if etype == "tool-call-start":
            call = message.get("tool_calls") or {}
            function = call.get("function") or {}
            return [
                w.tool_start(
                    int(event.get("index") or 0),
                    str(call.get("id") or ""),
                    str(function.get("name") or ""),
                    str(function.get("arguments") or ""),
                )
            ]
        if etype == "tool-call-delta":
            arguments = ((message.get("tool_calls") or {}).get("function") or {}).get("arguments")
            return [w.tool_arguments(int(event.get("index") or 0), arguments)] if arguments else []
        if etype == "message-start":
            w.id = str(event.get("id") or w.id)
            return [w.chunk({"role": "assistant", "content": ""})]
        if etype == "message-end":
            self.ended = True
            self.finish_reason = _finish(delta.get("finish_reason"))
            self.usage.update(_usage(delta.get("usage")))  # in place: the provider handed this dict out
            chunks = [w.chunk({}, self.finish_reason)]
            if self.include_usage:
                chunks.append(w.usage_chunk(self.usage))
            return chunks
        return []  # content-start/end, tool-plan-delta, tool-call-end, citation events


# --- embeddings ---------------------------------------------------------------------------------------


def openai_to_cohere_embed(body: JSONDict, model: str) -> JSONDict:
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) else raw
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise TranslationError("Cohere embeddings take a string or an array of strings", "input")
    out: JSONDict = {
        "model": model,
        "texts": texts,
        "input_type": body.get("input_type") if isinstance(body.get("input_type"), str) else "search_document",
        "embedding_types": ["float"],
    }
    if isinstance(body.get("dimensions"), int):
        out["output_dimension"] = body["dimensions"]
    return out


def cohere_to_openai_embeddings(resp: JSONDict, model: str, encoding_format: Any = None) -> JSONDict:
    embeddings = resp.get("embeddings")
    vectors = embeddings.get("float") if isinstance(embeddings, dict) else embeddings
    tokens = count(((resp.get("meta") or {}).get("billed_units") or {}).get("input_tokens"))
    return embeddings_list(list(vectors or ()), tokens, model, encoding_format)
