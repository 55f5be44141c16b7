"""OpenAI chat completion (canonical) -> OpenAI legacy ``text_completion``, for `/v1/completions` served by
chat-only providers. Provider-independent; plain dicts, no copies of the text.

* ``choices[i].text`` is the message content (text parts joined when a provider returned a list);
  tool calls have no text form and are dropped.
* ``finish_reason``: ``stop``/``length``/``content_filter`` kept; ``tool_calls``/``function_call``
  become ``stop``. A full response always has one (``stop`` when missing); a stream chunk keeps ``None``
  until the last chunk, as OpenAI's own completion streams do.
* ``logprobs`` is always ``None``; ``id``, ``created``, ``model``, ``usage`` and ``system_fingerprint``
  are carried over.
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["chat_chunk_to_text_completion_chunk", "chat_response_to_text_completion", "content_text"]

JSONDict = dict[str, Any]

_KEPT_FINISH = frozenset({"stop", "length", "content_filter"})


def _finish(reason: Any) -> str | None:
    if reason is None:
        return None
    return reason if reason in _KEPT_FINISH else "stop"


def content_text(content: Any) -> str:
    """An OpenAI message content (string or parts) as plain text: the text parts joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text") or "" for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return ""


def _envelope(source: JSONDict, choices: list[JSONDict]) -> JSONDict:
    out: JSONDict = {
        "id": source.get("id") or "",
        "object": "text_completion",
        "created": source.get("created") or int(time.time()),
        "model": source.get("model") or "",
        "choices": choices,
    }
    usage = source.get("usage")
    if usage is not None:
        out["usage"] = usage
    fingerprint = source.get("system_fingerprint")
    if isinstance(fingerprint, str):
        out["system_fingerprint"] = fingerprint
    return out


def chat_response_to_text_completion(resp: JSONDict) -> JSONDict:
    """``chat.completion`` -> ``text_completion`` (valid against OpenAI's CreateCompletionResponse)."""
    choices = [
        {
            "text": content_text((choice.get("message") or {}).get("content")),
            "index": choice.get("index", k),
            "logprobs": None,
            "finish_reason": _finish(choice.get("finish_reason")) or "stop",
        }
        for k, choice in enumerate(resp.get("choices") or ())
    ]
    return _envelope(resp, choices)


def chat_chunk_to_text_completion_chunk(chunk: JSONDict) -> JSONDict:
    """``chat.completion.chunk`` -> streamed ``text_completion`` chunk (a usage-only chunk keeps
    ``choices: []``)."""
    choices = [
        {
            "text": content_text((choice.get("delta") or {}).get("content")),
            "index": choice.get("index", k),
            "logprobs": None,
            "finish_reason": _finish(choice.get("finish_reason")),
        }
        for k, choice in enumerate(chunk.get("choices") or ())
    ]
    return _envelope(chunk, choices)
