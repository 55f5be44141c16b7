"""`/v1/completions` for chat-only providers: the prompt becomes one user turn, the answer a text completion.

The completion fields that mean the same in a chat request (`_SHARED`) are copied; the others (``echo``,
``suffix``, ``best_of``, ``logprobs``) have no chat equivalent and are dropped. A list of several prompts or
token ids is rejected (400 on ``prompt``). Streams are converted chunk by chunk, the first one included.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from bifrost.core.errors import bad_request
from bifrost.core.text_completion import chat_chunk_to_text_completion_chunk, chat_response_to_text_completion
from bifrost.providers.anthropic.translate import TranslationError, openai_completion_prompt_to_messages

if TYPE_CHECKING:
    from bifrost.config.model import KeyConfig
    from bifrost.core.context import RequestContext
    from bifrost.providers.base import ChatStream, Provider, StreamEvent

# completion fields that mean the same in a chat request
_SHARED = (
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "user",
    "n",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "logit_bias",
)


async def as_text_completion(
    provider: Provider, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
) -> dict[str, Any] | ChatStream:
    try:
        messages = openai_completion_prompt_to_messages(body.get("prompt", ""))
    except TranslationError as exc:
        raise bad_request(str(exc), param=exc.param) from None
    chat = {name: body[name] for name in _SHARED if name in body}
    chat["messages"] = messages
    result = await provider.chat(chat, model, key, ctx)
    if isinstance(result, dict):
        return chat_response_to_text_completion(result)
    # the stream's first chunk was already read (prefetched before the response started): convert it too
    if result._first is not None:
        result._first = _text_event(result._first[0])
    result._events = _as_text_chunks(result._events)
    return result


def _text_event(chunk: dict[str, Any]) -> StreamEvent | None:
    if not (chunk.get("choices") or chunk.get("usage")):
        return None
    text_chunk = chat_chunk_to_text_completion_chunk(chunk)
    return text_chunk, b"data: " + orjson.dumps(text_chunk) + b"\n\n"


async def _as_text_chunks(events: AsyncIterator[StreamEvent]) -> AsyncIterator[StreamEvent]:
    try:
        async for chunk, _ in events:
            event = _text_event(chunk)
            if event is not None:
                yield event
    finally:
        await events.aclose()  # type: ignore[attr-defined]
