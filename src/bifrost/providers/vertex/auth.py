"""Vertex access tokens: service-account credentials (google-auth), refreshed off the hot path.

One `TokenSource` per key. A background task gets a token at start-up and refreshes it five minutes before
it expires (google-auth's blocking refresh runs in a thread); a request reads the cached token, and waits
only for the very first one. A failed refresh is retried with backoff; meanwhile requests get a clear 401
naming the cause (never the key material).
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
from google.oauth2 import service_account

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
TOKEN_TIMEOUT_S = 30.0  # google-auth's own default is 120 s: a hung token endpoint would hold shutdown that long
REFRESH_MARGIN_S = 300.0
RETRY_MIN_S, RETRY_MAX_S = 1.0, 60.0

log = logging.getLogger("bifrost")


class TokenError(Exception):
    """No access token: the message names the cause, never the key material."""


class TokenSource:
    def __init__(self, name: str, info: dict[str, Any]) -> None:
        self.name = name
        self._credentials = service_account.Credentials.from_service_account_info(info, scopes=list(SCOPES))
        self.token: str | None = None
        self.error: str | None = None
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"vertex-token-{self.name}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass

    async def get(self, timeout: float) -> str:
        """The current token (waits only for the first one, at most `timeout` seconds)."""
        token = self.token
        if token is not None:
            return token
        if self.error is None:
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                raise TokenError("no access token yet: the token endpoint did not answer in time") from None
        if self.token is None:
            raise TokenError(self.error or "no access token")
        return self.token

    async def _run(self) -> None:
        delay = RETRY_MIN_S
        while True:
            try:
                await asyncio.to_thread(self._refresh)
            except (google.auth.exceptions.GoogleAuthError, OSError, ValueError) as exc:
                self.error = f"refreshing the access token failed: {type(exc).__name__}"
                log.warning("vertex key %s: %s; retrying in %.0fs", self.name, self.error, delay)
                self._ready.set()
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            delay = RETRY_MIN_S
            self.token, self.error = self._credentials.token, None
            self._ready.set()
            await asyncio.sleep(self._seconds_left() - REFRESH_MARGIN_S)

    def _refresh(self) -> None:
        self._credentials.refresh(_Request())

    def _seconds_left(self) -> float:
        expiry = self._credentials.expiry  # naive UTC
        if expiry is None:
            return 3600.0
        now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)
        return max((expiry - now).total_seconds(), REFRESH_MARGIN_S + 30.0)


class _Request(google.auth.transport.requests.Request):
    """google-auth's requests transport with a bounded wait for the token endpoint."""

    def __call__(
        self, url: str, method: str = "GET", body: Any = None, headers: Any = None, timeout: Any = None, **kwargs: Any
    ) -> Any:
        bounded = min(timeout or TOKEN_TIMEOUT_S, TOKEN_TIMEOUT_S)
        return super().__call__(url, method, body, headers, timeout=bounded, **kwargs)
