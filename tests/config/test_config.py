"""bifrost.config: JSONC parsing, loading, env.NAME, defaults, and validation with JSON paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bifrost.config import (
    Config,
    ConfigError,
    KeyConfig,
    NetworkConfig,
    Problem,
    jsonc,
    load_config,
    parse_config,
)
from bifrost.config.check import run_check

FIXTURES = Path(__file__).parent / "fixtures"
GUIDE_SNIPPETS = sorted(FIXTURES.glob("guide_*.jsonc"))
SECRET = "sk-very-secret-0123456789"


def parse(data: dict[str, Any], env: dict[str, str] | None = None) -> Config:
    return parse_config(json.dumps(data), env=env or {})


def problems(data: dict[str, Any], env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        parse(data, env)
    return info.value.problems


def openai(**settings: Any) -> dict[str, Any]:
    """A config with one openai provider (a literal key unless `keys` is given) plus `settings`."""
    return {"providers": {"openai": {"keys": [{"value": "sk-test"}], **settings}}}


# --- JSONC -------------------------------------------------------------------------------------------


def test_jsonc_comments_and_trailing_commas() -> None:
    text = """{
      // line comment
      "url": "https://api.openai.com", // not a comment inside the string
      "quote": "a \\" // still a string",
      /* block
         comment */ "list": [1, 2, /* inner */ 3,],
      "obj": {"a": 1,},
    }"""
    assert jsonc.loads(text) == {
        "url": "https://api.openai.com",
        "quote": 'a " // still a string',
        "list": [1, 2, 3],
        "obj": {"a": 1},
    }


def test_jsonc_keeps_slash_star_inside_strings() -> None:
    assert jsonc.loads('{"glob": "a/*b*/c", "x": "//"}') == {"glob": "a/*b*/c", "x": "//"}


def test_jsonc_error_has_line_and_column() -> None:
    with pytest.raises(jsonc.JsoncError) as info:
        jsonc.loads('{\n  // comment\n  "a": 1\n  "b": 2\n}')
    assert (info.value.line, info.value.column) == (4, 3)


def test_jsonc_unterminated_block_comment() -> None:
    with pytest.raises(jsonc.JsoncError) as info:
        jsonc.loads('{\n  "a": 1 /* never closed\n}')
    assert (info.value.line, info.value.column) == (2, 10)
    assert "unterminated" in info.value.message


# --- the contract's and the guide's configs ---------------------------------------------------------------


def test_contract_example_loads() -> None:
    env = {
        "OPENAI_API_KEY_1": "sk-one", "OPENAI_API_KEY_2": "sk-two", "ANTHROPIC_API_KEY": "sk-ant",
        "BIFROST_VK_TEAM_A": "sk-bf-team-a",
    }
    config = load_config(FIXTURES / "contract_example.jsonc", env=env)

    assert list(config.providers) == ["openai", "anthropic", "local-vllm"]
    openai_cfg = config.providers["openai"]
    assert openai_cfg.base_type == "openai"
    assert [(k.name, k.value, k.env_var, k.models, k.weight) for k in openai_cfg.keys] == [
        ("main", "sk-one", "OPENAI_API_KEY_1", ("gpt-4o-mini", "gpt-4o"), 0.7),
        ("spare", "sk-two", "OPENAI_API_KEY_2", ("gpt-4o-mini",), 0.3),
    ]
    assert openai_cfg.network == NetworkConfig(
        base_url="https://api.openai.com",
        extra_headers={"OpenAI-Organization": "org-1"},
        default_request_timeout_in_seconds=30.0,
        stream_idle_timeout_in_seconds=60.0,
        max_retries=2,
        retry_backoff_initial_ms=100,
        retry_backoff_max_ms=2000,
    )
    assert (openai_cfg.concurrency.concurrency, openai_cfg.concurrency.buffer_size) == (5, 20)
    assert openai_cfg.models == ["gpt-4o-mini", "gpt-4o"]

    anthropic = config.providers["anthropic"]
    assert anthropic.base_type == "anthropic"
    assert anthropic.keys[0].name == "key-1"
    vllm = config.providers["local-vllm"]
    assert (vllm.base_type, vllm.is_key_less, vllm.keys) == ("openai", True, [])
    assert vllm.network.base_url == "http://127.0.0.1:8000"

    assert config.fallbacks == {"gpt-4o-mini": ["anthropic/claude-3-sonnet-20240229"]}
    assert config.mcp is not None and config.mcp.max_agent_depth == 10
    assert [c.name for c in config.mcp.clients] == ["files", "search"]
    assert config.governance is not None and "virtual_keys" in config.governance
    (team_a,) = config.governance_rules.virtual_keys
    assert (team_a.id, team_a.value, team_a.allowed_models) == ("team-a", "sk-bf-team-a", ("openai/gpt-4o-mini",))
    assert team_a.budget.max_limit == 25.0 and team_a.budget.reset.text == "30d"
    assert config.client.prometheus_labels == ["environment"]
    assert config.client.max_request_body_size_mb == 100.0
    assert (config.logs_store.enabled, config.logs_store.type, config.logs_store.path) == (
        True,
        "sqlite",
        "./logs.db",
    )
    assert config.state_store.type == "memory"
    assert config.warnings == []
    assert config.source == str(FIXTURES / "contract_example.jsonc")


@pytest.mark.parametrize("snippet", GUIDE_SNIPPETS, ids=lambda p: p.stem)
def test_guide_snippets_load(snippet: Path) -> None:
    env = {
        name: "sk-x"
        for name in ("OPENAI_API_KEY", "OPENAI_API_KEY_1", "OPENAI_API_KEY_2", "ANTHROPIC_API_KEY")
    }
    config = load_config(snippet, env=env)
    assert "openai" in config.providers
    assert all(key.usable for provider in config.providers.values() for key in provider.keys)


def test_guide_snippets_are_all_there() -> None:
    assert len(GUIDE_SNIPPETS) == 5
    assert "// Add your model" in (FIXTURES / "guide_model_not_found.jsonc").read_text()


def test_guide_timeout_snippet() -> None:
    config = load_config(FIXTURES / "guide_timeout.jsonc", env={})
    assert config.providers["openai"].network.default_request_timeout_in_seconds == 60.0
    assert config.warnings == [
        "provider openai has no keys; requests to it need a direct key (client.allow_direct_keys)"
    ]


# --- env.NAME ---------------------------------------------------------------------------------------------


def test_env_resolution_in_any_string_field() -> None:
    data = openai(
        network_config={"base_url": "env.BASE", "extra_headers": {"X-Org": "env.ORG"}},
        meta_config={"region": "env.REGION", "nested": [{"v": "env.ORG"}]},
    )
    data["providers"]["openai"]["keys"] = [
        {"name": "env.KEY_NAME", "value": "env.KEY", "models": ["env.MODEL"]}
    ]
    data["state_store"] = {"type": "redis", "config": {"url": "env.REDIS_URL"}}
    env = {
        "BASE": "http://127.0.0.1:9999/",
        "ORG": "org-9",
        "REGION": "eu-west-1",
        "KEY_NAME": "primary",
        "KEY": SECRET,
        "MODEL": "gpt-4o",
        "REDIS_URL": "redis://localhost:6379/0",
    }
    config = parse(data, env)
    provider = config.providers["openai"]
    assert provider.network.base_url == "http://127.0.0.1:9999"  # trailing slash dropped
    assert provider.network.extra_headers == {"X-Org": "org-9"}
    assert provider.meta_config == {"region": "eu-west-1", "nested": [{"v": "org-9"}]}
    assert provider.keys[0] == KeyConfig(name="primary", value=SECRET, env_var="KEY", models=("gpt-4o",))
    assert config.state_store.url == "redis://localhost:6379/0"
    assert SECRET not in repr(config)


def test_missing_env_disables_key_with_warning_and_no_secret() -> None:
    data = openai()
    data["providers"]["openai"]["keys"] = [
        {"name": "main", "value": "env.OPENAI_API_KEY"},
        {"value": "env.OPENAI_API_KEY_2"},
    ]
    config = parse(data, {"OPENAI_API_KEY_2": SECRET})
    main, second = config.providers["openai"].keys
    assert (main.value, main.env_var, main.usable) == (None, "OPENAI_API_KEY", False)
    assert (second.value, second.name, second.usable) == (SECRET, "key-2", True)
    assert config.warnings == [
        "providers.openai.keys[0] (main): environment variable OPENAI_API_KEY is not set; key disabled"
    ]


def test_empty_env_var_disables_key() -> None:
    config = parse(openai(keys=[{"value": "env.EMPTY"}]), {"EMPTY": ""})
    assert config.providers["openai"].keys[0].value is None
    assert config.warnings == [
        "providers.openai.keys[0] (key-1): environment variable EMPTY is empty; key disabled"
    ]


def test_no_secret_in_any_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = openai(
        network_config={"base_url": "env.SECRET_URL", "extra_headers": {"Api-Key": "env.SECRET_URL"}}
    )
    data["providers"]["openai"]["keys"] = [{"value": SECRET, "weight": 0}, {"value": "env.K"}]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    assert run_check(path, env={"SECRET_URL": f"ftp://{SECRET}", "K": SECRET}) == 2
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert (
        "error: providers.openai.network_config.base_url: must be a URL starting with http:// or https://"
        in err
    )


# --- aliases and defaults ---------------------------------------------------------------------------------


def test_backoff_aliases() -> None:
    config = parse(openai(network_config={"retry_backoff_initial": 50, "retry_backoff_max": 800}))
    network = config.providers["openai"].network
    assert (network.retry_backoff_initial_ms, network.retry_backoff_max_ms) == (50, 800)


def test_defaults() -> None:
    config = parse({"providers": {"openai": {"keys": [{"value": "sk-1"}]}}})
    provider = config.providers["openai"]
    assert provider.keys == [KeyConfig(name="key-1", value="sk-1", env_var=None, models=(), weight=1.0)]
    assert provider.network == NetworkConfig()
    assert (provider.concurrency.concurrency, provider.concurrency.buffer_size) == (1000, 5000)
    assert (provider.custom, provider.is_key_less, provider.meta_config) == (None, False, {})
    assert config.fallbacks == {}
    assert config.client.max_request_body_size_mb == 100.0
    assert not config.client.allow_direct_keys
    assert (config.logs_store.enabled, config.logs_store.type) == (False, "sqlite")
    assert config.state_store.type == "memory"
    assert (config.mcp, config.governance) == (None, None)


def test_star_models_mean_every_model() -> None:
    config = parse(
        openai(keys=[{"value": "a", "models": ["*"]}, {"value": "b", "models": ["gpt-4o", "gpt-4o"]}])
    )
    star, listed = config.providers["openai"].keys
    assert star.models == () and star.serves("anything")
    assert listed.models == ("gpt-4o",)


def test_schema_key_and_null_values_are_accepted() -> None:
    data = {"$schema": "https://example.com/schema.json", **openai(network_config=None), "mcp": None}
    config = parse(data)
    assert config.providers["openai"].network == NetworkConfig()
    assert config.mcp is None


def test_provider_kinds() -> None:
    config = parse(
        {
            "providers": {
                "groq": {"keys": [{"value": "k"}]},
                "ollama": {},
                "vllm": {"keys": [{"value": "k"}]},
                "gemini": {"keys": [{"value": "k"}]},
                "my-claude": {
                    "custom_provider_config": {"base_provider_type": "anthropic"},
                    "keys": [{"value": "k"}],
                },
                "my-local": {
                    "custom_provider_config": {"base_provider_type": "openai", "is_key_less": True},
                    "keys": [{"models": ["llama3"]}],
                },
            }
        }
    )
    kinds = {name: (p.base_type, p.is_key_less) for name, p in config.providers.items()}
    assert kinds == {
        "groq": ("openai", False),
        "ollama": ("openai", True),
        "vllm": ("openai", False),
        "gemini": ("gemini", False),
        "my-claude": ("anthropic", False),
        "my-local": ("openai", True),
    }
    assert config.providers["my-local"].keys[0].value == ""
    assert config.warnings == []


def test_every_problem_is_reported() -> None:
    data = openai(
        network_config={"max_retries": -1, "timeout": 3},
        concurrency_and_buffer_size={"concurrency": 0},
    )
    data["client"] = {"max_request_body_size_mb": "100"}
    paths = [problem.path for problem in problems(data)]
    assert paths == [
        "providers.openai.network_config.timeout",
        "providers.openai.network_config.max_retries",
        "providers.openai.concurrency_and_buffer_size.concurrency",
        "client.max_request_body_size_mb",
    ]


def test_config_error_str_lists_every_problem() -> None:
    error = ConfigError([Problem("a.b", "is wrong"), Problem("c[0]", "too")])
    assert str(error) == "a.b: is wrong\nc[0]: too"


# --- broken configs, through `bifrost check` ----------------------------------------------------------------


def with_root(**sections: Any) -> dict[str, Any]:
    return {**openai(), **sections}


BROKEN: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "typo concurrency",
        openai(concurrency_and_buffer_size={"concurency": 5}),
        "providers.openai.concurrency_and_buffer_size.concurency",
        "unknown field 'concurency'; did you mean 'concurrency'?",
    ),
    (
        "typo max_retries",
        openai(network_config={"max_retry": 2}),
        "providers.openai.network_config.max_retry",
        "unknown field 'max_retry'; did you mean 'max_retries'?",
    ),
    (
        "typo at the root",
        with_root(fallback={}),
        "fallback",
        "did you mean 'fallbacks'?",
    ),
    (
        "typo in a key",
        openai(keys=[{"value": "k", "wieght": 1}]),
        "providers.openai.keys[0].wieght",
        "did you mean 'weight'?",
    ),
    (
        "unknown field without a near match",
        openai(keys=[{"value": "k", "zzz": 1}]),
        "providers.openai.keys[0].zzz",
        "unknown field 'zzz'; known fields: name, value, models, weight",
    ),
    (
        "network setting in the provider section",
        openai(max_retries=2),
        "providers.openai.max_retries",
        "unknown field 'max_retries'; it belongs in network_config",
    ),
    (
        "weight zero",
        openai(keys=[{"value": "k"}, {"value": "k2", "weight": 0}]),
        "providers.openai.keys[1].weight",
        "must be > 0, got 0",
    ),
    (
        "weight as string",
        openai(keys=[{"value": "k", "weight": "high"}]),
        "providers.openai.keys[0].weight",
        "expected a number, got string",
    ),
    (
        "body size as string",
        with_root(client={"max_request_body_size_mb": "100"}),
        "client.max_request_body_size_mb",
        "expected a number, got string",
    ),
    (
        "negative retries",
        openai(network_config={"max_retries": -1}),
        "providers.openai.network_config.max_retries",
        "must be >= 0, got -1",
    ),
    (
        "fractional retries",
        openai(network_config={"max_retries": 1.5}),
        "providers.openai.network_config.max_retries",
        "expected an integer, got 1.5",
    ),
    (
        "zero timeout",
        openai(network_config={"default_request_timeout_in_seconds": 0}),
        "providers.openai.network_config.default_request_timeout_in_seconds",
        "must be > 0, got 0",
    ),
    (
        "zero concurrency",
        openai(concurrency_and_buffer_size={"concurrency": 0, "buffer_size": 10}),
        "providers.openai.concurrency_and_buffer_size.concurrency",
        "must be >= 1, got 0",
    ),
    (
        "buffer smaller than concurrency",
        openai(concurrency_and_buffer_size={"concurrency": 10, "buffer_size": 5}),
        "providers.openai.concurrency_and_buffer_size.buffer_size",
        "must be >= concurrency (10), got 5",
    ),
    (
        "backoff initial above max",
        openai(network_config={"retry_backoff_initial": 3000, "retry_backoff_max_ms": 2000}),
        "providers.openai.network_config.retry_backoff_initial",
        "must be <= retry_backoff_max_ms (2000), got 3000",
    ),
    (
        "alias and canonical spelling both given",
        openai(network_config={"retry_backoff_max": 1, "retry_backoff_max_ms": 2}),
        "providers.openai.network_config.retry_backoff_max_ms",
        "same setting as 'providers.openai.network_config.retry_backoff_max'",
    ),
    (
        "base_url not http",
        openai(network_config={"base_url": "api.openai.com"}),
        "providers.openai.network_config.base_url",
        "must be a URL starting with http:// or https://, got 'api.openai.com'",
    ),
    (
        "missing env var outside a key value",
        openai(network_config={"base_url": "env.NOT_SET_ANYWHERE"}),
        "providers.openai.network_config.base_url",
        "environment variable NOT_SET_ANYWHERE is not set",
    ),
    (
        "header value not a string",
        openai(network_config={"extra_headers": {"X-Org": 5}}),
        "providers.openai.network_config.extra_headers.X-Org",
        "expected a string, got number",
    ),
    (
        "unknown provider",
        {"providers": {"opanai": {"keys": [{"value": "k"}]}}},
        "providers.opanai",
        "unknown provider 'opanai'; did you mean 'openai'? Built-in providers: openai, mistral",
    ),
    (
        "bad custom base type",
        {"providers": {"mine": {"custom_provider_config": {"base_provider_type": "opena"}}}},
        "providers.mine.custom_provider_config.base_provider_type",
        "must be one of openai, anthropic, gemini, bedrock, azure, vertex, cohere; got 'opena'; "
        "did you mean 'openai'?",
    ),
    (
        "custom config on a built-in",
        {"providers": {"openai": {"custom_provider_config": {"base_provider_type": "openai"}}}},
        "providers.openai.custom_provider_config",
        "'openai' is a built-in provider",
    ),
    (
        "slash in provider name",
        {"providers": {"a/b": {"custom_provider_config": {"base_provider_type": "openai"}}}},
        "providers.a/b",
        "must not contain '/'",
    ),
    (
        "providers missing",
        {"client": {}},
        "providers",
        "is required",
    ),
    (
        "keys not an array",
        openai(keys={"value": "k"}),
        "providers.openai.keys",
        "expected an array of keys, got object",
    ),
    (
        "key value missing",
        openai(keys=[{"name": "main"}]),
        "providers.openai.keys[0].value",
        "is required",
    ),
    (
        "model not a string",
        openai(keys=[{"value": "k", "models": ["gpt-4o", 4]}]),
        "providers.openai.keys[0].models[1]",
        "expected a string, got number",
    ),
    (
        "duplicate key names",
        openai(keys=[{"value": "a"}, {"name": "key-1", "value": "b"}]),
        "providers.openai.keys[1].name",
        "duplicate key name 'key-1' (keys[0] has it too)",
    ),
    (
        "fallback to an unconfigured provider",
        with_root(fallbacks={"gpt-4o-mini": ["anthropc/claude-3-haiku"]}),
        "fallbacks.gpt-4o-mini[0]",
        "provider 'anthropc' is not configured. Configured providers: openai",
    ),
    (
        "fallback without provider",
        with_root(fallbacks={"gpt-4o-mini": ["openai/gpt-4o", "claude-3-haiku"]}),
        "fallbacks.gpt-4o-mini[1]",
        "expected 'provider/model'",
    ),
    (
        "fallbacks not a list",
        with_root(fallbacks={"gpt-3.5-turbo": "openai/gpt-4o"}),
        "fallbacks.gpt-3.5-turbo",
        'expected an array of "provider/model" strings, got string',
    ),
    (
        "logs store type",
        with_root(logs_store={"type": "mysql"}),
        "logs_store.type",
        "must be one of sqlite, postgres; got 'mysql'",
    ),
    (
        "postgres without url",
        with_root(logs_store={"enabled": True, "type": "postgres", "config": {}}),
        "logs_store.config.url",
        "is required when logs_store.type is 'postgres'",
    ),
    (
        "sqlite given a url",
        with_root(logs_store={"type": "sqlite", "config": {"url": "postgresql://db/x"}}),
        "logs_store.config.url",
        "only used when logs_store.type is 'postgres'",
    ),
    (
        "redis without url",
        with_root(state_store={"type": "redis"}),
        "state_store.config.url",
        "is required when state_store.type is 'redis'",
    ),
    (
        "redis url scheme",
        with_root(state_store={"type": "redis", "config": {"url": "http://localhost:6379"}}),
        "state_store.config.url",
        "must be a URL starting with redis:// or rediss:// or unix://",
    ),
    (
        "bad prometheus label",
        with_root(client={"prometheus_labels": ["team", "bad-label"]}),
        "client.prometheus_labels[1]",
        "'bad-label' is not a valid Prometheus label name",
    ),
    (
        "reserved prometheus label",
        with_root(client={"prometheus_labels": ["model"]}),
        "client.prometheus_labels[0]",
        "already a label",
    ),
    (
        "boolean as string",
        with_root(client={"allow_direct_keys": "yes"}),
        "client.allow_direct_keys",
        "expected a boolean (true or false), got string",
    ),
    (
        "mcp not an object",
        with_root(mcp=[]),
        "mcp",
        "expected an object, got array",
    ),
    (
        "meta_config not an object",
        openai(meta_config="eu-west-1"),
        "providers.openai.meta_config",
        "expected an object, got string",
    ),
]


@pytest.mark.parametrize(("data", "path", "message"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN])
def test_broken_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], data: dict[str, Any], path: str, message: str
) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(data))
    assert run_check(config_file, env={}) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert any(line.startswith(f"error: {path}: ") and message in line for line in lines), err


def test_check_ok_output(capsys: pytest.CaptureFixture[str]) -> None:
    env = {"OPENAI_API_KEY_1": SECRET, "ANTHROPIC_API_KEY": SECRET, "BIFROST_VK_TEAM_A": "sk-bf-team-a"}
    assert run_check(FIXTURES / "contract_example.jsonc", env=env) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "config OK: 3 providers (openai: 1 of 2 keys usable, anthropic: 1 key, local-vllm: key-less)",
        "warning: providers.openai.keys[1] (spare): "
        "environment variable OPENAI_API_KEY_2 is not set; key disabled",
    ]
    assert err == ""


def test_check_syntax_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config_file = tmp_path / "config.json"
    config_file.write_text('{\n  "providers": {\n    "openai": {}\n    "anthropic": {}\n  }\n}')
    assert run_check(config_file, env={}) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: $: invalid JSON at line 4, column 5: Expecting ',' delimiter")


def test_check_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check(tmp_path / "nope.json", env={}) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: $: cannot read config file ")
    assert "nope.json: No such file or directory" in err


def test_parse_config_uses_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_TEST_KEY", "sk-from-env")
    config = parse_config('{"providers": {"openai": {"keys": [{"value": "env.BIFROST_TEST_KEY"}]}}}')
    assert config.providers["openai"].keys[0].value == "sk-from-env"
