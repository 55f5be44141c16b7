"""What every provider shares: its keys, its queue, a pooled HTTP session, and the streaming handle.

A provider takes the canonical request (an OpenAI Chat Completions dict) and answers with the
canonical response dict, or a `ChatStream` of canonical chunks. Providers whose wire *is* OpenAI's
pass bytes through; the others translate.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
import orjson
from multidict import CIMultiDictProxy

from bifrost.config.model import ClientConfig, KeyConfig, ProviderConfig
from bifrost.core.context import RequestContext
from bifrost.core.errors import GatewayError, upstream_garbage, upstream_timeout, upstream_unreachable
from bifrost.core.keys import KeyPool
from bifrost.core.queues import ProviderQueue
from bifrost.core.retry import parse_retry_after

# One streamed chunk: the canonical dict and its OpenAI SSE encoding ("data: {...}\n\n").
StreamEvent = tuple[dict[str, Any], bytes]

_RATE_LIMIT_WORDS = ("rate limit", "rate_limit", "too many requests", "overloaded")


# The chunk of a StreamEvent whose bytes are a run of ordinary events passed on unparsed (RequestContext.raw_stream):
# no error, no usage, no end among them. The route counts their events in the bytes.
PASSED: dict[str, Any] = {"object": "bifrost.passed_through"}


async def _ready(event: StreamEvent) -> StreamEvent:
    return event


class ChatStream:
    """An upstream stream whose first chunk has already arrived (so failures before it can fall back)."""

    __slots__ = ("_events", "_first", "model", "provider", "release", "usage")

    def __init__(self, provider: str, model: str, events: AsyncIterator[StreamEvent]) -> None:
        self.provider = provider
        self.model = model
        self._events = events
        self._first: StreamEvent | None = None
        self.release: Callable[[], None] | None = None  # set by the engine: frees the queue slot
        # usage known to the provider even when the client did not ask for a usage chunk (translated streams)
        self.usage: dict[str, Any] | None = None

    async def prefetch(self) -> None:
        try:
            self._first = await anext(self._events)
        except StopAsyncIteration:
            raise GatewayError(
                502, f"{self.provider} ended the stream before sending any data", provider=self.provider
            ) from None

    def __aiter__(self) -> ChatStream:
        return self

    def __anext__(self) -> Awaitable[StreamEvent]:
        # a plain method handing out the events' own awaitable: no generator frame of ours per event
        first = self._first
        if first is not None:
            self._first = None
            return _ready(first)
        return self._events.__anext__()

    async def aclose(self) -> None:
        try:
            await self._events.aclose()  # type: ignore[attr-defined]
        finally:
            if self.release is not None:
                release, self.release = self.release, None
                release()


class Provider:
    """Base class. Subclasses set `wire` and implement `chat` (and `embeddings` where the API has them)."""

    wire = "openai"
    default_base_url = ""

    def __init__(self, config: ProviderConfig, client: ClientConfig) -> None:
        self.name = config.name
        self.config = config
        self.keys = KeyPool(config)
        self.queue = ProviderQueue(config, client.drop_excess_requests)
        net = config.network
        base_url, basic = split_credentials(net.base_url or self.default_base_url)
        self.base_url = base_url.rstrip("/")
        self.request_timeout = net.default_request_timeout_in_seconds
        self.idle_timeout = net.stream_idle_timeout_in_seconds
        self._timeout = aiohttp.ClientTimeout(total=net.default_request_timeout_in_seconds)
        # streams: connect and first chunk within the request timeout (asyncio.timeout in stream_from), then
        # the idle timeout between chunks (set on the connection once the first chunk is in)
        self._stream_timeout = aiohttp.ClientTimeout(total=None, sock_connect=net.default_request_timeout_in_seconds)
        self._base_headers = {"Content-Type": "application/json", **basic, **net.extra_headers}
        self.session: aiohttp.ClientSession | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.config.concurrency.concurrency, ttl_dns_cache=300, keepalive_timeout=60
        )
        # (no skip_auto_headers: aiohttp rebuilds that set on every request)
        self.session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    # -- the canonical operations ------------------------------------------------------------------
    async def chat(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        raise GatewayError(400, f"provider {self.name} does not support chat completions", provider=self.name)

    async def text_completion(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any] | ChatStream:
        """Default: the prompt becomes one user turn of a chat; the answer comes back as a text completion."""
        from bifrost.core.text_via_chat import as_text_completion

        return await as_text_completion(self, body, model, key, ctx)

    async def embeddings(
        self, body: dict[str, Any], model: str, key: KeyConfig | None, ctx: RequestContext
    ) -> dict[str, Any]:
        raise GatewayError(
            400, f"provider {self.name} does not support embeddings", provider=self.name, param="model"
        )

    def adapt_translated(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        """A canonical request translated from another wire, adjusted for this provider's model (a copy)."""
        return body

    async def list_models(self, key: KeyConfig | None) -> list[str]:
        """The model ids the provider's own list endpoint names (none by default)."""
        return []

    # -- HTTP helpers for subclasses -----------------------------------------------------------------
    async def get_json(self, url: str, headers: dict[str, str], key: KeyConfig | None) -> dict[str, Any]:
        """GET and return the JSON answer within the request timeout; an error status becomes the upstream's error."""
        assert self.session is not None
        try:
            async with self.session.get(url, headers=headers, timeout=self._timeout, allow_redirects=False) as resp:
                read = read_error_body(resp) if resp.status >= 300 else resp.read()
                status, data, resp_headers = resp.status, await read, resp.headers
        except TimeoutError:
            raise upstream_timeout(self.name, self.request_timeout) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise upstream_unreachable(self.name, _describe(exc)) from None
        if status >= 300:  # errors, and redirects (never followed)
            raise self.error_from(status, data, resp_headers, key)
        return self.parse_json(data)

    def headers(self, auth: dict[str, str], ctx: RequestContext) -> dict[str, str]:
        headers = {**self._base_headers, **auth}
        if ctx.extra_headers:
            headers.update(ctx.extra_headers)
        return headers

    async def post(
        self, url: str, payload: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes, CIMultiDictProxy[str]]:
        """POST and read the whole answer within the request timeout."""
        assert self.session is not None
        try:
            async with self.session.post(
                url, data=payload, headers=headers, timeout=self._timeout, allow_redirects=False
            ) as resp:
                if resp.status >= 300:
                    return resp.status, await read_error_body(resp), resp.headers
                return resp.status, await resp.read(), resp.headers
        except TimeoutError:
            raise upstream_timeout(self.name, self.request_timeout) from None
        except aiohttp.ClientPayloadError as exc:
            raise GatewayError(
                502,
                f"{self.name} broke off its answer: {exc.__class__.__name__}",
                provider=self.name,
                retryable=True,
            ) from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise upstream_unreachable(self.name, _describe(exc)) from None

    async def open_stream(
        self,
        url: str,
        payload: bytes | None,
        headers: dict[str, str],
        key: KeyConfig | None,
        method: str = "POST",
    ) -> aiohttp.ClientResponse:
        """Send a request whose answer is read as it comes; an error status (a redirect included) is read and
        raised, a 2xx response is returned open."""
        assert self.session is not None
        try:
            resp = await self.session.request(
                method, url, data=payload, headers=headers, timeout=self._stream_timeout, allow_redirects=False
            )
        except TimeoutError:
            raise upstream_timeout(self.name, self.request_timeout) from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise upstream_unreachable(self.name, _describe(exc)) from None
        if resp.status >= 300:  # redirects are never followed: an error (502) like any other
            try:
                data = await read_error_body(resp)
            except (aiohttp.ClientError, TimeoutError):
                data = b""
            finally:
                resp.release()
            if resp.status < 400:
                raise GatewayError(
                    502, f"{self.name} answered a redirect (HTTP {resp.status}), which is not followed",
                    provider=self.name,
                )
            raise self.error_from(resp.status, data, resp.headers, key)
        return resp

    def error_from(
        self, status: int, data: bytes, headers: CIMultiDictProxy[str] | dict[str, str], key: KeyConfig | None
    ) -> GatewayError:
        """An upstream's error answer, status and message kept, provider named, secrets removed.

        A redirect is never followed (it would carry the key elsewhere): it is a 502 naming the provider."""
        if 300 <= status < 400:
            return GatewayError(
                502,
                f"{self.name} answered with a redirect (HTTP {status}); the gateway does not follow upstream "
                "redirects: check providers." + self.name + ".network_config.base_url",
                provider=self.name,
                code="upstream_redirect",
                retryable=False,
            )
        message, etype, code, param = self.parse_error(data)
        if not message:
            snippet = data[:300].decode("utf-8", "replace").strip() or "no body"
            message = f"{self.name} answered HTTP {status}: {snippet}"
        elif len(message) > ERROR_MESSAGE_MAX_CHARS:
            cut = len(message) - ERROR_MESSAGE_MAX_CHARS
            message = message[:ERROR_MESSAGE_MAX_CHARS] + f"...[truncated {cut} chars]"
        if key is not None and key.value and key.value in message:
            message = message.replace(key.value, "***")
        retryable = None
        if status not in (400, 401, 403) and any(w in message.lower() for w in _RATE_LIMIT_WORDS):
            retryable = True
        return GatewayError(
            status,
            message,
            type=etype,
            code=code,
            param=param,
            provider=self.name,
            retry_after=parse_retry_after(headers.get("Retry-After") or headers.get("retry-after")),
            retryable=retryable,
        )

    def parse_error(self, data: bytes) -> tuple[str | None, str | None, str | None, str | None]:
        """(message, type, code, param) from an OpenAI-shaped error body; subclasses read their own shape."""
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return None, None, None, None
        err = obj.get("error") if isinstance(obj, dict) else None
        if isinstance(err, dict):
            code = err.get("code")
            return (
                str(err.get("message") or "") or None,
                err.get("type") if isinstance(err.get("type"), str) else None,
                str(code) if code is not None else None,
                err.get("param") if isinstance(err.get("param"), str) else None,
            )
        if isinstance(err, str):
            return err, None, None, None
        if isinstance(obj, dict) and isinstance(obj.get("message"), str):
            return obj["message"], None, None, None
        return None, None, None, None

    def parse_json(self, data: bytes, what: str = "body") -> dict[str, Any]:
        """An upstream JSON object (a body or one stream event); anything else is upstream garbage (502)."""
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise upstream_garbage(self.name, f"{what} is not JSON") from None
        if not isinstance(obj, dict):
            raise upstream_garbage(self.name, f"{what} is not a JSON object")
        return obj

    async def post_json(
        self, url: str, payload: bytes, headers: dict[str, str], key: KeyConfig | None
    ) -> dict[str, Any]:
        """POST and return the JSON answer; an error status becomes the upstream's error."""
        status, data, resp_headers = await self.post(url, payload, headers)
        if status >= 300:  # errors, and redirects (never followed)
            raise self.error_from(status, data, resp_headers, key)
        return self.parse_json(data)

    async def stream_from(
        self,
        url: str,
        payload: bytes,
        headers: dict[str, str],
        key: KeyConfig | None,
        model: str,
        events: Callable[[aiohttp.ClientResponse], AsyncIterator[StreamEvent]],
    ) -> ChatStream:
        """Open a stream and wait for its first chunk, both within the request timeout.

        After the first chunk the idle timeout (the connection's read timeout) bounds each wait.
        `events` turns the open response into canonical chunks and must release it when done.
        """
        resp: aiohttp.ClientResponse | None = None
        stream: ChatStream | None = None
        try:
            async with asyncio.timeout(self.request_timeout):
                resp = await self.open_stream(url, payload, headers, key)
                stream = ChatStream(self.name, model, events(resp))
                await stream.prefetch()
            protocol = resp.connection.protocol if resp.connection is not None else None
            if protocol is not None:
                protocol.read_timeout = self.idle_timeout
                protocol.start_timeout()
            return stream
        except BaseException as exc:
            if stream is not None:
                await stream.aclose()
            elif resp is not None:
                resp.close()
            if isinstance(exc, TimeoutError):
                raise upstream_timeout(self.name, self.request_timeout) from None
            raise


ERROR_BODY_MAX_BYTES = 1024 * 1024  # an upstream error body is read up to this, the rest is dropped
ERROR_MESSAGE_MAX_CHARS = 4096  # an upstream error message passed on to the client and the logs


async def read_error_body(resp: aiohttp.ClientResponse) -> bytes:
    """At most ERROR_BODY_MAX_BYTES of an upstream error answer (a bigger body is cut and the connection
    closed rather than drained)."""
    data = await resp.content.read(ERROR_BODY_MAX_BYTES)
    while len(data) < ERROR_BODY_MAX_BYTES and not resp.content.at_eof():
        more = await resp.content.read(ERROR_BODY_MAX_BYTES - len(data))
        if not more:
            break
        data += more
    if not resp.content.at_eof():
        resp.close()  # do not read (or keep) the rest
        return data + b"...[truncated]"
    return data


def split_credentials(url: str) -> tuple[str, dict[str, str]]:
    """A base URL without its ``user:password@`` part, and that part as a Basic ``Authorization`` header.

    The credentials never travel in the URL (aiohttp refuses them next to an Authorization header, and a
    URL ends up in error messages); a provider's own key header (``Bearer``) takes precedence over them."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, {}
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    clean = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    token = aiohttp.BasicAuth(unquote(parts.username or ""), unquote(parts.password or "")).encode()
    return clean, {"Authorization": token}


def encode_request(body: dict[str, Any]) -> bytes:
    """The upstream request body; JSON orjson cannot write back (nested deeper than 255) is the client's to fix."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        raise GatewayError(400, f"The request cannot be forwarded: {exc}. Flatten the JSON (at most 255 levels "
                           "of nesting).") from None


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text[:200]
