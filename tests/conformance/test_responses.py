"""Conformance cells of the Responses API: the openai SDK's ``client.responses`` on ``/v1`` to OpenAI and Azure
(passed through), Anthropic, Gemini and a chat-only OpenAI-compatible provider (translated through chat), the fake
upstream behind. Every ``Response`` and stream event is validated against the spec."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayFactory, GatewayProcess
from openapi_schema import validate_openai
from responses_api.helpers import check_response, client, stream_events

from .cloud import AZURE_DEPLOYMENT, AZURE_KEY, cloud_providers
from .helpers import conformance_config
from .matrix import (
    RESPONSES_TO_ANTHROPIC,
    RESPONSES_TO_AZURE,
    RESPONSES_TO_CHAT,
    RESPONSES_TO_GEMINI,
    RESPONSES_TO_OPENAI,
    cells,
    column,
)

PATHS = {
    RESPONSES_TO_OPENAI: "/v1/responses",
    RESPONSES_TO_ANTHROPIC: "/v1/messages",
    RESPONSES_TO_CHAT: "/v1/chat/completions",
    RESPONSES_TO_GEMINI: "/v1beta/models/",  # + {model}:generateContent / :streamGenerateContent
    RESPONSES_TO_AZURE: "/openai/v1/responses",  # Azure's v1 API: no deployment in the path, no api-version
}
NATIVE = (RESPONSES_TO_OPENAI, RESPONSES_TO_AZURE)
UPSTREAM_MODEL = {RESPONSES_TO_OPENAI: "gpt-4o-mini", RESPONSES_TO_AZURE: AZURE_DEPLOYMENT}
TOOL = {"type": "function", "name": "lookup", "description": "Look a word up",
        "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]}}
PNG = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    """The conformance gateway plus Azure, all on the module's fake provider."""
    base = conformance_config(fake_server.url)
    azure = cloud_providers(fake_server.url)["azure"]
    yield start_module_gateway({**base, "providers": {**base["providers"], "azure": azure}})


def create(gw: GatewayProcess, **kwargs: Any) -> dict[str, Any]:
    raw = client(gw).responses.with_raw_response.create(**kwargs)
    return check_response(json.loads(raw.http_response.content))


def sent(fake: FakeProvider, col: str) -> dict[str, Any]:
    path = PATHS[col]
    received = [r for r in fake.control.log() if r["path"] == path or (path.endswith("/") and path in r["path"])]
    if col == RESPONSES_TO_AZURE:
        assert received[-1]["query"] == {} and received[-1]["headers"]["api-key"] == AZURE_KEY
    body: dict[str, Any] = received[-1]["body"]
    return body


@pytest.mark.parametrize("col", cells("responses: plain"))
def test_plain(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "Bonjour.", "usage": {"prompt_tokens": 7, "completion_tokens": 2}})
    body = create(gateway, model=column(col).model, input="Say hello in French", instructions="One word.")
    assert body["output"][-1]["content"][0]["text"] == "Bonjour."
    assert (body["usage"]["input_tokens"], body["usage"]["output_tokens"]) == (7, 2)
    upstream = sent(fake, col)
    if col in NATIVE:
        expected = {"model": UPSTREAM_MODEL[col], "input": "Say hello in French", "instructions": "One word."}
        assert upstream == expected
    elif col == RESPONSES_TO_ANTHROPIC:
        assert upstream["system"] == "One word."
    elif col == RESPONSES_TO_GEMINI:
        assert "One word." in json.dumps(upstream["systemInstruction"])
    else:
        assert upstream["messages"][0] == {"role": "system", "content": "One word."}


@pytest.mark.parametrize("col", cells("responses: streaming events"))
def test_streaming_events(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "alpha beta gamma"})
    events = stream_events(gateway, {"model": column(col).model, "input": "three words"})
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    assert "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta") == "alpha beta gamma"
    fake.control.script({"reply": "alpha beta gamma"})
    with client(gateway).responses.stream(model=column(col).model, input="three words") as stream:
        assert stream.get_final_response().output_text == "alpha beta gamma"


@pytest.mark.parametrize("col", cells("responses: function tools"))
def test_function_tools(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"tool_calls": [{"id": "call_7", "name": "lookup", "arguments": {"word": "gateway"}}]})
    first = create(gateway, model=column(col).model, input="Define gateway", tools=[TOOL])
    call = next(item for item in first["output"] if item["type"] == "function_call")
    assert (call["call_id"], call["name"], json.loads(call["arguments"])) == ("call_7", "lookup", {"word": "gateway"})
    fake.control.script({"reply": "A gateway is a door."})
    final = create(gateway, model=column(col).model, previous_response_id=first["id"], tools=[TOOL],
                   input=[{"type": "function_call_output", "call_id": "call_7", "output": "a door"}])
    assert final["output"][-1]["content"][0]["text"] == "A gateway is a door."
    assert ("functionResponse" if col == RESPONSES_TO_GEMINI else "call_7") in json.dumps(sent(fake, col))


@pytest.mark.parametrize("col", cells("responses: structured output"))
def test_structured_output(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    fake.control.script({"reply": '{"n": 3}'})
    fmt = {"type": "json_schema", "name": "count", "schema": schema}
    body = create(gateway, model=column(col).model, input="count", text={"format": fmt})
    assert json.loads(body["output"][-1]["content"][0]["text"]) == {"n": 3}
    upstream = sent(fake, col)
    if col in NATIVE:
        assert upstream["text"] == {"format": fmt}
    elif col == RESPONSES_TO_CHAT:
        expected = {"type": "json_schema", "json_schema": {"name": "count", "schema": schema}}
        assert upstream["response_format"] == expected
    elif col == RESPONSES_TO_GEMINI:
        assert upstream["generationConfig"]["responseMimeType"] == "application/json"
    else:
        assert json.dumps(schema, separators=(",", ":")) in upstream["system"]


@pytest.mark.parametrize("col", cells("responses: reasoning"))
def test_reasoning(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"reply": "4", "thinking": "two plus two"})
    body = create(gateway, model=column(col).model, input="2+2?", reasoning={"effort": "low"})
    item = next(i for i in body["output"] if i["type"] == "reasoning")
    assert item["summary"][0]["text"] == "two plus two"
    upstream = sent(fake, col)
    gemini = (upstream.get("generationConfig") or {}).get("thinkingConfig")
    assert (upstream.get("reasoning") or upstream.get("thinking") or upstream.get("reasoning_effort") or gemini)


@pytest.mark.parametrize("col", cells("responses: images"))
def test_images(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    content = [{"type": "input_text", "text": "what?"}, {"type": "input_image", "image_url": PNG}]
    create(gateway, model=column(col).model, input=[{"role": "user", "content": content}])
    assert PNG.split(",", 1)[1] in json.dumps(sent(fake, col))


@pytest.mark.parametrize("col", cells("responses: previous_response_id"))
def test_previous_response_id(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    sdk = client(gateway)
    first = create(gateway, model=column(col).model, input="echo: remember blue")
    second = create(gateway, model=column(col).model, input="echo: and green", previous_response_id=first["id"])
    upstream = json.dumps(sent(fake, col))
    assert ("remember blue" in upstream) or (first["id"] in upstream)
    got = json.loads(sdk.responses.with_raw_response.retrieve(second["id"]).http_response.content)
    assert check_response(got)["id"] == second["id"]
    items = json.loads(sdk.responses.input_items.with_raw_response.list(second["id"]).http_response.content)
    validate_openai("ResponseItemList", items)
    assert items["data"][0]["content"][0]["text"] == "echo: and green"
    sdk.responses.delete(second["id"])
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(second["id"])


@pytest.mark.parametrize("col", cells("responses: errors"))
def test_errors(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    fake.control.script({"status": 400, "error_message": "bad thing"})
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).responses.create(model=column(col).model, input="x", stream=True)
    assert "bad thing" in info.value.message
    fake.control.script({"reply": "a b c d e", "cut_after": 3})
    events = stream_events(gateway, {"model": column(col).model, "input": "x"})
    assert [e["type"] for e in events][-2:] == ["response.failed", "error"]


@pytest.mark.parametrize("col", cells("responses: built-in tools"))
def test_builtin_tools(gateway: GatewayProcess, fake: FakeProvider, col: str) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).responses.create(model=column(col).model, input="x", tools=[{"type": "code_interpreter"}])
    assert "code_interpreter" in info.value.message and column(col).model.split("/")[0] in info.value.message
    assert fake.control.log() == []
