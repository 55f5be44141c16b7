"""Every provider type the config accepts can be served: none starts half-built."""

from __future__ import annotations

import json

import pytest

from bifrost.config.loader import parse_config
from bifrost.config.model import BASE_PROVIDER_TYPES, BUILTIN_PROVIDERS
from bifrost.providers.registry import build_providers


@pytest.mark.parametrize("name", BUILTIN_PROVIDERS)
def test_every_builtin_provider_has_a_class(name: str) -> None:
    key: dict[str, object] = {"value": "sk-test-0123456789"}
    settings = {
        "azure": {"azure_key_config": {"endpoint": "http://127.0.0.1:9", "api_version": "2024-10-21"}},
        "bedrock": {"bedrock_key_config": {"access_key": "AKIDEXAMPLE", "secret_key": "s" * 20, "region": "us-east-1"}},
    }
    key.update(settings.get(name, {}))
    config = parse_config(json.dumps({"providers": {name: {"keys": [key]}}}), env={})
    provider = build_providers(config)[name]
    assert provider.name == name
    assert config.providers[name].base_type in BASE_PROVIDER_TYPES
