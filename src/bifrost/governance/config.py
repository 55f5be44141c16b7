"""The `governance` section of config.json: virtual keys and provider limits, validated with JSON paths.

Durations are ``<n><unit>`` with unit ``ms``, ``s``, ``m`` (minutes), ``h``, ``d``, ``w``, ``M`` (calendar
months) or ``y``. A virtual key's ``value`` starts with ``sk-bf-`` (or is ``env.NAME``); one naming a missing
variable disables that key with a warning, like a provider key.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from bifrost.config.reader import Obj, Reader, did_you_mean, env_var_name, index, join

VK_PREFIX = "sk-bf-"
GOVERNANCE_FIELDS = ("virtual_keys", "providers")
VK_FIELDS = (
    "id", "value", "name", "description", "is_active", "rate_limit", "budget",
    "max_concurrent_requests", "allowed_models", "allowed_providers",
)
RATE_LIMIT_FIELDS = ("request_max_limit", "request_reset_duration", "token_max_limit", "token_reset_duration")
BUDGET_FIELDS = ("max_limit", "reset_duration", "calendar_aligned")
PROVIDER_LIMIT_FIELDS = ("rate_limit",)

_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)")
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


@dataclass(frozen=True, slots=True)
class Duration:
    text: str  # as written, e.g. "1M"
    count: int
    unit: str  # ms s m h d w M y

    @property
    def fixed_ms(self) -> int | None:
        """Length in ms, or None for calendar units (M, y) whose length depends on the date."""
        per = UNIT_MS.get(self.unit)
        return self.count * per if per is not None else None


def parse_duration(text: str) -> Duration | None:
    match = _DURATION.fullmatch(text)
    if match is None or int(match.group(1)) <= 0:
        return None
    return Duration(text, int(match.group(1)), match.group(2))


@dataclass(slots=True)
class RateLimit:
    request_max_limit: int | None = None
    request_reset: Duration | None = None
    token_max_limit: int | None = None
    token_reset: Duration | None = None


@dataclass(slots=True)
class Budget:
    max_limit: float  # USD
    reset: Duration | None  # None: never resets
    calendar_aligned: bool = False


@dataclass(slots=True)
class VirtualKey:
    id: str
    value: str | None  # None: named a missing variable (disabled)
    env_var: str | None = None
    name: str | None = None
    description: str | None = None
    is_active: bool = True
    rate_limit: RateLimit | None = None
    budget: Budget | None = None
    max_concurrent_requests: int | None = None
    allowed_models: tuple[str, ...] = ()  # "provider/model" or bare "model"; empty: all
    allowed_providers: tuple[str, ...] = ()  # empty: all

    def __repr__(self) -> str:  # never the value
        return f"VirtualKey(id={self.id!r}, env_var={self.env_var!r}, is_active={self.is_active})"


@dataclass(slots=True)
class GovernanceConfig:
    virtual_keys: list[VirtualKey] = field(default_factory=list)
    provider_limits: dict[str, RateLimit] = field(default_factory=dict)

    @property
    def configured(self) -> bool:
        return bool(self.virtual_keys or self.provider_limits)


def read_governance(r: Reader, value: Any, path: str, providers: Collection[str]) -> GovernanceConfig:
    rules = GovernanceConfig()
    sec = r.obj(value, path, GOVERNANCE_FIELDS)
    if sec is None:
        return rules
    if "virtual_keys" in sec:
        rules.virtual_keys = _virtual_keys(r, sec.get("virtual_keys"), sec.path("virtual_keys"), providers)
    if "providers" in sec:
        rules.provider_limits = _provider_limits(r, sec.get("providers"), sec.path("providers"), providers)
    return rules


def _virtual_keys(r: Reader, value: Any, path: str, providers: Collection[str]) -> list[VirtualKey]:
    if not isinstance(value, list):
        r.type_error(path, "an array of virtual keys", value)
        return []
    keys: list[VirtualKey] = []
    ids: dict[str, int] = {}
    values: dict[str, int] = {}
    for i, item in enumerate(value):
        vk = _virtual_key(r, item, index(path, i), providers)
        if vk is None:
            continue
        if vk.id in ids:
            r.error(join(index(path, i), "id"), f"duplicate virtual key id '{vk.id}' (virtual_keys[{ids[vk.id]}])")
        ids.setdefault(vk.id, i)
        if vk.value is not None:
            if vk.value in values:
                r.error(join(index(path, i), "value"), f"same value as virtual_keys[{values[vk.value]}]")
            values.setdefault(vk.value, i)
        keys.append(vk)
    return keys


def _virtual_key(r: Reader, value: Any, path: str, providers: Collection[str]) -> VirtualKey | None:
    sec = r.obj(value, path, VK_FIELDS)
    if sec is None:
        return None
    vk_id = sec.string("id")
    if not vk_id:
        r.error(sec.path("id"), "is required: a short name for this key (usage and logs show it)")
        return None
    vk = VirtualKey(id=vk_id, value=None)
    raw = sec.get("value")
    if raw is None:
        r.error(sec.path("value"), f"is required: the key clients send, starting with {VK_PREFIX} (or env.NAME)")
    elif not isinstance(raw, str):
        r.type_error(sec.path("value"), "a string", raw)
    elif (var := env_var_name(raw)) is not None:
        vk.env_var = var
        vk.value = r.env.get(var) or None
        if vk.value is None:
            r.warnings.append(f"{path} ({vk_id}): environment variable {var} is not set; virtual key disabled")
        elif not vk.value.startswith(VK_PREFIX) or len(vk.value) <= len(VK_PREFIX):
            r.error(sec.path("value"), f"the value of {raw} must start with {VK_PREFIX}")
    elif not raw.startswith(VK_PREFIX) or len(raw) <= len(VK_PREFIX):
        r.error(sec.path("value"), f"must start with {VK_PREFIX} (clients send it as Authorization: Bearer ...)")
    else:
        vk.value = raw
    vk.name = sec.string("name")
    vk.description = sec.string("description")
    vk.is_active = sec.boolean("is_active", True)
    vk.rate_limit = _rate_limit(r, sec.obj("rate_limit", RATE_LIMIT_FIELDS))
    vk.budget = _budget(r, sec.obj("budget", BUDGET_FIELDS))
    if "max_concurrent_requests" in sec:
        vk.max_concurrent_requests = sec.integer("max_concurrent_requests", 0, ge=1) or None
    vk.allowed_models = tuple(sec.strings("allowed_models"))
    allowed = []
    for item_path, name in sec.string_items("allowed_providers"):
        if name not in providers:
            r.error(item_path, f"provider '{name}' is not configured{did_you_mean(name, providers) or '.'}")
        allowed.append(name)
    vk.allowed_providers = tuple(allowed)
    return vk


def _duration(r: Reader, sec: Obj, name: str) -> Duration | None:
    text = sec.string(name)
    if text is None:
        return None
    duration = parse_duration(text)
    if duration is None:
        r.error(sec.path(name), f"expected a duration such as 30s, 1m, 1h, 1d, 1w, 1M; got {text!r}")
    return duration


def _rate_limit(r: Reader, sec: Obj | None) -> RateLimit | None:
    if sec is None:
        return None
    limit = RateLimit()
    for kind in ("request", "token"):
        max_name, reset_name = f"{kind}_max_limit", f"{kind}_reset_duration"
        maximum = sec.integer(max_name, 0, ge=1) if max_name in sec else None
        reset = _duration(r, sec, reset_name)
        if maximum and reset is None and reset_name not in sec:
            r.error(sec.path(reset_name), f"is required with {max_name}: the window, e.g. 1m")
        elif reset is not None and maximum is None and max_name not in sec:
            r.error(sec.path(max_name), f"is required with {reset_name}")
        setattr(limit, max_name, maximum or None)
        setattr(limit, f"{kind}_reset", reset)
    return limit


def _budget(r: Reader, sec: Obj | None) -> Budget | None:
    if sec is None:
        return None
    if "max_limit" not in sec:
        r.error(sec.path("max_limit"), "is required: the budget in USD")
        return None
    budget = Budget(sec.number("max_limit", 0.0, ge=0), _duration(r, sec, "reset_duration"))
    budget.calendar_aligned = sec.boolean("calendar_aligned", False)
    if budget.calendar_aligned and budget.reset is not None and budget.reset.unit not in ("d", "w", "M", "y"):
        r.error(sec.path("calendar_aligned"), "calendar alignment needs a reset_duration in d, w, M or y")
    return budget


def _provider_limits(r: Reader, value: Any, path: str, providers: Collection[str]) -> dict[str, RateLimit]:
    if not isinstance(value, dict):
        r.type_error(path, "an object of provider name -> {rate_limit}", value)
        return {}
    limits: dict[str, RateLimit] = {}
    for name, item in value.items():
        item_path = join(path, name)
        if name not in providers:
            r.error(item_path, f"provider '{name}' is not configured{did_you_mean(name, providers) or '.'}")
            continue
        sec = r.obj(item, item_path, PROVIDER_LIMIT_FIELDS)
        if sec is None:
            continue
        limit = _rate_limit(r, sec.obj("rate_limit", RATE_LIMIT_FIELDS))
        if limit is not None:
            limits[name] = limit
    return limits
