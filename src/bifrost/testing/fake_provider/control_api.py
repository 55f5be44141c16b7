"""The control API under ``/_fake/``: scripts, rules, default, reset, log, stats."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .script import ScriptError, validate_script
from .state import FakeState

STATE: web.AppKey[FakeState] = web.AppKey("fake_provider_state", FakeState)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _scripts(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name) or []
    if not isinstance(value, list):
        raise ScriptError(f"'{name}' must be a list of scripts")
    return [validate_script(item) for item in value]


async def post_script(request: web.Request) -> web.Response:
    """Body ``{"scripts": [...], "rules": [...], "default": {...} | null}``, all optional."""
    state = request.app[STATE]
    try:
        data = orjson.loads(await request.read() or b"{}")
        if not isinstance(data, dict):
            raise ScriptError("body must be a JSON object")
        unknown = set(data) - {"scripts", "rules", "default"}
        if unknown:
            raise ScriptError(f"unknown field(s) {sorted(unknown)}; known: default, rules, scripts")
        scripts = _scripts(data, "scripts")
        rules = _scripts(data, "rules") if "rules" in data else None
        default = data.get("default")
        if default is not None:
            validate_script(default)
    except (orjson.JSONDecodeError, ScriptError) as exc:
        return _json({"error": str(exc)}, 400)
    book = state.scripts
    book.queue.extend(scripts)
    if rules is not None:
        book.rules = rules
    if "default" in data:
        book.default = default
    return _json({"queued": len(book.queue), "rules": len(book.rules), "default": book.default is not None})


async def post_reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return _json({"ok": True})


async def get_log(request: web.Request) -> web.Response:
    records = request.app[STATE].log
    return _json({"requests": [record.to_json() for record in records]})


async def get_stats(request: web.Request) -> web.Response:
    return _json(request.app[STATE].stats())


def add_control_routes(app: web.Application) -> None:
    app.router.add_post("/_fake/script", post_script)
    app.router.add_post("/_fake/reset", post_reset)
    app.router.add_get("/_fake/log", get_log)
    app.router.add_get("/_fake/stats", get_stats)
