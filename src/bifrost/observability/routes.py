"""HTTP surface of observability: ``GET /metrics``, ``GET /api/logs``, ``GET /api/logs/stats``.

``/api/logs`` query parameters: ``start``/``end`` (unix seconds or ISO 8601, inclusive), ``provider``,
``model``, ``status`` (an HTTP code, or ``error`` / ``success``), ``limit`` (1-1000, default 50), ``offset``.
Answer: ``{"logs": [...newest first], "total", "limit", "offset", "has_more"}``.
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


def register_routes(app: web.Application, metrics: Metrics, store: LogStore | None) -> None:
    async def get_metrics(request: web.Request) -> web.Response:
        body, content_type = await asyncio.get_running_loop().run_in_executor(None, metrics.render)
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def _read(request: web.Request, stats: bool) -> web.Response:
        if store is None:
            return _error(404, _DISABLED, "invalid_request_error", code="logs_store_disabled")
        try:
            filters = LogFilters.parse(request.query)
        except FilterError as exc:
            return _error(400, str(exc), "invalid_request_error", param=exc.param, code="invalid_filter")
        try:
            data = await (store.stats(filters) if stats else store.query(filters))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            log.warning("logs store read failed", extra={"fields": {"error": error}})
            return _error(503, "logs store is unavailable", "server_error", code="logs_store_unavailable")
        return _json(data)

    async def get_logs(request: web.Request) -> web.Response:
        return await _read(request, stats=False)

    async def get_stats(request: web.Request) -> web.Response:
        return await _read(request, stats=True)

    app.router.add_get("/metrics", get_metrics)
    app.router.add_get("/api/logs", get_logs)
    app.router.add_get("/api/logs/stats", get_stats)
