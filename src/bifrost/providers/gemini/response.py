"""Gemini ``GenerateContentResponse`` (whole, or stream chunks) -> OpenAI ``chat.completion`` (chunks).

Pure functions; the rules are listed in `bifrost.providers.gemini.translate` ("Response rules").
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson

from bifrost.providers.canonical import stream_chunk, usage_chunk

JSONDict = dict[str, Any]

__all__ = [
    "FINISH_REASONS",
    "SIGNATURE_MARK",
    "GeminiStreamTranslator",
    "PromptBlocked",
    "gemini_to_openai_response",
    "gemini_usage_to_openai",
    "split_call_id",
]

# an OpenAI tool-call id that carries a Gemini thought signature: <id>__thought__<signature>
SIGNATURE_MARK = "__thought__"

_SAFETY = ("SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY",
           "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION")
FINISH_REASONS: dict[str, str] = {"STOP": "stop", "MAX_TOKENS": "length", **dict.fromkeys(_SAFETY, "content_filter")}


class PromptBlocked(Exception):
    """Gemini refused the prompt itself (``promptFeedback.blockReason``)."""

    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(message or f"Gemini blocked the prompt ({reason})")
        self.reason = reason
        self.message = str(self)


def split_call_id(call_id: str) -> tuple[str, str | None]:
    """An OpenAI tool-call id -> (the id, the Gemini thought signature it carries, if any)."""
    cut = call_id.find(SIGNATURE_MARK)
    if cut < 0:
        return call_id, None
    return call_id[:cut], call_id[cut + len(SIGNATURE_MARK) :] or None


def _new_call_id() -> str:
    return "call_" + os.urandom(12).hex()


def _tool_call(part: JSONDict, index: int | None = None) -> JSONDict:
    call = part["functionCall"]
    call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else _new_call_id()
    signature = part.get("thoughtSignature")
    if isinstance(signature, str) and signature:
        call_id = f"{call_id}{SIGNATURE_MARK}{signature}"
    out: JSONDict = {
        "id": call_id,
        "type": "function",
        "function": {"name": call.get("name") or "", "arguments": orjson.dumps(call.get("args") or {}).decode()},
    }
    if index is not None:
        out = {"index": index, **out}
    return out


def _finish_reason(reason: Any, has_calls: bool) -> str:
    mapped = FINISH_REASONS.get(reason, "stop") if isinstance(reason, str) else "stop"
    return "tool_calls" if mapped == "stop" and has_calls else mapped


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def gemini_usage_to_openai(meta: Any) -> JSONDict:
    """Gemini ``usageMetadata`` -> OpenAI ``usage``."""
    if not isinstance(meta, dict):
        meta = {}
    prompt = _count(meta.get("promptTokenCount")) + _count(meta.get("toolUsePromptTokenCount"))
    thoughts = _count(meta.get("thoughtsTokenCount"))
    completion = _count(meta.get("candidatesTokenCount")) + thoughts
    usage: JSONDict = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": _count(meta.get("totalTokenCount")) or prompt + completion,
        "prompt_tokens_details": {"cached_tokens": _count(meta.get("cachedContentTokenCount"))},
    }
    if thoughts:
        usage["completion_tokens_details"] = {"reasoning_tokens": thoughts}
    return usage


def _check_blocked(resp: JSONDict) -> list[JSONDict]:
    candidates = resp.get("candidates")
    if isinstance(candidates, list) and candidates:
        return [c for c in candidates if isinstance(c, dict)]
    feedback = resp.get("promptFeedback")
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if isinstance(reason, str) and reason:
        raise PromptBlocked(reason, (feedback.get("blockReasonMessage") if isinstance(feedback, dict) else None))
    return []


def _response_id(resp: JSONDict) -> str:
    rid = resp.get("responseId")
    return rid if isinstance(rid, str) and rid else "chatcmpl-" + os.urandom(12).hex()


def gemini_to_openai_response(resp: JSONDict, model: str | None = None) -> JSONDict:
    """Translate a Gemini ``GenerateContentResponse`` into an OpenAI ``chat.completion`` object."""
    choices: list[JSONDict] = []
    for k, candidate in enumerate(_check_blocked(resp)):
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[JSONDict] = []
        content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
        for part in content.get("parts") or ():
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("functionCall"), dict):
                calls.append(_tool_call(part))
            elif isinstance(part.get("text"), str):
                (thoughts if part.get("thought") is True else texts).append(part["text"])
        message: JSONDict = {
            "role": "assistant",
            "content": "".join(texts) if texts else (None if calls else ""),
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = calls
        if thoughts:
            message["reasoning_content"] = "".join(thoughts)
        index = candidate.get("index")
        choices.append(
            {
                "index": index if isinstance(index, int) else k,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish_reason(candidate.get("finishReason"), bool(calls)),
            }
        )
    return {
        "id": _response_id(resp),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": resp.get("modelVersion") or model or "",
        "choices": choices,
        "usage": gemini_usage_to_openai(resp.get("usageMetadata")),
    }


class GeminiStreamTranslator:
    """Gemini stream chunks (each a ``GenerateContentResponse``) -> OpenAI ``chat.completion.chunk`` dicts.

    Call `feed` per upstream chunk and `finish` once the upstream stream ended; `finish` raises
    ``ValueError`` when no candidate ever finished (a stream broken off), and returns the usage chunk
    when the client asked for one. `usage` always holds the last running totals.
    """

    __slots__ = ("_calls", "_finished", "_started", "created", "id", "include_usage", "model", "usage")

    def __init__(self, model: str, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.id = ""
        self.created = int(time.time())
        self.usage: JSONDict = gemini_usage_to_openai(None)
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}  # candidate index -> tool calls sent so far
        self._finished: set[int] = set()

    def _chunk(self, index: int, delta: JSONDict, finish_reason: str | None = None) -> JSONDict:
        return stream_chunk(self.id, self.created, self.model, delta, finish_reason, index)

    def feed(self, data: JSONDict) -> list[JSONDict]:
        if not self.id:
            self.id = _response_id(data)
        if data.get("modelVersion"):
            self.model = data["modelVersion"]
        if isinstance(data.get("usageMetadata"), dict):
            self.usage = gemini_usage_to_openai(data["usageMetadata"])
        out: list[JSONDict] = []
        for k, candidate in enumerate(_check_blocked(data)):
            index = candidate.get("index") if isinstance(candidate.get("index"), int) else k
            if index not in self._started:
                self._started.add(index)
                out.append(self._chunk(index, {"role": "assistant", "content": ""}))
            content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
            for part in content.get("parts") or ():
                if not isinstance(part, dict):
                    continue
                if isinstance(part.get("functionCall"), dict):
                    n = self._calls.get(index, 0)
                    self._calls[index] = n + 1
                    out.append(self._chunk(index, {"tool_calls": [_tool_call(part, n)]}))
                elif isinstance(part.get("text"), str) and part["text"]:
                    key = "reasoning_content" if part.get("thought") is True else "content"
                    out.append(self._chunk(index, {key: part["text"]}))
            reason = candidate.get("finishReason")
            if reason and index not in self._finished:
                self._finished.add(index)
                out.append(self._chunk(index, {}, _finish_reason(reason, bool(self._calls.get(index)))))
        return out

    def finish(self) -> list[JSONDict]:
        if not self._finished:
            raise ValueError("the stream ended before any candidate finished")
        if not self.include_usage:
            return []
        return [usage_chunk(self.id, self.created, self.model, self.usage)]
