"""The official ``openai`` Python SDK against a running gateway (real sockets), the fake upstream behind it."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from bifrost.testing.fake_provider.openai_wire import embedding_vector
from harness import GatewayFactory, GatewayProcess, openai_config

EMBED_MODEL = "text-embedding-3-small"
INSTRUCT_MODEL = "gpt-3.5-turbo-instruct"
HELLO = [{"role": "user", "content": "Hello!"}]


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    yield start_module_gateway(openai_config(fake_server.url, extra_models=[EMBED_MODEL, INSTRUCT_MODEL]))


def client(gw: GatewayProcess, base: str = "openai", **kwargs: Any) -> openai.OpenAI:
    base_url = {"openai": gw.openai_url, "v1": gw.v1_url, "openai/v1": gw.openai_url + "/v1"}[base]
    return openai.OpenAI(base_url=base_url, api_key="sk-client-ignored", max_retries=0, timeout=20, **kwargs)


def async_client(gw: GatewayProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.openai_url, api_key="sk-client-ignored", max_retries=0, timeout=20)


def extras(model: Any) -> dict[str, Any]:
    """The gateway's ``extra_fields`` as the SDK keeps them (pydantic extra attributes)."""
    extra = model.model_extra or {}
    fields = extra.get("extra_fields")
    assert isinstance(fields, dict), f"no extra_fields in {model!r}"
    return fields


# --- chat -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base", ["openai", "v1", "openai/v1"])
def test_chat_sync_on_each_base_url(gateway: GatewayProcess, fake: FakeProvider, base: str) -> None:
    fake.control.script({"reply": "The capital of France is Paris."})
    resp = client(gateway, base).chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content == "The capital of France is Paris."
    assert resp.choices[0].message.role == "assistant"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.model == "gpt-4o-mini"
    assert resp.usage is not None and resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens
    fields = extras(resp)
    assert fields["provider"] == "openai"
    assert fields["model_requested"] == "gpt-4o-mini"
    assert fields["retries"] == 0 and fields["fallback_index"] == 0
    assert isinstance(fields["latency_ms"], int | float) and fields["latency_ms"] >= 0
    assert fake.control.last()["path"] == "/v1/chat/completions"


def test_chat_stream_concatenates_to_reply(gateway: GatewayProcess, fake: FakeProvider) -> None:
    reply = "Once upon a time there was a gateway that streamed every word."
    fake.control.script({"reply": reply})
    stream = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    pieces: list[str] = []
    finish: list[str] = []
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.choices:
            if chunk.choices[0].delta.content is not None:
                pieces.append(chunk.choices[0].delta.content)
            if chunk.choices[0].finish_reason:
                finish.append(chunk.choices[0].finish_reason)
    assert "".join(pieces) == reply
    assert len(pieces) > 3  # really streamed, not one lump
    assert finish == ["stop"]
    assert fake.control.last()["body"]["stream"] is True


def test_chat_stream_include_usage_gives_usage_chunk(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": "counted words here", "usage": {"prompt_tokens": 11, "completion_tokens": 3}})
    stream = client(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=HELLO, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (11, 3, 14)
    assert all(c.usage is None for c in chunks[:-1])
    assert fake.control.last()["body"]["stream_options"] == {"include_usage": True}


def test_chat_stream_with_raw_response_headers(gateway: GatewayProcess, fake: FakeProvider) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO, stream=True
    )
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert raw.headers["x-bifrost-provider"] == "openai"
    assert raw.headers.get("x-request-id")
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text == "Hello from fake gpt-4o-mini!"


async def test_chat_async_client(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": "async hello"}, {"reply": "async streamed hello"})
    async with async_client(gateway) as aclient:
        resp = await aclient.chat.completions.create(model="gpt-4o", messages=HELLO)
        assert resp.choices[0].message.content == "async hello"
        assert extras(resp)["provider"] == "openai"
        stream = await aclient.chat.completions.create(
            model="gpt-4o", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        pieces = []
        usage = None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
        assert "".join(pieces) == "async streamed hello"
        assert usage is not None and usage.completion_tokens == 3


def test_chat_tool_calls_come_back(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script(
        {"tool_calls": [{"id": "call_123", "name": "list_directory", "arguments": {"path": "."}}]}
    )
    resp = client(gateway).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "What files are here?"}], tools=[LIST_DIR_TOOL]
    )
    message = resp.choices[0].message
    assert resp.choices[0].finish_reason == "tool_calls"
    assert message.content is None
    assert message.tool_calls is not None and len(message.tool_calls) == 1
    call = message.tool_calls[0]
    assert call.id == "call_123"
    assert call.function.name == "list_directory"
    assert call.function.arguments == '{"path":"."}'


# --- text completions, embeddings, models -------------------------------------------------------------


def test_text_completion(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": "This is indeed a test"}, {"reply": "streamed text completion"})
    c = client(gateway)
    resp = c.completions.create(model=INSTRUCT_MODEL, prompt="Say this is a test", max_tokens=7)
    assert resp.object == "text_completion"
    assert resp.choices[0].text == "This is indeed a test"
    assert fake.control.last()["path"] == "/v1/completions"
    assert fake.control.last()["body"]["prompt"] == "Say this is a test"
    stream = c.completions.create(model=INSTRUCT_MODEL, prompt="Say this", stream=True)
    assert "".join(chunk.choices[0].text for chunk in stream if chunk.choices) == "streamed text completion"


def test_embeddings_base64_default_decoded(gateway: GatewayProcess, fake: FakeProvider) -> None:
    resp = client(gateway).embeddings.create(model=EMBED_MODEL, input=["alpha", "beta"])
    sent = fake.control.last()
    assert sent["path"] == "/v1/embeddings"
    assert sent["body"]["encoding_format"] == "base64"  # what the SDK asks for by default
    assert [d.index for d in resp.data] == [0, 1]
    for item, text in zip(resp.data, ["alpha", "beta"], strict=True):
        assert item.embedding == pytest.approx(embedding_vector(text, 8), abs=1e-6)
    assert resp.model == EMBED_MODEL
    assert resp.usage.prompt_tokens >= 1
    assert extras(resp)["provider"] == "openai"


def test_embeddings_float_and_dimensions(gateway: GatewayProcess, fake: FakeProvider) -> None:
    resp = client(gateway).embeddings.create(
        model=EMBED_MODEL, input="alpha", encoding_format="float", dimensions=16
    )
    assert len(resp.data[0].embedding) == 16
    assert resp.data[0].embedding == pytest.approx(embedding_vector("alpha", 16), abs=1e-9)
    raw = client(gateway).embeddings.with_raw_response.create(model=EMBED_MODEL, input="alpha")
    encoded = raw.http_response.json()["data"][0]["embedding"]
    assert isinstance(encoded, str)  # base64 went through untouched
    assert list(struct.unpack("<8f", base64.b64decode(encoded))) == pytest.approx(embedding_vector("alpha", 8))


def test_models_list(gateway: GatewayProcess) -> None:
    """Configured models first, in config order; then what the key-less local-vllm's own list names."""
    ids = [m.id for m in client(gateway).models.list()]
    assert ids[:5] == [
        "openai/gpt-4o-mini",
        "openai/gpt-4o",
        f"openai/{EMBED_MODEL}",
        f"openai/{INSTRUCT_MODEL}",
        "groq/llama-3.1-8b-instant",
    ]
    assert all(i.startswith("local-vllm/") for i in ids[5:])


# --- headers -----------------------------------------------------------------------------------------


def test_with_raw_response_headers(gateway: GatewayProcess, fake: FakeProvider) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    assert raw.status_code == 200
    assert raw.headers["x-bifrost-provider"] == "openai"
    request_id = raw.headers["x-request-id"]
    assert request_id and len(request_id) >= 8
    assert raw.parse().choices[0].message.content == "Hello from fake gpt-4o-mini!"
    other = client(gateway).chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    assert other.headers["x-request-id"] != request_id


def test_client_request_id_is_echoed(gateway: GatewayProcess, fake: FakeProvider) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=HELLO, extra_headers={"x-request-id": "req-from-client-42"}
    )
    assert raw.headers["x-request-id"] == "req-from-client-42"
    with pytest.raises(openai.NotFoundError) as info:
        client(gateway).chat.completions.create(
            model="no-such-model", messages=HELLO, extra_headers={"x-request-id": "req-err-7"}
        )
    assert info.value.response.headers["x-request-id"] == "req-err-7"


def test_guide_default_headers_do_not_break(gateway: GatewayProcess, fake: FakeProvider) -> None:
    c = client(gateway, default_headers={"X-Organization": "your-org-id", "X-Environment": "production"})
    assert c.chat.completions.create(model="gpt-4o-mini", messages=HELLO).choices[0].message.content


# --- errors ------------------------------------------------------------------------------------------


def test_unknown_model_is_not_found_listing_models(gateway: GatewayProcess, fake: FakeProvider) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        client(gateway).chat.completions.create(model="gpt-9-ultra", messages=HELLO)
    err = info.value
    assert err.status_code == 404
    assert err.code == "model_not_found"
    assert "gpt-9-ultra" in err.message
    assert "openai/gpt-4o-mini" in err.message and "groq/llama-3.1-8b-instant" in err.message
    assert fake.control.log() == []  # nothing went upstream


def test_malformed_input_is_bad_request(gateway: GatewayProcess, fake: FakeProvider) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).chat.completions.create(model="gpt-4o-mini", messages=[])
    assert info.value.status_code == 400
    assert info.value.param == "messages"
    assert "messages" in info.value.message
    assert isinstance(info.value.body, dict) and info.value.body.get("type") == "invalid_request_error"
    assert fake.control.log() == []


def test_upstream_500_is_internal_server_error(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"status": 500, "error_message": "the upstream exploded"})
    with pytest.raises(openai.InternalServerError) as info:
        client(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)
    err = info.value
    assert err.status_code == 500
    assert "the upstream exploded" in err.message
    assert err.response.headers["x-bifrost-provider"] == "openai"
    assert isinstance(err.body, dict)


def test_upstream_error_status_kept(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"status": 503, "error_message": "upstream is down for maintenance"})
    with pytest.raises(openai.APIStatusError) as info:
        client(gateway).chat.completions.create(model="gpt-4o", messages=HELLO)
    assert info.value.status_code == 503
    assert "upstream is down for maintenance" in info.value.message


def test_upstream_429_is_rate_limit_error(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(openai_config(fake.url))  # its own gateway: the 429 cools a key down
    fake.control.script({"status": 429, "error_message": "Rate limit reached for requests", "retry_after": 2})
    with pytest.raises(openai.RateLimitError) as info:
        client(gw).chat.completions.create(model="gpt-4o", messages=HELLO)
    err = info.value
    assert err.status_code == 429
    assert "Rate limit reached" in err.message
    assert err.response.headers.get("retry-after") == "2"


def test_upstream_429_without_retry_after_still_gives_retry_after(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    """CONTRACT §6: 429 rate_limit_exceeded (with ``Retry-After``); the gateway knows the key's cool-down."""
    gw = start_gateway(openai_config(fake.url))
    fake.control.script({"status": 429, "error_message": "Rate limit reached for requests"})
    with pytest.raises(openai.RateLimitError) as info:
        client(gw).chat.completions.create(model="gpt-4o", messages=HELLO)
    retry_after = info.value.response.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit(), dict(info.value.response.headers)


def test_stream_error_after_start_raises(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"stream_error_after": 2, "error_message": "upstream overloaded mid-stream"})
    stream = client(gateway).chat.completions.create(model="gpt-4o-mini", messages=HELLO, stream=True)
    with pytest.raises(openai.APIError, match="upstream overloaded mid-stream"):
        for _ in stream:
            pass


# --- provider routing --------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["groq/llama-3.1-8b-instant", "llama-3.1-8b-instant"])
def test_groq_routing(gateway: GatewayProcess, fake: FakeProvider, model: str) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(model=model, messages=HELLO)
    assert raw.headers["x-bifrost-provider"] == "groq"
    resp = raw.parse()
    assert resp.model == "llama-3.1-8b-instant"
    assert extras(resp)["provider"] == "groq"
    assert extras(resp)["model_requested"] == model
    sent = fake.control.last()
    assert sent["body"]["model"] == "llama-3.1-8b-instant"
    assert sent["headers"]["authorization"] == "Bearer gsk-test"


def test_keyless_custom_provider(gateway: GatewayProcess, fake: FakeProvider) -> None:
    raw = client(gateway).chat.completions.with_raw_response.create(model="local-vllm/some-model", messages=HELLO)
    assert raw.headers["x-bifrost-provider"] == "local-vllm"
    assert raw.parse().choices[0].message.content == "Hello from fake some-model!"
    sent = fake.control.last()
    assert sent["body"]["model"] == "some-model"
    assert "authorization" not in sent["headers"]
    assert sent["key"] is None


def test_provider_prefixed_openai_model(gateway: GatewayProcess, fake: FakeProvider) -> None:
    resp = client(gateway).chat.completions.create(model="openai/gpt-4o", messages=HELLO)
    assert resp.model == "gpt-4o"
    assert extras(resp)["model_requested"] == "openai/gpt-4o"
    assert fake.control.last()["headers"]["authorization"] == "Bearer sk-test-main"


# --- pass-through of every request field -------------------------------------------------------------

LIST_DIR_TOOL = {
    "type": "function",
    "function": {
        "name": "list_directory",
        "description": "List files in a directory",
        "parameters": {
            "type": "object",
            "properties": {"path": {"type": "string", "description": "Directory path"}},
            "required": ["path"],
        },
    },
}

VISION_MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What's in this image?"},
            {
                "type": "image_url",
                "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQEAYABgAAD", "detail": "low"},
            },
        ],
    }
]

PASS_THROUGH_CASES: dict[str, dict[str, Any]] = {
    "tools": {"tools": [LIST_DIR_TOOL], "tool_choice": "auto", "parallel_tool_calls": False},
    "response_format": {
        "response_format": {
            "type": "json_schema",
            "json_schema": {
                "name": "answer",
                "strict": True,
                "schema": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            },
        }
    },
    "logprobs": {"logprobs": True, "top_logprobs": 3},
    "seed_n_sampling": {
        "seed": 1234, "n": 2, "temperature": 0.2, "top_p": 0.9, "stop": ["\n\n", "END"],
        "presence_penalty": 0.5, "frequency_penalty": -0.5, "max_tokens": 50, "user": "user-1",
        "logit_bias": {"50256": -100},
    },
    "vision": {"messages": VISION_MESSAGES},
    "system_and_history": {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "list_directory", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a.txt"},
        ],
        "tools": [LIST_DIR_TOOL],
    },
}


@pytest.mark.parametrize("case", sorted(PASS_THROUGH_CASES))
def test_fields_arrive_unchanged(gateway: GatewayProcess, fake: FakeProvider, case: str) -> None:
    params = {"model": "gpt-4o-mini", "messages": HELLO, **PASS_THROUGH_CASES[case]}
    client(gateway).chat.completions.create(**params)
    assert fake.control.last()["body"] == params


def test_unknown_future_field_arrives_unchanged(gateway: GatewayProcess, fake: FakeProvider) -> None:
    client(gateway).chat.completions.create(
        model="openai/gpt-4o-mini",
        messages=HELLO,
        extra_body={"brand_new_param": {"x": 1, "nested": [1, "two", None]}, "another_one": True},
    )
    body = fake.control.last()["body"]
    assert body == {
        "model": "gpt-4o-mini",
        "messages": HELLO,
        "brand_new_param": {"x": 1, "nested": [1, "two", None]},
        "another_one": True,
    }


def test_fallbacks_field_removed_before_upstream(gateway: GatewayProcess, fake: FakeProvider) -> None:
    client(gateway).chat.completions.create(
        model="gpt-4o", messages=HELLO, extra_body={"fallbacks": ["groq/llama-3.1-8b-instant"]}
    )
    body = fake.control.last()["body"]
    assert "fallbacks" not in body
    assert body == {"model": "gpt-4o", "messages": HELLO}
