"""Per-key settings of the cloud providers: azure_key_config, bedrock_key_config, vertex_key_config."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bifrost.config import Config, ConfigError, parse_config

SERVICE_ACCOUNT = {
    "type": "service_account",
    "client_email": "sa@proj.iam.gserviceaccount.com",
    "private_key": "-----BEGIN PRIVATE KEY-----\nsecret-material\n-----END PRIVATE KEY-----\n",
    "token_uri": "https://oauth2.googleapis.com/token",
}


def parse(providers: dict[str, Any], env: dict[str, str] | None = None) -> Config:
    return parse_config(json.dumps({"providers": providers}), env=env or {})


def problems(providers: dict[str, Any], env: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse(providers, env)
    return [(p.path, p.message) for p in info.value.problems]


def test_azure_key_config_defaults_and_deployment_models() -> None:
    config = parse(
        {
            "azure": {
                "keys": [
                    {
                        "value": "az-key",
                        "azure_key_config": {
                            "endpoint": "https://res.openai.azure.com/",
                            "deployments": {"gpt-4o": "prod"},
                        },
                    }
                ]
            }
        }
    )
    key = config.providers["azure"].keys[0]
    assert key.settings == {
        "endpoint": "https://res.openai.azure.com",
        "api_version": "2024-10-21",
        "deployments": {"gpt-4o": "prod"},
    }
    assert key.models == ("gpt-4o",)  # a deployment map names the models the key serves
    assert "az-key" not in repr(key)


def test_azure_key_config_needs_an_endpoint_url() -> None:
    found = problems({"azure": {"keys": [{"value": "k", "azure_key_config": {"endpoint": "res.openai.azure.com"}}]}})
    assert found == [("providers.azure.keys[0].azure_key_config.endpoint", "must be a URL starting with https://")]


def test_key_config_belongs_to_its_provider_type() -> None:
    found = problems({"openai": {"keys": [{"value": "k", "azure_key_config": {"endpoint": "https://x"}}]}})
    assert found == [
        ("providers.openai.keys[0].azure_key_config", "only for azure providers (this provider's type is 'openai')")
    ]


def test_bedrock_credentials_replace_the_value() -> None:
    config = parse(
        {
            "bedrock": {
                "keys": [
                    {
                        "bedrock_key_config": {
                            "access_key": "env.AWS_ACCESS_KEY_ID",
                            "secret_key": "env.AWS_SECRET_ACCESS_KEY",
                            "region": "eu-west-1",
                        }
                    }
                ]
            }
        },
        env={"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "aws-secret"},
    )
    key = config.providers["bedrock"].keys[0]
    assert key.usable
    assert key.settings["access_key"] == "AKID" and key.settings["secret_key"] == "aws-secret"
    assert key.settings["region"] == "eu-west-1" and key.settings["session_token"] is None
    assert "aws-secret" not in repr(key)


def test_bedrock_access_key_needs_its_secret() -> None:
    found = problems({"bedrock": {"keys": [{"bedrock_key_config": {"access_key": "AKID"}}]}})
    assert found == [
        (
            "providers.bedrock.keys[0].bedrock_key_config.secret_key",
            "is required: the AWS secret access key (with access_key)",
        )
    ]


def test_bedrock_api_key_as_value() -> None:
    key = parse({"bedrock": {"keys": [{"value": "bedrock-api-key", "bedrock_key_config": {"region": "us-west-2"}}]}})
    settings = key.providers["bedrock"].keys[0].settings
    assert settings["access_key"] == "" and settings["region"] == "us-west-2"


def test_vertex_service_account_from_an_env_var_text() -> None:
    config = parse(
        {
            "vertex": {
                "keys": [
                    {"vertex_key_config": {"project_id": "proj", "region": "global", "auth_credentials": "env.SA"}}
                ]
            }
        },
        env={"SA": json.dumps(SERVICE_ACCOUNT)},
    )
    settings = config.providers["vertex"].keys[0].settings
    assert settings["auth_credentials"] == SERVICE_ACCOUNT and settings["region"] == "global"


def test_vertex_bad_service_account_is_reported_without_its_text() -> None:
    bad = {"project_id": "proj", "auth_credentials": "not json secret-material"}
    found = problems({"vertex": {"keys": [{"vertex_key_config": bad}]}})
    assert found == [
        (
            "providers.vertex.keys[0].vertex_key_config.auth_credentials",
            "must be a service-account key: a JSON object (its text is not shown)",
        )
    ]
    missing = {**SERVICE_ACCOUNT, "private_key": ""}
    found = problems({"vertex": {"keys": [{"vertex_key_config": {"project_id": "p", "auth_credentials": missing}}]}})
    assert found[0][1] == "the service-account key lacks private_key"


def test_vertex_key_without_key_config_is_a_warning() -> None:
    config = parse({"vertex": {"keys": [{"value": "k"}]}})
    assert config.warnings == [
        "providers.vertex.keys[0]: has no vertex_key_config {project_id, region, auth_credentials}: "
        "its requests will answer 401"
    ]
