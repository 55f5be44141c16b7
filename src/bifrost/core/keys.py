"""Key choice: weighted random among a provider's usable keys that serve the model and are not cooling down."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from itertools import accumulate

from bifrost.config.model import KeyConfig, ProviderConfig
from bifrost.core.errors import GatewayError

log = logging.getLogger("bifrost.keys")

AUTH_COOLDOWN_S = 300.0  # a key answering 401/403 rests at least this long (CONTRACT §4)


class _Candidates:
    __slots__ = ("cum_weights", "keys", "total")

    def __init__(self, keys: list[KeyConfig]) -> None:
        self.keys = keys
        self.cum_weights = list(accumulate(k.weight for k in keys))
        self.total = self.cum_weights[-1] if keys else 0.0


class KeyPool:
    """The keys of one provider. Built at start-up; per request only a cached lookup and one random draw."""

    def __init__(self, provider: ProviderConfig) -> None:
        self.provider = provider.name
        self.keys = provider.keys
        self.usable = [k for k in provider.keys if k.usable]
        self._by_name = {k.name: k for k in provider.keys}
        self._by_model: dict[str, _Candidates] = {}
        self._cooldown: dict[str, float] = {}  # key name -> monotonic time it may be used again
        self._rejected: set[str] = set()  # cooling because the provider refused them (401/403)
        self._cooldown_logged: set[str] = set()
        # set when the state store is shared (Redis): tells the other processes (provider, key name, seconds)
        self.announce: Callable[[str, str, float], None] | None = None

    def serves(self, model: str) -> bool:
        """Whether any key, usable or not, is configured for this model."""
        return any(k.serves(model) for k in self.keys)

    def lists(self, model: str) -> bool:
        """Whether a key names this model explicitly (bare-model routing looks for this)."""
        return any(model in k.models for k in self.keys)

    def _candidates(self, model: str) -> _Candidates:
        cands = self._by_model.get(model)
        if cands is None:
            if (
                len(self._by_model) > 10_000
            ):  # unbounded model names from clients must not grow memory forever
                self._by_model.clear()
            cands = self._by_model[model] = _Candidates([k for k in self.usable if k.serves(model)])
        return cands

    def choose(self, model: str, exclude: set[str] | frozenset[str] = frozenset()) -> KeyConfig:
        cands = self._candidates(model)
        if not cands.keys:
            raise self._no_key_error(model)
        if not self._cooldown and not exclude:
            if len(cands.keys) == 1:
                return cands.keys[0]
            return random.choices(cands.keys, cum_weights=cands.cum_weights)[0]
        now = time.monotonic()
        ready = [k for k in cands.keys if k.name not in exclude and self._cooldown.get(k.name, 0.0) <= now]
        if not ready:
            waits = [self._cooldown.get(k.name, 0.0) - now for k in cands.keys if k.name not in exclude]
            wait = max(0.0, min(waits)) if waits else None
            rejected = [k.name for k in cands.keys if k.name in self._rejected]
            if rejected and len(rejected) == len(cands.keys):
                raise GatewayError(
                    401,
                    f"provider {self.provider} rejected every key that serves {model} "
                    f"({', '.join(rejected)}: HTTP 401/403); check their values in config.json. "
                    f"They are cooling down for {AUTH_COOLDOWN_S:.0f}s before they are tried again",
                    provider=self.provider,
                    code="invalid_api_key",
                )
            raise GatewayError(
                429,
                f"every key of provider {self.provider} that serves {model} is cooling down after rate-limit "
                f"or auth errors" + (f"; retry in {math.ceil(wait)}s" if wait else ""),
                provider=self.provider,
                code="all_keys_cooling_down",
                retry_after=wait,
            )
        if len(ready) == 1:
            return ready[0]
        return random.choices(ready, weights=[k.weight for k in ready])[0]

    def pinned(self, name: str, model: str) -> KeyConfig:
        key = self._by_name.get(name)
        if key is None:
            names = ", ".join(self._by_name) or "none"
            raise GatewayError(
                400,
                f"x-bf-api-key names key '{name}', but provider {self.provider} has no such key (its keys: {names})",
                param="x-bf-api-key",
            )
        if not key.usable:
            raise GatewayError(
                401,
                f"key '{name}' of provider {self.provider} is disabled: set environment variable {key.env_var}",
                provider=self.provider,
            )
        if not key.serves(model):
            raise GatewayError(
                400,
                f"x-bf-api-key names key '{name}' of provider {self.provider}, which does not serve model {model} "
                f"(it serves: {', '.join(key.models)})",
                param="x-bf-api-key",
                code="key_does_not_serve_model",
            )
        return key

    def cool_down(self, key: KeyConfig, seconds: float, reason: str, rejected: bool = False) -> None:
        """Rest a key. `rejected`: the provider refused it (401/403), as opposed to rate-limiting it."""
        if rejected:
            self._rejected.add(key.name)
        until = time.monotonic() + seconds
        if self._cooldown.get(key.name, 0.0) < until:
            self._cooldown[key.name] = until
        if key.name not in self._cooldown_logged:
            self._cooldown_logged.add(key.name)
            log.warning(
                "provider %s key '%s' cooling down %.1fs: %s", self.provider, key.name, seconds, reason
            )
        self._prune()
        if self.announce is not None:
            self.announce(self.provider, key.name, seconds)

    def cooled_elsewhere(self, name: str, seconds: float) -> None:
        """Another process cooled this key down (shared state store): rest it here too."""
        if name in self._by_name:
            until = time.monotonic() + seconds
            if self._cooldown.get(name, 0.0) < until:
                self._cooldown[name] = until

    def inherit(self, old: KeyPool) -> None:
        """Keep the cool-downs of `old` (this provider before a config reload) for keys with the same name and
        value: a key resting after a 429 or a 401 still rests."""
        now = time.monotonic()
        for name, until in old._cooldown.items():
            key, before = self._by_name.get(name), old._by_name.get(name)
            if key is not None and before is not None and key.value == before.value and until > now:
                self._cooldown[name] = until
                if name in old._rejected:
                    self._rejected.add(name)

    def _prune(self) -> None:
        now = time.monotonic()
        for name in [n for n, t in self._cooldown.items() if t <= now]:
            del self._cooldown[name]
            self._rejected.discard(name)
            self._cooldown_logged.discard(name)

    def _no_key_error(self, model: str) -> GatewayError:
        serving = [k for k in self.keys if k.serves(model)]
        missing = sorted({k.env_var for k in serving if not k.usable and k.env_var})
        if missing:
            return GatewayError(
                401,
                f"provider {self.provider} has no usable API key for model {model}: "
                f"set environment variable {' or '.join(missing)} and restart Bifrost",
                provider=self.provider,
            )
        if not self.keys:
            return GatewayError(
                401,
                f"provider {self.provider} has no API keys configured: add one under providers.{self.provider}.keys "
                'in config.json (e.g. {"value": "env.YOUR_KEY_VAR"})',
                provider=self.provider,
            )
        listed = sorted({m for k in self.keys for m in k.models})
        return GatewayError(
            404,
            f"model {model} is not configured for provider {self.provider}; its keys serve: "
            f'{", ".join(listed)}. Add the model to a key\'s "models" list in config.json',
            provider=self.provider,
            code="model_not_found",
            param="model",
        )
