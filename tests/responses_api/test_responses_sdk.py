"""The official openai SDK's ``client.responses`` against a gateway process, on /v1 and /openai/v1, for OpenAI
(passed through), Anthropic and a chat-only OpenAI-compatible provider (translated), the fake upstream behind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, http_get
from openapi_schema import validate_openai

from .helpers import BASES, CLAUDE, TARGETS, check_response, client, responses_config, sse_events, stream_events

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    yield start_module_gateway(responses_config(fake_server.url))


def create(gw: GatewayProcess, base: str = "v1", **kwargs: Any) -> dict[str, Any]:
    """responses.create through the SDK; the wire body (validated against the spec) is returned."""
    raw = client(gw, base).responses.with_raw_response.create(**kwargs)
    parsed = raw.parse()
    body = check_response(json.loads(raw.http_response.content))
    assert parsed.id == body["id"]
    return body


def upstream(fake: FakeProvider, path: str) -> dict[str, Any]:
    received = [r for r in fake.control.log() if r["path"] == path]
    assert received, f"the fake received nothing on {path}: {[r['path'] for r in fake.control.log()]}"
    return received[-1]


# --- create, plain and streamed ------------------------------------------------------------------------


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("target", list(TARGETS))
def test_create_plain(gateway: GatewayProcess, fake: FakeProvider, target: str, base: str) -> None:
    model, path = TARGETS[target]
    fake.control.script({"reply": "Paris is the capital.", "usage": {"prompt_tokens": 11, "completion_tokens": 4}})
    body = create(gateway, base, model=model, input="Capital of France?", instructions="Answer briefly.",
                  max_output_tokens=50, temperature=0.2, metadata={"team": "a"})
    assert body["status"] == "completed" and body["object"] == "response"
    assert body["output"][-1]["content"][0]["text"] == "Paris is the capital."
    assert body["usage"]["input_tokens"] == 11 and body["usage"]["output_tokens"] == 4
    assert body["metadata"] == {"team": "a"}
    served_by = {"openai": "openai", "anthropic": "anthropic", "chat-only": "groq"}[target]
    assert body["extra_fields"]["provider"] == served_by
    sent = upstream(fake, path)["body"]
    if target == "openai":  # passed through: the client's body with only model rewritten
        assert sent == {"model": "gpt-4o-mini", "input": "Capital of France?", "instructions": "Answer briefly.",
                        "max_output_tokens": 50, "temperature": 0.2, "metadata": {"team": "a"}}
    elif target == "anthropic":
        assert sent["system"] == "Answer briefly." and sent["max_tokens"] == 50
        assert sent["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]}]
        assert "metadata" not in sent or "team" not in json.dumps(sent["metadata"])
    else:
        assert sent["messages"] == [{"role": "system", "content": "Answer briefly."},
                                    {"role": "user", "content": "Capital of France?"}]
        assert sent["max_tokens"] == 50 and sent["temperature"] == 0.2 and "metadata" not in sent


@pytest.mark.parametrize("target", list(TARGETS))
def test_create_streamed(gateway: GatewayProcess, fake: FakeProvider, target: str) -> None:
    model, path = TARGETS[target]
    reply = "one two three four five"
    fake.control.script({"reply": reply})
    events = stream_events(gateway, {"model": model, "input": "Count"})
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    for name in ("response.output_item.added", "response.content_part.added", "response.output_text.done",
                 "response.content_part.done", "response.output_item.done"):
        assert name in kinds
    deltas = [e["delta"] for e in events if e["type"] == "response.output_text.delta"]
    assert "".join(deltas) == reply and len(deltas) > 2
    final = events[-1]["response"]
    check_response(final)
    assert final["output"][0]["content"][0]["text"] == reply
    assert final["usage"]["output_tokens"] > 0
    assert upstream(fake, path)["body"]["stream"] is True
    # the SDK reassembles the same text
    fake.control.script({"reply": reply})
    with client(gateway).responses.stream(model=model, input="Count") as stream:
        assert stream.get_final_response().output_text == reply


# --- tools, structured output, reasoning, images ---------------------------------------------------------


@pytest.mark.parametrize("target", list(TARGETS))
def test_function_tool_round_trip(gateway: GatewayProcess, fake: FakeProvider, target: str) -> None:
    model, path = TARGETS[target]
    fake.control.script({"tool_calls": [{"id": "call_w1", "name": "get_weather", "arguments": {"city": "Paris"}}]})
    first = create(gateway, model=model, input="Weather in Paris?", tools=[WEATHER_TOOL], tool_choice="auto")
    calls = [item for item in first["output"] if item["type"] == "function_call"]
    assert len(calls) == 1 and calls[0]["name"] == "get_weather" and calls[0]["call_id"] == "call_w1"
    assert json.loads(calls[0]["arguments"]) == {"city": "Paris"}
    sent = upstream(fake, path)["body"]
    if target == "chat-only":
        function = {k: v for k, v in WEATHER_TOOL.items() if k != "type"}
        assert sent["tools"] == [{"type": "function", "function": function}]
    elif target == "anthropic":
        assert sent["tools"][0]["name"] == "get_weather"
        assert sent["tools"][0]["input_schema"] == WEATHER_TOOL["parameters"]
    fake.control.script({"reply": "It is sunny in Paris."})
    final = create(gateway, model=model, previous_response_id=first["id"], tools=[WEATHER_TOOL],
                   input=[{"type": "function_call_output", "call_id": "call_w1", "output": "sunny, 21C"}])
    assert final["output"][-1]["content"][0]["text"] == "It is sunny in Paris."
    sent = upstream(fake, path)["body"]
    if target == "openai":  # stored by OpenAI: chained upstream by id
        assert sent["previous_response_id"] == first["id"]
        assert sent["input"] == [{"type": "function_call_output", "call_id": "call_w1", "output": "sunny, 21C"}]
    elif target == "chat-only":
        assert sent["messages"][-2]["tool_calls"][0]["id"] == "call_w1"
        assert sent["messages"][-1] == {"role": "tool", "tool_call_id": "call_w1", "content": "sunny, 21C"}
    else:
        assert sent["messages"][-2]["content"][0]["type"] == "tool_use"
        result = {"type": "tool_result", "tool_use_id": "call_w1", "content": "sunny, 21C"}
        assert sent["messages"][-1]["content"][0] == result


@pytest.mark.parametrize("target", list(TARGETS))
def test_structured_output(gateway: GatewayProcess, fake: FakeProvider, target: str) -> None:
    model, path = TARGETS[target]
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
              "additionalProperties": False}
    fake.control.script({"reply": '{"name": "Ada"}'})
    fmt = {"type": "json_schema", "name": "person", "schema": schema, "strict": True}
    body = create(gateway, model=model, input="Who?", text={"format": fmt})
    assert json.loads(body["output"][-1]["content"][0]["text"]) == {"name": "Ada"}
    assert body["text"]["format"]["name"] == "person"
    sent = upstream(fake, path)["body"]
    if target == "openai":
        assert sent["text"] == {"format": fmt}
    elif target == "chat-only":
        assert sent["response_format"] == {"type": "json_schema",
                                           "json_schema": {"name": "person", "schema": schema, "strict": True}}
    else:
        assert json.dumps(schema, separators=(",", ":")) in sent["system"]


@pytest.mark.parametrize("target", list(TARGETS))
def test_reasoning(gateway: GatewayProcess, fake: FakeProvider, target: str) -> None:
    model, path = TARGETS[target]
    fake.control.script({"reply": "42", "thinking": "six times seven"})
    body = create(gateway, model=model, input="6*7?", reasoning={"effort": "medium", "summary": "auto"})
    reasoning = [item for item in body["output"] if item["type"] == "reasoning"]
    assert reasoning and reasoning[0]["summary"][0]["text"] == "six times seven"
    assert body["output"][-1]["content"][0]["text"] == "42"
    sent = upstream(fake, path)["body"]
    if target == "openai":
        assert sent["reasoning"] == {"effort": "medium", "summary": "auto"}
    elif target == "chat-only":
        assert sent["reasoning_effort"] == "medium"
    else:
        assert sent["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    fake.control.script({"reply": "42", "thinking": "six times seven"})
    events = stream_events(gateway, {"model": model, "input": "6*7?", "reasoning": {"effort": "low"}})
    deltas = [e["delta"] for e in events if e["type"] == "response.reasoning_summary_text.delta"]
    assert "".join(deltas) == "six times seven"


@pytest.mark.parametrize("target", list(TARGETS))
def test_image_input(gateway: GatewayProcess, fake: FakeProvider, target: str) -> None:
    model, path = TARGETS[target]
    url = f"data:image/png;base64,{PNG_B64}"
    content = [
        {"type": "input_text", "text": "What is this?"}, {"type": "input_image", "image_url": url, "detail": "low"}
    ]
    create(gateway, model=model, input=[{"role": "user", "content": content}])
    sent = upstream(fake, path)["body"]
    if target == "openai":
        assert sent["input"][0]["content"] == content
    elif target == "chat-only":
        assert sent["messages"][0]["content"][1] == {"type": "image_url", "image_url": {"url": url, "detail": "low"}}
    else:
        image = sent["messages"][0]["content"][1]
        assert image == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}


def test_builtin_tool_to_a_provider_without_it_is_a_clear_400(gateway: GatewayProcess, fake: FakeProvider) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).responses.create(model=TARGETS["anthropic"][0], input="news?", tools=[{"type": "web_search"}])
    message = info.value.message
    assert "web_search" in message and "anthropic" in message
    assert fake.control.log() == []


# --- previous_response_id across providers ------------------------------------------------------------


def test_three_turn_chain_across_two_providers_via_fallback(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(responses_config(fake.url, fallbacks={"gpt-4o-mini": [f"anthropic/{CLAUDE}"]}))
    fake.control.script({"reply": "Hi Ada.", "match": {"path": "/v1/responses"}})
    one = create(gw, model="gpt-4o-mini", input="My name is Ada.")
    assert one["extra_fields"]["provider"] == "openai"
    # turn 2: OpenAI fails, Anthropic answers with turn 1 expanded into its messages
    fake.control.script({"status": 503, "match": {"path": "/v1/responses"}},
                        {"reply": "Noted, Ada.", "match": {"path": "/v1/messages"}})
    two = create(gw, model="gpt-4o-mini", input="Remember it.", previous_response_id=one["id"])
    assert two["extra_fields"]["provider"] == "anthropic" and two["extra_fields"]["fallback_index"] == 1
    assert two["previous_response_id"] == one["id"]
    sent = upstream(fake, "/v1/messages")["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"][0]["text"] == "My name is Ada." and sent[1]["content"][0]["text"] == "Hi Ada."
    # turn 3: OpenAI again; the Anthropic-served turn is expanded into input (OpenAI never saw it)
    fake.control.script({"reply": "Your name is Ada.", "match": {"path": "/v1/responses"}})
    three = create(gw, model="gpt-4o-mini", input="What is my name?", previous_response_id=two["id"])
    assert three["extra_fields"]["provider"] == "openai"
    sent3 = upstream(fake, "/v1/responses")["body"]
    assert "previous_response_id" not in sent3
    texts = [(i.get("role"), i["content"][0]["text"]) for i in sent3["input"]]
    assert texts == [("user", "My name is Ada."), ("assistant", "Hi Ada."), ("user", "Remember it."),
                     ("assistant", "Noted, Ada."), ("user", "What is my name?")]
    assert all("id" not in item for item in sent3["input"])


@pytest.mark.parametrize("target", ["anthropic", "chat-only"])
def test_retrieve_input_items_delete_of_gateway_stored(
    gateway: GatewayProcess, fake: FakeProvider, target: str
) -> None:
    model, _ = TARGETS[target]
    sdk = client(gateway, "openai/v1")
    created = create(gateway, model=model, input="echo: kept")
    got = sdk.responses.with_raw_response.retrieve(created["id"])
    body = check_response(json.loads(got.http_response.content))
    assert body["id"] == created["id"] and body["output"] == created["output"]
    items = sdk.responses.input_items.with_raw_response.list(created["id"])
    page = json.loads(items.http_response.content)
    validate_openai("ResponseItemList", page)
    assert [i["content"][0]["text"] for i in page["data"]] == ["echo: kept"]
    sdk.responses.delete(created["id"])
    assert all(r["method"] == "POST" for r in fake.control.log())  # answered by the gateway, not upstream
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created["id"])


def test_retrieve_and_delete_of_openai_stored_go_upstream(gateway: GatewayProcess, fake: FakeProvider) -> None:
    sdk = client(gateway)
    created = create(gateway, model="gpt-4o-mini", input="echo: upstream")
    assert sdk.responses.retrieve(created["id"]).output_text == "upstream"
    items = sdk.responses.input_items.list(created["id"])
    assert [i.content[0].text for i in items.data] == ["echo: upstream"]  # type: ignore[union-attr]
    status, raw = http_get(f"{gateway.v1_url}/responses/{created['id']}?stream=true")  # resumed upstream
    assert status == 200
    assert sse_events(raw)[-1]["response"]["id"] == created["id"]
    sdk.responses.delete(created["id"])
    paths = [(r["method"], r["path"]) for r in fake.control.log()]
    assert ("GET", f"/v1/responses/{created['id']}") in paths
    assert ("DELETE", f"/v1/responses/{created['id']}") in paths
    with pytest.raises(openai.NotFoundError):
        sdk.responses.retrieve(created["id"])


def test_store_false_is_not_kept(gateway: GatewayProcess, fake: FakeProvider) -> None:
    created = create(gateway, model=TARGETS["chat-only"][0], input="hi", store=False)
    assert created["store"] is False
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).responses.create(
            model=TARGETS["chat-only"][0], input="again", previous_response_id=created["id"]
        )
    assert info.value.code == "previous_response_not_found"


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", list(TARGETS))
def test_error_before_the_stream_starts(gateway: GatewayProcess, fake: FakeProvider, target: str) -> None:
    model, _ = TARGETS[target]
    # 503, not 429: a 429 would cool the key down and race the next test
    fake.control.script({"status": 503, "error_message": "try later"})
    with pytest.raises(openai.InternalServerError) as info:
        client(gateway).responses.create(model=model, input="hi", stream=True)
    assert info.value.status_code == 503 and "try later" in info.value.message


@pytest.mark.parametrize("target", list(TARGETS))
def test_error_after_the_stream_started(gateway: GatewayProcess, fake: FakeProvider, target: str) -> None:
    model, _ = TARGETS[target]
    fake.control.script({"reply": "a b c d e f", "stream_error_after": 4, "error_message": "upstream fell over"})
    events = stream_events(gateway, {"model": model, "input": "hi"})
    kinds = [e["type"] for e in events]
    assert kinds[0] == "response.created"
    assert "response.completed" not in kinds
    assert kinds[-1] == "error" or kinds[-2:] == ["response.failed", "error"]
    assert "upstream fell over" in events[-1]["message"] or target == "openai"


@pytest.mark.parametrize("target", list(TARGETS))
def test_stream_cut_off_ends_with_failed_and_error(gateway: GatewayProcess, fake: FakeProvider, target: str) -> None:
    model, _ = TARGETS[target]
    fake.control.script({"reply": "a b c d e f", "cut_after": 4})
    events = stream_events(gateway, {"model": model, "input": "hi"})
    assert [e["type"] for e in events][-2:] == ["response.failed", "error"]
    assert events[-2]["response"]["status"] == "failed"
    assert events[-2]["response"]["id"] == events[0]["response"]["id"]


# --- metrics and cost ---------------------------------------------------------------------------------


def test_tokens_and_cost_counted_for_plain_and_streamed_responses(
    gateway: GatewayProcess, fake: FakeProvider
) -> None:
    from observability_e2e.obs_helpers import L, delta, scrape

    before = scrape(gateway)
    usage = {"prompt_tokens": 100, "completion_tokens": 20}
    fake.control.script({"reply": "a b", "usage": usage}, {"reply": "c d", "usage": usage},
                        {"reply": "e f", "usage": usage})
    create(gateway, model="gpt-4o-mini", input="hi")
    stream_events(gateway, {"model": "gpt-4o-mini", "input": "hi"})  # usage from response.completed
    stream_events(gateway, {"model": TARGETS["anthropic"][0], "input": "hi"})
    after = scrape(gateway)
    openai_labels = L(provider="openai", model="gpt-4o-mini", method="responses")
    anthropic_labels = L(provider="anthropic", model=CLAUDE, method="responses")
    assert delta(before, after, "bifrost_input_tokens_total") == {openai_labels: 200, anthropic_labels: 100}
    assert delta(before, after, "bifrost_output_tokens_total") == {openai_labels: 40, anthropic_labels: 20}
    assert delta(before, after, "bifrost_cost_total")[openai_labels] > 0
    assert delta(before, after, "bifrost_success_requests_total") == {openai_labels: 2, anthropic_labels: 1}


@pytest.mark.parametrize("target", list(TARGETS))
def test_no_key_in_any_error(gateway: GatewayProcess, fake: FakeProvider, target: str) -> None:
    from .helpers import post_raw

    model, _ = TARGETS[target]
    secrets = ("sk-test-main", "sk-test-spare", "gsk-test", "sk-ant-test")
    leak = "the key " + " ".join(secrets) + " was wrong"
    fake.control.script({"status": 400, "error_message": leak})
    status, body = post_raw(gateway, "/v1/responses", {"model": model, "input": "hi"})
    assert status == 400
    fake.control.script({"reply": "a b c d", "stream_error_after": 3, "error_message": leak})
    _, streamed = post_raw(gateway, "/v1/responses", {"model": model, "input": "hi", "stream": True})
    for secret in secrets:
        assert secret not in body.decode() and secret not in streamed.decode()
