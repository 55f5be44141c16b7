"""Vertex specifics through a real gateway: the service-account token is fetched from the token endpoint
once (a signed RS256 JWT grant) and reused; a failing token endpoint is a clear 503 without key material."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from conformance.cloud import (
    VERTEX_MODEL,
    VERTEX_PROJECT,
    VERTEX_REGION,
    calls,
    check_vertex,
    cloud_providers,
    last_call,
    private_key_pem,
    service_account,
)
from harness import GatewayFactory, GatewayProcess

HI = [{"role": "user", "content": "Hi"}]


def config(fake_url: str, credentials: dict[str, Any] | None = None) -> dict[str, Any]:
    vertex = cloud_providers(fake_url)["vertex"]
    if credentials is not None:
        vertex["keys"][0]["vertex_key_config"]["auth_credentials"] = json.dumps(credentials)
    return {"providers": {"vertex": vertex}}


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> Iterator[GatewayProcess]:
    yield start_module_gateway(config(fake_server.url))


def client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key="sk-client-ignored", max_retries=0, timeout=20)


def jwt_part(token: str, i: int) -> dict[str, Any]:
    part = token.split(".")[i]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))  # type: ignore[no-any-return]


def test_token_is_fetched_once_and_reused(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(config(fake.url))
    for _ in range(3):
        assert client(gw).chat.completions.create(model=VERTEX_MODEL, messages=HI).choices[0].message.content
    log = fake.control.log()
    grants = [r for r in log if r["path"] == "/token"]
    assert len(grants) == 1  # fetched at start-up, in the background, and cached
    grant = grants[0]["body"]
    assert grant["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert jwt_part(grant["assertion"], 0)["alg"] == "RS256"
    claims = jwt_part(grant["assertion"], 1)
    assert claims["iss"] == service_account(fake.url)["client_email"]
    assert claims["aud"] and claims["exp"] > claims["iat"]
    assert claims["scope"] == "https://www.googleapis.com/auth/cloud-platform"
    provider_calls = [r for r in log if r["path"] != "/token"]
    assert len(provider_calls) == 3 and len({r["headers"]["authorization"] for r in provider_calls}) == 1
    for call in provider_calls:
        check_vertex(call)


def test_failing_token_endpoint_is_a_clear_503(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    account = {**service_account(fake.url), "token_uri": fake.url + "/no-such-token-endpoint"}
    gw = start_gateway(config(fake.url, account))
    with pytest.raises(openai.APIStatusError) as info:
        client(gw).chat.completions.create(model=VERTEX_MODEL, messages=HI)
    assert info.value.status_code == 503
    assert "refreshing the access token failed" in info.value.message
    pem_body = private_key_pem().splitlines()[5]
    assert pem_body not in info.value.response.text and pem_body not in gw.logs()
    assert [r for r in calls(fake) if r["path"].startswith("/v1/")] == []


def test_streaming_uses_stream_raw_predict(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": "one two three"})
    chunks = list(client(gateway).chat.completions.create(model=VERTEX_MODEL, messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    check_vertex(last_call(fake), "streamRawPredict")


GEMINI_PATH = f"/v1/projects/{VERTEX_PROJECT}/locations/{VERTEX_REGION}/publishers/google/models/gemini-2.0-flash"


def test_gemini_model_on_vertex(gateway: GatewayProcess, fake: FakeProvider) -> None:
    fake.control.script({"reply": "one two three", "usage": {"prompt_tokens": 5, "completion_tokens": 3}})
    resp = client(gateway).chat.completions.create(
        model="vertex/gemini-2.0-flash", messages=[{"role": "system", "content": "terse"}, *HI]
    )
    assert resp.choices[0].message.content == "one two three" and resp.usage.total_tokens == 8
    req = last_call(fake)
    assert req["path"] == GEMINI_PATH + ":generateContent"
    assert req["headers"]["authorization"].startswith("Bearer ya29.fake-")
    assert req["body"]["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]
    assert req["body"]["systemInstruction"]["parts"] == [{"text": "terse"}]
    fake.control.script({"reply": "one two three"})
    chunks = list(client(gateway).chat.completions.create(model="vertex/gemini-2.0-flash", messages=HI, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    req = last_call(fake)
    assert req["path"] == GEMINI_PATH + ":streamGenerateContent" and req["query"] == {"alt": "sse"}


def test_anthropic_route_serves_claude_only_on_vertex(gateway: GatewayProcess, fake: FakeProvider) -> None:
    import anthropic

    sdk = anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key="x", max_retries=0)
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk.messages.create(model="vertex/gemini-2.0-flash", max_tokens=8, messages=[{"role": "user", "content": "Hi"}])
    assert "only Anthropic models (claude-*)" in info.value.message


def test_model_cannot_leave_the_project_path(gateway: GatewayProcess, fake: FakeProvider) -> None:
    client(gateway).chat.completions.create(
        model="vertex/claude-x/../../../../../projects/other/locations/x/publishers/anthropic/models/m",
        messages=HI,
    )
    # percent-encoded: one path segment (the fake shows it decoded), never resolved into another project
    prefix = "/v1/projects/proj-test/locations/us-east5/publishers/anthropic/models/claude-x/"
    assert last_call(fake)["path"].startswith(prefix)


def test_anthropic_sdk_through_vertex(gateway: GatewayProcess, fake: FakeProvider) -> None:
    import anthropic

    fake.control.script({"reply": "Bonjour"})
    sdk = anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key="x", max_retries=0)
    msg = sdk.messages.create(model=VERTEX_MODEL, max_tokens=32, messages=[{"role": "user", "content": "Hi"}])
    assert msg.content[0].text == "Bonjour"
    body = check_vertex(last_call(fake))  # passed through: the SDK's body, model moved to the URL
    assert body == {
        "max_tokens": 32,
        "messages": [{"role": "user", "content": "Hi"}],
        "anthropic_version": "vertex-2023-10-16",
    }
    with sdk.messages.stream(model=VERTEX_MODEL, max_tokens=32, messages=[{"role": "user", "content": "Hi"}]) as s:
        assert "".join(s.text_stream) == "Hello from fake claude-3-5-sonnet-v2@20241022!"
    check_vertex(last_call(fake), "streamRawPredict")
    count = sdk.messages.count_tokens(model=VERTEX_MODEL, messages=[{"role": "user", "content": "Hi there"}])
    assert count.input_tokens > 0
    req = last_call(fake)
    assert req["path"].endswith("/publishers/anthropic/models/count-tokens:rawPredict")
    assert req["body"]["model"] == VERTEX_MODEL.split("/", 1)[1]


@pytest.mark.parametrize(
    ("region", "root"),
    [
        ("us-east5", "https://us-east5-aiplatform.googleapis.com/v1/projects/proj-test/locations/us-east5/"),
        ("global", "https://aiplatform.googleapis.com/v1/projects/proj-test/locations/global/"),
    ],
)
def test_public_vertex_urls(region: str, root: str) -> None:
    from bifrost.config import parse_config
    from bifrost.providers.vertex.provider import VertexProvider

    vertex = cloud_providers("http://unused")["vertex"]
    vertex["keys"][0]["vertex_key_config"]["region"] = region
    del vertex["network_config"]["base_url"]
    config = parse_config(json.dumps({"providers": {"vertex": vertex}}), env={})
    provider = VertexProvider(config.providers["vertex"], config.client)
    assert provider._roots["gcp"] == root + "publishers/"
