"""Conformance cells for the cloud providers (Azure, Bedrock, Vertex's Claude, Cohere) behind the OpenAI route.

Each test runs the official openai SDK against a gateway process whose providers all point at the fake,
and asserts both the exact upstream request (URL, auth or SigV4 shape, translated body) and what the SDK got.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayFactory, GatewayProcess

from .cloud import (
    calls,
    check_azure,
    check_bedrock,
    check_cohere,
    check_vertex,
    cloud_providers,
    last_call,
    no_cloud_secrets,
)
from .helpers import PDF_B64, PNG_B64, conformance_config, openai_chat, openai_chat_stream
from .matrix import (
    CLOUD_COLUMNS,
    OPENAI_TO_AZURE,
    OPENAI_TO_BEDROCK,
    OPENAI_TO_COHERE,
    OPENAI_TO_VERTEX,
    cells,
    column,
)

HI = [{"role": "user", "content": "Hi"}]
REPLY = "one two three four five six"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    base = conformance_config(fake_server.url)
    yield start_module_gateway({**base, "providers": {**base["providers"], **cloud_providers(fake_server.url)}})


def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key="sk-client-ignored", max_retries=0, timeout=20)


def sent(fake: FakeProvider, col: str, stream: bool = False) -> dict[str, Any]:
    """The upstream body, after checking the column's URL and auth."""
    req = last_call(fake)
    if col == OPENAI_TO_AZURE:
        return check_azure(req)  # type: ignore[no-any-return]
    if col == OPENAI_TO_BEDROCK:
        return check_bedrock(req, "converse-stream" if stream else "converse")  # type: ignore[no-any-return]
    if col == OPENAI_TO_VERTEX:
        return check_vertex(req, "streamRawPredict" if stream else "rawPredict")  # type: ignore[no-any-return]
    return check_cohere(req)  # type: ignore[no-any-return]


def chat(gw: GatewayProcess, col: str, **kwargs: Any) -> Any:
    return openai_chat(gw, model=column(col).model, **kwargs).obj


def stream(gw: GatewayProcess, col: str, **kwargs: Any) -> list[Any]:
    return openai_chat_stream(gw, model=column(col).model, **kwargs)


# --- plain chat, system, multi-turn ----------------------------------------------------------------

PLAIN = {
    OPENAI_TO_AZURE: {"model": "gpt-4o", "messages": HI},
    OPENAI_TO_BEDROCK: {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]},
    OPENAI_TO_VERTEX: {
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
        "max_tokens": 4096,
        "stream": False,
        "anthropic_version": "vertex-2023-10-16",
    },
    OPENAI_TO_COHERE: {"model": "command-r-plus", "messages": HI, "stream": False},
}


@pytest.mark.parametrize("col", cells("plain chat", *CLOUD_COLUMNS))
def test_plain_chat(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Hi there.", "usage": {"prompt_tokens": 9, "completion_tokens": 4}})
    resp = chat(gateway, col, messages=HI)
    assert sent(fake, col) == PLAIN[col]
    assert resp.object == "chat.completion" and resp.choices[0].message.role == "assistant"
    assert resp.choices[0].message.content == "Hi there." and resp.choices[0].finish_reason == "stop"
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens, resp.usage.total_tokens) == (9, 4, 13)


SYSTEM = [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}]


@pytest.mark.parametrize("col", cells("system prompt", *CLOUD_COLUMNS))
def test_system_prompt(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    chat(gateway, col, messages=SYSTEM)
    body = sent(fake, col)
    if col in (OPENAI_TO_AZURE, OPENAI_TO_COHERE):
        assert body["messages"] == SYSTEM
    elif col == OPENAI_TO_BEDROCK:
        assert body["system"] == [{"text": "Be terse."}] and len(body["messages"]) == 1
    else:
        assert body["system"] == "Be terse." and len(body["messages"]) == 1


TURNS = [
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "How are you?"},
]


@pytest.mark.parametrize("col", cells("multi-turn", *CLOUD_COLUMNS))
def test_multi_turn(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    chat(gateway, col, messages=TURNS)
    body = sent(fake, col)
    if col in (OPENAI_TO_AZURE, OPENAI_TO_COHERE):
        assert body["messages"] == TURNS
    elif col == OPENAI_TO_BEDROCK:
        assert body["messages"] == [{"role": m["role"], "content": [{"text": m["content"]}]} for m in TURNS]
    else:
        assert [(m["role"], m["content"][0]["text"]) for m in body["messages"]] == [
            (m["role"], m["content"]) for m in TURNS
        ]


# --- tools -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("tools", *CLOUD_COLUMNS))
def test_tools(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    chat(gateway, col, messages=HI, tools=[WEATHER], tool_choice="required")
    body = sent(fake, col)
    fn = WEATHER["function"]
    if col in (OPENAI_TO_AZURE,):
        assert body["tools"] == [WEATHER] and body["tool_choice"] == "required"
    elif col == OPENAI_TO_COHERE:
        assert body["tools"] == [WEATHER] and body["tool_choice"] == "REQUIRED"
    elif col == OPENAI_TO_BEDROCK:
        spec = {"name": fn["name"], "description": fn["description"], "inputSchema": {"json": fn["parameters"]}}
        assert body["toolConfig"] == {"tools": [{"toolSpec": spec}], "toolChoice": {"any": {}}}
    else:
        assert body["tools"] == [
            {"name": fn["name"], "description": fn["description"], "input_schema": fn["parameters"]}
        ]
        assert body["tool_choice"] == {"type": "any"}


CALLS = [
    {"name": "get_weather", "arguments": {"city": "Paris"}, "id": "call_1"},
    {"name": "get_weather", "arguments": {"city": "Rome"}, "id": "call_2"},
]


@pytest.mark.parametrize("col", cells("parallel tool calls", *CLOUD_COLUMNS))
def test_parallel_tool_calls(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"tool_calls": CALLS})
    resp = chat(gateway, col, messages=HI, tools=[WEATHER])
    calls = resp.choices[0].message.tool_calls
    assert [(c.id, c.function.name, json.loads(c.function.arguments)) for c in calls] == [
        ("call_1", "get_weather", {"city": "Paris"}),
        ("call_2", "get_weather", {"city": "Rome"}),
    ]
    assert resp.choices[0].finish_reason == "tool_calls"


HISTORY = [
    {"role": "user", "content": "Weather in Paris?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21C"},
]


@pytest.mark.parametrize("col", cells("tool results", *CLOUD_COLUMNS))
def test_tool_results(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    resp = chat(gateway, col, messages=HISTORY, tools=[WEATHER])
    body = sent(fake, col)
    msgs = body["messages"]
    if col == OPENAI_TO_AZURE:
        assert msgs == HISTORY
    elif col == OPENAI_TO_COHERE:
        assert msgs[1] == {"role": "assistant", "tool_calls": HISTORY[1]["tool_calls"]}
        assert msgs[2] == {"role": "tool", "tool_call_id": "call_1", "content": "Sunny, 21C"}
    elif col == OPENAI_TO_BEDROCK:
        assert msgs[1] == {
            "role": "assistant",
            "content": [{"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}}],
        }
        assert msgs[2] == {
            "role": "user",
            "content": [{"toolResult": {"toolUseId": "call_1", "content": [{"text": "Sunny, 21C"}]}}],
        }
    else:
        assert msgs[1]["content"] == [
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}
        ]
        assert msgs[2]["content"][0]["type"] == "tool_result" and msgs[2]["content"][0]["tool_use_id"] == "call_1"
    assert resp.choices[0].message.content


# --- images, documents -----------------------------------------------------------------------------

DATA_URL = f"data:image/png;base64,{PNG_B64}"
IMAGE_URL = "https://example.com/cat.png"


def image_message(url: str) -> list[dict[str, Any]]:
    parts = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]
    return [{"role": "user", "content": parts}]


@pytest.mark.parametrize("col", cells("images (base64)", *CLOUD_COLUMNS))
def test_image_base64(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    chat(gateway, col, messages=image_message(DATA_URL))
    content = sent(fake, col)["messages"][0]["content"]
    if col in (OPENAI_TO_AZURE, OPENAI_TO_COHERE):
        assert content == image_message(DATA_URL)[0]["content"]
    elif col == OPENAI_TO_BEDROCK:
        assert content[1] == {"image": {"format": "png", "source": {"bytes": PNG_B64}}}
    else:
        assert content[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}


@pytest.mark.parametrize("col", cells("images (URL)", *CLOUD_COLUMNS))
def test_image_url(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    if col == OPENAI_TO_BEDROCK:
        with pytest.raises(openai.BadRequestError) as info:
            chat(gateway, col, messages=image_message(IMAGE_URL))
        assert "base64 data URLs only" in info.value.message
        assert info.value.body["param"] == "messages[0].content[1].image_url"  # type: ignore[index]
        assert calls(fake) == []
        return
    chat(gateway, col, messages=image_message(IMAGE_URL))
    content = sent(fake, col)["messages"][0]["content"]
    if col in (OPENAI_TO_AZURE, OPENAI_TO_COHERE):
        assert content == image_message(IMAGE_URL)[0]["content"]
    else:
        assert content[1] == {"type": "image", "source": {"type": "url", "url": IMAGE_URL}}


PDF_PART = {"type": "file", "file": {"filename": "report.pdf", "file_data": f"data:application/pdf;base64,{PDF_B64}"}}


@pytest.mark.parametrize("col", cells("documents (PDF base64)", *CLOUD_COLUMNS))
def test_pdf_document(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "Summarise"}, PDF_PART]}]
    if col == OPENAI_TO_COHERE:
        with pytest.raises(openai.BadRequestError) as info:
            chat(gateway, col, messages=messages)
        assert "not supported by Cohere" in info.value.message
        assert calls(fake) == []
        return
    chat(gateway, col, messages=messages)
    content = sent(fake, col)["messages"][0]["content"]
    if col == OPENAI_TO_AZURE:
        assert content == messages[0]["content"]
    elif col == OPENAI_TO_BEDROCK:
        assert content[1] == {"document": {"format": "pdf", "name": "report", "source": {"bytes": PDF_B64}}}
    else:
        assert content[1]["type"] == "document" and content[1]["source"]["data"] == PDF_B64


# --- sampling --------------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("stop sequences", *CLOUD_COLUMNS))
def test_stop_sequences(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    chat(gateway, col, messages=HI, stop=["END", "STOP"])
    body = sent(fake, col)
    where = {
        OPENAI_TO_AZURE: body.get("stop"),
        OPENAI_TO_BEDROCK: body.get("inferenceConfig", {}).get("stopSequences"),
        OPENAI_TO_VERTEX: body.get("stop_sequences"),
        OPENAI_TO_COHERE: body.get("stop_sequences"),
    }
    assert where[col] == ["END", "STOP"]


@pytest.mark.parametrize("col", cells("max_tokens", *CLOUD_COLUMNS))
def test_max_tokens(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    chat(gateway, col, messages=HI, max_completion_tokens=77, temperature=0.5)
    body = sent(fake, col)
    if col == OPENAI_TO_AZURE:
        assert body["max_completion_tokens"] == 77
    elif col == OPENAI_TO_BEDROCK:
        assert body["inferenceConfig"] == {"maxTokens": 77, "temperature": 0.5}
    else:
        assert body["max_tokens"] == 77 and body["temperature"] == 0.5


@pytest.mark.parametrize("col", cells("usage (incl. cache tokens)", *CLOUD_COLUMNS))
def test_usage(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    script = {"reply": REPLY, "usage": {"prompt_tokens": 20, "completion_tokens": 6, "cached_tokens": 5}}
    fake.control.script(script, script)
    resp = chat(gateway, col, messages=HI)
    chunks = stream(gateway, col, messages=HI, stream_options={"include_usage": True})
    for usage in (resp.usage, chunks[-1].usage):
        assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (20, 6, 26)
        assert usage.prompt_tokens_details.cached_tokens == 5


# --- finish reasons ----------------------------------------------------------------------------------


def finish_both(
    gw: GatewayProcess, fake: FakeProvider, col: str, script: dict[str, Any], **kwargs: Any
) -> tuple[str, str]:
    fake.control.script(script, script)
    resp = chat(gw, col, messages=HI, **kwargs)
    chunks = stream(gw, col, messages=HI, **kwargs)
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert len(finishes) == 1
    return resp.choices[0].finish_reason, finishes[0]


@pytest.mark.parametrize("col", cells("finish reason: stop", *CLOUD_COLUMNS))
def test_finish_stop(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    assert finish_both(gateway, fake, col, {"reply": REPLY}) == ("stop", "stop")


@pytest.mark.parametrize("col", cells("finish reason: length", *CLOUD_COLUMNS))
def test_finish_length(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    assert finish_both(gateway, fake, col, {"reply": REPLY, "finish_reason": "length"}) == ("length", "length")


@pytest.mark.parametrize("col", cells("finish reason: tool calls", *CLOUD_COLUMNS))
def test_finish_tool_calls(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    result = finish_both(gateway, fake, col, {"tool_calls": CALLS[:1]}, tools=[WEATHER])
    assert result == ("tool_calls", "tool_calls")


@pytest.mark.parametrize("col", cells("finish reason: refusal", *CLOUD_COLUMNS))
def test_finish_refusal(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    script = {"reply": "I can't", "finish_reason": "content_filter"}
    assert finish_both(gateway, fake, col, script) == ("content_filter", "content_filter")


# --- streaming -------------------------------------------------------------------------------------


@pytest.mark.parametrize("col", cells("streaming text", *CLOUD_COLUMNS))
def test_streaming_text(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": REPLY})
    chunks = stream(gateway, col, messages=HI)
    assert sent(fake, col, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    assert chunks[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in chunks}) == 1


@pytest.mark.parametrize("col", cells("streaming tool calls", *CLOUD_COLUMNS))
def test_streaming_tool_calls(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"tool_calls": CALLS})
    with client(gateway).chat.completions.stream(model=column(col).model, messages=HI, tools=[WEATHER]) as s:
        for _ in s:
            pass
        final = s.get_final_completion()
    calls = final.choices[0].message.tool_calls
    assert [(c.id, c.function.name) for c in calls] == [("call_1", "get_weather"), ("call_2", "get_weather")]
    assert [json.loads(c.function.arguments) for c in calls] == [{"city": "Paris"}, {"city": "Rome"}]
    assert final.choices[0].finish_reason == "tool_calls"


# --- text completions ----------------------------------------------------------------------------

COMPLETION_MODELS = {
    OPENAI_TO_AZURE: "azure/gpt-35-turbo-instruct",  # Azure serves /completions itself (passed through)
    OPENAI_TO_BEDROCK: column(OPENAI_TO_BEDROCK).model,
    OPENAI_TO_VERTEX: column(OPENAI_TO_VERTEX).model,
    OPENAI_TO_COHERE: column(OPENAI_TO_COHERE).model,
}


@pytest.mark.parametrize("col", cells("text completions (/v1/completions)", *CLOUD_COLUMNS))
def test_text_completions(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": REPLY}, {"reply": REPLY})
    resp = client(gateway).completions.create(model=COMPLETION_MODELS[col], prompt="Count", max_tokens=20)
    assert resp.object == "text_completion" and resp.choices[0].text == REPLY
    assert resp.choices[0].finish_reason == "stop"
    req = last_call(fake)
    if col == OPENAI_TO_AZURE:
        assert check_azure(req, "gpt-35-turbo-instruct", "completions") == {
            "model": "gpt-35-turbo-instruct",
            "prompt": "Count",
            "max_tokens": 20,
        }
    else:
        body = sent(fake, col)
        assert "Count" in json.dumps(body["messages"][0])
    pieces = [
        c.choices[0].text
        for c in client(gateway).completions.create(model=COMPLETION_MODELS[col], prompt="Count", stream=True)
        if c.choices
    ]
    assert "".join(pieces) == REPLY


# --- embeddings ------------------------------------------------------------------------------------

EMBED_MODELS = {
    OPENAI_TO_AZURE: "azure/text-embedding-3-small",
    OPENAI_TO_BEDROCK: "bedrock/titan-embed",
    OPENAI_TO_VERTEX: "vertex/claude-3-5-sonnet-v2@20241022",
    OPENAI_TO_COHERE: "cohere/embed-english-v3.0",
}


@pytest.mark.parametrize("col", cells("embeddings", *CLOUD_COLUMNS))
def test_embeddings(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    texts = ["alpha", "beta"]
    if col == OPENAI_TO_VERTEX:
        with pytest.raises(openai.BadRequestError) as info:
            client(gateway).embeddings.create(model=EMBED_MODELS[col], input=texts)
        assert "does not support embeddings" in info.value.message
        return
    resp = client(gateway).embeddings.create(model=EMBED_MODELS[col], input=texts)
    assert [d.index for d in resp.data] == [0, 1] and all(len(d.embedding) == 8 for d in resp.data)
    assert resp.usage.prompt_tokens > 0
    log = calls(fake)
    if col == OPENAI_TO_AZURE:
        assert check_azure(log[-1], "text-embedding-3-small", "embeddings")["input"] == texts
    elif col == OPENAI_TO_COHERE:
        body = check_cohere(log[-1], "/v2/embed")
        assert body == {"model": "embed-english-v3.0", "texts": texts, "input_type": "search_document",
                        "embedding_types": ["float"]}
    else:
        bodies = sorted(check_bedrock(r, "invoke", "amazon.titan-embed-text-v2:0")["inputText"] for r in log)
        assert bodies == texts


def test_bedrock_cohere_embeddings(gateway: GatewayProcess, fake: FakeProvider) -> None:
    resp = client(gateway).embeddings.create(model="bedrock/cohere-embed", input=["a", "b"])
    assert len(resp.data) == 2
    body = check_bedrock(last_call(fake), "invoke", "cohere.embed-english-v3")
    assert body == {"texts": ["a", "b"], "input_type": "search_document"}


def test_no_secret_in_errors(gateway: GatewayProcess, fake: FakeProvider) -> None:
    for col in CLOUD_COLUMNS:
        fake.control.script({"status": 403, "error_message": "denied"})
        with pytest.raises(openai.APIStatusError) as info:
            chat(gateway, col, messages=HI)
        no_cloud_secrets(info.value.response.text)
