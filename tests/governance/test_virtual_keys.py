"""Virtual keys: how they are sent, when they are required, and what they may use (CONTRACT §5, §6)."""

from __future__ import annotations

import anthropic
import openai
import pytest
from helpers import CHAT, VK_A, VK_B, gov_config, post, sdk, vk

from bifrost.testing.fake_provider import FakeProvider
from harness import KEY_VALUES, GatewayFactory

VK_OFF = "sk-bf-retired-key-000111"


def _config(fake_url: str, enforce: bool = True) -> dict:
    return gov_config(
        fake_url,
        [
            vk("team-a", VK_A),
            vk("team-b", VK_B, allowed_models=["openai/gpt-4o-mini"], allowed_providers=["openai"]),
            vk("retired", VK_OFF, is_active=False),
        ],
        client={"enforce_auth_on_inference": enforce},
    )


@pytest.fixture(scope="module")
def gw(start_module_gateway: GatewayFactory, fake_server: FakeProvider):
    return start_module_gateway(_config(fake_server.url))


def test_bearer_virtual_key_is_accepted_and_never_sent_upstream(gw, fake: FakeProvider) -> None:
    reply = sdk(gw, VK_A).chat.completions.create(**CHAT)
    assert reply.choices[0].message.content
    upstream = fake.control.last()
    assert upstream["key"] in ("sk-test-main", "sk-test-spare")
    assert VK_A not in str(upstream)


def test_x_bf_vk_header_is_accepted(gw, fake: FakeProvider) -> None:
    status, _, body = post(gw.v1_url + "/chat/completions", headers={"x-bf-vk": VK_A})
    assert status == 200, body


def test_anthropic_sdk_sends_the_key_as_x_api_key(gw, fake: FakeProvider) -> None:
    client = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key=VK_A, max_retries=0)
    message = client.messages.create(
        model="openai/gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "Hi"}]
    )
    assert message.content[0].text


def test_missing_key_is_401_virtual_key_required(gw, fake: FakeProvider) -> None:
    status, headers, body = post(gw.v1_url + "/chat/completions")
    assert status == 401
    assert body["error"]["code"] == "virtual_key_required"
    assert body["error"]["type"] == "authentication_error"
    assert "x-request-id" in headers
    assert fake.control.log() == []  # nothing reached the provider


def test_missing_key_on_the_anthropic_route_is_anthropics_error_shape(gw, fake: FakeProvider) -> None:
    client = anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="not-a-virtual-key", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as info:
        client.messages.create(model="gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": "Hi"}])
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "authentication_error"


def test_unknown_key_is_401(gw, fake: FakeProvider) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        sdk(gw, "sk-bf-no-such-key-000").chat.completions.create(**CHAT)
    assert info.value.code == "invalid_virtual_key"
    assert fake.control.log() == []


def test_inactive_key_is_401_naming_the_key(gw, fake: FakeProvider) -> None:
    with pytest.raises(openai.AuthenticationError) as info:
        sdk(gw, VK_OFF).chat.completions.create(**CHAT)
    assert info.value.code == "virtual_key_inactive"
    assert "retired" in info.value.message and VK_OFF not in info.value.message


def test_model_outside_allowed_models_is_403_naming_what_is_allowed(gw, fake: FakeProvider) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        sdk(gw, VK_B).chat.completions.create(model="gpt-4o", messages=CHAT["messages"])
    assert info.value.status_code == 403
    message = info.value.message
    assert "openai/gpt-4o-mini" in message and "providers openai" in message
    assert fake.control.log() == []
    assert sdk(gw, VK_B).chat.completions.create(**CHAT).choices[0].message.content


def test_provider_outside_allowed_providers_is_403(gw, fake: FakeProvider) -> None:
    with pytest.raises(openai.PermissionDeniedError) as info:
        sdk(gw, VK_B).chat.completions.create(model="groq/llama-3.1-8b-instant", messages=CHAT["messages"])
    assert "groq/llama-3.1-8b-instant" in info.value.message
    assert fake.control.log() == []


def test_no_provider_key_or_virtual_key_value_in_any_answer(gw, fake: FakeProvider) -> None:
    answers = [str(post(gw.url + "/api/governance/virtual-keys", body={}))]
    for key in ("", "sk-bf-wrong-000000", VK_OFF):
        answers.append(str(post(gw.v1_url + "/chat/completions", headers={"Authorization": f"Bearer {key}"})))
    from harness import http_get

    answers.append(http_get(gw.url + "/api/governance/virtual-keys")[1].decode())
    text = "\n".join(answers) + gw.logs()
    for secret in (*KEY_VALUES, VK_A, VK_B, VK_OFF):
        assert secret not in text


def test_without_enforcement_a_request_without_key_is_served(start_gateway: GatewayFactory, fake: FakeProvider) -> None:
    gw = start_gateway(_config(fake.url, enforce=False))
    status, _, body = post(gw.v1_url + "/chat/completions")
    assert status == 200, body
    status, _, body = post(gw.v1_url + "/chat/completions", headers={"Authorization": "Bearer sk-bf-unknown-00000"})
    assert status == 401  # a virtual key that is sent must be valid


def _genai(gw, api_key: str):
    from google import genai
    from google.genai import types

    options = types.HttpOptions(base_url=gw.url + "/genai", retry_options=types.HttpRetryOptions(attempts=1))
    return genai.Client(api_key=api_key, http_options=options)


def test_google_genai_sdk_sends_the_key_as_x_goog_api_key(gw, fake: FakeProvider) -> None:
    from google.genai import errors

    client = _genai(gw, VK_A)  # kept in a variable: a collected client closes its connection
    reply = client.models.generate_content(model="openai/gpt-4o-mini", contents="Hi")
    assert reply.text
    assert VK_A not in str(fake.control.last())
    stranger = _genai(gw, "not-a-virtual-key")
    with pytest.raises(errors.ClientError) as info:
        stranger.models.generate_content(model="openai/gpt-4o-mini", contents="Hi")
    assert info.value.code == 401 and info.value.status == "UNAUTHENTICATED"
    assert "virtual key is required" in info.value.message
