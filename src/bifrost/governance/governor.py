"""Governance at request time: who is calling, may they, and what did it cost.

The governor owns the rules (virtual keys, provider limits) and turns them into state-store counters:

- admission (before the request runs): the virtual key's request window is charged 1, its token window
  reserves an estimate (request bytes / 4), a concurrency slot is taken, the budget is checked; one
  atomic store call for all of them, so either all are charged or none;
- per provider (when the engine picks a target): that provider's request and token windows;
- settlement (after the answer or stream ended): token reservations are corrected to the real usage and
  the cost (pricing table: input, output, cache reads and cache writes at their own rates) is added to
  the budget; the concurrency slot is released.

It knows nothing of HTTP: the middleware in ``http.py`` calls it and renders its refusals.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import time
from collections.abc import Mapping
from typing import Any

from bifrost.config.model import Config
from bifrost.core.context import Target
from bifrost.core.errors import GatewayError
from bifrost.governance.config import VK_PREFIX, Budget, Duration, GovernanceConfig, RateLimit, VirtualKey
from bifrost.governance.windows import reset_text, window
from bifrost.observability.pricing import Pricing
from bifrost.state import StateStore, StateUnavailable
from bifrost.state.base import ADD, CAP, SLOT, Adjustment, Counter, Decision

log = logging.getLogger("bifrost.governance")

NANO = 1_000_000_000  # budgets are counted in nano-dollars (integers: exact sums across processes)
BYTES_PER_TOKEN = 4  # the admission estimate of a request's tokens, settled to real usage at the end


class Refusal(GatewayError):
    """A governance refusal (401/402/403/429/503) with the rate-limit headers of the answer."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None, **kw: Any) -> None:
        super().__init__(status, message, **kw)
        self.headers = dict(headers or {})
        self.virtual_key: str | None = None  # the id of a key refused before it was admitted (inactive)


class Gate:
    """One request's governance state, from admission to settlement."""

    __slots__ = ("estimate", "governor", "headers", "member", "providers", "record", "reserved", "slot", "vk")

    def __init__(self, governor: Governor, vk: VirtualKey | None, estimate: int) -> None:
        self.governor = governor
        self.vk = vk
        self.estimate = estimate
        self.member = os.urandom(8).hex()
        self.record: Any = None  # the RequestRecord, attached by the gateway's request prelude
        self.headers: dict[str, str] = {}
        self.providers: list[str] = []  # providers whose windows this request was admitted to
        self.reserved = False  # the key's token window holds this request's estimate
        self.slot = False  # the key's concurrency slot is held

    def targets(self, targets: list[Target]) -> list[Target]:
        """The targets this key may use: a refused primary is a 403; refused fallbacks are skipped."""
        vk = self.vk
        if vk is None or not (vk.allowed_models or vk.allowed_providers):
            return targets
        allowed = [t for t in targets if _allows(vk, t)]
        if not allowed or allowed[0] is not targets[0]:
            primary = targets[0]
            raise Refusal(403, _not_allowed(vk, primary), code="model_not_allowed", param="model")
        return allowed

    async def provider(self, name: str) -> None:
        """Charge the provider's windows (engine, per target tried); raises a 429 over its limits."""
        limit = self.governor.provider_limits.get(name)
        if limit is not None:
            await self.governor.admit_provider(self, name, limit)


def _allows(vk: VirtualKey, target: Target) -> bool:
    if vk.allowed_providers and target.provider not in vk.allowed_providers:
        return False
    if vk.allowed_models:
        full = f"{target.provider}/{target.model}"
        return full in vk.allowed_models or target.model in vk.allowed_models
    return True


def _not_allowed(vk: VirtualKey, target: Target) -> str:
    what = []
    if vk.allowed_models:
        what.append("models " + ", ".join(vk.allowed_models))
    if vk.allowed_providers:
        what.append("providers " + ", ".join(vk.allowed_providers))
    return (
        f"virtual key '{vk.id}' may not use {target.provider}/{target.model}; it is allowed "
        + " and ".join(what)
    )


def _token_of(headers: Mapping[str, str]) -> str | None:
    """The virtual key a request carries: x-bf-vk, else an sk-bf- Bearer token, x-api-key or x-goog-api-key."""
    token = headers.get("x-bf-vk")
    if token is not None:
        return token.strip()
    auth = headers.get("Authorization")
    if auth and auth[:7].lower() == "bearer ":
        bearer = auth[7:].strip()
        if bearer.startswith(VK_PREFIX):
            return bearer
    for name in ("x-api-key", "x-goog-api-key"):
        value = headers.get(name)
        if value and value.startswith(VK_PREFIX):
            return value.strip()
    return None


class Governor:
    def __init__(self, config: Config, store: StateStore, pricing: Pricing | None = None, metrics: Any = None) -> None:
        self.store = store
        self.pricing = pricing or Pricing.from_config(config)
        self.metrics = metrics
        self.fail_open = config.state_store.fail_open
        self._released: dict[str, asyncio.Event] = {}  # set when a slot of that key frees up here
        self._unreleased: list[tuple[str, str]] = []  # slots the store could not release: retried later
        self._background: set[asyncio.Task[None]] = set()
        self._store_down_logged = 0.0
        self.apply(config)

    def apply(self, config: Config) -> None:
        """Take the rules of a (re)loaded config; counters and usage stay in the store."""
        rules: GovernanceConfig = config.governance_rules or GovernanceConfig()
        self.rules = rules
        self.by_value = {vk.value: vk for vk in rules.virtual_keys if vk.value}
        self.by_id = {vk.id: vk for vk in rules.virtual_keys}
        self.provider_limits: dict[str, RateLimit] = rules.provider_limits
        self._plans: dict[str, tuple[list[tuple[Any, ...]], list[str]]] = {}  # per key id, built on first use
        self.enforce = config.client.enforce_auth_on_inference
        self.drop_excess = config.client.drop_excess_requests

    # -- admission ------------------------------------------------------------------------------------
    def identify(self, headers: Mapping[str, str]) -> VirtualKey | None:
        token = _token_of(headers)
        if token is None:
            if self.enforce:
                raise Refusal(
                    401,
                    "a virtual key is required: send it as 'Authorization: Bearer sk-bf-...', 'x-api-key' or "
                    "'x-bf-vk' (client.enforce_auth_on_inference is on)",
                    code="virtual_key_required",
                )
            return None
        vk = self.by_value.get(token)
        if vk is None:
            raise Refusal(401, "invalid virtual key: no active virtual key has this value", code="invalid_virtual_key")
        if not vk.is_active:
            refusal = Refusal(401, f"virtual key '{vk.id}' is inactive", code="virtual_key_inactive")
            refusal.virtual_key = vk.id
            raise refusal
        return vk

    async def admit(self, vk: VirtualKey | None, body_bytes: int) -> Gate:
        gate = Gate(self, vk, max(1, body_bytes // BYTES_PER_TOKEN))
        if vk is None:
            return gate
        counters, kinds = self._counters(vk, gate)
        if not counters:
            return gate
        while True:
            decision = await self._admit(counters)
            if decision is None:  # store down, fail-open
                return gate
            if decision.ok:
                break
            kind = kinds[decision.failed]
            if kind == "slots" and not self.drop_excess:
                await self._slot_freed(vk.id)
                continue
            raise self._refusal(vk, kind, decision)
        gate.slot = "slots" in kinds
        gate.reserved = "tokens" in kinds
        gate.headers = self._headers(vk.rate_limit, kinds, decision)
        return gate

    def _counters(self, vk: VirtualKey, gate: Gate) -> tuple[list[Counter], list[str]]:
        plan = self._plans.get(vk.id)
        if plan is None:
            plan = self._plans[vk.id] = _plan(vk)
        specs, kinds = plan
        now = _now_ms()
        counters = []
        for kind, key, mode, limit, duration, aligned in specs:
            fixed = duration.fixed_ms if duration is not None and not aligned else None
            if fixed is not None:
                spans = (fixed, 0)
            else:
                spans = window(duration, now, aligned) if duration is not None else (0, 0)
            amount = 1 if kind == "requests" else gate.estimate if kind == "tokens" else 0
            counters.append(Counter(key, mode, limit, amount, *spans, member=gate.member if mode == SLOT else ""))
        return counters, kinds

    async def admit_provider(self, gate: Gate, name: str, rl: RateLimit) -> None:
        counters: list[Counter] = []
        kinds: list[str] = []
        now = _now_ms()
        if rl.request_max_limit and rl.request_reset is not None:
            counters.append(
                Counter(f"provider:{name}:req", ADD, rl.request_max_limit, 1, *window(rl.request_reset, now))
            )
            kinds.append("requests")
        if rl.token_max_limit and rl.token_reset is not None:
            counters.append(
                Counter(f"provider:{name}:tok", CAP, rl.token_max_limit, gate.estimate, *window(rl.token_reset, now))
            )
            kinds.append("tokens")
        if not counters:
            return
        decision = await self._admit(counters)
        if decision is None:
            return
        if not decision.ok:
            kind = kinds[decision.failed]
            if self.metrics is not None:
                self.metrics.rate_limited(name, f"provider_{kind}")
            wait = _seconds(decision.reset_ms[0])
            raise Refusal(
                429,
                f"provider {name}: {kind} limit of {counters[decision.failed].limit} per "
                f"{_window_text(rl, kind)} reached (governance.providers.{name}.rate_limit); retry in {wait:g}s",
                headers=self._headers(rl, [kind], decision),
                provider=name,
                retry_after=wait,
                retryable=False,
            )
        if "tokens" in kinds:
            gate.providers.append(name)

    async def _admit(self, counters: list[Counter]) -> Decision | None:
        try:
            decision = await self.store.admit(counters)
        except StateUnavailable as exc:
            self._store_down(exc)
            return None
        if self._unreleased:
            self._retry_releases()
        return decision

    def _store_down(self, exc: StateUnavailable) -> None:
        now = time.monotonic()
        if now - self._store_down_logged > 10.0:
            self._store_down_logged = now
            policy = "serving without limits (state_store.fail_open)" if self.fail_open else "answering 503"
            log.warning("%s; %s", exc, policy)
        if not self.fail_open:
            raise Refusal(
                503,
                "the governance state store is unreachable and state_store.fail_open is false; retry shortly",
                code="state_store_unavailable",
                retry_after=1.0,
            )

    async def _slot_freed(self, vk_id: str) -> None:
        event = self._released.get(vk_id)
        if event is None:
            event = self._released[vk_id] = asyncio.Event()
        # another process's release is not announced here: look again every 50 ms
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), 0.05 if self.store.shared else None)

    def _refusal(self, vk: VirtualKey, kind: str, decision: Decision) -> Refusal:
        reset_ms = decision.reset_ms[0]
        wait = _seconds(reset_ms)
        rl = vk.rate_limit
        if kind == "budget":
            assert vk.budget is not None
            when = f"; it resets in {reset_text(reset_ms)}" if reset_ms > 0 else ""
            return Refusal(
                402,
                f"virtual key '{vk.id}' has spent its budget of ${vk.budget.max_limit:g}"
                + (f" per {vk.budget.reset.text}" if vk.budget.reset else "") + when,
                code="budget_exceeded",
                retry_after=wait if reset_ms > 0 else None,
            )
        if self.metrics is not None:
            self.metrics.rate_limited("", f"virtual_key_{kind}")
        if kind == "slots":
            return Refusal(
                429,
                f"virtual key '{vk.id}' already has {vk.max_concurrent_requests} requests in flight "
                "(max_concurrent_requests); retry when one ends",
                headers=self._headers(rl, [], decision),
                code="rate_limit_exceeded",
                retry_after=1.0,
                retryable=False,
            )
        assert rl is not None
        limit = rl.request_max_limit if kind == "requests" else rl.token_max_limit
        return Refusal(
            429,
            f"virtual key '{vk.id}': {kind} limit of {limit} per {_window_text(rl, kind)} reached; "
            f"retry in {wait:g}s",
            headers=self._headers(rl, [kind], decision),
            code="rate_limit_exceeded",
            retry_after=wait,
            retryable=False,
        )

    @staticmethod
    def _headers(rl: RateLimit | None, kinds: list[str], decision: Decision) -> dict[str, str]:
        """OpenAI's x-ratelimit-* headers for the request and token windows among `kinds`."""
        headers: dict[str, str] = {}
        if rl is None:
            return headers
        for i, kind in enumerate(kinds):
            if kind not in ("requests", "tokens"):
                continue
            limit = rl.request_max_limit if kind == "requests" else rl.token_max_limit
            duration = rl.request_reset if kind == "requests" else rl.token_reset
            if not limit or duration is None:
                continue
            used, reset_ms = decision.used[i], decision.reset_ms[i]
            headers[f"x-ratelimit-limit-{kind}"] = str(limit)
            headers[f"x-ratelimit-remaining-{kind}"] = str(max(0, limit - used))
            headers[f"x-ratelimit-reset-{kind}"] = reset_text(reset_ms if reset_ms >= 0 else duration.fixed_ms or 0)
        return headers

    # -- settlement -----------------------------------------------------------------------------------
    async def finish(self, gate: Gate) -> None:
        """Settle tokens and cost, release the slot.

        Called as the answer ends. The store call is issued before this coroutine first yields (memory:
        done; Redis: queued in this process's ordered pipeline), so the next request of the same key, even
        one sent the instant a stream ended, is admitted after this settlement, never before it.
        """
        if gate.vk is None and not gate.providers:
            return
        await self._settle(gate)

    async def _settle(self, gate: Gate) -> None:
        vk, rec = gate.vk, gate.record
        tokens = (rec.prompt_tokens + rec.completion_tokens) if rec is not None else 0
        now = _now_ms()
        adjustments: list[Adjustment] = []
        if vk is not None:
            rl = vk.rate_limit
            if rl is not None and rl.token_max_limit and rl.token_reset is not None:
                delta = tokens - (gate.estimate if gate.reserved else 0)
                adjustments.append(Adjustment(f"vk:{vk.id}:tok", delta, *window(rl.token_reset, now)))
            if vk.budget is not None and rec is not None:
                spent = _nano(self.cost(rec))
                adjustments.append(Adjustment(f"vk:{vk.id}:budget", spent, *_budget_window(vk.budget, now)))
        for name in gate.providers:
            prl = self.provider_limits.get(name)
            if prl is not None and prl.token_reset is not None:
                used = tokens if rec is not None and rec.provider == name else 0
                delta = used - gate.estimate
                adjustments.append(Adjustment(f"provider:{name}:tok", delta, *window(prl.token_reset, now)))
        slot = (f"vk:{vk.id}:slots", gate.member) if gate.slot and vk is not None else None
        try:
            await self.store.settle(adjustments, slot)
        except StateUnavailable as exc:
            log.warning("could not record usage of request %s: %s", getattr(rec, "request_id", "?"), exc)
            if slot is not None:
                self._unreleased.append(slot)
        if slot is not None and vk is not None:
            event = self._released.pop(vk.id, None)
            if event is not None:
                event.set()

    async def _release(self, key: str, member: str) -> None:
        try:
            await self.store.release(key, member)
        except StateUnavailable:
            self._unreleased.append((key, member))

    def _retry_releases(self) -> None:
        todo, self._unreleased = self._unreleased, []
        for key, member in todo:
            task = asyncio.ensure_future(self._release(key, member))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def cost(self, rec: Any) -> float:
        """USD of a finished request: cache reads and cache writes at their own rates."""
        price = self.pricing.price(rec.provider, rec.model or rec.model_requested)
        if price is None:
            return 0.0
        return price.cost(rec.prompt_tokens, rec.completion_tokens, rec.cached_tokens, rec.cache_write_tokens)

    # -- reporting ------------------------------------------------------------------------------------
    async def usage(self) -> list[dict[str, Any]]:
        """Each virtual key's rules and current usage (GET /api/governance/virtual-keys); never a value."""
        keys: list[str] = []
        for vk in self.rules.virtual_keys:
            keys += [f"vk:{vk.id}:req", f"vk:{vk.id}:tok", f"vk:{vk.id}:slots", f"vk:{vk.id}:budget"]
        values = await self.store.read(keys)
        out = []
        for i, vk in enumerate(self.rules.virtual_keys):
            (req, req_ms), (tok, tok_ms), (slots, _), (spent, budget_ms) = values[4 * i : 4 * i + 4]
            rl = vk.rate_limit or RateLimit()
            out.append({
                "id": vk.id,
                "name": vk.name,
                "description": vk.description,
                "is_active": vk.is_active,
                "usable": vk.value is not None,
                "env_var": vk.env_var,
                "allowed_models": list(vk.allowed_models),
                "allowed_providers": list(vk.allowed_providers),
                "rate_limit": {
                    "requests": _usage(rl.request_max_limit, rl.request_reset, req, req_ms),
                    "tokens": _usage(rl.token_max_limit, rl.token_reset, tok, tok_ms),
                },
                "max_concurrent_requests": vk.max_concurrent_requests,
                "in_flight": slots,
                "budget": None if vk.budget is None else {
                    "max_limit": vk.budget.max_limit,
                    "reset_duration": vk.budget.reset.text if vk.budget.reset else None,
                    "calendar_aligned": vk.budget.calendar_aligned,
                    "current_usage": spent / NANO,
                    "resets_in_seconds": budget_ms / 1000 if budget_ms > 0 else None,
                },
            })
        return out


def _plan(vk: VirtualKey) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The counters a key's admission charges: (kind, store key, mode, limit, window, calendar-aligned)."""
    specs: list[tuple[Any, ...]] = []
    rl = vk.rate_limit
    if rl is not None and rl.request_max_limit and rl.request_reset is not None:
        specs.append(("requests", f"vk:{vk.id}:req", ADD, rl.request_max_limit, rl.request_reset, False))
    if rl is not None and rl.token_max_limit and rl.token_reset is not None:
        specs.append(("tokens", f"vk:{vk.id}:tok", CAP, rl.token_max_limit, rl.token_reset, False))
    if vk.max_concurrent_requests:
        specs.append(("slots", f"vk:{vk.id}:slots", SLOT, vk.max_concurrent_requests, None, False))
    if vk.budget is not None:
        b = vk.budget
        specs.append(("budget", f"vk:{vk.id}:budget", CAP, _nano(b.max_limit), b.reset, b.calendar_aligned))
    return specs, [spec[0] for spec in specs]


def _usage(limit: int | None, duration: Duration | None, used: int, reset_ms: int) -> dict[str, Any] | None:
    if not limit or duration is None:
        return None
    return {
        "max_limit": limit,
        "reset_duration": duration.text,
        "current_usage": used,
        "resets_in_seconds": reset_ms / 1000 if reset_ms > 0 else None,
    }


def _budget_window(budget: Budget, now: int) -> tuple[int, int]:
    return window(budget.reset, now, budget.calendar_aligned) if budget.reset is not None else (0, 0)


def _window_text(rl: RateLimit, kind: str) -> str:
    duration = rl.request_reset if kind == "requests" else rl.token_reset
    return duration.text if duration is not None else "window"


def _nano(usd: float) -> int:
    return round(usd * NANO)


def _seconds(ms: int) -> float:
    return max(1.0, math.ceil(ms / 1000)) if ms > 0 else 1.0


def _now_ms() -> int:
    return int(time.time() * 1000)
