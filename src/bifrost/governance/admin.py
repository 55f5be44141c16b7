"""Admin API of governance (under /api/, guarded by auth_config like the rest of it) and config reload.

Reload (``POST /api/config/reload`` or SIGHUP) re-reads config.json and validates it as ``bifrost check``
does. Valid: the new governance rules (virtual keys, limits, budgets, ``client.enforce_auth_on_inference``,
``client.drop_excess_requests``) apply to requests that arrive from now on; requests and streams in flight
finish under the rules they were admitted with; counters and budget usage are kept (they live in the
state store, keyed by virtual-key id and provider name). Sections the running gateway cannot swap
(providers, fallbacks, stores, MCP) are named in the answer as needing a restart. Invalid: nothing
changes and the answer lists each problem with its JSON path.

Under ``--workers N`` the worker that gets the request applies it and asks the supervisor to send
SIGHUP to every worker, so all of them reload the same file.
"""

from __future__ import annotations

import logging
import os
import signal
from typing import Any

import orjson
from aiohttp import web

from bifrost.config import Config, ConfigError, load_config

log = logging.getLogger("bifrost.governance")

SUPERVISOR_ENV = "BIFROST_SUPERVISOR_PID"  # set by the --workers supervisor for its workers
_RESTART_SECTIONS = ("providers", "fallbacks", "logs_store", "state_store", "mcp")


def register_admin(app: web.Application, gateway: Any) -> None:
    async def virtual_keys(request: web.Request) -> web.Response:
        governor = gateway.governor
        body: dict[str, Any] = {"enabled": governor is not None, "state_store": gateway.state.kind, "virtual_keys": []}
        if governor is not None:
            try:
                body["virtual_keys"] = await governor.usage()
            except Exception as exc:  # the store is down: say so, rules without usage
                body["error"] = f"usage unavailable: {exc}"
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def reload(request: web.Request) -> web.Response:
        ok, body = reload_config(gateway)
        if ok and os.environ.get(SUPERVISOR_ENV):
            try:
                os.kill(int(os.environ[SUPERVISOR_ENV]), signal.SIGHUP)  # every worker reloads the file
                body["workers"] = "every worker reloads"
            except (OSError, ValueError):
                body["workers"] = "only this worker reloaded (could not signal the supervisor)"
        return web.Response(status=200 if ok else 400, body=orjson.dumps(body), content_type="application/json")

    app.router.add_get("/api/governance/virtual-keys", virtual_keys)
    app.router.add_post("/api/config/reload", reload)


def reload_config(gateway: Any) -> tuple[bool, dict[str, Any]]:
    """Validate config.json again and apply what can be applied; (ok, the answer's body)."""
    source = gateway.config.source
    if not source:
        return False, _error("the gateway was not started from a config file; nothing to reload", [])
    try:
        new = load_config(source)
    except ConfigError as exc:
        problems = [{"path": p.path, "message": p.message} for p in exc.problems]
        log.error("config reload refused, keeping the running config: %s", "; ".join(map(str, exc.problems)))
        count = len(problems)
        return False, _error(
            f"{source} has {count} problem{'s' if count != 1 else ''}; the running config is kept", problems
        )
    notes = apply_config(gateway, new)
    log.info("config reloaded from %s%s", source, f" ({'; '.join(notes)})" if notes else "")
    return True, {"status": "reloaded", "source": source, "warnings": new.warnings, "notes": notes}


def apply_config(gateway: Any, new: Config) -> list[str]:
    from bifrost.governance import needs_governor

    old: Config = gateway.config
    notes = [
        f"'{name}' changed: it applies after a restart"
        for name in _RESTART_SECTIONS
        if getattr(old, name) != getattr(new, name)
    ]
    governor = gateway.governor
    if governor is not None:
        governor.apply(new)
    elif needs_governor(new):
        notes.append("governance was not configured at start: restart to turn it on")
    return notes


def _error(message: str, problems: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_config"},
        "problems": problems,
    }
