"""Bedrock specifics through a real gateway: the SigV4 signature verifies with the secret, Bedrock API keys,
model ARNs in the URL, and broken event-stream frames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import openai
import orjson
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bifrost.testing.fake_provider import FakeProvider
from conformance.cloud import (
    AWS_ACCESS,
    AWS_REGION,
    AWS_SECRET,
    AWS_TOKEN,
    BEDROCK_MODEL_ID,
    check_bedrock,
    cloud_providers,
    no_cloud_secrets,
)
from harness import GatewayFactory, GatewayProcess

HI = [{"role": "user", "content": "Hi"}]
ARN = "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-5-sonnet-20241022-v2:0"


def config(fake_url: str, **bedrock: Any) -> dict[str, Any]:
    providers = cloud_providers(fake_url)
    providers["bedrock"].update(bedrock)
    return {"providers": {"bedrock": providers["bedrock"]}}


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    conf = config(fake_server.url)
    conf["providers"]["bedrock"]["keys"][0]["bedrock_key_config"]["deployments"]["profile"] = ARN
    yield start_module_gateway(conf)


def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key="sk-client-ignored", max_retries=0, timeout=20)


def test_sigv4_signature_verifies_with_the_secret(gateway: GatewayProcess, fake: FakeProvider) -> None:
    client(gateway).chat.completions.create(model="bedrock/claude-sonnet", messages=HI)
    req = fake.control.last()
    check_bedrock(req)
    headers = req["headers"]
    url = f"http://{headers['host']}/model/{quote(BEDROCK_MODEL_ID, safe='')}/converse"
    again = AWSRequest(
        method="POST", url=url, data=orjson.dumps(req["body"]), headers={"Content-Type": "application/json"}
    )
    again.context["timestamp"] = headers["x-amz-date"]
    signer = SigV4Auth(Credentials(AWS_ACCESS, AWS_SECRET, AWS_TOKEN), "bedrock", AWS_REGION)
    signer._modify_request_before_signing(again)
    signature = signer.signature(signer.string_to_sign(again, signer.canonical_request(again)), again)
    assert headers["authorization"].endswith(f"Signature={signature}")


def test_model_arn_goes_percent_encoded_in_the_url(gateway: GatewayProcess, fake: FakeProvider) -> None:
    resp = client(gateway).chat.completions.create(model="bedrock/profile", messages=HI)
    assert resp.model == "profile"
    check_bedrock(fake.control.last(), model_id=ARN)


def test_bedrock_api_key_is_a_bearer_token(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(
        config(fake.url, keys=[{"name": "apikey", "value": "bedrock-api-key-0001", "models": ["claude"]}])
    )
    resp = client(gw).chat.completions.create(model="bedrock/claude", messages=HI)
    assert resp.choices[0].message.content
    req = fake.control.last()
    assert req["path"] == "/model/claude/converse"
    assert req["headers"]["authorization"] == "Bearer bedrock-api-key-0001"
    assert "x-amz-date" not in req["headers"]


def test_broken_event_stream_frame_is_an_error_chunk(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": "one two three four", "malformed": True, "malformed_after": 2})
    pieces: list[str] = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client(gateway).chat.completions.create(model="bedrock/claude-sonnet", messages=HI, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
    assert "event-stream" in info.value.message
    assert "".join(pieces) == "one "


def test_throttling_exception_mid_stream(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script(
        {
            "reply": "one two three",
            "stream_error_after": 2,
            "error_type": "throttlingException",
            "error_message": "Slow down",
        }
    )
    with pytest.raises(openai.APIError) as info:
        list(client(gateway).chat.completions.create(model="bedrock/claude-sonnet", messages=HI, stream=True))
    assert info.value.message == "Slow down"
    assert isinstance(info.value.body, dict) and info.value.body["type"] == "throttlingException"


def test_forbidden_answer_names_no_secret(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(config(fake.url))  # a 403 cools the key down: not in the shared gateway
    fake.control.script({"status": 403, "error_message": f"bad signature for {AWS_SECRET} and {AWS_TOKEN}"})
    with pytest.raises(openai.PermissionDeniedError) as info:
        client(gateway).chat.completions.create(model="bedrock/claude-sonnet", messages=HI)
    no_cloud_secrets(info.value.response.text)
    assert "bad signature for ***" in info.value.message
    assert AWS_SECRET not in gateway.logs() and AWS_TOKEN not in gateway.logs()


def test_tool_choice_none_is_a_clear_400(gateway: GatewayProcess, fake: FakeProvider) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).chat.completions.create(
            model="bedrock/claude-sonnet", messages=HI, tools=[tool], tool_choice="none"
        )
    assert "tool_choice 'none'" in info.value.message
    assert fake.control.log() == []


def test_anthropic_sdk_and_text_completions_reach_bedrock(gateway: GatewayProcess, fake: FakeProvider) -> None:
    import anthropic

    sdk = anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key="x", max_retries=0)
    fake.control.script({"reply": "Salut"})
    msg = sdk.messages.create(model="bedrock/claude-sonnet", max_tokens=16, system="terse", messages=HI)
    assert msg.content[0].text == "Salut" and msg.stop_reason == "end_turn"
    body = check_bedrock(fake.control.last())
    assert body["system"] == [{"text": "terse"}] and body["inferenceConfig"] == {"maxTokens": 16}
    with sdk.messages.stream(model="bedrock/claude-sonnet", max_tokens=16, messages=HI) as s:
        assert "".join(s.text_stream).startswith("Hello from fake")
    text = client(gateway).completions.create(model="bedrock/claude-sonnet", prompt="Say hi")
    assert text.choices[0].text.startswith("Hello from fake")
    assert check_bedrock(fake.control.last())["messages"] == [{"role": "user", "content": [{"text": "Say hi"}]}]
