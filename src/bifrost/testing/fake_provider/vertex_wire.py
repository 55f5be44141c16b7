"""Vertex AI wire format: the OAuth token endpoint, and Anthropic models via rawPredict / streamRawPredict.

``POST /token`` plays Google's token endpoint for service accounts (a ``token_uri`` pointing here): it
takes the JWT-bearer grant (form-encoded, an RS256 JWT assertion) and answers an access token
``ya29.fake-...``. Model calls must carry one of those tokens as a bearer token. Anthropic models on
Vertex take the Messages body without ``model`` and with ``anthropic_version: vertex-2023-10-16``; Gemini
models (publisher ``google``) speak the generateContent wire.
"""

from __future__ import annotations

import base64
import os
import time
from typing import Any

import orjson
from aiohttp import web

from . import anthropic_wire, gemini_wire
from .reply import make_plan
from .respond import Call, error_response, json_response, send_events
from .state import FakeState, Record

TOKEN_PREFIX = "ya29.fake-"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
WIRE = anthropic_wire.WIRE  # Anthropic models on Vertex answer errors in Anthropic's shape


def target(request: web.Request, body: dict[str, Any]) -> tuple[str, bool]:
    model, _, action = request.match_info["target"].rpartition(":")
    if action == "streamGenerateContent":
        return model, request.query.get("alt") == "sse"
    return model, action == "streamRawPredict"


def _jwt_header(assertion: str) -> dict[str, Any] | None:
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        return None
    try:
        header = orjson.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return header if isinstance(header, dict) else None


def token_handler(state: FakeState) -> Any:
    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        fields = {name: str(value) for name, value in form.items()}
        record = Record(request.method, request.path, request.query, request.headers, fields, None, time.time())
        state.log.append(record)
        header = _jwt_header(fields.get("assertion", ""))
        if fields.get("grant_type") != JWT_BEARER or header is None or header.get("alg") != "RS256":
            body = {"error": "invalid_grant", "error_description": "Invalid JWT assertion."}
            return web.json_response(body, status=400)
        access = TOKEN_PREFIX + os.urandom(8).hex()
        return web.json_response({"access_token": access, "expires_in": 3599, "token_type": "Bearer"})

    return token


def _unauthenticated(call: Call) -> web.Response | None:
    if call.request.headers.get("Authorization", "").startswith("Bearer " + TOKEN_PREFIX):
        return None
    kind = "authentication_error" if call.wire.name == "anthropic" else None
    return error_response(call, 401, "Request had invalid authentication credentials.", kind)


async def generate(call: Call) -> web.StreamResponse:
    """Gemini models on Vertex (publisher ``google``): the generateContent wire, errors in Google's shape."""
    return _unauthenticated(call) or await gemini_wire.handle(call)


async def predict(call: Call) -> web.StreamResponse:
    unauthenticated = _unauthenticated(call)
    if unauthenticated is not None:
        return unauthenticated
    publisher = call.request.match_info["publisher"]
    action = call.request.match_info["target"].rpartition(":")[2]
    if publisher != "anthropic" or action not in ("rawPredict", "streamRawPredict"):
        return error_response(call, 404, f"{publisher} {action} is not served by this fake")
    body = call.body
    if body.get("anthropic_version") != VERTEX_ANTHROPIC_VERSION:
        return error_response(call, 400, f"anthropic_version: must be {VERTEX_ANTHROPIC_VERSION}")
    if call.model == "count-tokens":  # the model to count for is named in the body
        counted = Call(call.request, call.wire, body, str(body.get("model") or ""), None, call.script, False)
        return await anthropic_wire.count_tokens(counted)
    if "model" in body:
        return error_response(call, 400, "model: Extra inputs are not permitted")
    if not isinstance(body.get("messages"), list) or not isinstance(body.get("max_tokens"), int):
        return error_response(call, 400, "messages and max_tokens: Field required")
    chars, last_user = anthropic_wire.input_size(body)
    plan = make_plan(call.script, call.model, chars, last_user)
    if call.stream:
        return await send_events(call, anthropic_wire.message_events(plan, call.model))
    return json_response(call, anthropic_wire.message(plan, call.model))
