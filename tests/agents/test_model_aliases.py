"""Key-level model aliases (``providers.*.keys[].aliases``): a name clients send -> the provider's model.

How coding agents that ask for fixed model names (Claude Code asks for Claude models) get another model
without any change on their side. Config validation, then real requests through a gateway to the fake.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from bifrost.config import ConfigError, parse_config
from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, http_get, openai_config


def parse(keys: list[dict[str, Any]]) -> Any:
    return parse_config(json.dumps({"providers": {"openai": {"keys": keys}}}), env={})


def test_aliases_parse_and_count_as_listed_models() -> None:
    config = parse(
        [
            {"name": "main", "value": "sk-a", "models": ["gpt-4o"], "aliases": {"claude-sonnet-4-5": "gpt-4o"}},
            {"name": "any", "value": "sk-b", "aliases": {"fast": "gpt-4o-mini"}},
        ]
    )
    main, anything = config.providers["openai"].keys
    assert main.aliases == {"claude-sonnet-4-5": "gpt-4o"}
    assert main.models == ("gpt-4o", "claude-sonnet-4-5")  # a restricted key serves its alias names
    assert main.serves("claude-sonnet-4-5")
    assert anything.models == () and anything.aliases == {"fast": "gpt-4o-mini"}
    assert config.providers["openai"].models == ["gpt-4o", "claude-sonnet-4-5", "fast"]
    assert "sk-a" not in repr(main)


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        (["gpt-4o"], "providers.openai.keys[0].aliases"),
        ({"a": 5}, "providers.openai.keys[0].aliases.a"),
        ({"a": ""}, "must not be empty"),
        ({"": "gpt-4o"}, "alias name must not be empty"),
    ],
)
def test_bad_aliases_are_reported(aliases: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse([{"value": "sk-a", "aliases": aliases}])
    assert message in str(info.value)


def test_alias_reaches_the_provider_as_its_model(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    config = openai_config(fake.url)
    config["providers"]["openai"]["keys"][1]["aliases"] = {"fast": "gpt-4o-mini"}  # on the "spare" key only
    config["providers"]["openai"]["keys"][0]["aliases"] = {"claude-sonnet-4-5": "gpt-4o"}
    gw = start_gateway(config)

    client = openai.OpenAI(base_url=gw.openai_url, api_key="sk-client", max_retries=0)
    answer = client.chat.completions.create(model="fast", messages=[{"role": "user", "content": "Hi"}])
    assert answer.choices[0].message.content == "Hello from fake gpt-4o-mini!"
    extra = answer.model_extra["extra_fields"] if answer.model_extra else {}
    assert extra["model_requested"] == "fast" and extra["provider"] == "openai"
    request = fake.control.last()
    assert request["body"]["model"] == "gpt-4o-mini"
    assert request["key"] == "sk-test-spare"  # the key that holds the alias

    # the Anthropic route: a Claude model name, answered by gpt-4o through translation
    claude = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="sk-client", max_retries=0)
    message = claude.messages.create(
        model="claude-sonnet-4-5", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]
    )
    assert message.content[0].type == "text" and message.content[0].text == "Hello from fake gpt-4o!"
    request = fake.control.last()
    assert (request["path"], request["body"]["model"]) == ("/v1/chat/completions", "gpt-4o")

    status, raw = http_get(gw.url + "/v1/models")
    assert status == 200
    ids = {m["id"] for m in json.loads(raw)["data"]}
    assert {"openai/fast", "openai/claude-sonnet-4-5"} <= ids
