"""Requests refused by governance are observed like any other failed request: an access-log line, a record in
the log store (status, error type, the virtual key's id but never its value, the model, the route) and the
request metrics, on every wire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from google.genai import errors as genai_errors
from helpers import CHAT, VK_A, VK_B, eventually, gov_config, redis_store, sdk, vk
from prometheus_client.parser import text_string_to_metric_families

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, free_port, http_get

VK_C = "sk-bf-team-c-5555555555"
VK_IDLE = "sk-bf-sleeping-00000000"
VALUES = (VK_A, VK_B, VK_C, VK_IDLE, "sk-bf-nobody-1234567")


def _config(fake_url: str, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    keys = [
        vk("team-a", VK_A, rate_limit={"request_max_limit": 1, "request_reset_duration": "1h"}),
        vk("team-b", VK_B, budget={"max_limit": 0.000001, "reset_duration": "1d"}),
        vk("team-c", VK_C, allowed_models=["gpt-4o"]),
        vk("team-idle", VK_IDLE, is_active=False),
    ]
    return gov_config(
        fake_url, keys, client={"enforce_auth_on_inference": True},
        logs_store={"enabled": True, "type": "sqlite", "config": {"path": str(tmp_path / "logs.db")}},
        **overrides,
    )


def _logs(gw: GatewayProcess, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    status, body = http_get(f"{gw.url}/api/logs?limit=100&{query}")
    assert status == 200, body
    return list(json.loads(body)["logs"])


def _http_requests(gw: GatewayProcess) -> dict[tuple[str, str], float]:
    """http_requests_total by (path, status)."""
    status, body = http_get(gw.url + "/metrics")
    assert status == 200
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            if sample.name == "http_requests_total":
                key = (sample.labels["path"], sample.labels["status"])
                out[key] = out.get(key, 0.0) + sample.value
    return out


def test_every_refusal_is_logged_stored_and_counted(
    start_gateway: GatewayFactory, fake: FakeProvider, tmp_path: Path
) -> None:
    gw = start_gateway(_config(fake.url, tmp_path), log_level="info")
    with pytest.raises(openai.AuthenticationError):  # 401: no virtual key
        sdk(gw, api_key="sk-not-a-virtual-key").chat.completions.create(**CHAT)
    with pytest.raises(openai.AuthenticationError):  # 401: an unknown one
        sdk(gw, api_key="sk-bf-nobody-1234567").chat.completions.create(**CHAT)
    with pytest.raises(openai.AuthenticationError):  # 401: an inactive one
        sdk(gw, api_key=VK_IDLE).embeddings.create(model="text-embedding-3-small", input="hi")
    sdk(gw, api_key=VK_A).chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError):  # 429: team-a's one request per hour is spent
        sdk(gw, api_key=VK_A).chat.completions.create(**CHAT, stream=True)
    sdk(gw, api_key=VK_B).chat.completions.create(**CHAT)
    with pytest.raises(openai.APIStatusError) as budget:  # 402: team-b's budget is spent
        sdk(gw, api_key=VK_B).chat.completions.create(**CHAT)
    assert budget.value.status_code == 402
    with pytest.raises(openai.PermissionDeniedError):  # 403: team-c may use gpt-4o only
        sdk(gw, api_key=VK_C).chat.completions.create(**CHAT)
    client = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=VK_A, max_retries=0)
    with pytest.raises(anthropic.RateLimitError):  # 429 on the Anthropic wire
        client.messages.create(model="gpt-4o-mini", max_tokens=10, messages=[{"role": "user", "content": "Hi"}])
    google = _genai(gw, VK_A)
    with pytest.raises(genai_errors.ClientError) as info:  # 429 on the Gemini wire
        google.models.generate_content(model="openai/gpt-4o-mini", contents="Hi")
    assert info.value.code == 429
    assert len(fake.control.log()) == 2  # only the two admitted requests went upstream

    def refusals() -> list[dict[str, Any]]:
        rows = _logs(gw, status="error")
        return rows if len(rows) == 8 else []
    rows = eventually(refusals)
    assert rows, _logs(gw)
    seen = sorted(
        ((r["status"], r["error_type"], r["virtual_key"], r["model"], r["route"], r["method"], r["stream"])
         for r in rows), key=str
    )
    assert seen == sorted([
        (401, "authentication_error", None, "gpt-4o-mini", "openai", "chat", False),
        (401, "authentication_error", None, "gpt-4o-mini", "openai", "chat", False),
        (401, "authentication_error", "team-idle", "text-embedding-3-small", "openai", "embedding", False),
        (402, "budget_exceeded", "team-b", "gpt-4o-mini", "openai", "chat", False),
        (403, "permission_error", "team-c", "gpt-4o-mini", "openai", "chat", False),
        (429, "rate_limit_exceeded", "team-a", "gpt-4o-mini", "anthropic", "messages", False),
        (429, "rate_limit_exceeded", "team-a", "gpt-4o-mini", "openai", "chat", True),
        (429, "rate_limit_exceeded", "team-a", "openai/gpt-4o-mini", "genai", "chat", False),
    ], key=str)
    by_status = {r["status"]: r for r in rows}
    assert "budget" in by_status[402]["error_message"] and "team-a" in by_status[429]["error_message"]
    admitted = _logs(gw, status="success")
    assert sorted(r["virtual_key"] for r in admitted) == ["team-a", "team-b"]  # governed successes name it too
    assert sorted(r["status"] for r in _logs(gw, virtual_key="team-a")) == [200, 429, 429, 429]

    counts = _http_requests(gw)
    assert counts[("/v1/chat/completions", "401")] == 2
    assert counts[("/v1/embeddings", "401")] == 1
    assert counts[("/v1/chat/completions", "429")] == 1
    assert counts[("/v1/chat/completions", "402")] == 1
    assert counts[("/v1/chat/completions", "403")] == 1
    assert counts[("/anthropic/v1/messages", "429")] == 1
    assert counts[("/genai/v1beta/models/{model}:generateContent", "429")] == 1

    lines = eventually(lambda: [x for x in gw.logs().splitlines() if "status=4" in x and "request" in x])
    assert len(lines) >= 8, gw.logs()
    assert any("virtual_key=team-b" in x and "status=402" in x for x in lines), lines
    everything = gw.logs() + json.dumps(_logs(gw)) + http_get(gw.url + "/metrics")[1].decode()
    for value in VALUES:  # never a virtual key's value
        assert value not in everything


def _genai(gw: GatewayProcess, api_key: str) -> Any:
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=gw.url + "/genai", retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=api_key, http_options=options)


def test_a_503_of_an_unreachable_store_is_observed(
    start_gateway: GatewayFactory, fake: FakeProvider, tmp_path: Path
) -> None:
    store = redis_store(f"redis://127.0.0.1:{free_port()}/0", fail_open=False)  # nothing listens there
    gw = start_gateway(_config(fake.url, tmp_path, state_store=store))
    with pytest.raises(openai.InternalServerError) as refused:
        sdk(gw, api_key=VK_A).chat.completions.create(**CHAT)
    assert refused.value.status_code == 503
    rows = eventually(lambda: _logs(gw, status="503"))
    assert [(r["virtual_key"], r["model"]) for r in rows] == [("team-a", "gpt-4o-mini")]
    assert _http_requests(gw)[("/v1/chat/completions", "503")] == 1, _http_requests(gw)
    assert not fake.control.log()
