"""The governance section's validation (JSON paths, like `bifrost check`) and window arithmetic."""

from __future__ import annotations

import datetime as dt

import pytest

from bifrost.config import ConfigError
from bifrost.config.schema import build_config
from bifrost.governance.config import parse_duration
from bifrost.governance.windows import reset_text, window

PROVIDERS = {"openai": {"keys": [{"value": "sk-x"}]}}


def _problems(governance: dict, env: dict | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        build_config({"providers": PROVIDERS, "governance": governance}, env or {})
    return {p.path: p.message for p in info.value.problems}


def test_every_problem_is_named_with_its_json_path() -> None:
    problems = _problems({
        "virtual_keys": [
            {"id": "a", "value": "sk-a", "rate_limit": {"request_max_limit": 10, "token_reset_duration": "1 min"},
             "budget": {"reset_duration": "1d"}, "allowed_providers": ["opneai"], "max_concurrent_requests": 0},
            {"id": "a", "value": "sk-bf-aaaa"},
            {"value": "sk-bf-bbbb"},
        ],
        "providers": {"anthropic": {"rate_limit": {}}},
        "budgets": {},
    })
    assert "must start with sk-bf-" in problems["governance.virtual_keys[0].value"]
    rate_limit = "governance.virtual_keys[0].rate_limit"
    assert "is required with request_max_limit" in problems[f"{rate_limit}.request_reset_duration"]
    assert "30s, 1m" in problems["governance.virtual_keys[0].rate_limit.token_reset_duration"]
    assert "budget in USD" in problems["governance.virtual_keys[0].budget.max_limit"]
    assert "did you mean 'openai'" in problems["governance.virtual_keys[0].allowed_providers[0]"]
    assert "must be >= 1" in problems["governance.virtual_keys[0].max_concurrent_requests"]
    assert "duplicate virtual key id 'a'" in problems["governance.virtual_keys[1].id"]
    assert "is required" in problems["governance.virtual_keys[2].id"]
    assert "not configured" in problems["governance.providers.anthropic"]
    assert "unknown field 'budgets'" in problems["governance.budgets"]


def test_env_values_resolve_and_a_missing_variable_disables_the_key() -> None:
    governance = {"virtual_keys": [{"id": "a", "value": "env.VK_A"}, {"id": "b", "value": "env.VK_B"}]}
    config = build_config({"providers": PROVIDERS, "governance": governance}, {"VK_A": "sk-bf-from-env"})
    a, b = config.governance_rules.virtual_keys
    assert (a.value, a.env_var, b.value) == ("sk-bf-from-env", "VK_A", None)
    assert config.warnings == [
        "governance.virtual_keys[1] (b): environment variable VK_B is not set; virtual key disabled"
    ]
    assert "sk-bf-from-env" not in repr(a)
    assert "must start with sk-bf-" in _problems(governance, {"VK_A": "plain", "VK_B": "sk-bf-x"})[
        "governance.virtual_keys[0].value"]


def test_state_store_fail_open_defaults_to_true() -> None:
    redis = {"type": "redis", "config": {"url": "redis://h:6379"}}
    config = build_config({"providers": PROVIDERS, "state_store": redis}, {})
    assert config.state_store.fail_open is True
    config = build_config({"providers": PROVIDERS, "state_store": {"type": "memory", "fail_open": False}}, {})
    assert config.state_store.fail_open is False


def test_durations() -> None:
    assert parse_duration("1M").unit == "M" and parse_duration("1m").fixed_ms == 60_000
    assert parse_duration("500ms").fixed_ms == 500 and parse_duration("2w").fixed_ms == 14 * 86_400_000
    for bad in ("0s", "1 m", "m", "1.5h", "-1d", "1min"):
        assert parse_duration(bad) is None


def _ms(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp() * 1000)


def test_windows_fixed_calendar_and_aligned() -> None:
    now = _ms(2026, 1, 31, 15, 30)
    assert window(parse_duration("1h"), now) == (3_600_000, 0)
    assert window(parse_duration("1M"), now) == (0, _ms(2026, 2, 28, 15, 30))  # a month later, day clamped
    assert window(parse_duration("1d"), now, aligned=True) == (0, _ms(2026, 2, 1))
    assert window(parse_duration("1w"), now, aligned=True) == (0, _ms(2026, 2, 2))  # next Monday
    assert window(parse_duration("1M"), now, aligned=True) == (0, _ms(2026, 2, 1))
    assert window(parse_duration("1y"), now, aligned=True) == (0, _ms(2027, 1, 1))


def test_reset_text_is_openais_notation() -> None:
    assert [reset_text(ms) for ms in (20, 1000, 1500, 59_250, 360_000, 3_723_000)] == [
        "20ms", "1s", "1.5s", "59.25s", "6m0s", "1h2m3s"]
