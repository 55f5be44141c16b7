"""Admin API of governance (under /api/, guarded by auth_config like the rest of it), and the reload route.

``POST /api/config/reload`` (like SIGHUP) re-reads config.json and applies it without a restart; what it
applies and keeps is described in ``bifrost.server.reload``. Governance rules are swapped in place by
``Governor.apply``; counters and budget usage stay in the state store, keyed by virtual-key id and provider.

Under ``--workers N`` the worker that gets the request applies it and asks the supervisor to send SIGHUP to
every worker, so all of them reload the same file.
"""

from __future__ import annotations

import os
import signal
from typing import Any

import orjson
from aiohttp import web

SUPERVISOR_ENV = "BIFROST_SUPERVISOR_PID"  # set by the --workers supervisor for its workers


def register_admin(app: web.Application, live: Any) -> None:
    async def virtual_keys(request: web.Request) -> web.Response:
        gateway = live.gateway
        governor = gateway.governor
        body: dict[str, Any] = {"enabled": governor is not None, "state_store": gateway.state.kind, "virtual_keys": []}
        if governor is not None:
            try:
                body["virtual_keys"] = await governor.usage()
            except Exception as exc:  # the store is down: say so, rules without usage
                body["error"] = f"usage unavailable: {exc}"
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def reload(request: web.Request) -> web.Response:
        ok, body = await live.reload()
        if ok and os.environ.get(SUPERVISOR_ENV):
            try:
                os.kill(int(os.environ[SUPERVISOR_ENV]), signal.SIGHUP)  # every worker reloads the file
                body["workers"] = "every worker reloads"
            except (OSError, ValueError):
                body["workers"] = "only this worker reloaded (could not signal the supervisor)"
        return web.Response(status=200 if ok else 400, body=orjson.dumps(body), content_type="application/json")

    app.router.add_get("/api/governance/virtual-keys", virtual_keys)
    app.router.add_post("/api/config/reload", reload)
