"""What to answer: the wire-neutral ``Plan`` built from a script and the request."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import orjson

from .script import Script


@dataclass(slots=True)
class ToolCall:
    name: str
    arguments: str  # JSON text, as OpenAI carries it
    input: dict[str, Any]  # parsed object, as Anthropic and Gemini carry it
    id: str | None  # None: each wire makes one with its own prefix


@dataclass(slots=True)
class Plan:
    text: str
    thinking: str | None
    tool_calls: list[ToolCall]
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    finish_reason: str  # OpenAI naming: stop, length, tool_calls, content_filter
    cache_write_tokens: int = 0  # prompt tokens written to the prompt cache (Anthropic wire reports them)


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


def now() -> int:
    return int(time.time())


def content_text(content: Any) -> str:
    """The text inside an OpenAI/Anthropic/Gemini content value (string, parts, blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join([content_text(part) for part in content])
    if isinstance(content, dict):
        text = content.get("text")
        if isinstance(text, str):
            return text
        inner = content.get("content")
        return content_text(inner) if inner is not None else ""
    return ""


def messages_input(messages: Any, chars: int = 0) -> tuple[int, str]:
    """(characters of the prompt, text of the last user turn) of a role/content message list."""
    last_user = ""
    for message in messages or ():
        if isinstance(message, dict):
            text = content_text(message.get("content"))
            chars += len(text)
            if message.get("role") == "user":
                last_user = text
    return chars, last_user


def split_words(text: str) -> list[str]:
    """Stream pieces: each word with its trailing space; joined they give ``text`` back."""
    words = text.split(" ")
    last = len(words) - 1
    return [word + " " if i < last else word for i, word in enumerate(words) if word or i < last]


def split_pieces(text: str, parts: int = 3) -> list[str]:
    """Split ``text`` into up to ``parts`` non-empty pieces (tool-call argument deltas)."""
    if not text:
        return [""]
    size = max(1, -(-len(text) // parts))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _tool_calls(raw: Any) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for item in raw or ():
        args = item.get("arguments", {})
        if isinstance(args, str):
            text = args
            try:
                parsed = orjson.loads(args)
            except orjson.JSONDecodeError:
                parsed = {}
        else:
            text = orjson.dumps(args).decode()
            parsed = args
        calls.append(
            ToolCall(
                name=str(item.get("name", "tool")),
                arguments=text,
                input=parsed if isinstance(parsed, dict) else {},
                id=item.get("id"),
            )
        )
    return calls


def default_text(model: str, last_user_text: str) -> str:
    if last_user_text.startswith("echo:"):
        return last_user_text[5:].strip()
    return f"Hello from fake {model}!"


def make_plan(script: Script | None, model: str, prompt_chars: int, last_user_text: str) -> Plan:
    """Combine the script (may be None) with the default behaviour."""
    prompt_tokens = max(1, prompt_chars // 4)
    if not script:
        text = default_text(model, last_user_text)
        return Plan(text, None, [], prompt_tokens, len(text.split()), 0, "stop")
    calls = _tool_calls(script.get("tool_calls"))
    reply = script.get("reply")
    text = str(reply) if reply is not None else ("" if calls else default_text(model, last_user_text))
    thinking = script.get("thinking")
    completion = len(text.split()) + sum(max(1, len(c.arguments) // 4) for c in calls)
    if thinking:
        completion += len(str(thinking).split())
    usage = script.get("usage") or {}
    finish = script.get("finish_reason") or ("tool_calls" if calls else "stop")
    return Plan(
        text=text,
        thinking=str(thinking) if thinking is not None else None,
        tool_calls=calls,
        prompt_tokens=int(usage.get("prompt_tokens", prompt_tokens)),
        completion_tokens=int(usage.get("completion_tokens", completion)),
        cached_tokens=int(usage.get("cached_tokens", 0)),
        finish_reason=str(finish),
        cache_write_tokens=int(usage.get("cache_write_tokens", 0)),
    )
