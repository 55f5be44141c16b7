"""The aiohttp application: provider routes wrapped with logging, stats and scripts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from . import (
    anthropic_wire,
    bedrock_wire,
    cohere_wire,
    gemini_wire,
    media_wire,
    openai_wire,
    responses_wire,
    vertex_wire,
)
from .control_api import STATE, add_control_routes
from .respond import Call, CutConnection, Wire, before_answer, error_response
from .script import ScriptError, matches, parse_header_script, roll
from .state import FakeState, Record

WireHandler = Callable[[Call], Awaitable[web.StreamResponse]]
Target = Callable[[web.Request, dict[str, Any]], tuple[str, bool]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_BODY = 256 * 1024 * 1024


def body_target(request: web.Request, body: dict[str, Any]) -> tuple[str, bool]:
    """Model and stream flag as OpenAI and Anthropic carry them: in the body."""
    model = body.get("model")
    return (model if isinstance(model, str) else ""), body.get("stream") is True


def azure_target(request: web.Request, body: dict[str, Any]) -> tuple[str, bool]:
    model, stream = body_target(request, body)
    return model or request.match_info["deployment"], stream


def find_key(request: web.Request) -> str | None:
    """The API key a request carries, in any provider's style."""
    headers = request.headers
    auth = headers.get("Authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    key = headers.get("x-api-key") or headers.get("x-goog-api-key") or headers.get("api-key")
    if key:
        return key
    return request.query.get("key") if request.query_string else None


async def _serve(
    state: FakeState, wire: Wire, handler: WireHandler, target: Target, request: web.Request
) -> web.StreamResponse:
    raw = await request.read()
    body: Any = None
    bad_json = False
    if raw and request.content_type.startswith("multipart/"):
        body = media_wire.multipart_summary(raw, request.headers.get("Content-Type", ""))
    elif raw:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            bad_json = True
    key = find_key(request)
    path = request.path
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    port = peer[1] if isinstance(peer, tuple) and len(peer) > 1 else None
    state.log.append(Record(request.method, path, request.query, request.headers, body, key, time.time(), port))
    fields = body if isinstance(body, dict) else {}
    model, stream = target(request, fields)
    call = Call(request, wire, fields, model, key, None, stream)
    header = request.headers.get("x-fake-script")
    try:
        script = parse_header_script(header) if header else None
    except ScriptError as exc:
        return error_response(call, 400, str(exc))
    if script is None or not matches(script, model, key, path):
        script = state.scripts.pick(model, key, path)
    if script is not None:
        call.script = script = roll(script)
        early = await before_answer(call)
        if early is not None:
            return early
    if bad_json or (raw and not isinstance(body, dict)):
        return error_response(call, 400, "We could not parse the JSON body of your request.")
    return await handler(call)


def endpoint(state: FakeState, wire: Wire, handler: WireHandler, target: Target = body_target) -> Handler:
    """Wrap a wire handler with stats, the request log and script resolution."""

    async def handle(request: web.Request) -> web.StreamResponse:
        state.total += 1
        state.in_flight += 1
        if state.in_flight > state.max_in_flight:
            state.max_in_flight = state.in_flight
        try:
            return await _serve(state, wire, handler, target, request)
        except CutConnection:  # scripted: nothing left to send, end the handler quietly
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:  # the client went away (aiohttp handler cancellation)
            state.cancelled += 1
            raise
        except ConnectionResetError:  # the client went away while we were writing
            state.cancelled += 1
            raise asyncio.CancelledError from None
        finally:
            state.in_flight -= 1

    return handle


async def _models(call: Call) -> web.StreamResponse:
    headers = call.request.headers
    if "anthropic-version" in headers:
        return await anthropic_wire.models(call)
    if "x-goog-api-key" in headers or "key" in call.request.query:
        return await gemini_wire.models(call)
    return await openai_wire.models(call)


def create_app(state: FakeState | None = None) -> web.Application:
    """The fake provider as an aiohttp app.

    Run it with ``handler_cancellation=True`` (``web.run_app`` / ``web.AppRunner``) so that
    clients going away are seen (stats ``cancelled``, ``stall_after``)."""
    state = state if state is not None else FakeState()
    app = web.Application(client_max_size=MAX_BODY)
    app[STATE] = state
    oa, an, ge = openai_wire.WIRE, anthropic_wire.WIRE, gemini_wire.WIRE
    post = app.router.add_post
    post("/v1/chat/completions", endpoint(state, oa, openai_wire.chat_completions))
    post("/v1/completions", endpoint(state, oa, openai_wire.completions))
    post("/v1/embeddings", endpoint(state, oa, openai_wire.embeddings))
    app.router.add_get("/v1/models", endpoint(state, oa, _models))
    azure = "/openai/deployments/{deployment}"
    post(azure + "/chat/completions", endpoint(state, oa, openai_wire.chat_completions, azure_target))
    post(azure + "/completions", endpoint(state, oa, openai_wire.completions, azure_target))
    post(azure + "/embeddings", endpoint(state, oa, openai_wire.embeddings, azure_target))
    post("/v1/messages", endpoint(state, an, anthropic_wire.messages))
    post("/v1/messages/count_tokens", endpoint(state, an, anthropic_wire.count_tokens))
    for version in ("/v1beta", "/v1"):  # google-genai >= 1.x defaults to v1
        post(version + "/models/{target}", endpoint(state, ge, gemini_wire.handle, gemini_wire.target))
    app.router.add_get("/v1beta/models", endpoint(state, ge, gemini_wire.models))
    post("/v2/chat", endpoint(state, cohere_wire.WIRE, cohere_wire.chat))
    post("/v2/embed", endpoint(state, cohere_wire.WIRE, cohere_wire.embed))
    bedrock = "/model/{model}/"
    for action, handler in (("converse", bedrock_wire.converse), ("converse-stream", bedrock_wire.converse)):
        post(bedrock + action, endpoint(state, bedrock_wire.WIRE, handler, bedrock_wire.target))
    post(bedrock + "invoke", endpoint(state, bedrock_wire.WIRE, bedrock_wire.invoke, bedrock_wire.target))
    vertex = "/v1/projects/{project}/locations/{region}/publishers/{publisher}/models/{target}"
    google = vertex.replace("{publisher}", "google")
    post(google, endpoint(state, ge, vertex_wire.generate, vertex_wire.target))
    post(vertex, endpoint(state, vertex_wire.WIRE, vertex_wire.predict, vertex_wire.target))
    post("/token", vertex_wire.token_handler(state))
    rw, get, delete = responses_wire.WIRE, app.router.add_get, app.router.add_delete
    for root in ("/v1", "/openai/v1"):  # OpenAI's, and Azure's v1 API ({endpoint}/openai/v1/responses)
        post(root + "/responses", endpoint(state, rw, responses_wire.create))
        post(root + "/responses/input_tokens", endpoint(state, rw, responses_wire.input_tokens))
        get(root + "/responses/{id}", endpoint(state, rw, responses_wire.retrieve))
        delete(root + "/responses/{id}", endpoint(state, rw, responses_wire.delete))
        post(root + "/responses/{id}/cancel", endpoint(state, rw, responses_wire.cancel))
        get(root + "/responses/{id}/input_items", endpoint(state, rw, responses_wire.input_items))
    post("/v1/audio/speech", endpoint(state, oa, media_wire.speech))
    post("/v1/audio/transcriptions", endpoint(state, oa, media_wire.transcription))
    post("/v1/audio/translations", endpoint(state, oa, media_wire.transcription))
    post("/v1/images/generations", endpoint(state, oa, media_wire.image))
    post("/v1/images/edits", endpoint(state, oa, media_wire.image))
    post("/v1/moderations", endpoint(state, oa, media_wire.moderation))
    post("/v1/files", endpoint(state, oa, media_wire.upload_file))
    get("/v1/files", endpoint(state, oa, media_wire.list_files))
    get("/v1/files/{id}", endpoint(state, oa, media_wire.get_file))
    get("/v1/files/{id}/content", endpoint(state, oa, media_wire.file_content))
    delete("/v1/files/{id}", endpoint(state, oa, media_wire.delete_file))
    post("/v1/batches", endpoint(state, oa, media_wire.create_batch))
    get("/v1/batches", endpoint(state, oa, media_wire.list_batches))
    get("/v1/batches/{id}", endpoint(state, oa, media_wire.get_batch))
    post("/v1/batches/{id}/cancel", endpoint(state, oa, media_wire.get_batch))
    add_control_routes(app)
    return app
