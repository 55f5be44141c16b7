"""Every other OpenAI endpoint (audio, images, moderations, files, batches, ...) passed through (CONTRACT §3).

The provider comes from the body's ``model`` (JSON, or the ``model`` field of a multipart form) like chat,
else from the ``x-bf-provider`` header, else ``openai``; it must speak OpenAI's wire. The body is read once
(the size limit applies) and forwarded as is; only a ``provider/`` prefix on ``model`` is removed. The
answer (JSON, binary audio, SSE) is piped back as it arrives, status and content type kept. Keys, the
queue, metrics and the log store apply as for chat; retries only for idempotent methods (GET, DELETE)
and for connections that never reached the upstream. A path that is no OpenAI resource answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import orjson
from aiohttp import web

from bifrost.core.context import Target, request_id
from bifrost.core.errors import GatewayError, bad_request
from bifrost.providers.base import Provider
from bifrost.server.gateway import Gateway
from bifrost.server.routes.openai import PREFIXES, error_response

# OpenAI's resource roots under /v1 that pass through (chat, completions, embeddings, models and responses
# have their own routes).
RESOURCES = frozenset(
    {
        "audio", "images", "moderations", "files", "uploads", "batches", "fine_tuning", "vector_stores",
        "assistants", "threads", "containers", "conversations", "evals", "realtime", "videos", "models",
        "responses", "chatkit", "skills",
    }
)
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?')


def multipart_field(raw: bytes, content_type: str, name: str) -> tuple[str, int, int] | None:
    """(value, start, end) of a small text field of a multipart/form-data body, without parsing the files."""
    match = _BOUNDARY.search(content_type)
    if match is None:
        return None
    delimiter = b"--" + match.group(1).encode()
    header = f'name="{name}"'.encode()
    pos = 0
    while True:
        start = raw.find(delimiter, pos)
        if start < 0:
            return None
        head_end = raw.find(b"\r\n\r\n", start)
        if head_end < 0:
            return None
        headers = raw[start:head_end]
        value_start = head_end + 4
        value_end = raw.find(b"\r\n" + delimiter, value_start)
        if value_end < 0:
            return None
        if header in headers and b"filename=" not in headers:
            try:
                return raw[value_start:value_end].decode(), value_start, value_end
            except UnicodeDecodeError:
                return None
        pos = value_end + 2


def _body_model(raw: bytes, content_type: str) -> tuple[str | None, bytes]:
    """The model a body names, and a rewriter for it (JSON or multipart); (None, raw) when it names none."""
    if not raw:
        return None, raw
    if content_type.startswith("multipart/form-data"):
        found = multipart_field(raw, content_type, "model")
        return (found[0], raw) if found else (None, raw)
    if "json" in content_type or not content_type:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise bad_request("The request body is not valid JSON.") from None
        model = body.get("model") if isinstance(body, dict) else None
        return (model if isinstance(model, str) and model else None), raw
    return None, raw


def _rewrite_model(raw: bytes, content_type: str, model: str) -> bytes:
    if content_type.startswith("multipart/form-data"):
        found = multipart_field(raw, content_type, "model")
        assert found is not None
        return raw[: found[1]] + model.encode() + raw[found[2] :]
    body = orjson.loads(raw)
    body["model"] = model
    return orjson.dumps(body)


async def forward_request(
    gw: Gateway, request: web.Request, method: str, provider_name: str | None = None, path: str | None = None
) -> web.StreamResponse:
    """Pass `request` through to one OpenAI-compatible provider and pipe its answer back."""
    ctx = gw.context(request, "openai", method)
    record = ctx.record
    gw.observer.request_started(method)
    try:
        if path is None:
            path = "/" + request.match_info.get("tail", "") if "tail" in request.match_info else _api_path(request)
        raw = await gw.read_body(request) if request.can_read_body else b""
        content_type = request.headers.get("Content-Type", "")
        model, payload = _body_model(raw, content_type)
        record.model_requested = model
        if model is not None and provider_name is None:
            target = gw.router.resolve(model, "openai")
            if target.model != model:
                payload = _rewrite_model(raw, content_type, target.model)
        else:
            name = provider_name or request.headers.get("x-bf-provider") or "openai"
            if name not in gw.providers:
                raise bad_request(
                    f"provider '{name}' is not configured (configured: {', '.join(gw.providers) or 'none'}); "
                    "name the provider with the x-bf-provider header or a provider/model `model`",
                    param="x-bf-provider",
                )
            target = Target(name, model or "")
        if not hasattr(gw.providers[target.provider], "forward"):
            raise bad_request(
                f"{request.path} is an OpenAI endpoint; provider {target.provider} does not speak OpenAI's API, "
                "so it cannot serve it",
                param="model",
            )
        headers = {"Content-Type": content_type} if content_type else {}
        accept = request.headers.get("Accept")
        if accept:
            headers["Accept"] = accept
        idempotent = request.method in _IDEMPOTENT

        async def call(provider: Provider, tgt: Target, key: Any) -> Any:
            try:
                return await provider.forward(  # type: ignore[attr-defined]
                    request.method, path, request.query_string, payload or None, headers, key, ctx
                )
            except GatewayError as exc:
                if not idempotent and exc.code != "upstream_connect_error":
                    exc.retryable = False  # the upstream may have acted on it: never sent twice
                raise

        stream = await gw.engine.run(ctx, [target], call)
        response = web.StreamResponse(
            status=stream.status,
            headers={**stream.headers, "x-request-id": record.request_id, "x-bifrost-provider": stream.provider},
        )
        try:
            await response.prepare(request)
            async for _, data in stream:
                await response.write(data)
        except GatewayError as exc:
            gw.failed(exc, ctx)  # the status is sent: the connection is closed without the rest
            request.transport.close() if request.transport is not None else None
            return response
        except ConnectionError:
            record.status = 499
            return response
        finally:
            await stream.aclose()
        with contextlib.suppress(ConnectionError):
            await response.write_eof()
        record.status = stream.status
        return response
    except GatewayError as exc:
        return error_response(exc, ctx, gw)
    except asyncio.CancelledError:
        record.status = 499
        raise
    finally:
        record.latency_s = time.perf_counter() - ctx.started
        gw.finish(record)


def _api_path(request: web.Request) -> str:
    """The path after the OpenAI prefix (/v1, /openai/v1 or /openai)."""
    path = request.path
    for prefix in PREFIXES:
        if path.startswith(prefix + "/"):
            return path[len(prefix) :]
    return path


class PassthroughRoutes:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    def register(self, app: web.Application) -> None:
        for prefix in PREFIXES:
            app.router.add_route("*", prefix + "/{tail:.*}", self.handle)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info["tail"]
        segments = tail.split("/")
        resource = segments[0]
        if resource not in RESOURCES or any(s in ("", ".", "..") for s in segments[1:]):
            return not_found(request)  # no dot segments: the upstream path stays under the resource
        method = f"{resource}.{segments[1]}" if resource in ("audio", "images") and len(segments) > 1 else resource
        return await forward_request(self.gw, request, method, path="/" + tail)


def not_found(request: web.Request) -> web.Response:
    exc = GatewayError(
        404,
        f"Unknown route: {request.method} {request.path}. The gateway serves OpenAI's API under /v1, /openai/v1 "
        "and /openai (chat/completions, completions, embeddings, models, responses, and passed through: "
        f"{', '.join(sorted(RESOURCES - {'models', 'responses'}))}), Anthropic's under /anthropic/v1; see the "
        "README for every endpoint.",
        code="route_not_found",
    )
    return web.Response(
        status=404,
        body=orjson.dumps({"error": exc.openai_error()}),
        content_type="application/json",
        headers={"x-request-id": request_id(request.headers)},
    )
