"""A stored Response belongs to the virtual key that created it: another key can neither read, continue nor
delete it (it gets the 404 an unknown id gets), whether the gateway or OpenAI stored it."""

from __future__ import annotations

import openai
import pytest
from helpers import VK_A, VK_B, gov_config, vk

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory


def _client(gw, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.v1_url, api_key=key, max_retries=0, timeout=20)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "groq/llama-3.1-8b-instant"])  # OpenAI-stored, gateway-stored
def test_only_the_creating_key_sees_its_response(fake: FakeProvider, start_gateway: GatewayFactory, model: str) -> None:
    gw = start_gateway(gov_config(fake.url, [vk("team-a", VK_A), vk("team-b", VK_B)]))
    a, b = _client(gw, VK_A), _client(gw, VK_B)
    created = a.responses.create(model=model, input="secret plans")
    assert a.responses.retrieve(created.id).id == created.id

    asked = len(fake.control.log())
    with pytest.raises(openai.NotFoundError):
        b.responses.retrieve(created.id)
    with pytest.raises(openai.NotFoundError):
        b.responses.input_items.list(created.id)
    with pytest.raises(openai.NotFoundError):
        b.responses.create(model=model, input="what were the plans?", previous_response_id=created.id)
    with pytest.raises(openai.NotFoundError):
        b.responses.delete(created.id)
    assert len(fake.control.log()) == asked  # nothing was asked upstream on team-b's behalf

    follow_up = a.responses.create(model=model, input="and then?", previous_response_id=created.id)
    assert follow_up.output_text
