"""The ``/genai`` drop-in: the official google-genai SDK against a gateway process, with Gemini (native, bytes
passed through), OpenAI and Anthropic (translated) behind it, streaming included. Each test asserts what the
fake provider received and what the SDK returned."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayFactory, GatewayProcess
from harness import openai_config

GEMINI = "gemini-2.5-flash"
CLAUDE = "claude-3-5-sonnet-20241022"
GEMINI_KEY = "gk-genai-test"
ANTHROPIC_KEY = "sk-ant-genai"
SECRETS = (GEMINI_KEY, ANTHROPIC_KEY, "sk-test-main", "sk-test-spare")
TARGETS = [
    pytest.param(GEMINI, "gemini", id="gemini-native"),
    pytest.param("openai/gpt-4o-mini", "openai", id="openai"),
    pytest.param(f"anthropic/{CLAUDE}", "anthropic", id="anthropic"),
]
WEATHER = types.FunctionDeclaration(
    name="get_weather",
    description="Weather for a city",
    parameters=types.Schema(
        type=types.Type.OBJECT,
        properties={"city": types.Schema(type=types.Type.STRING), "days": types.Schema(type=types.Type.INTEGER,
                                                                                       nullable=True)},
        required=["city"],
    ),
)


def genai_config(fake_url: str) -> dict[str, Any]:
    network = {"base_url": fake_url, "retry_backoff_initial_ms": 10, "retry_backoff_max_ms": 50}
    return openai_config(fake_url, providers={
        "gemini": {"keys": [{"name": "g", "value": GEMINI_KEY, "models": [GEMINI, "text-embedding-004"]}],
                   "network_config": network},
        "anthropic": {"keys": [{"name": "a", "value": ANTHROPIC_KEY, "models": [CLAUDE]}], "network_config": network},
    })


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    yield start_module_gateway(genai_config(fake_server.url))


def client(gw: GatewayProcess, version: str = "v1beta") -> genai.Client:
    return _client(gw.url, version)


@functools.cache  # kept alive: a collected genai Client closes its transport under the SDK's live iterators
def _client(url: str, version: str) -> genai.Client:
    options = types.HttpOptions(
        base_url=url + "/genai", api_version=version, retry_options=types.HttpRetryOptions(attempts=1)
    )
    return genai.Client(api_key="client-key-ignored", http_options=options)


def provider_request(fake: FakeProvider) -> dict[str, Any]:
    """The last request the fake received, checked for the provider's own auth."""
    req = fake.control.last()
    headers = req["headers"]
    if req["path"].startswith("/v1beta/models/"):
        assert headers["x-goog-api-key"] == GEMINI_KEY and "key" not in req["query"]
    elif req["path"] == "/v1/messages":
        assert headers["x-api-key"] == ANTHROPIC_KEY
    else:
        assert headers["authorization"] in ("Bearer sk-test-main", "Bearer sk-test-spare")
    assert "client-key-ignored" not in json.dumps(req)
    return req


@pytest.mark.parametrize("version", ["v1beta", "v1"])
@pytest.mark.parametrize(("model", "provider"), TARGETS)
def test_generate_content(gateway: GatewayProcess, fake: FakeProvider, model: str, provider: str, version: str) -> None:
    fake.control.script({"reply": "Bonjour!", "usage": {"prompt_tokens": 11, "completion_tokens": 3}})
    config = types.GenerateContentConfig(
        system_instruction="Answer in French.", temperature=0.5, max_output_tokens=64, stop_sequences=["END"]
    )
    r = client(gateway, version).models.generate_content(model=model, contents="Hello", config=config)
    assert r.text == "Bonjour!"
    assert r.candidates and r.candidates[0].finish_reason == types.FinishReason.STOP
    assert r.usage_metadata is not None
    assert (r.usage_metadata.prompt_token_count, r.usage_metadata.candidates_token_count) == (11, 3)
    assert r.usage_metadata.total_token_count == 14
    req = provider_request(fake)
    body = req["body"]
    if provider == "gemini":  # passed through as the SDK sent it
        assert req["path"] == f"/v1beta/models/{GEMINI}:generateContent"
        assert body["systemInstruction"] == {"parts": [{"text": "Answer in French."}], "role": "user"}
        assert body["generationConfig"] == {"temperature": 0.5, "maxOutputTokens": 64, "stopSequences": ["END"]}
    elif provider == "openai":
        assert body == {"model": "gpt-4o-mini", "temperature": 0.5, "max_tokens": 64, "stop": ["END"],
                        "messages": [{"role": "system", "content": "Answer in French."},
                                     {"role": "user", "content": "Hello"}]}
    else:
        assert body["system"] == "Answer in French." and body["max_tokens"] == 64
        assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
        assert body["stop_sequences"] == ["END"] and body["temperature"] == 0.5


@pytest.mark.parametrize(("model", "provider"), TARGETS)
def test_stream(gateway: GatewayProcess, fake: FakeProvider, model: str, provider: str) -> None:
    fake.control.script({"reply": "one two three", "usage": {"prompt_tokens": 5, "completion_tokens": 3}})
    chunks = list(client(gateway).models.generate_content_stream(model=model, contents="Count"))
    assert "".join(c.text or "" for c in chunks) == "one two three"
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None and last.usage_metadata.total_token_count == 8
    req = provider_request(fake)
    if provider == "gemini":
        assert req["path"] == f"/v1beta/models/{GEMINI}:streamGenerateContent" and req["query"] == {"alt": "sse"}
    else:
        assert req["body"]["stream"] is True


@pytest.mark.parametrize(("model", "provider"), TARGETS)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_function_calling_round_trip(
    gateway: GatewayProcess, fake: FakeProvider, model: str, provider: str, stream: bool
) -> None:
    fake.control.script({"tool_calls": [{"name": "get_weather", "arguments": {"city": "Paris", "days": 2}}]})
    gen = client(gateway).models
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=[WEATHER])],
        tool_config=types.ToolConfig(
            function_calling_config=types.FunctionCallingConfig(mode=types.FunctionCallingConfigMode.ANY)
        ),
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    ask = types.Content(role="user", parts=[types.Part(text="Weather in Paris?")])
    if stream:
        calls = [fc for c in gen.generate_content_stream(model=model, contents=[ask], config=config)
                 for fc in c.function_calls or ()]
    else:
        calls = gen.generate_content(model=model, contents=[ask], config=config).function_calls or []
    assert [(c.name, c.args) for c in calls] == [("get_weather", {"city": "Paris", "days": 2})]
    body = provider_request(fake)["body"]
    if provider == "openai":
        assert body["tool_choice"] == "required"
        assert body["tools"] == [{"type": "function", "function": {
            "name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "required": ["city"], "properties": {
                "city": {"type": "string"}, "days": {"type": ["integer", "null"]}}}}}]
    elif provider == "anthropic":
        assert body["tool_choice"] == {"type": "any"} and body["tools"][0]["name"] == "get_weather"

    fake.control.script({"reply": "Sunny."})
    answer = types.Part.from_function_response(name="get_weather", response={"sky": "clear"})
    history = [ask, types.Content(role="model", parts=[types.Part(function_call=calls[0])]),
               types.Content(role="user", parts=[answer])]
    assert gen.generate_content(model=model, contents=history, config=config).text == "Sunny."
    body = provider_request(fake)["body"]
    if provider == "openai":
        call_id = body["messages"][1]["tool_calls"][0]["id"]
        assert body["messages"][1]["tool_calls"][0]["function"]["name"] == "get_weather"
        assert body["messages"][2] == {"role": "tool", "tool_call_id": call_id, "content": '{"sky":"clear"}'}
    elif provider == "anthropic":
        tool_use = body["messages"][1]["content"][0]
        assert tool_use["type"] == "tool_use" and tool_use["input"] == {"city": "Paris", "days": 2}
        assert body["messages"][2]["content"][0]["tool_use_id"] == tool_use["id"]
    else:
        assert body["contents"][2]["parts"][0]["functionResponse"]["response"] == {"sky": "clear"}


@pytest.mark.parametrize(("model", "provider"), TARGETS[1:])
def test_thinking_config_becomes_reasoning_effort(
    gateway: GatewayProcess, fake: FakeProvider, model: str, provider: str
) -> None:
    config = types.GenerateContentConfig(thinking_config=types.ThinkingConfig(thinking_budget=20000))
    client(gateway).models.generate_content(model=model, contents="Think", config=config)
    body = provider_request(fake)["body"]
    if provider == "openai":
        assert "reasoning_effort" not in body  # gpt-4o-mini is not a reasoning model: OpenAI would refuse it
    else:
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 16384}


def test_reasoning_model_gets_max_completion_tokens(gateway: GatewayProcess, fake: FakeProvider) -> None:
    thinking = types.ThinkingConfig(thinking_level=types.ThinkingLevel.HIGH)
    config = types.GenerateContentConfig(max_output_tokens=500, temperature=0.3, thinking_config=thinking)
    client(gateway).models.generate_content(model="local-vllm/gpt-5.1", contents="Think", config=config)
    body = fake.control.last()["body"]  # local-vllm is key-less
    assert body["max_completion_tokens"] == 500 and "max_tokens" not in body and "temperature" not in body
    assert body["reasoning_effort"] == "high"


def test_image_and_pdf_to_openai(gateway: GatewayProcess, fake: FakeProvider) -> None:
    parts = [types.Part(text="What?"), types.Part.from_bytes(data=b"\x89PNG", mime_type="image/png"),
             types.Part.from_bytes(data=b"%PDF-1.4", mime_type="application/pdf")]
    client(gateway).models.generate_content(model="openai/gpt-4o", contents=[types.Content(role="user", parts=parts)])
    content = provider_request(fake)["body"]["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "What?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw=="}},
        {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBERi0xLjQ="}},
    ]


@pytest.mark.parametrize(("model", "provider"), TARGETS)
def test_upstream_error_in_google_shape(gateway: GatewayProcess, fake: FakeProvider, model: str, provider: str) -> None:
    fake.control.script({"status": 400, "error_message": "bad request upstream"})
    with pytest.raises(genai_errors.ClientError) as info:
        client(gateway).models.generate_content(model=model, contents="Hi")
    assert info.value.code == 400 and info.value.status == "INVALID_ARGUMENT"
    assert info.value.message == "bad request upstream"
    for secret in SECRETS:
        assert secret not in json.dumps(info.value.details)


@pytest.mark.parametrize(("model", "provider"), TARGETS)
def test_mid_stream_error_becomes_an_error_event(
    gateway: GatewayProcess, fake: FakeProvider, model: str, provider: str
) -> None:
    after = {"gemini": 2, "openai": 3, "anthropic": 5}[provider]  # events before the error: some text went out
    script = {"reply": "one two three four five", "stream_error_after": after, "error_message": "Overloaded"}
    fake.control.script(script)
    pieces: list[str] = []
    with pytest.raises(genai_errors.APIError) as info:
        for chunk in client(gateway).models.generate_content_stream(model=model, contents="Hi"):
            pieces.append(chunk.text or "")
    assert "Overloaded" in str(info.value)
    assert "".join(pieces).startswith("one")


def test_gateway_errors_in_google_shape(gateway: GatewayProcess, fake: FakeProvider) -> None:
    with pytest.raises(genai_errors.ClientError) as info:
        client(gateway).models.generate_content(model="nope/unknown-model", contents="Hi")
    assert info.value.code == 404 and info.value.status == "NOT_FOUND"
    with pytest.raises(genai_errors.ClientError) as info:
        client(gateway).models.generate_content(
            model="openai/gpt-4o", contents="Hi",
            config=types.GenerateContentConfig(tools=[types.Tool(google_search=types.GoogleSearch())]),
        )
    assert info.value.code == 400 and "googleSearch" in (info.value.message or "")
    with pytest.raises(genai_errors.ClientError) as info:
        client(gateway).models.count_tokens(model="openai/gpt-4o", contents="Hi")
    assert info.value.code == 400 and "only available for Gemini" in (info.value.message or "")


def test_count_tokens_and_embeddings(gateway: GatewayProcess, fake: FakeProvider) -> None:
    gen = client(gateway).models
    assert gen.count_tokens(model=GEMINI, contents="x" * 40).total_tokens == 10
    assert provider_request(fake)["path"] == f"/v1beta/models/{GEMINI}:countTokens"
    native = gen.embed_content(model="text-embedding-004", contents=["alpha", "beta"])
    assert native.embeddings is not None and len(native.embeddings) == 2
    assert provider_request(fake)["path"] == "/v1beta/models/text-embedding-004:batchEmbedContents"
    config = types.EmbedContentConfig(output_dimensionality=4)
    translated = gen.embed_content(model="local-vllm/text-embedding-3-small", contents=["alpha", "beta"], config=config)
    assert translated.embeddings is not None and [len(e.values or []) for e in translated.embeddings] == [4, 4]
    body = fake.control.last()["body"]
    assert body == {"model": "text-embedding-3-small", "input": ["alpha", "beta"], "encoding_format": "float",
                    "dimensions": 4}


def test_models_list_and_get(gateway: GatewayProcess, fake: FakeProvider) -> None:
    names = [m.name for m in client(gateway).models.list()]
    assert {f"models/gemini/{GEMINI}", "models/openai/gpt-4o-mini", f"models/anthropic/{CLAUDE}"} <= set(names)
    model = client(gateway).models.get(model=f"gemini/{GEMINI}")
    assert model.name == f"models/gemini/{GEMINI}"


def test_client_key_used_only_with_allow_direct_keys(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    config = genai_config(fake.url)
    config["client"] = {"allow_direct_keys": True}
    gw = start_gateway(config)
    options = types.HttpOptions(base_url=gw.url + "/genai", retry_options=types.HttpRetryOptions(attempts=1))
    own = genai.Client(api_key="gk-the-clients-own", http_options=options)
    assert own.models.generate_content(model=GEMINI, contents="echo: mine").text == "mine"
    assert fake.control.last()["headers"]["x-goog-api-key"] == "gk-the-clients-own"
