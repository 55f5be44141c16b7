"""The model catalogue behind every models list (`/v1/models`, `/anthropic/v1/models`, `/genai/v1beta/models`).

Per provider: the models its keys name in config.json, united with what the provider's own list endpoint
answers (`Provider.list_models`), filtered by what the keys allow: a provider whose keys all name their
models contributes only those; one with a key that serves every model (no ``models``, or ``["*"]``), or a
key-less one (vLLM, Ollama), contributes everything its endpoint lists.

Nothing is listed until a models list is first asked for (a gateway that never serves one never calls a
list endpoint). That first request waits at most `FIRST_WAIT_S` for the list calls; every later request is
answered from the cache at once, and a cache older than `TTL_S` is refreshed in the background. A list
call that fails or hangs never fails a request: the provider keeps its last good list, or its configured
names. The catalogue knows no wire format; routes render `entries` in their own shape (`render` caches the
bytes per shape until the next refresh).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from bifrost.config.model import KeyConfig
from bifrost.core.errors import GatewayError
from bifrost.providers.base import Provider

log = logging.getLogger("bifrost")

TTL_S = 600.0
FIRST_WAIT_S = 1.0
LIST_TIMEOUT_S = 10.0

Entry = tuple[str, str]  # (provider, model)


class ModelCatalog:
    def __init__(self, providers: dict[str, Provider]) -> None:
        self._providers = providers
        self._listed: dict[str, list[str]] = {}  # provider -> last good list from its endpoint
        self._fetched_at: float | None = None
        self._task: asyncio.Task[None] | None = None
        self._rendered: dict[str, bytes] = {}
        self.entries: list[Entry] = self._build()

    def _build(self) -> list[Entry]:
        entries: list[Entry] = []
        for name, provider in self._providers.items():
            configured = provider.config.models
            entries.extend((name, m) for m in configured)
            if self._allows_all(provider):
                known = set(configured)
                entries.extend((name, m) for m in self._listed.get(name, ()) if m not in known)
        return entries

    @staticmethod
    def _allows_all(provider: Provider) -> bool:
        return provider.config.is_key_less or any(k.usable and not k.models for k in provider.config.keys)

    @staticmethod
    def _list_key(provider: Provider) -> KeyConfig | None:
        usable = [k for k in provider.config.keys if k.usable]
        return next((k for k in usable if not k.models), usable[0] if usable else None)

    async def current(self) -> list[Entry]:
        """The entries now; starts a refresh when none was made or the last is older than `TTL_S`."""
        fetched = self._fetched_at
        if fetched is None or time.monotonic() - fetched > TTL_S:
            task = self._task
            if task is None or task.done():
                task = self._task = asyncio.create_task(self._refresh())
            if fetched is None:
                await asyncio.wait({task}, timeout=FIRST_WAIT_S)  # never longer; the task runs on
        return self.entries

    def render(self, shape: str, encode: Callable[[list[Entry]], bytes]) -> bytes:
        """`entries` encoded by `encode`, cached per shape until the catalogue changes."""
        body = self._rendered.get(shape)
        if body is None:
            body = self._rendered[shape] = encode(self.entries)
        return body

    async def _refresh(self) -> None:
        names = [n for n, p in self._providers.items() if self._allows_all(p)]
        results = await asyncio.gather(*(self._list(self._providers[n]) for n in names))
        for name, models in zip(names, results, strict=True):
            if models is not None:
                self._listed[name] = models
        self._fetched_at = time.monotonic()
        self.entries = self._build()
        self._rendered = {}

    async def _list(self, provider: Provider) -> list[str] | None:
        try:
            async with asyncio.timeout(LIST_TIMEOUT_S):
                return await provider.list_models(self._list_key(provider))
        except (GatewayError, TimeoutError) as exc:
            message = exc.message if isinstance(exc, GatewayError) else "timed out"
            log.warning("provider %s: listing its models failed (%s); serving the last list", provider.name, message)
        except Exception:  # a list call must never take anything down with it
            log.exception("provider %s: listing its models failed", provider.name)
        return None

    async def close(self) -> None:
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
