"""HTTP surface of observability: ``GET /metrics``, ``GET /api/logs``, ``GET /api/logs/{id}``,
``GET /api/logs/stats`` (``/api/*`` sits behind the admin guard, ``server/admin_auth.py``).

``/api/logs`` query parameters: ``start``/``end`` (unix seconds or ISO 8601, inclusive), ``provider``,
``model``, ``status`` (an HTTP code, or ``error`` / ``success``), ``limit`` (1-1000, default 50), ``offset``.
Answer: ``{"logs": [...newest first], "total", "limit", "offset", "has_more"}``, written as it is read
(``PAGE_ROWS`` rows at a time, made into JSON in the log store's reader thread, never the whole answer in
memory twice). In this list view ``request_body``
and ``response_content`` are cut to ``LIST_CONTENT_CHARS`` characters (``content_truncated: true``; a cut
body is shown as text); ``GET /api/logs/{id}`` answers the newest record with that request id in full
(404 when there is none).
``/api/logs/stats`` takes the same filters (limit/offset ignored) and answers ``{"total", "errors",
"error_rate", "latency_ms": {"p50", "p99"}, "tokens": {"input", "output"}, "cost",
"by_provider_model": [...]}``
(percentiles: nearest rank). Bad filter values answer 400, a disabled store 404, an unreachable store 503,
all in OpenAI's error shape.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web

from bifrost.observability.logstore.base import FilterError, LogFilters, LogStore
from bifrost.observability.metrics import Metrics

log = logging.getLogger("bifrost.logstore")

_DISABLED = "logs store is disabled (set logs_store.enabled to true in config.json)"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data, default=str), status=status, content_type="application/json")


def _error(status: int, message: str, type_: str, param: str | None = None, code: str | None = None) -> web.Response:
    return _json({"error": {"message": message, "type": type_, "param": param, "code": code}}, status)


def _unavailable(exc: Exception) -> web.Response:
    error = f"{type(exc).__name__}: {exc}"[:300]
    log.warning("logs store read failed", extra={"fields": {"error": error}})
    return _error(503, "logs store is unavailable", "server_error", code="logs_store_unavailable")


def register_routes(app: web.Application, metrics: Metrics, store: LogStore | None) -> None:
    async def get_metrics(request: web.Request) -> web.Response:
        body, content_type = await asyncio.get_running_loop().run_in_executor(None, metrics.render)
        return web.Response(body=body, headers={"Content-Type": content_type})

    def _filters(request: web.Request) -> LogFilters | web.Response:
        """The query's filters, or the answer that refuses them (store disabled: 404, bad filter: 400)."""
        if store is None:
            return _error(404, _DISABLED, "invalid_request_error", code="logs_store_disabled")
        try:
            return LogFilters.parse(request.query)
        except FilterError as exc:
            return _error(400, str(exc), "invalid_request_error", param=exc.param, code="invalid_filter")

    async def get_stats(request: web.Request) -> web.Response:
        filters = _filters(request)
        if isinstance(filters, web.Response):
            return filters
        assert store is not None
        try:
            data = await store.stats(filters)
        except Exception as exc:
            return _unavailable(exc)
        return _json(data)

    async def get_logs(request: web.Request) -> web.StreamResponse:
        filters = _filters(request)
        if isinstance(filters, web.Response):
            return filters
        assert store is not None
        pages = store.json_pages(filters)
        try:
            total = await store.count(filters)
            # (not a tuple as anext's default: Python 3.11 raises SystemError for one)
            shown, first = await anext(pages, None) or (0, b"")
        except Exception as exc:
            return _unavailable(exc)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"logs":[' + first)
        try:
            async for rows, page in pages:
                shown += rows
                await response.write(b"," + page)
        except Exception as exc:  # the answer has started: end it as valid JSON that says it is partial
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("logs store read failed", extra={"fields": {"error": error}})
            tail = {"total": total, "limit": filters.limit, "offset": filters.offset, "has_more": True,
                    "error": "logs store read failed mid-answer"}
        else:
            tail = {"total": total, "limit": filters.limit, "offset": filters.offset,
                    "has_more": filters.offset + shown < total}
        await response.write_eof(b"]," + orjson.dumps(tail)[1:])
        return response

    async def get_one(request: web.Request) -> web.Response:
        if store is None:
            return _error(404, _DISABLED, "invalid_request_error", code="logs_store_disabled")
        request_id = request.match_info["id"]
        try:
            record = await store.get(request_id)
        except Exception as exc:
            return _unavailable(exc)
        if record is None:
            return _error(404, f"no stored request with id {request_id!r}", "invalid_request_error",
                          param="id", code="log_not_found")
        return _json(record)

    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/api/logs", get_logs)
    app.router.add_get("/api/logs/stats", get_stats)
    app.router.add_get("/api/logs/{id}", get_one)
