"""The official ``openai`` npm package (driven by Node) against a running gateway: the guide's JS example.

``tests/js/package.json`` pins the package (openai 7 needs Node 22; 6 is the newest major for Node 20);
``npm install`` runs once into ``tests/js/node_modules`` (gitignored) when it is not there yet.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import JS_DIR, GatewayFactory, node_with_packages, openai_config


@pytest.fixture(scope="session")
def node_sdk() -> str:
    """Path of the ``node`` binary once the openai package is installed; skips without node or npm."""
    return node_with_packages("openai", "the Node SDK test")


def test_guide_javascript_example(node_sdk: str, fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(openai_config(fake.url))
    fake.control.rules(
        {"match": {"path": "/v1/chat/completions", "model": "gpt-4o-mini"}, "reply": "Hi from the fake, via Bifrost"}
    )
    env = {**os.environ, "OPENAI_API_KEY": "sk-node-client-key"}
    done = subprocess.run(
        [node_sdk, str(JS_DIR / "chat.mjs"), gw.openai_url],
        cwd=JS_DIR, capture_output=True, text=True, timeout=60, env=env, check=False,
    )
    assert done.returncode == 0, f"node failed:\n{done.stderr}\n{done.stdout}\ngateway:\n{gw.logs()}"
    result = json.loads(done.stdout.strip().splitlines()[-1])

    plain = result["plain"]
    assert plain["object"] == "chat.completion"
    assert plain["content"] == "Hi from the fake, via Bifrost"
    assert plain["model"] == "gpt-4o-mini"
    assert plain["finish_reason"] == "stop"
    assert plain["usage"]["total_tokens"] > 0
    assert plain["extra_fields"]["provider"] == "openai"

    stream = result["stream"]
    assert stream["content"] == "Hi from the fake, via Bifrost"
    assert stream["chunks"] >= 3
    assert stream["finish_reason"] == "stop"
    assert stream["usage"]["total_tokens"] > 0

    error = result["error"]
    assert error["notFound"] and error["apiError"]
    assert error["status"] == 404
    assert error["code"] == "model_not_found"
    assert "openai/gpt-4o-mini" in error["message"]

    raw = result["raw"]
    assert raw["provider"] == "groq"
    assert raw["request_id"]
    assert raw["content"] == "Hello from fake llama-3.1-8b-instant!"

    # the client's key was not used upstream (no allow_direct_keys): configured keys were
    received = fake.control.log()
    assert [r["body"]["model"] for r in received] == ["gpt-4o-mini", "gpt-4o-mini", "llama-3.1-8b-instant"]
    assert all("sk-node-client-key" not in json.dumps(r["headers"]) for r in received)
    assert received[1]["body"]["stream"] is True
