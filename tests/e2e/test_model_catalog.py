"""Model lists from the providers' own list endpoints (issue 11, item 7): a key-less provider contributes what it
lists, explicit key model lists filter, a failing or hanging list call never fails or holds up the request, and
the list is cached. The same data serves /v1/models, /anthropic/v1/models and /genai/v1beta/models."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider, anthropic_wire, gemini_wire, openai_wire
from harness import GatewayFactory, GatewayProcess, http_get

LIST_PATHS = ("/v1/models", "/v1beta/models")


def catalog_config(fake_url: str) -> dict[str, Any]:
    network = {"base_url": fake_url}
    return {
        "providers": {
            "openai": {"keys": [{"name": "main", "value": "sk-cat-main", "models": ["gpt-4o-mini"]}],
                       "network_config": network},
            "anthropic": {"keys": [{"name": "a", "value": "sk-ant-cat"}], "network_config": network},
            "gemini": {"keys": [{"name": "g", "value": "gk-cat-key", "models": ["*"]}], "network_config": network},
            "local-vllm": {"custom_provider_config": {"base_provider_type": "openai", "is_key_less": True},
                           "network_config": network},
        }
    }


def list_calls(fake: FakeProvider) -> list[dict[str, Any]]:
    return [r for r in fake.control.log() if r["method"] == "GET" and r["path"] in LIST_PATHS]


def model_ids(gw: GatewayProcess, path: str = "/v1/models") -> list[str]:
    status, body = http_get(gw.url + path)
    assert status == 200, body
    data = json.loads(body)
    if "models" in data:
        return [m["name"].removeprefix("models/") for m in data["models"]]
    return [m["id"] for m in data["data"]]


def wait_for_listing(gw: GatewayProcess, wanted: str) -> list[str]:
    """The first list request waits at most a second for the providers; on a busy machine ask again."""
    for _ in range(100):
        ids = model_ids(gw)
        if wanted in ids:
            return ids
        time.sleep(0.05)
    raise AssertionError(f"{wanted} never appeared in /v1/models: {ids}")


def test_providers_own_lists_filtered_by_keys(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(catalog_config(fake.url))
    assert list_calls(fake) == []  # nothing is listed before a models list is asked for
    ids = wait_for_listing(gw, "local-vllm/gpt-4o")
    expected = (
        ["openai/gpt-4o-mini"]  # its key names its models: nothing else of openai's list
        + [f"anthropic/{m}" for m in anthropic_wire.MODELS]
        + [f"gemini/{m}" for m in gemini_wire.MODELS]
        + [f"local-vllm/{m}" for m in openai_wire.MODELS]
    )
    assert ids == expected
    assert model_ids(gw, "/anthropic/v1/models") == expected
    assert model_ids(gw, "/genai/v1beta/models") == expected
    calls = {r["path"] + ("?" + "&".join(f"{k}={v}" for k, v in r["query"].items()) if r["query"] else ""): r
             for r in list_calls(fake)}
    assert set(calls) == {"/v1/models", "/v1/models?limit=1000", "/v1beta/models?pageSize=1000"}
    assert calls["/v1/models?limit=1000"]["headers"]["x-api-key"] == "sk-ant-cat"
    assert calls["/v1/models?limit=1000"]["headers"]["anthropic-version"] == "2023-06-01"
    assert calls["/v1beta/models?pageSize=1000"]["headers"]["x-goog-api-key"] == "gk-cat-key"
    assert "authorization" not in calls["/v1/models"]["headers"]  # key-less local-vllm


def test_list_is_cached(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(catalog_config(fake.url))
    wait_for_listing(gw, "local-vllm/gpt-4o")
    before = len(list_calls(fake))
    for path in ("/v1/models", "/openai/v1/models", "/anthropic/v1/models", "/genai/v1/models"):
        model_ids(gw, path)
    assert len(list_calls(fake)) == before == 3  # one call per listing provider, then the cache


def test_failing_list_call_serves_configured_names(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    fake.control.rules({"status": 500, "error_message": "list broken", "match": {"path": "/v1/models"}},
                       {"status": 503, "match": {"path": "/v1beta/models"}})
    gw = start_gateway(catalog_config(fake.url))
    for _ in range(3):
        assert model_ids(gw) == ["openai/gpt-4o-mini"]
    assert len(list_calls(fake)) == 3  # tried once; failures are cached too, until the TTL
    for _ in range(100):  # the log line is written by a background thread
        if "list broken" in gw.logs():
            break
        time.sleep(0.05)
    assert "list broken" in gw.logs() and "sk-ant-cat" not in gw.logs()


def test_hanging_list_call_does_not_hold_the_request(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    fake.control.rules({"latency_ms": 8000, "match": {"path": "/v1beta/models"}})
    gw = start_gateway(catalog_config(fake.url))
    ids = model_ids(gw)
    assert fake.control.stats()["in_flight"] >= 1  # the Gemini list call is still waiting upstream...
    assert "openai/gpt-4o-mini" in ids and not any(i.startswith("gemini/") for i in ids)  # ...and we answered


@pytest.mark.parametrize("path", ["/v1/models", "/anthropic/v1/models", "/genai/v1beta/models"])
def test_no_provider_lists_without_a_key_that_allows_it(
    fake: FakeProvider, start_gateway: GatewayFactory, path: str
) -> None:
    config = {"providers": {"openai": {"keys": [{"value": "sk-cat-x", "models": ["gpt-4o"]}],
                                       "network_config": {"base_url": fake.url}}}}
    gw = start_gateway(config)
    assert model_ids(gw, path) == ["openai/gpt-4o"]
    assert list_calls(fake) == []
