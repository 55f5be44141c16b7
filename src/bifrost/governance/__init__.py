"""Governance: virtual keys, rate limits, concurrency caps and budgets, exact across workers and instances.

- ``config.py``   the ``governance`` section of config.json, validated with JSON paths
- ``governor.py`` the rules at request time: admission, per-provider windows, settlement, usage report
- ``http.py``     the middleware in front of every inference route, refusals in each route's wire
- ``admin.py``    ``GET /api/governance/virtual-keys`` and ``POST /api/config/reload`` (server/reload.py)
- ``windows.py``  durations, calendar alignment, OpenAI's reset notation

Counters live in the state store (``bifrost.state``): memory for one process, Redis for many.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bifrost.governance.governor import Gate, Governor, Refusal

GOVERNOR_KEY = web.AppKey("governor", Governor)


def needs_governor(config: Any) -> bool:
    """Whether requests must meet the middleware: virtual keys, provider limits or mandatory auth."""
    rules = config.governance_rules
    return bool(config.client.enforce_auth_on_inference or (rules is not None and rules.configured))


def counts_requests(config: Any) -> bool:
    """Whether governance keeps counters (which --workers N must share through Redis)."""
    rules = config.governance_rules
    if rules is None:
        return False
    if rules.provider_limits:
        return True
    return any(vk.rate_limit or vk.budget or vk.max_concurrent_requests for vk in rules.virtual_keys)


def install(app: web.Application, live: Any, observer: Any = None) -> Governor | None:
    """Admin routes always; the middleware and response hook only when governance is configured.

    `live` is the app's `bifrost.server.reload.Live` (its `.gateway` is the gateway serving now)."""
    from bifrost.governance.admin import register_admin
    from bifrost.governance.http import add_ratelimit_headers, governance_middleware

    gateway = live.gateway
    governor = None
    if needs_governor(gateway.config):
        governor = Governor(
            gateway.config,
            gateway.state,
            getattr(observer, "pricing", None),
            getattr(observer, "metrics", None),
        )
        app[GOVERNOR_KEY] = governor
        gateway.governor = governor
        app.middlewares.append(governance_middleware(governor, live))
        app.on_response_prepare.append(add_ratelimit_headers)
    register_admin(app, live)
    return governor


__all__ = ["GOVERNOR_KEY", "Gate", "Governor", "Refusal", "counts_requests", "install", "needs_governor"]
