"""Per-request cost from token usage and a price table (USD per million tokens).

The shipped table (``pricing.json``, public list prices as of the date in the file) can be overridden per
provider in config.json::

    "providers": {"openai": {"keys": [...],
                             "meta_config": {"pricing_overrides": {
                                 "gpt-4o": {"input": 2.5, "output": 10.0, "cache_read": 1.25}}}}}

``input``/``output`` are required, ``cache_read`` and ``cache_write`` (prompt-cache writes) default
to ``input``. An override wins over the shipped price of the same model and also applies to dated
variants (see lookup below).

Lookup for (provider, model): the provider's table (shipped prices for its name plus its overrides), then
the table of the provider it stands in for (``azure`` -> ``openai``, ``vertex`` -> ``gemini``/``anthropic``, a
custom provider with a key -> its ``base_provider_type``); in each, the model name exactly, then without a
``provider/`` or ``models/`` prefix, an ``@version`` or a date/version suffix (``-2024-08-06``, ``-20241022``,
``-0613``, ``-002``, ``-latest``), then the longest table entry that is a ``-``-separated prefix
(``gemini-2.5-flash-preview-05-20`` -> ``gemini-2.5-flash``). Unknown models cost 0.0.

Token convention (OpenAI's): ``prompt_tokens`` includes ``cached_tokens`` and cache writes; cost =
(prompt - cached - written) * input + cached * cache_read + written * cache_write + completion * output,
per million.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from bifrost.config.model import Config

_ALIASES: dict[str, tuple[str, ...]] = {"azure": ("openai",), "vertex": ("gemini", "anthropic")}
_SUFFIX = re.compile(r"(?:-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}|latest)|@[\w.:-]+)$")
_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input: float
    output: float
    cache_read: float
    cache_write: float | None = None  # prompt-cache writes (Anthropic); None: the input price

    def cost(
        self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0, cache_write_tokens: int = 0
    ) -> float:
        prompt = max(prompt_tokens, 0)
        cached = min(max(cached_tokens, 0), prompt)
        written = min(max(cache_write_tokens, 0), prompt - cached)
        uncached = prompt - cached - written
        write_price = self.input if self.cache_write is None else self.cache_write
        total = (
            uncached * self.input + cached * self.cache_read + written * write_price
            + max(completion_tokens, 0) * self.output
        )
        return total / 1_000_000


def _price(raw: Any, where: str) -> Price:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected an object with input/output prices per million tokens")
    values: dict[str, float] = {}
    for field in ("input", "output", "cache_read", "cache_write"):
        value = raw.get(field)
        if value is None and field in ("cache_read", "cache_write"):
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ValueError(f"{where}.{field}: expected a number >= 0 (USD per million tokens)")
        values[field] = float(value)
    unknown = set(raw) - {"input", "output", "cache_read", "cache_write"}
    if unknown:
        raise ValueError(
            f"{where}: unknown field(s) {sorted(unknown)}; expected input, output, cache_read, cache_write"
        )
    return Price(
        values["input"], values["output"], values.get("cache_read", values["input"]), values.get("cache_write")
    )


def load_shipped() -> dict[str, dict[str, Price]]:
    """The price table shipped in the package."""
    text = resources.files("bifrost.observability").joinpath("pricing.json").read_text("utf-8")
    data = json.loads(text)
    return {
        provider: {model: _price(raw, f"pricing.json:{provider}.{model}") for model, raw in models.items()}
        for provider, models in data["providers"].items()
    }


def _candidates(model: str) -> list[str]:
    names = [model]
    if "/" in model:
        names.append(model.rsplit("/", 1)[1])
    for name in list(names):
        for _ in range(3):
            stripped = _SUFFIX.sub("", name)
            if stripped == name or not stripped:
                break
            names.append(stripped)
            name = stripped
    return names


class Pricing:
    """Price lookup with a per-(provider, model) cache: one dict lookup on the hot path."""

    def __init__(
        self,
        table: dict[str, dict[str, Price]] | None = None,
        fallbacks: dict[str, tuple[str, ...]] | None = None,
    ) -> None:
        self._table = table if table is not None else load_shipped()
        self._fallbacks = dict(_ALIASES)
        self._fallbacks.update(fallbacks or {})
        self._prefixes = {name: sorted(models, key=len, reverse=True) for name, models in self._table.items()}
        self._cache: dict[tuple[str, str], Price | None] = {}

    @classmethod
    def from_config(cls, config: Config) -> Pricing:
        table = load_shipped()
        fallbacks: dict[str, tuple[str, ...]] = {}
        for name, provider in config.providers.items():
            overrides = provider.meta_config.get("pricing_overrides") if provider.meta_config else None
            if overrides:
                where = f"providers.{name}.meta_config.pricing_overrides"
                if not isinstance(overrides, dict):
                    raise ValueError(f"{where}: expected an object mapping model -> prices")
                merged = dict(table.get(name, {}))
                merged.update({m: _price(raw, f"{where}.{m}") for m, raw in overrides.items()})
                table[name] = merged
            if provider.custom is not None and not provider.is_key_less and provider.base_type != name:
                fallbacks[name] = (provider.base_type,)
        return cls(table, fallbacks)

    def price(self, provider: str | None, model: str | None) -> Price | None:
        if not provider or not model:
            return None
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._lookup(provider, model)
        if len(self._cache) < _CACHE_MAX:
            self._cache[key] = found
        return found

    def cost(
        self,
        provider: str | None,
        model: str | None,
        prompt_tokens: int,
        completion_tokens: int,
        cached_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> float:
        """USD for one request; 0.0 when the model has no known price or no tokens were used."""
        if not prompt_tokens and not completion_tokens:
            return 0.0
        price = self.price(provider, model)
        if price is None:
            return 0.0
        return price.cost(prompt_tokens, completion_tokens, cached_tokens, cache_write_tokens)

    def _lookup(self, provider: str, model: str) -> Price | None:
        chain = [provider, *self._fallbacks.get(provider, ())]
        tables = [(self._table[name], self._prefixes[name]) for name in chain if name in self._table]
        names = _candidates(model)
        for table, _ in tables:
            for name in names:
                if name in table:
                    return table[name]
        for table, prefixes in tables:
            for name in names:
                for entry in prefixes:
                    if name.startswith(entry + "-"):
                        return table[entry]
        return None
