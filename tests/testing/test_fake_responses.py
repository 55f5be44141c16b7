"""The fake provider speaks OpenAI's Responses wire (proved with the official SDK and the spec's schemas):
plain and streamed responses, stored responses (retrieve, resume, input_items, delete, cancel), faults."""

from __future__ import annotations

import json
import urllib.request

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from openapi_schema import validate_openai
from responses_api.helpers import check_event, sse_events

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def sdk(fake: FakeProvider) -> openai.OpenAI:
    return openai.OpenAI(base_url=fake.url + "/v1", api_key="sk-fake", max_retries=0)


def test_plain_response_is_valid_and_scripted(fake: FakeProvider) -> None:
    fake.control.script({"reply": "hi there", "thinking": "hmm",
                         "tool_calls": [{"id": "call_1", "name": "f", "arguments": {"x": 1}}]})
    raw = sdk(fake).responses.with_raw_response.create(model="gpt-4o", input="hello", store=True)
    body = json.loads(raw.http_response.content)
    validate_openai("Response", body)
    assert [item["type"] for item in body["output"]] == ["reasoning", "message", "function_call"]
    assert raw.parse().output_text == "hi there"


def test_stream_events_are_valid_numbered_and_resumable(fake: FakeProvider) -> None:
    fake.control.script({"reply": "one two three", "thinking": "let me think"})
    stream = sdk(fake).responses.create(model="gpt-4o", input="count", stream=True)
    events = [event.model_dump(mode="json", exclude_none=False) for event in stream]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[-1]["type"] == "response.completed"
    response_id = events[-1]["response"]["id"]
    request = urllib.request.Request(f"{fake.url}/v1/responses/{response_id}?stream=true")
    with _OPENER.open(request, timeout=10) as resp:
        replay = sse_events(resp.read())
    for event in replay:
        check_event(event)
    assert replay[-1]["response"]["id"] == response_id


def test_stored_response_routes(fake: FakeProvider) -> None:
    client = sdk(fake)
    created = client.responses.create(model="gpt-4o", input="echo: stored")
    assert client.responses.retrieve(created.id).output_text == "stored"
    assert [item.id for item in client.responses.input_items.list(created.id).data]
    with pytest.raises(openai.BadRequestError):
        client.responses.cancel(created.id)
    client.responses.delete(created.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as info:
        client.responses.create(model="gpt-4o", input="x", previous_response_id=created.id)
    assert info.value.code == "previous_response_not_found"
    not_stored = client.responses.create(model="gpt-4o", input="x", store=False)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(not_stored.id)


def test_mid_stream_error_event_is_in_sequence(fake: FakeProvider) -> None:
    fake.control.script({"reply": "a b c d", "stream_error_after": 3, "error_message": "boom"})
    request = urllib.request.Request(
        fake.url + "/v1/responses", data=json.dumps({"model": "gpt-4o", "input": "x", "stream": True}).encode(),
        headers={"Content-Type": "application/json"}, method="POST",
    )
    with _OPENER.open(request, timeout=10) as resp:
        events = sse_events(resp.read())
    assert [e["sequence_number"] for e in events] == [0, 1, 2, 3]
    assert events[-1]["type"] == "error" and events[-1]["message"] == "boom"
    check_event(events[-1])
