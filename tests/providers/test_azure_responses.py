"""The Responses API to Azure OpenAI, passed through: the official openai SDK's ``responses`` through a real
gateway to the fake's Azure v1 route, asserting the exact upstream URL, ``api-key`` header and body, and
validating every Response and stream event against the spec."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from conformance.cloud import AZURE_DEPLOYMENT, AZURE_KEY, cloud_providers
from harness import GatewayFactory, GatewayProcess
from responses_api.helpers import check_event, check_response, client, stream_events

MODEL = "azure/gpt-4o"


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    yield start_module_gateway({"providers": {"azure": cloud_providers(fake_server.url)["azure"]}})


def upstream(fake: FakeProvider, path: str = "/openai/v1/responses") -> dict[str, Any]:
    """The last request the fake received: Azure's v1 URL (no deployment, no api-version) and its api-key."""
    req = fake.control.last()
    assert (req["method"], req["path"], req["query"]) == ("POST" if path.endswith("/responses") else "GET", path, {})
    assert req["headers"]["api-key"] == AZURE_KEY
    assert "Authorization" not in req["headers"] and "authorization" not in req["headers"]
    return req


def test_create_is_passed_through_to_the_deployment(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": "Bonjour.", "usage": {"prompt_tokens": 7, "completion_tokens": 2}})
    raw = client(gateway).responses.with_raw_response.create(
        model=MODEL, input="Say hello in French", instructions="One word.",
        extra_body={"fallbacks": ["azure/gpt-35-turbo-instruct"], "data_sources": []},
    )
    body = check_response(json.loads(raw.http_response.content))
    assert raw.http_response.headers["x-bifrost-provider"] == "azure"
    assert raw.parse().output_text == "Bonjour."
    assert (body["usage"]["input_tokens"], body["usage"]["output_tokens"]) == (7, 2)
    assert body["model"] == AZURE_DEPLOYMENT  # the upstream's answer, as Azure gives it
    # only `model` changed (to the deployment), the gateway-only `fallbacks` gone, unknown fields kept
    assert upstream(fake)["body"] == {
        "model": AZURE_DEPLOYMENT, "input": "Say hello in French", "instructions": "One word.", "data_sources": [],
    }


def test_stream_is_piped_event_by_event(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": "alpha beta gamma"})
    events = list(client(gateway).responses.create(model=MODEL, input="three words", stream=True))
    for event in events:
        check_event(event.model_dump(mode="json", exclude_unset=True))
    assert events[0].type == "response.created" and events[-1].type == "response.completed"
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "alpha beta gamma"
    assert upstream(fake)["body"] == {"model": AZURE_DEPLOYMENT, "input": "three words", "stream": True}
    fake.control.reset()
    fake.control.script({"reply": "alpha beta gamma"})
    raw = stream_events(gateway, {"model": MODEL, "input": "three words"})  # the wire: event names and numbers
    assert [e["type"] for e in raw] == [e.type for e in events]
    fake.control.reset()
    fake.control.script({"reply": "alpha beta gamma"})
    with client(gateway).responses.stream(model=MODEL, input="three words") as stream:
        assert stream.get_final_response().output_text == "alpha beta gamma"


def test_previous_response_id_and_stored_responses_go_to_azure(gateway: GatewayProcess, fake: FakeProvider) -> None:
    sdk = client(gateway)
    first = sdk.responses.create(model=MODEL, input="echo: remember blue")
    second = sdk.responses.create(model=MODEL, input="echo: and green", previous_response_id=first.id)
    assert upstream(fake)["body"]["previous_response_id"] == first.id  # chained by id on the same provider
    got = json.loads(sdk.responses.with_raw_response.retrieve(second.id).http_response.content)
    assert check_response(got)["id"] == second.id
    upstream(fake, f"/openai/v1/responses/{second.id}")  # Azure's v1 root, its api-key: never api.openai.com


def test_upstream_error_keeps_its_status(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"status": 400, "error_message": "bad thing"})
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).responses.create(model=MODEL, input="x", stream=True)
    assert "bad thing" in info.value.message and AZURE_KEY not in info.value.message
    fake.control.script({"reply": "a b c d e", "cut_after": 3})
    events = stream_events(gateway, {"model": MODEL, "input": "x"})
    assert [e["type"] for e in events][-2:] == ["response.failed", "error"]


def test_via_chat_mode_goes_to_the_deployment_chat_url(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    azure = {**cloud_providers(fake.url)["azure"], "responses": "via_chat"}
    gw = start_gateway({"providers": {"azure": azure}})
    fake.control.script({"reply": "Hi."})
    body = check_response(json.loads(
        client(gw).responses.with_raw_response.create(model=MODEL, input="Hello").http_response.content
    ))
    assert body["output"][-1]["content"][0]["text"] == "Hi."
    [req] = fake.control.log()
    assert req["path"] == f"/openai/deployments/{AZURE_DEPLOYMENT}/chat/completions"
    assert req["headers"]["api-key"] == AZURE_KEY
    assert req["body"]["messages"] == [{"role": "user", "content": "Hello"}]
