"""Findings 6, 7 and 10 (error bodies): what an upstream answers cannot steer or swamp the gateway.

6. A redirect is never followed (it re-sent x-api-key and x-bf-eh-* headers to the redirect target, and a
   redirect loop was a 500): 502 naming the provider and the redirect status.
7. A pinned key (x-bf-api-key) that does not serve the model is a 400 naming both, not silently used.
10. Upstream error bodies are read up to 1 MB: a 20 MB error body is neither relayed nor logged whole.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory

from .helpers import CHAT, post

KEY = "sk-ant-Qw3rTy9UiOp-000111"


def _config(fake_url: str) -> dict[str, Any]:
    return {
        "providers": {
            "anthropic": {"keys": [{"name": "a", "value": KEY, "models": ["claude-3-haiku"]}],
                          "network_config": {"base_url": fake_url, "max_retries": 2,
                                             "retry_backoff_initial_ms": 10, "retry_backoff_max_ms": 20}},
            "openai": {"keys": [{"name": "alpha", "value": "sk-alpha-000000", "models": ["gpt-4o-mini", "gpt-4o"]},
                                {"name": "beta", "value": "sk-beta-0000000", "models": ["gpt-4o-mini"]}],
                       "network_config": {"base_url": fake_url}},
        }
    }


MESSAGES = {"model": "claude-3-haiku", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_upstream_redirects_are_never_followed(status: int, fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(_config(fake.url))
    with FakeProvider.start() as elsewhere:
        fake.control.script({"redirect_to": elsewhere.url + "/v1/messages", "status": status})
        code, _, body = post(gw.url + "/anthropic/v1/messages", MESSAGES, {"x-bf-eh-x-team-token": "tok-123456789"})
        assert code == 502, body
        error = json.loads(body)["error"]
        assert "anthropic" in error["message"] and str(status) in error["message"]
        assert elsewhere.control.stats()["total"] == 0  # neither the key nor the forwarded headers went there
    assert fake.control.stats()["total"] == 1  # and a redirect is not retried


def test_a_redirect_loop_is_a_502_not_a_500(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(_config(fake.url))
    fake.control.rules({"redirect_to": fake.url + "/v1/messages"})
    for stream in (False, True):
        code, _, body = post(gw.url + "/anthropic/v1/messages", {**MESSAGES, "stream": stream})
        assert code == 502, body
        assert "redirect" in json.loads(body)["error"]["message"]


def test_a_pinned_key_must_serve_the_model(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(_config(fake.url))
    code, _, body = post(gw.v1_url + "/chat/completions", {**CHAT, "model": "gpt-4o"}, {"x-bf-api-key": "beta"})
    assert code == 400, body
    message = json.loads(body)["error"]["message"]
    assert "beta" in message and "gpt-4o" in message
    assert fake.control.stats()["total"] == 0
    code, _, _ = post(gw.v1_url + "/chat/completions", CHAT, {"x-bf-api-key": "beta"})
    assert code == 200 and fake.control.log()[-1]["key"] == "sk-beta-0000000"


@pytest.mark.parametrize("stream", [False, True])
def test_a_huge_upstream_error_body_is_cut(stream: bool, fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(_config(fake.url))
    fake.control.script({"status": 400, "error_size": 20 * 1024 * 1024})
    code, _, body = post(gw.v1_url + "/chat/completions", {**CHAT, "stream": stream})
    assert code == 400
    assert len(body) < 20_000, len(body)
    assert len(gw.logs()) < 100_000
