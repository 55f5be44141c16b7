"""The admin credential: one check, applied by path prefix to every route under ``/api/`` (CONTRACT §2).

``/api/*`` holds prompts, answers and usage. Three states, decided once at start-up:

* ``auth_config.is_enabled``: every ``/api/*`` request needs the admin credential (HTTP Basic,
  ``Authorization: Basic base64(user:password)``); without it 401 with ``WWW-Authenticate``.
  ``auth_config.protect_metrics`` puts ``/metrics`` behind the same credential.
* no credential, loopback bind (127.0.0.1, ::1, localhost): ``/api/*`` is open, as before.
* no credential, any other bind address: ``/api/*`` answers 403 ``admin_api_disabled`` and start-up says
  so, unless ``auth_config.allow_unauthenticated_api`` explicitly opts out.

The guard wraps route handlers when the app starts (after every module registered its routes), so any
route added under ``/api/`` by any module is covered; inference routes are not touched and pay nothing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from bifrost.config.model import AuthConfig, Config

ADMIN_PREFIX = "/api/"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_GUARDED = "__bifrost_admin_guarded__"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name or "" (every interface): treated as reachable from outside


def admin_mode(auth: AuthConfig, host: str) -> str:
    """'auth' (credential required), 'open' or 'closed' (no /api/* at all)."""
    if auth.is_enabled:
        return "auth"
    if is_loopback(host) or auth.allow_unauthenticated_api:
        return "open"
    return "closed"


def startup_notice(config: Config, host: str) -> str | None:
    """The line start-up prints about the admin API, or None when nothing needs saying."""
    mode = admin_mode(config.auth_config, host)
    if mode == "closed":
        return (
            f"admin API /api/* is disabled: the gateway listens on {host}, which is not a loopback address, "
            "and auth_config sets no admin credential. Set auth_config.is_enabled with admin_username and "
            "admin_password, or auth_config.allow_unauthenticated_api to serve it without one"
        )
    if mode == "open" and not is_loopback(host):
        return (
            f"admin API /api/* is served WITHOUT a credential on {host} (auth_config.allow_unauthenticated_api): "
            "anyone who can reach this port can read stored prompts and answers"
        )
    return None


def _error(status: int, message: str, code: str, headers: dict[str, str] | None = None) -> web.Response:
    kind = "authentication_error" if status == 401 else "permission_error"
    body = orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})
    return web.Response(status=status, body=body, content_type="application/json", headers=headers)


class AdminGuard:
    """Checks one request against the admin credential; built once."""

    def __init__(self, auth: AuthConfig, host: str) -> None:
        self.host = host
        self.update(auth)

    def update(self, auth: AuthConfig) -> None:
        """Take a (re)loaded auth_config: the credential and the mode (which paths are guarded stays)."""
        self.mode = admin_mode(auth, self.host)
        user, password = auth.admin_username or "", auth.admin_password or ""
        self._expected = f"{user}:{password}".encode()

    def refusal(self, request: web.Request) -> web.Response | None:
        """None when the request may go on; else the 401/403 answer."""
        if self.mode == "open":
            return None
        if self.mode == "closed":
            return _error(
                403,
                f"the admin API is disabled: the gateway listens on {self.host} without an admin credential "
                "(set auth_config in config.json)",
                "admin_api_disabled",
            )
        given = _basic_credential(request.headers.get("Authorization"))
        if given is not None and hmac.compare_digest(given, self._expected):
            return None
        return _error(
            401,
            "this endpoint needs the admin credential (HTTP Basic, auth_config in config.json)",
            "admin_auth_required",
            {"WWW-Authenticate": 'Basic realm="bifrost admin", charset="UTF-8"'},
        )

    def wrap(self, handler: Handler) -> Handler:
        if getattr(handler, _GUARDED, False):
            return handler

        async def guarded(request: web.Request) -> web.StreamResponse:
            refused = self.refusal(request)
            if refused is not None:
                return refused
            return await handler(request)

        setattr(guarded, _GUARDED, True)
        return guarded


def _basic_credential(header: str | None) -> bytes | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        return base64.b64decode(header[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def guarded_paths(auth: AuthConfig) -> Callable[[str], bool]:
    def covered(path: str) -> bool:
        return path.startswith(ADMIN_PREFIX) or (auth.protect_metrics and path == "/metrics")

    return covered


def protect(app: web.Application, auth: AuthConfig, host: str) -> AdminGuard:
    """Put every route under /api/ (and /metrics when protect_metrics) behind the guard. Idempotent."""
    guard = AdminGuard(auth, host)
    covered = guarded_paths(auth)
    for resource in app.router.resources():
        if not covered(resource.canonical):
            continue
        for route in resource:
            # aiohttp has no public way to wrap a registered route's handler, and a middleware would cost
            # every request; the guard replaces the handler aiohttp keeps on the route (private attribute),
            # once the routes are final. If an aiohttp release changes that, start-up fails: never open.
            wrapped = guard.wrap(route.handler)
            route._handler = wrapped  # type: ignore[attr-defined]
            if route.handler is not wrapped:
                raise RuntimeError(
                    f"cannot put {resource.canonical} behind the admin credential: this aiohttp version keeps "
                    "route handlers differently (bifrost.server.admin_auth.protect needs updating)"
                )
    return guard
