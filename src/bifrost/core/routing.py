"""Model → targets (CONTRACT §4): `provider/model`, bare models by config order, the route's own provider, fallbacks."""

from __future__ import annotations

from typing import Any

from bifrost.config.model import Config
from bifrost.core.context import Target
from bifrost.core.errors import GatewayError, bad_request
from bifrost.providers.base import Provider


class Router:
    def __init__(self, config: Config, providers: dict[str, Provider]) -> None:
        self.providers = providers
        self.fallbacks = config.fallbacks
        self._listed: dict[str, str] = {}  # bare model -> first provider (config order) with a key listing it
        for name, provider in providers.items():
            for model in provider.config.models:
                self._listed.setdefault(model, name)
        self.model_ids = [f"{name}/{m}" for name, p in providers.items() for m in p.config.models]
        self._cache: dict[tuple[str, str], Target] = {}

    def resolve(self, model: Any, route_provider: str) -> Target:
        if not isinstance(model, str) or not model:
            raise bad_request(
                '\'model\' is required: a model name such as "gpt-4o-mini" or "openai/gpt-4o-mini"',
                param="model",
            )
        cached = self._cache.get((model, route_provider))
        if cached is not None:
            return cached
        target = self._resolve(model, route_provider)
        if len(self._cache) < 10_000:
            self._cache[(model, route_provider)] = target
        return target

    def _resolve(self, model: str, route_provider: str) -> Target:
        prefix, sep, rest = model.partition("/")
        if sep and rest and prefix in self.providers:
            return Target(prefix, rest)
        listed = self._listed.get(model)
        if listed is not None:
            return Target(listed, model)
        own = self.providers.get(route_provider)
        if own is not None and (own.keys.serves(model) or own.config.is_key_less or not own.keys.keys):
            return Target(route_provider, model)
        raise self.not_found(model)

    def not_found(self, model: str) -> GatewayError:
        configured = ", ".join(self.model_ids) or "none (no key lists a model)"
        prefix, sep, _ = model.partition("/")
        hint = ""
        if sep and prefix not in self.providers:
            hint = (
                f" Provider '{prefix}' is not configured (configured: {', '.join(self.providers) or 'none'})."
            )
        return GatewayError(
            404,
            f"The model `{model}` does not exist or is not configured in Bifrost.{hint} Configured models: "
            f'{configured}. Add it to a key\'s "models" list in config.json, or use a provider/model id.',
            code="model_not_found",
            param="model",
        )

    def targets(self, model: Any, route_provider: str, body_fallbacks: Any) -> list[Target]:
        """The primary target, then the fallbacks: the request's own list, else the config's."""
        primary = self.resolve(model, route_provider)
        chain = (
            body_fallbacks
            if body_fallbacks is not None
            else self.fallbacks.get(model, self.fallbacks.get("*"))
        )
        if not chain:
            return [primary]
        if not isinstance(chain, list) or not all(isinstance(f, str) and f for f in chain):
            raise bad_request("'fallbacks' must be a list of \"provider/model\" strings", param="fallbacks")
        targets = [primary]
        for item in chain:
            try:
                target = self.resolve(item, route_provider)
            except GatewayError as exc:
                if body_fallbacks is not None:
                    raise bad_request(f"fallback {item!r}: {exc.message}", param="fallbacks") from None
                continue  # validated at start-up; a provider may still lack keys
            if target != targets[0]:
                targets.append(target)
        return targets
