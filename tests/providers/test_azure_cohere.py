"""Azure and Cohere specifics through a real gateway: Azure deployment URLs for completions and embeddings,
a key without azure_key_config, direct keys; Cohere embeddings in base64 and streamed tool calls."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from conformance.cloud import AZURE_KEY, AZURE_VERSION, check_azure, check_cohere, cloud_providers
from harness import GatewayFactory, GatewayProcess

HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    providers = cloud_providers(fake_server.url)
    yield start_module_gateway({"providers": {"azure": providers["azure"], "cohere": providers["cohere"]}})


def client(gw: GatewayProcess, key: str = "sk-client-ignored") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key=key, max_retries=0, timeout=20)


def test_azure_text_completion_goes_to_the_deployment(gateway: GatewayProcess, fake: FakeProvider) -> None:
    resp = client(gateway).completions.create(model="azure/gpt-35-turbo-instruct", prompt="Say hi")
    assert resp.object == "text_completion"
    body = check_azure(fake.control.last(), "gpt-35-turbo-instruct", "completions")
    assert body == {"model": "gpt-35-turbo-instruct", "prompt": "Say hi"}


def test_azure_body_passes_through_unknown_fields(gateway: GatewayProcess, fake: FakeProvider) -> None:
    client(gateway).chat.completions.create(model="azure/gpt-4o", messages=HI, extra_body={"data_sources": []})
    assert check_azure(fake.control.last())["data_sources"] == []


def test_azure_key_without_key_config_uses_base_url(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    azure: dict[str, Any] = {
        "keys": [{"value": AZURE_KEY, "models": ["gpt-4o"]}],
        "network_config": {"base_url": fake.url},
    }
    gw = start_gateway({"providers": {"azure": azure}})
    client(gw).chat.completions.create(model="azure/gpt-4o", messages=HI)
    req = fake.control.last()
    assert req["path"] == "/openai/deployments/gpt-4o/chat/completions"
    assert req["query"] == {"api-version": AZURE_VERSION} and req["headers"]["api-key"] == AZURE_KEY
    direct = start_gateway({"providers": {"azure": azure}, "client": {"allow_direct_keys": True}})
    client(direct, "client-own-azure-key").chat.completions.create(model="azure/gpt-4o", messages=HI)
    assert fake.control.last()["headers"]["api-key"] == "client-own-azure-key"


def test_cohere_embeddings_in_base64(gateway: GatewayProcess, fake: FakeProvider) -> None:
    floats = client(gateway).embeddings.create(model="cohere/embed-english-v3.0", input="alpha")
    b64 = client(gateway).embeddings.create(
        model="cohere/embed-english-v3.0", input="alpha", encoding_format="base64", dimensions=8
    )
    encoded = b64.data[0].embedding
    assert isinstance(encoded, str)  # asked for explicitly, the SDK hands the base64 text over
    assert list(struct.unpack("<8f", base64.b64decode(encoded))) == pytest.approx(floats.data[0].embedding, rel=1e-6)
    body = check_cohere(fake.control.last(), "/v2/embed")
    assert body["output_dimension"] == 8


def test_cohere_named_tool_choice_is_a_clear_400(gateway: GatewayProcess, fake: FakeProvider) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).chat.completions.create(
            model="cohere/command-r-plus",
            messages=HI,
            tools=[tool],
            tool_choice={"type": "function", "function": {"name": "f"}},
        )
    assert "Cohere cannot force one named tool" in info.value.message
    assert fake.control.log() == []


def test_cohere_stream_error_is_an_error_chunk(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": "one two three", "stream_error_after": 3, "error_message": "model failed"})
    with pytest.raises(openai.APIError) as info:
        list(client(gateway).chat.completions.create(model="cohere/command-r-plus", messages=HI, stream=True))
    assert "model failed" in info.value.message


def test_azure_model_cannot_leave_its_deployment_path(gateway: GatewayProcess, fake: FakeProvider) -> None:
    with pytest.raises(openai.APIStatusError):
        client(gateway).chat.completions.create(model="azure/../../v1/chat/completions", messages=HI)
    for req in fake.control.log():
        assert not req["path"].startswith("/v1/")
