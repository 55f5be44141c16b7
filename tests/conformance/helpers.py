"""Shared pieces of the conformance tests: the gateway config, SDK clients, raw HTTP/SSE, small assertions."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import anthropic
import openai

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayProcess, openai_config
from openapi_schema import validate_openai

from .matrix import CLAUDE, GEMINI, column

ANTHROPIC_KEY = "sk-ant-test"
GEMINI_KEY = "gk-gemini-test"
GEMINI_3 = "gemini-3-pro-preview"  # a thinking model that requires thought signatures back
GEMINI_EMBED = "text-embedding-004"
OPENAI_KEYS = ("sk-test-main", "sk-test-spare")
SECRETS = (ANTHROPIC_KEY, GEMINI_KEY, *OPENAI_KEYS, "gsk-test")
ANTHROPIC_VERSION = "2023-06-01"  # what the gateway sends when translating

# A 1x1 transparent PNG and a minimal one-page PDF, base64.
PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
PDF_B64 = (
    "JVBERi0xLjQKMSAwIG9iago8PC9UeXBlL0NhdGFsb2cvUGFnZXMgMiAwIFI+PgplbmRvYmoKMiAwIG9iago8PC9UeXBlL1BhZ2VzL0tp"
    "ZHNbMyAwIFJdL0NvdW50IDE+PgplbmRvYmoKMyAwIG9iago8PC9UeXBlL1BhZ2UvUGFyZW50IDIgMCBSL01lZGlhQm94WzAgMCA2MTIg"
    "NzkyXT4+CmVuZG9iagp0cmFpbGVyCjw8L1Jvb3QgMSAwIFI+PgolJUVPRgo="
)
IMAGE_URL = "https://upload.wikimedia.org/wikipedia/commons/a/a7/Camponotus_flavomarginatus_ant.jpg"

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy


def conformance_config(fake_url: str) -> dict[str, Any]:
    """The typical e2e config plus ``anthropic`` and ``gemini`` providers whose keys list their models, all on
    the fake."""
    network = {"base_url": fake_url, "retry_backoff_initial_ms": 10, "retry_backoff_max_ms": 50}
    return openai_config(
        fake_url,
        providers={
            "anthropic": {
                "keys": [{"name": "ant", "value": ANTHROPIC_KEY, "models": [CLAUDE]}],
                "network_config": network,
            },
            "gemini": {
                "keys": [{"name": "gem", "value": GEMINI_KEY, "models": [GEMINI, GEMINI_3, GEMINI_EMBED]}],
                "network_config": network,
            },
        },
    )


def model_for(col: str) -> str:
    return column(col).model


def openai_client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key="sk-client-ignored", max_retries=0, timeout=20)


def anthropic_client(gw: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url + "/anthropic", api_key="sk-client-ignored", max_retries=0, timeout=20)


# --- calls that keep the raw answer next to the SDK object -------------------------------------------


@dataclass(frozen=True, slots=True)
class Exchange:
    """One non-streaming SDK call: what the SDK returned and the raw HTTP on both sides of it."""

    obj: Any  # the SDK's parsed object
    body: dict[str, Any]  # the raw JSON answer
    headers: Mapping[str, str]  # the answer's headers
    sent: dict[str, Any]  # the JSON the SDK sent to the gateway
    sent_headers: Mapping[str, str]


def _exchange(raw: Any) -> Exchange:
    request = raw.http_request
    text = raw.text() if callable(raw.text) else raw.text  # a method in the anthropic SDK, a property in openai's
    return Exchange(raw.parse(), json.loads(text), raw.headers, json.loads(request.content), request.headers)


def openai_chat(gw: GatewayProcess, **kwargs: Any) -> Exchange:
    """``chat.completions.create`` (not streaming); the raw body is validated against OpenAI's spec."""
    exchange = _exchange(openai_client(gw).chat.completions.with_raw_response.create(**kwargs))
    validate_openai("CreateChatCompletionResponse", exchange.body)
    return exchange


def openai_chat_stream(gw: GatewayProcess, **kwargs: Any) -> list[Any]:
    """``chat.completions.create(stream=True)``: every chunk the SDK yields, each validated against the spec."""
    chunks = list(openai_client(gw).chat.completions.create(stream=True, **kwargs))
    for chunk in chunks:
        validate_openai("CreateChatCompletionStreamResponse", chunk.to_dict())
    return chunks


def validate_completion_chunk(chunk: Mapping[str, Any]) -> None:
    """A streamed ``text_completion`` chunk against the spec's CreateCompletionResponse. OpenAI streams
    ``finish_reason: null`` until the last chunk and ends with a usage-only chunk (``choices: []``), neither
    of which the schema (one shape for both) expresses: those are validated as the final chunk's."""
    if chunk.get("choices") == [] and "usage" in chunk:
        return
    choices = [
        {**choice, "finish_reason": "stop"} if choice.get("finish_reason") is None else choice
        for choice in chunk["choices"]
    ]
    validate_openai("CreateCompletionResponse", {**chunk, "choices": choices})


def anthropic_message(gw: GatewayProcess, **kwargs: Any) -> Exchange:
    """``messages.create`` (not streaming); the raw body is checked for the fields Anthropic always sends."""
    exchange = _exchange(anthropic_client(gw).messages.with_raw_response.create(**kwargs))
    check_anthropic_message(exchange.body)
    return exchange


def anthropic_stream(gw: GatewayProcess, **kwargs: Any) -> tuple[list[Any], Any]:
    """``messages.stream``: (every event the helper yields, the final accumulated ``Message``)."""
    with anthropic_client(gw).messages.stream(**kwargs) as stream:
        events = list(stream)
        final = stream.get_final_message()
    return events, final


def check_anthropic_message(body: Mapping[str, Any]) -> None:
    """The required fields of an Anthropic ``message`` object, as the API reference lists them."""
    assert body["type"] == "message" and body["role"] == "assistant", body
    assert isinstance(body["id"], str) and body["id"].startswith("msg_"), body
    assert isinstance(body["model"], str) and body["model"], body
    assert isinstance(body["content"], list), body
    assert "stop_reason" in body and "stop_sequence" in body, body
    usage = body["usage"]
    assert isinstance(usage["input_tokens"], int) and isinstance(usage["output_tokens"], int), body


# --- raw HTTP ----------------------------------------------------------------------------------------


def raw_post(
    url: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None, timeout: float = 20.0
) -> tuple[int, dict[str, str], bytes]:
    """POST JSON without any SDK; (status, lower-cased headers, body bytes), also for error statuses."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def sse_events(raw: bytes) -> list[tuple[str | None, str]]:
    """Split an SSE body into (event name or None, data) pairs."""
    events: list[tuple[str | None, str]] = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        name: str | None = None
        data: list[str] = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data:
            events.append((name, "\n".join(data)))
    return events


def openai_sse_chunks(raw: bytes) -> list[dict[str, Any]]:
    """The JSON chunks of an OpenAI SSE body, which must end with ``data: [DONE]``."""
    events = sse_events(raw)
    assert events and events[-1][1] == "[DONE]", f"stream does not end with [DONE]: {raw[-300:]!r}"
    return [json.loads(data) for _, data in events[:-1]]


# --- what the fake received ----------------------------------------------------------------------------


def upstream(fake: FakeProvider) -> dict[str, Any]:
    """The last request the fake received (method, path, headers, body, key)."""
    return fake.control.last()


def check_anthropic_upstream(req: Mapping[str, Any], version: str | None = ANTHROPIC_VERSION) -> dict[str, Any]:
    """A request that reached Anthropic's wire: path, auth, version; returns its body."""
    assert req["path"] == "/v1/messages", req["path"]
    assert req["headers"].get("x-api-key") == ANTHROPIC_KEY
    assert "authorization" not in req["headers"]
    if version is not None:
        assert req["headers"].get("anthropic-version") == version
    body: dict[str, Any] = req["body"]
    return body


def check_openai_upstream(req: Mapping[str, Any]) -> dict[str, Any]:
    """A request that reached OpenAI's wire: path and bearer auth; returns its body."""
    assert req["path"] == "/v1/chat/completions", req["path"]
    assert req["headers"].get("authorization") in {f"Bearer {k}" for k in OPENAI_KEYS}
    assert "x-api-key" not in req["headers"] and "anthropic-version" not in req["headers"]
    body: dict[str, Any] = req["body"]
    return body


def check_gemini_upstream(
    req: Mapping[str, Any], model: str = GEMINI, action: str = "generateContent"
) -> dict[str, Any]:
    """A request that reached Gemini's wire: URL, key header (never in the URL); returns its body."""
    assert req["path"] == f"/v1beta/models/{model}:{action}", req["path"]
    assert req["query"] == ({"alt": "sse"} if action == "streamGenerateContent" else {}), req["query"]
    assert req["headers"].get("x-goog-api-key") == GEMINI_KEY
    assert "authorization" not in req["headers"] and "x-api-key" not in req["headers"]
    body: dict[str, Any] = req["body"]
    return body


def text_of(content: Any) -> str:
    """The text of Anthropic or OpenAI content: a string, or the text blocks/parts joined."""
    if isinstance(content, str):
        return content
    assert isinstance(content, list), content
    return "".join(part["text"] for part in content if part.get("type") == "text")


def extras(model: Any) -> dict[str, Any]:
    """The gateway's ``extra_fields`` as the SDKs keep them (pydantic extra attributes)."""
    extra = model.model_extra or {}
    fields = extra.get("extra_fields")
    assert isinstance(fields, dict), f"no extra_fields in {model!r}"
    return fields


def no_secrets(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"a configured key value leaked: {text[:300]}"
