"""What the upstream receives: the client's body (only ``model`` rewritten), the configured key, and
exactly the headers the contract forwards (CONTRACT §4, §5)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, openai_config

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
EMBED_MODEL = "text-embedding-3-small"
INSTRUCT_MODEL = "gpt-3.5-turbo-instruct"
HELLO = [{"role": "user", "content": "Hello!"}]
CONFIG_HEADERS = {"OpenAI-Organization": "org-1", "X-Config-Header": "from-config"}


def post(
    url: str, body: Any, headers: dict[str, str] | None = None, timeout: float = 20
) -> tuple[int, dict[str, str], Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="POST")
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            status, resp_headers, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        status, resp_headers, raw = err.code, dict(err.headers), err.read()
    is_json = resp_headers.get("Content-Type", "").startswith("application/json")
    return status, resp_headers, json.loads(raw) if is_json else raw


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    config = openai_config(
        fake_server.url,
        extra_models=[EMBED_MODEL, INSTRUCT_MODEL],
        providers={"openai": {"network_config": {"extra_headers": CONFIG_HEADERS}}},
    )
    yield start_module_gateway(config)


def chat_url(gw: GatewayProcess) -> str:
    return gw.openai_url + "/v1/chat/completions"


# --- the body ----------------------------------------------------------------------------------------

RICH_CHAT: dict[str, Any] = {
    "messages": [
        {"role": "developer", "content": "Answer in French."},
        {"role": "user", "content": [
            {"type": "text", "text": "What's in this image?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "high"}},
        ]},
    ],
    "temperature": 0.7,
    "top_p": 1,
    "max_completion_tokens": 300,
    "stop": "END",
    "seed": 7,
    "n": 1,
    "logprobs": False,
    "metadata": {"team": "a"},
    "store": False,
    "reasoning_effort": "low",
    "service_tier": "auto",
    "prediction": {"type": "content", "content": "draft"},
    "modalities": ["text"],
    "a_field_from_the_future": {"deep": [1, 2.5, "x", None, True, {"k": []}]},
    "unicode": "héllo ✓ 日本語",
}


@pytest.mark.parametrize(
    ("model", "upstream_model"),
    [("gpt-4o", "gpt-4o"), ("openai/gpt-4o", "gpt-4o"), ("groq/llama-3.1-8b-instant", "llama-3.1-8b-instant")],
)
def test_chat_body_unchanged_but_model(
    gateway: GatewayProcess, fake: FakeProvider, model: str, upstream_model: str
) -> None:
    status, _, answer = post(chat_url(gateway), {"model": model, **RICH_CHAT})
    assert status == 200, answer
    assert fake.control.last()["body"] == {"model": upstream_model, **RICH_CHAT}


def test_stream_body_unchanged_but_model(gateway: GatewayProcess, fake: FakeProvider) -> None:
    body = {"model": "openai/gpt-4o", **RICH_CHAT, "stream": True, "stream_options": {"include_usage": True}}
    status, _, raw = post(chat_url(gateway), body)
    assert status == 200
    assert raw.endswith(b"data: [DONE]\n\n")
    assert fake.control.last()["body"] == {**body, "model": "gpt-4o"}


def test_fallbacks_removed(gateway: GatewayProcess, fake: FakeProvider) -> None:
    body = {"model": "gpt-4o", "messages": HELLO, "fallbacks": ["groq/llama-3.1-8b-instant"], "seed": 1}
    status, _, _ = post(chat_url(gateway), body)
    assert status == 200
    assert fake.control.last()["body"] == {"model": "gpt-4o", "messages": HELLO, "seed": 1}


def test_completion_and_embedding_bodies_unchanged(gateway: GatewayProcess, fake: FakeProvider) -> None:
    completion = {"model": INSTRUCT_MODEL, "prompt": ["a", "b"], "max_tokens": 5, "echo": True, "suffix": "!",
                  "best_of": 1, "new_completion_param": 3}
    assert post(gateway.v1_url + "/completions", completion)[0] == 200
    assert fake.control.last()["path"] == "/v1/completions"
    assert fake.control.last()["body"] == completion
    embedding = {"model": "openai/" + EMBED_MODEL, "input": [[1, 2, 3]], "dimensions": 4, "user": "u"}
    assert post(gateway.v1_url + "/embeddings", embedding)[0] == 200
    assert fake.control.last()["path"] == "/v1/embeddings"
    assert fake.control.last()["body"] == {**embedding, "model": EMBED_MODEL}


# --- keys --------------------------------------------------------------------------------------------


def test_configured_key_in_authorization(gateway: GatewayProcess, fake: FakeProvider) -> None:
    post(chat_url(gateway), {"model": "gpt-4o", "messages": HELLO})  # only `main` serves gpt-4o
    assert fake.control.last()["headers"]["authorization"] == "Bearer sk-test-main"
    seen = set()
    for _ in range(30):  # gpt-4o-mini: both keys, weighted random
        post(chat_url(gateway), {"model": "gpt-4o-mini", "messages": HELLO})
        seen.add(fake.control.last()["headers"]["authorization"])
    assert seen == {"Bearer sk-test-main", "Bearer sk-test-spare"}


@pytest.mark.parametrize(("name", "value"), [("spare", "sk-test-spare"), ("main", "sk-test-main")])
def test_pinned_key(gateway: GatewayProcess, fake: FakeProvider, name: str, value: str) -> None:
    for _ in range(8):
        status, _, _ = post(chat_url(gateway), {"model": "gpt-4o-mini", "messages": HELLO}, {"x-bf-api-key": name})
        assert status == 200
        received = fake.control.last()["headers"]
        assert received["authorization"] == f"Bearer {value}"
        assert "x-bf-api-key" not in received


def test_client_authorization_ignored(gateway: GatewayProcess, fake: FakeProvider) -> None:
    status, _, _ = post(
        chat_url(gateway),
        {"model": "gpt-4o", "messages": HELLO},
        {"Authorization": "Bearer sk-client-own-key", "x-api-key": "sk-client-x-api-key"},
    )
    assert status == 200
    received = fake.control.last()["headers"]
    assert received["authorization"] == "Bearer sk-test-main"
    assert "x-api-key" not in received
    assert "sk-client" not in json.dumps(received)


def test_allow_direct_keys_uses_client_key(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(openai_config(fake.url, client={"allow_direct_keys": True}))
    status, _, _ = post(
        chat_url(gw), {"model": "gpt-4o", "messages": HELLO}, {"Authorization": "Bearer sk-client-own-key"}
    )
    assert status == 200
    assert fake.control.last()["headers"]["authorization"] == "Bearer sk-client-own-key"
    # without a client key the configured one is used
    assert post(chat_url(gw), {"model": "gpt-4o", "messages": HELLO})[0] == 200
    assert fake.control.last()["headers"]["authorization"] == "Bearer sk-test-main"


def test_direct_key_echoed_by_upstream_is_redacted(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    """CONTRACT §6: no error ever holds an API key; configured keys are redacted from upstream messages,
    and a client's direct key (allow_direct_keys) must be too."""
    gw = start_gateway(openai_config(fake.url, client={"allow_direct_keys": True}), log_level="debug")
    fake.control.script({"status": 401, "error_message": "Incorrect API key provided: sk-client-own-key."})
    status, _, answer = post(
        chat_url(gw), {"model": "gpt-4o", "messages": HELLO}, {"Authorization": "Bearer sk-client-own-key"}
    )
    assert status == 401
    assert "Incorrect API key provided" in answer["error"]["message"]
    assert "sk-client-own-key" not in json.dumps(answer)
    gw.stop()
    assert "sk-client-own-key" not in gw.logs()


# --- headers -----------------------------------------------------------------------------------------


def test_config_extra_headers_added(gateway: GatewayProcess, fake: FakeProvider) -> None:
    post(chat_url(gateway), {"model": "gpt-4o", "messages": HELLO})
    received = fake.control.last()["headers"]
    assert received["openai-organization"] == "org-1"
    assert received["x-config-header"] == "from-config"
    assert received["content-type"].startswith("application/json")
    # another provider does not get openai's extra headers
    post(chat_url(gateway), {"model": "groq/llama-3.1-8b-instant", "messages": HELLO})
    assert "openai-organization" not in fake.control.last()["headers"]


def test_x_bf_eh_forwarded(gateway: GatewayProcess, fake: FakeProvider) -> None:
    status, _, _ = post(
        chat_url(gateway),
        {"model": "gpt-4o", "messages": HELLO},
        {"x-bf-eh-x-trace-id": "trace-123", "X-BF-EH-Helicone-Auth": "helicone-value"},
    )
    assert status == 200
    received = fake.control.last()["headers"]
    assert received["x-trace-id"] == "trace-123"
    assert received["helicone-auth"] == "helicone-value"
    assert not [name for name in received if name.startswith("x-bf-")]


def test_x_bf_eh_blocked_headers_not_forwarded(gateway: GatewayProcess, fake: FakeProvider) -> None:
    status, _, _ = post(
        chat_url(gateway),
        {"model": "gpt-4o", "messages": HELLO},
        {
            "x-bf-eh-cookie": "session=stolen",
            "x-bf-eh-host": "evil.example.com",
            "x-bf-eh-authorization": "Bearer sk-injected",
            "x-bf-eh-connection": "upgrade",
            "x-bf-eh-x-api-key": "sk-injected-2",
            "x-bf-eh-transfer-encoding": "chunked",
            "Cookie": "client_session=abc",
        },
    )
    assert status == 200
    received = fake.control.last()["headers"]
    assert "cookie" not in received
    assert received["host"] == fake.url.removeprefix("http://")
    assert received["authorization"] == "Bearer sk-test-main"
    assert received.get("connection", "").lower() != "upgrade"
    assert "x-api-key" not in received
    assert "transfer-encoding" not in received
    assert "injected" not in json.dumps(received)
    assert not [name for name in received if name.startswith("x-bf-")]


def test_guide_custom_headers_do_not_break(gateway: GatewayProcess, fake: FakeProvider) -> None:
    status, headers, answer = post(
        chat_url(gateway),
        {"model": "gpt-4o-mini", "messages": HELLO},
        {"X-Organization": "your-org-id", "X-Environment": "production"},
    )
    assert status == 200
    assert answer["choices"][0]["message"]["content"] == "Hello from fake gpt-4o-mini!"
    assert headers["x-bifrost-provider"] == "openai"
    assert fake.control.last()["headers"]["authorization"] in ("Bearer sk-test-main", "Bearer sk-test-spare")


def test_keyless_provider_sends_no_authorization(gateway: GatewayProcess, fake: FakeProvider) -> None:
    status, _, _ = post(
        chat_url(gateway), {"model": "local-vllm/qwen", "messages": HELLO}, {"Authorization": "Bearer sk-client"}
    )
    assert status == 200
    received = fake.control.last()
    assert received["body"]["model"] == "qwen"
    assert "authorization" not in received["headers"]
    assert "openai-organization" not in received["headers"]


# --- stream usage the gateway asks for ----------------------------------------------------------------


def test_openai_stream_usage_is_asked_for_but_not_shown_to_a_client_that_did_not_ask(
    gateway: GatewayProcess, fake: FakeProvider
) -> None:
    """For metrics and cost the gateway asks OpenAI for the usage chunk; the client who did not ask
    for it does not see it, and a client who did gets it unchanged."""
    status, _, raw = post(chat_url(gateway), {"model": "gpt-4o-mini", "messages": HELLO, "stream": True})
    assert status == 200
    received = fake.control.last()["body"]
    assert received["stream_options"] == {"include_usage": True}
    events = [line[6:] for line in raw.decode().split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(chunk["choices"] for chunk in chunks), "no usage-only chunk reaches this client"

    status, _, raw = post(
        chat_url(gateway),
        {"model": "gpt-4o-mini", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}},
    )
    chunks = [json.loads(line[6:]) for line in raw.decode().split("\n") if line.startswith("data: {")]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
