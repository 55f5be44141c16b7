"""OpenAI and every server that speaks its wire format: the request is passed through, bytes in, bytes out.

Only `model` is rewritten (and gateway-only fields were already removed by the route); any field the
gateway does not know reaches the upstream untouched, so new OpenAI parameters work on day one.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from bifrost.config.model import ClientConfig, KeyConfig, ProviderConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError, upstream_timeout
from bifrost.providers.base import PASSED, ChatStream, Provider, StreamEvent, encode_request
from bifrost.providers.sse import event_data, finish_body, iter_event_runs, iter_events

_FINAL_RESPONSE_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed", "error"})
# what a pass-through answer keeps of the upstream's headers
_KEPT_HEADERS = ("Content-Type", "Content-Disposition", "Content-Encoding", "openai-processing-ms", "x-request-id")


_END: dict[str, Any] = {}  # _event's answer for the final [DONE]


def _ordinary(run: bytes) -> bool:
    """A run of events that are each one `data: {...}` line with no error, no usage and no finish_reason: what
    a raw route can pass on unread. Anything else (or spaced differently) is read event by event."""
    n = run.count(b"\n\n")
    return (
        run.count(b"data: {") == n
        and run.count(b"}\n\n") == n
        and run.count(b"\n") == 2 * n
        and run.count(b'"finish_reason":null') == n
        and run.count(b'"usage":') == run.count(b'"usage":null')
        and b'"error"' not in run
    )


def _plain(block: bytes) -> bool:
    """One event (without its blank line) that _ordinary would pass."""
    return _ordinary(block + b"\n\n")


def _data_line(block: bytes) -> bytes:
    data = event_data(block)
    return b"data: " + (data or b"") + b"\n\n"


class RawStream(ChatStream):
    """A passed-through answer (any endpoint): status, the headers worth keeping, and the body as it arrives."""

    __slots__ = ("headers", "status")

    def __init__(self, provider: str, resp: aiohttp.ClientResponse, idle_timeout: float) -> None:
        super().__init__(provider, "", _body_chunks(resp, provider, idle_timeout))
        self.status = resp.status
        self.headers = {name: resp.headers[name] for name in _KEPT_HEADERS if name in resp.headers}


async def _body_chunks(resp: aiohttp.ClientResponse, provider: str, idle_timeout: float) -> AsyncIterator[StreamEvent]:
    protocol = resp.connection.protocol if resp.connection is not None else None
    if protocol is not None:
        protocol.read_timeout = idle_timeout
    empty: dict[str, Any] = {}
    try:
        while True:
            try:
                data = await resp.content.readany()
            except (aiohttp.ServerTimeoutError, TimeoutError):
                raise GatewayError(
                    504, f"{provider} stalled: no data for {idle_timeout:g}s", provider=provider
                ) from None
            except aiohttp.ClientError as exc:
                raise GatewayError(502, f"{provider} broke off: {type(exc).__name__}", provider=provider) from None
            if not data:
                return
            yield empty, data
    finally:
        resp.release()


# provider -> (public base URL, path prefix before /chat/completions)
DEFAULT_ENDPOINTS: dict[str, tuple[str, str]] = {
    "openai": ("https://api.openai.com", "/v1"),
    "mistral": ("https://api.mistral.ai", "/v1"),
    "groq": ("https://api.groq.com/openai", "/v1"),
    "ollama": ("http://localhost:11434", "/v1"),
    "openrouter": ("https://openrouter.ai/api", "/v1"),
    "cerebras": ("https://api.cerebras.ai", "/v1"),
    "xai": ("https://api.x.ai", "/v1"),
    "perplexity": ("https://api.perplexity.ai", ""),
    "fireworks": ("https://api.fireworks.ai/inference", "/v1"),
    "vllm": ("http://localhost:8000", "/v1"),
}


# OpenAI's reasoning models: they take max_completion_tokens (max_tokens is rejected), and no sampling knobs
REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")
_NOT_FOR_REASONING = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "logprobs", "top_logprobs")


def _ask_for_usage(body: dict[str, Any]) -> dict[str, Any] | None:
    """Ask the upstream for the final usage chunk; a dict to collect it when the client did not ask itself."""
    options = body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return None  # the client asked: the chunk goes through to it, and the route reads it there
    body["stream_options"] = {**options, "include_usage": True} if isinstance(options, dict) else {
        "include_usage": True
    }
    return {}


class OpenAICompatibleProvider(Provider):
    wire = "openai"

    def __init__(self, config: ProviderConfig, client: ClientConfig) -> None:
        base, prefix = DEFAULT_ENDPOINTS.get(config.name, ("https://api.openai.com", "/v1"))
        self.default_base_url = base
        super().__init__(config, client)
        if config.network.base_url:
            # a configured base URL may or may not already end in /v1
            prefix = "" if self.base_url.endswith("/v1") else "/v1"
        root = self.api_root = self.base_url + prefix
        self.chat_url = root + "/chat/completions"
        self.responses_url = root + "/responses"
        self.completions_url = root + "/completions"
        self.embeddings_url = root + "/embeddings"
        self.models_url = root + "/models"
        self._key_headers: dict[str | None, dict[str, str]] = {}
        # OpenAI itself supports stream_options.include_usage; other servers may reject it, so only ask it
        # of them when meta_config.stream_usage is true. The usage feeds metrics and cost.
        self.asks_stream_usage = bool(config.meta_config.get("stream_usage", config.name == "openai"))

    def auth(self, key: KeyConfig | None, ctx: RequestContext) -> dict[str, str]:
        secret = ctx.direct_key or (key.value if key is not None else None)
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def request_headers(self, key: KeyConfig | None, ctx: RequestContext) -> dict[str, str]:
        """Upstream headers; built once per configured key and reused (aiohttp copies them per request)."""
        if ctx.extra_headers or ctx.direct_key is not None:
            return self.headers(self.auth(key, ctx), ctx)
        name = key.name if key is not None else None
        cached = self._key_headers.get(name)
        if cached is None:
            cached = self._key_headers[name] = self.headers(self.auth(key, ctx), ctx)
        return cached

    async def chat(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        return await self._call(self.chat_url, body, model, key, ctx)

    def adapt_translated(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        """A request translated from another wire (Anthropic, GenAI) for an OpenAI reasoning model (o-series,
        gpt-5 family): ``max_tokens`` becomes ``max_completion_tokens`` and the sampling parameters those models
        reject are dropped. For another OpenAI model, ``reasoning_effort`` (from extended thinking) is dropped
        on OpenAI itself, which rejects it there; other OpenAI-compatible servers receive it."""
        if REASONING_MODEL.match(model):
            out = {k: v for k, v in body.items() if k not in _NOT_FOR_REASONING}
            if "max_tokens" in out:
                out["max_completion_tokens"] = out.pop("max_tokens")
            return out
        if "reasoning_effort" in body and self.config.name == "openai":
            return {k: v for k, v in body.items() if k != "reasoning_effort"}
        return body

    async def list_models(self, key: KeyConfig | None) -> list[str]:
        """Ids from the OpenAI-style ``GET /v1/models``."""
        headers = {**self._base_headers, **({"Authorization": f"Bearer {key.value}"} if key and key.value else {})}
        page = await self.get_json(self.models_url, headers, key)
        return [m["id"] for m in page.get("data") or () if isinstance(m, dict) and isinstance(m.get("id"), str)]

    async def text_completion(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        return await self._call(self.completions_url, body, model, key, ctx)

    async def embeddings(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any]:
        result = await self._call(self.embeddings_url, body, model, key, ctx)
        assert isinstance(result, dict)
        return result

    async def responses(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        """The Responses API passed through (``"responses": "native"``): only `model` is rewritten."""
        url, upstream_model = self.responses_target(key, model)
        payload = encode_request({**body, "model": upstream_model})
        headers = self.request_headers(key, ctx)
        if ctx.stream:
            return await self.stream_from(url, payload, headers, key, model, self._responses_events)
        return await self.post_json(url, payload, headers, key)

    def responses_target(self, key: KeyConfig | None, model: str) -> tuple[str, str]:
        """(URL, `model` for the body) of a Responses call; a provider with other URLs overrides it."""
        return self.responses_url, model

    def root_for(self, key: KeyConfig | None) -> str:
        """The URL OpenAI's API paths (``/files``, ``/responses/{id}``, ...) hang off for this key."""
        return self.api_root

    async def _responses_events(self, resp: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
        """Responses stream events byte for byte; a stream that ends without a final event is an error."""
        finished = False
        try:
            async for block in iter_events(resp, self.name, self.idle_timeout):
                data = event_data(block)
                if data is None or data == b"[DONE]":
                    continue
                event = self.parse_json(data, "a stream event")
                if event.get("type") in _FINAL_RESPONSE_EVENTS:
                    finished = True
                yield event, block + b"\n\n"
            if not finished:
                raise GatewayError(502, f"{self.name} ended the stream before it finished", provider=self.name)
        finally:
            resp.release()

    async def forward(
        self,
        method: str,
        path: str,
        query: str,
        payload: bytes | None,
        headers: dict[str, str],
        key: KeyConfig | None,
        ctx: RequestContext,
    ) -> RawStream:
        """Any other OpenAI endpoint, passed through: the answer's status, headers and body, piped as it comes."""
        url = self.root_for(key) + path + ("?" + query if query else "")
        upstream_headers = {**self.request_headers(key, ctx), **headers}
        try:
            async with asyncio.timeout(self.request_timeout):
                resp = await self.open_stream(url, payload, upstream_headers, key, method)
        except TimeoutError:
            raise upstream_timeout(self.name, self.request_timeout) from None
        return RawStream(self.name, resp, self.idle_timeout)

    async def _call(
        self, url: str, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        upstream = {**body, "model": model}  # the client's body stays as sent (it is also what gets logged)
        usage: dict[str, Any] | None = None
        if ctx.stream and self.asks_stream_usage and url != self.embeddings_url:
            usage = _ask_for_usage(upstream)
        payload = encode_request(upstream)
        headers = self.request_headers(key, ctx)
        if ctx.stream:
            raw = ctx.raw_stream

            def events(resp: aiohttp.ClientResponse) -> AsyncIterator[StreamEvent]:
                return self._events(resp, usage, raw)

            stream = await self.stream_from(url, payload, headers, key, model, events)
            stream.usage = usage  # the usage chunk the client did not ask for, kept here (None when it asked)
            return stream
        return await self.post_json(url, payload, headers, key)

    async def _events(
        self, resp: aiohttp.ClientResponse, hidden_usage: dict[str, Any] | None = None, raw: bool = False
    ) -> AsyncIterator[StreamEvent]:
        """Upstream SSE events, each checked (parsed once) and forwarded byte for byte.

        `hidden_usage`: the gateway asked for the usage chunk the client did not; it is kept here, not sent.
        `raw`: the route needs only the bytes, usage, errors and the end: a run of ordinary events (what one
        upstream read brought) goes on in one piece, unparsed, as (PASSED, bytes).
        """
        finished = False
        try:
            async for run in iter_event_runs(resp, self.name, self.idle_timeout):
                if raw and _ordinary(run):
                    yield PASSED, run
                    continue
                blocks = run.split(b"\n\n")
                if raw:  # the ordinary events before the first that must be read go on in one piece
                    plain = 0
                    while plain < len(blocks) and _plain(blocks[plain]):
                        plain += 1
                    if plain:
                        yield PASSED, b"\n\n".join(blocks[:plain]) + b"\n\n"
                        blocks = blocks[plain:]
                for block in blocks:
                    if not block:
                        continue
                    event = self._event(block, hidden_usage)
                    if event is None:
                        continue
                    if event is _END:
                        await finish_body(resp)
                        return
                    if not finished:
                        for choice in event.get("choices") or ():
                            if choice.get("finish_reason"):
                                finished = True
                    yield event, (block + b"\n\n" if block.startswith(b"data: ") else _data_line(block))
            if not finished:
                raise GatewayError(
                    502, f"{self.name} ended the stream before it finished", provider=self.name
                )
        finally:
            resp.release()

    def _event(self, block: bytes, hidden_usage: dict[str, Any] | None) -> dict[str, Any] | None:
        """One event parsed and checked: None for a comment, a keep-alive or a hidden usage chunk; _END at [DONE]."""
        data = event_data(block)
        if data is None:
            return None  # comment or keep-alive
        if data == b"[DONE]":
            return _END
        chunk = self.parse_json(data, "a stream event")
        err = chunk.get("error")
        if err is not None:
            message = err.get("message") if isinstance(err, dict) else str(err)
            raise GatewayError(
                502,
                str(message or "upstream stream error"),
                provider=self.name,
                type=err.get("type") if isinstance(err, dict) else None,
            )
        if hidden_usage is not None and not chunk.get("choices") and chunk.get("usage"):
            hidden_usage.update(chunk["usage"])
            return None
        return chunk
