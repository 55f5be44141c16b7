"""The attempt loop: for each target (primary, then fallbacks) take a queue slot and a key, call, retry.

The engine knows nothing of wire formats: a route hands it the targets and a `call` that performs one
upstream attempt; the engine decides who is tried, with which key, how often, and how long to wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from bifrost.config.model import KeyConfig
from bifrost.core.context import RequestContext, Target
from bifrost.core.errors import GatewayError
from bifrost.core.keys import AUTH_COOLDOWN_S
from bifrost.core.retry import RETRY_AFTER_CAP_S, backoff_seconds
from bifrost.observability.record import Attempt
from bifrost.providers.base import ChatStream, Provider

T = TypeVar("T")
Call = Callable[[Provider, Target, KeyConfig | None], Awaitable[T]]


class Engine:
    def __init__(self, providers: dict[str, Provider]) -> None:
        self.providers = providers

    async def run(self, ctx: RequestContext, targets: list[Target], call: Call[T]) -> T:
        """Serve the request from the first target that succeeds; else raise the primary's error."""
        record = ctx.record
        primary_error: GatewayError | None = None
        gate = ctx.gate
        if gate is not None:
            targets = gate.targets(targets)  # what this virtual key may use (403 for the primary)
        for index, target in enumerate(targets):
            provider = self.providers[target.provider]
            try:
                if gate is not None:
                    await gate.provider(target.provider)  # the provider's own rate limits (429)
                result = await self._with_retries(ctx, provider, target, call)
            except GatewayError as exc:
                if primary_error is None:
                    primary_error = exc
                    if exc.client_must_fix:
                        raise  # the client must change the request; another provider would not help
                continue
            record.fallback_index = index
            record.provider = target.provider
            return result
        assert primary_error is not None
        raise primary_error

    async def _with_retries(
        self, ctx: RequestContext, provider: Provider, target: Target, call: Call[T]
    ) -> T:
        record = ctx.record
        net = provider.config.network
        tried_bad: set[str] = set()  # keys the provider rejected (401/403) for this request: never again
        retries = 0
        while True:
            try:  # the common case picks without a coroutine
                key = self._pick_key(ctx, provider, target.model, tried_bad)
            except GatewayError as exc:
                key = await self._wait_for_key(ctx, provider, target.model, tried_bad, exc)
            upstream = target
            if key is not None and key.aliases:  # the key's alias names the model the provider is asked for
                aliased = key.aliases.get(target.model)
                if aliased is not None:
                    upstream = Target(target.provider, aliased)
            started = time.perf_counter()
            await provider.queue.acquire()
            result: Any = None
            failure: GatewayError | None = None
            try:
                result = await call(provider, upstream, key)
            except GatewayError as exc:
                failure = exc
            finally:
                if isinstance(result, ChatStream):
                    result.release = provider.queue.release  # the slot is held until the stream ends
                else:
                    provider.queue.release()
            elapsed = time.perf_counter() - started
            record.upstream_s += elapsed
            key_name = record.key_name = key.name if key else None
            if failure is None:
                if record.attempts:
                    record.attempts.append(Attempt(provider.name, upstream.model, key_name, 200, None, elapsed))
                record.model = upstream.model
                return cast(T, result)
            record.attempts.append(
                Attempt(provider.name, upstream.model, key_name, failure.status, failure.message, elapsed)
            )
            failure.provider = failure.provider or provider.name
            pinned = ctx.pinned_key is not None  # a pinned key is the only key this request may use
            if self._after_failure(provider, key, failure, tried_bad) and not pinned:
                delay = 0.0  # the provider rejected this key: another key goes at once, outside max_retries
            elif failure.retryable and retries < net.max_retries:
                retry_after = failure.retry_after if failure.status in (429, 503, 529) else None
                if (
                    retry_after is not None
                    and key is not None
                    and not pinned
                    and self._has_other_key(provider, target.model, key)
                ):
                    retry_after = None  # another key can go now; only the cooled-down one must wait
                delay = backoff_seconds(
                    retries, net.retry_backoff_initial_ms, net.retry_backoff_max_ms, retry_after
                )
                retries += 1
            else:
                raise failure
            record.retries += 1  # every extra upstream try, key swaps included
            if delay:
                await asyncio.sleep(delay)  # the wait holds no queue slot

    async def _wait_for_key(
        self, ctx: RequestContext, provider: Provider, model: str, tried_bad: set[str], exc: GatewayError
    ) -> KeyConfig | None:
        """Every key is cooling down: wait for the soonest one when it is free within the request's timeout
        (holding no queue slot), rather than refuse. Raises the refusal when it is not."""
        timeout = provider.config.network.default_request_timeout_in_seconds
        while True:
            wait = exc.retry_after
            left = timeout - (time.perf_counter() - ctx.started)
            if exc.code != "all_keys_cooling_down" or wait is None or wait > min(left, RETRY_AFTER_CAP_S):
                raise exc
            await asyncio.sleep(wait + 0.001)
            try:
                return self._pick_key(ctx, provider, model, tried_bad)
            except GatewayError as again:
                exc = again

    @staticmethod
    def _pick_key(
        ctx: RequestContext, provider: Provider, model: str, tried_bad: set[str]
    ) -> KeyConfig | None:
        if ctx.direct_key is not None or (provider.config.is_key_less and not provider.keys.usable):
            return None
        if ctx.pinned_key is not None:
            return provider.keys.pinned(ctx.pinned_key, model)
        if tried_bad:
            try:
                return provider.keys.choose(model, tried_bad)
            except GatewayError as exc:
                raise GatewayError(
                    401,
                    f"every key of provider {provider.name} for {model} was rejected by the provider",
                    provider=provider.name,
                    code=exc.code,
                ) from None
        return provider.keys.choose(model)

    @staticmethod
    def _after_failure(
        provider: Provider, key: KeyConfig | None, exc: GatewayError, tried_bad: set[str]
    ) -> bool:
        """Cool the key down where the failure says so. True when another key may be tried at once."""
        if key is None:
            return False
        if exc.status in (401, 403):
            provider.keys.cool_down(key, AUTH_COOLDOWN_S, f"HTTP {exc.status}", rejected=True)
            tried_bad.add(key.name)
            return any(k.name not in tried_bad for k in provider.keys.usable)
        if exc.status == 429:
            net = provider.config.network
            provider.keys.cool_down(key, exc.retry_after or net.retry_backoff_max_ms / 1000.0, "HTTP 429")
        return False

    @staticmethod
    def _has_other_key(provider: Provider, model: str, key: KeyConfig) -> bool:
        try:
            other = provider.keys.choose(model, {key.name})
        except GatewayError:
            return False
        return other is not key
