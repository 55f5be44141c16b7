"""The gateway's start-up state and the request prelude every route shares.

Everything that can be computed once (providers, sessions, router, header rules, size limit) is built
here at start-up; per request only the body is parsed and a context assembled.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from typing import Any, Protocol

import aiohttp
import aiohttp.http_exceptions
import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from bifrost.config.model import Config
from bifrost.core.catalog import ModelCatalog
from bifrost.core.context import RequestContext, request_id
from bifrost.core.engine import Engine
from bifrost.core.errors import GatewayError, bad_request
from bifrost.core.routing import Router
from bifrost.core.secrets import add_secrets, clean_text, config_secrets, scrub
from bifrost.observability.record import RequestRecord
from bifrost.providers.base import Provider
from bifrost.providers.registry import build_provider
from bifrost.server.bodies import BodyDecodeError, read_body
from bifrost.state import StateStore, StateUnavailable, create_state_store

GATE_KEY = "bifrost.gate"  # request[GATE_KEY]: governance's per-request state (governance/http.py)

log = logging.getLogger("bifrost")

# Never forwarded from x-bf-eh-*: hop-by-hop, routing, auth and cookie headers.
BLOCKED_FORWARD_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        "content-type",
        "cookie",
        "set-cookie",
        "authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "expect",
    }
)


# errors after which the unread rest of the request body is abandoned (connections.LINGER_S)
_BODY_REFUSED = frozenset({"request_too_large", "bad_request_body", "request_timeout"})


class Observer(Protocol):
    def request_started(self, method: str) -> None: ...
    def finish(self, record: RequestRecord) -> None: ...


class _QuietObserver:
    """Used until observability is wired: keeps the hot path identical in shape."""

    def request_started(self, method: str) -> None:
        return None

    def finish(self, record: RequestRecord) -> None:
        return None


class Gateway:
    """One config's serving state. A reload builds a new one (server/reload.py): `state`, `carried` (unchanged
    providers, by name) and `mcp` are then the running gateway's, shared instead of built again."""

    def __init__(
        self,
        config: Config,
        observer: Observer | None = None,
        *,
        state: StateStore | None = None,
        carried: Mapping[str, Provider] | None = None,
        mcp: Any = None,
    ) -> None:
        self.config = config
        carried = carried or {}
        self.providers: dict[str, Provider] = {
            name: carried.get(name) or build_provider(pconf, config.client) for name, pconf in config.providers.items()
        }
        self._fresh = [p for name, p in self.providers.items() if carried.get(name) is not p]  # started here
        self.active = 0  # requests in flight on this gateway (context() .. finish()); a reload drains on it
        self.router = Router(config, self.providers)
        self.engine = Engine(self.providers)
        self.observer: Observer = observer or _QuietObserver()
        self.max_body = int(config.client.max_request_body_size_mb * 1024 * 1024)
        self.body_timeout = config.client.body_read_timeout_seconds
        self.allow_direct_keys = config.client.allow_direct_keys
        self.prom_labels = {f"x-bf-prom-{label.lower()}": label for label in config.client.prometheus_labels}
        # prompts and answers are kept on the record only where something reads them: the log store, or
        # access logs at debug level (the hot path then skips collecting streamed text)
        self.content_logging = not config.client.disable_content_logging and (
            config.logs_store.enabled or logging.getLogger("bifrost.access").isEnabledFor(logging.DEBUG)
        )
        self.draining = False
        # rate-limit counters, budgets, key cool-downs, stored Responses: memory, or Redis shared by every
        # worker and instance (state_store)
        self._owns_state = state is None
        self.state: StateStore = state or create_state_store(config.state_store.type, config.state_store.url)
        self.governor: Any = None  # governance.Governor, set by governance.install when configured
        self._background: set[asyncio.Task[None]] = set()
        # every configured secret (and every 8-character run of one) is scrubbed from what leaves the gateway
        self.secrets = tuple(config_secrets(config))
        add_secrets(self.secrets)
        self.catalog = ModelCatalog(self.providers)
        # MCP (bifrost.mcp): None when no MCP client is configured, and the SDK is then never imported
        self.mcp: Any = mcp
        self._owns_mcp = mcp is None
        if mcp is None and config.mcp is not None and config.mcp.clients:
            from bifrost.mcp.manager import MCPManager

            self.mcp = MCPManager(config.mcp, self.secrets, getattr(observer, "metrics", None))

    async def start(self) -> None:
        if self._owns_state:
            await self.state.start()
        for provider in self._fresh:
            await provider.start()
        if self.mcp is not None and self._owns_mcp:
            await self.mcp.start()  # connects in the background: start-up never waits for an MCP server
        if self.state.shared:  # key cool-downs seen by one process rest the key in all of them
            for provider in self.providers.values():
                provider.keys.announce = self._announce_cool_down
            self.state.on_cool_down(self._cooled_elsewhere)

    async def abandon(self) -> None:
        """Close what `start` opened here and nowhere else (a reloaded config that failed to start)."""
        for provider in self._fresh:
            await provider.close()
        if self.mcp is not None and self._owns_mcp:
            await self.mcp.close()

    def retire(self) -> None:
        """A reload replaced this gateway: it stops taking key cool-downs from other processes."""
        self.state.off_cool_down(self._cooled_elsewhere)

    def _announce_cool_down(self, provider: str, key_name: str, seconds: float) -> None:
        task = asyncio.ensure_future(self._publish_cool_down(provider, key_name, seconds))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _publish_cool_down(self, provider: str, key_name: str, seconds: float) -> None:
        try:
            await self.state.cool_down(provider, key_name, seconds)
        except StateUnavailable as exc:
            log.warning("key cool-down not shared with other processes: %s", exc)

    def _cooled_elsewhere(self, provider: str, key_name: str, seconds: float) -> None:
        target = self.providers.get(provider)
        if target is not None:
            target.keys.cooled_elsewhere(key_name, seconds)

    async def close(self) -> None:
        await self.catalog.close()
        if self.mcp is not None:
            await self.mcp.close()  # stdio children are stopped here
        for provider in self.providers.values():
            await provider.close()
        await self.state.close()

    def redact(self, exc: GatewayError, ctx: RequestContext) -> GatewayError:
        """Remove every secret (configured ones, the client's own key) from every field of an error and
        from its record's attempts."""
        key = ctx.direct_key
        # an error may quote what the client sent (a header, a field): never invalid UTF-8 or control characters
        exc.message = clean_text(scrub(exc.message, key))
        if exc.type:
            exc.type = scrub(exc.type, key)
        if exc.code:
            exc.code = scrub(exc.code, key)
        if exc.param:
            exc.param = scrub(exc.param, key)
        for attempt in ctx.record.attempts:
            if attempt.error:
                attempt.error = scrub(attempt.error, key)
        return exc

    def failed(self, exc: GatewayError, ctx: RequestContext) -> dict[str, str]:
        """Record a failure (secrets removed) and return the headers every error answer carries."""
        self.redact(exc, ctx)
        record = ctx.record
        record.status = exc.status
        record.error_type = exc.type
        record.error_message = exc.message
        if exc.provider and record.provider is None:
            record.provider = exc.provider
        headers = {"Content-Type": "application/json", "x-request-id": record.request_id}
        if exc.code in _BODY_REFUSED:
            headers["Connection"] = "close"  # the rest of the body is not read: this connection ends here
        if record.provider:
            headers["x-bifrost-provider"] = record.provider
        # 429s always say when to come back (CONTRACT §6); 503/529 when the upstream said so
        if exc.status == 429 or (exc.retry_after is not None and exc.status in (503, 529)):
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after or 1)))
        return headers

    # -- the request prelude ------------------------------------------------------------------------
    def context(self, request: web.Request, route: str, method: str) -> RequestContext:
        headers = request.headers
        record = RequestRecord(
            request_id=request_id(headers),
            started_at=time.time(),
            route=route,
            method=method,
        )
        ctx = RequestContext(record=record, started=time.perf_counter())
        self.active += 1  # until finish(record)
        if self.governor is not None:
            gate = request.get(GATE_KEY)
            if gate is not None:
                gate.record = record
                ctx.gate = gate
                if gate.vk is not None:
                    record.virtual_key = gate.vk.id
        for name, value in headers.items():
            if (name[0] != "x" and name[0] != "X") or name[:5].lower() != "x-bf-":
                continue
            lname = name.lower()
            if lname.startswith("x-bf-eh-"):
                target = name[8:]
                if target and target.lower() not in BLOCKED_FORWARD_HEADERS:
                    ctx.extra_headers[target] = value
            elif lname == "x-bf-api-key":
                ctx.pinned_key = clean_text(value)
            elif lname in self.prom_labels:
                record.prom_labels[self.prom_labels[lname]] = value  # cleaned where it is exported or stored
        if self.allow_direct_keys:
            ctx.direct_key = _client_key(headers.get("Authorization"), headers.get("x-api-key"))
        return ctx

    def finish(self, record: RequestRecord) -> None:
        """The end of a request begun with `context()`: observed, and no longer in flight here."""
        self.active -= 1
        self.observer.finish(record)

    async def read_body(self, request: web.Request) -> bytearray:
        """The raw request body within the size limit (413 past it, 408 when it stalls, 400 when unreadable)."""
        length = request.content_length
        if length is not None and length > self.max_body:
            raise self._too_large(length)
        try:
            if request.content.is_eof():  # the whole body came with the head (the usual case): no wait, no timer
                raw = await read_body(request, self.max_body)
            else:
                async with asyncio.timeout(self.body_timeout):
                    raw = await read_body(request, self.max_body)
        except web.HTTPRequestEntityTooLarge:
            raise self._too_large(None) from None
        except TimeoutError:
            raise GatewayError(
                408,
                f"the request body did not arrive within {self.body_timeout:g}s "
                "(client.body_read_timeout_seconds in config.json)",
                code="request_timeout",
            ) from None
        except (aiohttp.http_exceptions.HttpProcessingError, RequestPayloadError, BodyDecodeError) as exc:
            detail = str(getattr(exc, "message", "") or exc).strip() or type(exc).__name__
            raise bad_request(
                f"The request body could not be read ({detail}); send JSON, compressed only with a "
                "Content-Encoding that matches it (gzip, deflate)",
                code="bad_request_body",
            ) from None
        except web.HTTPException as exc:  # aiohttp refused the body (e.g. a bad Content-Encoding)
            status = exc.status if 400 <= exc.status < 500 else 400
            raise GatewayError(status, exc.reason or "bad request body") from None
        return raw

    async def read_json(self, request: web.Request) -> dict[str, Any]:
        """The request body as a JSON object, or a 400/413 that says what to fix."""
        raw = await self.read_body(request)
        if not raw:
            raise bad_request(
                "The request body is empty: send a JSON object such as "
                '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}'
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise bad_request(
                f"The request body is not valid JSON ({exc}). Send a JSON object with "
                "Content-Type: application/json."
            ) from None
        if not isinstance(body, dict):
            raise bad_request(f"The request body must be a JSON object, not a JSON {_json_type(body)}.")
        return body

    def _too_large(self, length: int | None) -> GatewayError:
        size = f" ({length} bytes)" if length is not None else ""
        return GatewayError(
            413,
            f"The request body{size} is larger than the gateway's limit of "
            f"{self.config.client.max_request_body_size_mb:g} MB (client.max_request_body_size_mb in config.json).",
            code="request_too_large",
        )


def json_answer(record: RequestRecord, body: dict[str, Any]) -> web.Response:
    """A 200 JSON answer with the headers every route sends: the request id and the provider that answered."""
    headers = {
        "Content-Type": "application/json",
        "x-request-id": record.request_id,
        "x-bifrost-provider": record.provider or "",
    }
    return web.Response(body=orjson.dumps(body), headers=headers)


def _client_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The client's own provider key (allow_direct_keys); virtual keys (sk-bf-...) are not provider keys."""
    token = x_api_key
    if authorization and authorization[:7].lower() == "bearer ":
        token = authorization[7:].strip()
    if not token or token.startswith("sk-bf-"):
        return None
    return token


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
