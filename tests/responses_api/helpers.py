"""Shared by the Responses API tests: the gateway config (OpenAI native, Anthropic, a chat-only provider, all on
the fake), SDK clients per base URL, raw SSE reading, and spec validation of responses and events."""

from __future__ import annotations

import functools
import json
import urllib.request
from typing import Any

import openai
import yaml

from harness import GatewayProcess, openai_config
from openapi_schema import spec_path, validate_openai

CLAUDE = "claude-3-5-sonnet-20241022"
# target -> (model sent, path the fake must receive)
TARGETS: dict[str, tuple[str, str]] = {
    "openai": ("gpt-4o-mini", "/v1/responses"),
    "anthropic": (f"anthropic/{CLAUDE}", "/v1/messages"),
    "chat-only": ("groq/llama-3.1-8b-instant", "/v1/chat/completions"),
}
BASES = ("v1", "openai/v1")

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def responses_config(fake_url: str, **overrides: Any) -> dict[str, Any]:
    """openai (native Responses), groq (chat only), local-vllm and anthropic, all on the fake."""
    net = {"base_url": fake_url, "retry_backoff_initial_ms": 10, "retry_backoff_max_ms": 50}
    anthropic = {"keys": [{"name": "ant", "value": "sk-ant-test", "models": [CLAUDE]}], "network_config": net}
    return openai_config(fake_url, providers={"anthropic": anthropic}, **overrides)


def client(gw: GatewayProcess, base: str = "v1") -> openai.OpenAI:
    url = {"v1": gw.v1_url, "openai/v1": gw.openai_url + "/v1", "openai": gw.openai_url}[base]
    return openai.OpenAI(base_url=url, api_key="sk-client-ignored", max_retries=0, timeout=20)


def check_response(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a Response body (as sent on the wire) against the spec; return it."""
    validate_openai("Response", {k: v for k, v in body.items() if k != "extra_fields"})
    return body


def post_raw(
    gw: GatewayProcess, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    request = urllib.request.Request(
        gw.url + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with _OPENER.open(request, timeout=20) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def sse_events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON events of an SSE body, each checked: its `event:` name equals its type."""
    events: list[dict[str, Any]] = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        if not block.strip():
            continue
        name = None
        data = []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].strip())
        event = json.loads(b"\n".join(data))
        assert name == event["type"], (name, event)
        events.append(event)
    return events


@functools.cache
def _event_schemas() -> dict[str, str]:
    """Event type -> the spec's schema for it (each member of ResponseStreamEvent's anyOf)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with spec_path().open("rb") as fh:
        schemas = yaml.load(fh, Loader=loader)["components"]["schemas"]
    names: dict[str, str] = {}
    for ref in schemas["ResponseStreamEvent"]["anyOf"]:
        name = ref["$ref"].rsplit("/", 1)[1]
        for kind in schemas[name].get("properties", {}).get("type", {}).get("enum", ()):
            names[kind] = name
    return names


def check_event(event: dict[str, Any]) -> None:
    """Validate one stream event against the schema of its type (and so against ResponseStreamEvent)."""
    name = _event_schemas().get(event.get("type", ""))
    assert name is not None, f"not a Responses stream event type: {event.get('type')!r}"
    validate_openai(name, event)


def stream_events(gw: GatewayProcess, body: dict[str, Any], path: str = "/v1/responses") -> list[dict[str, Any]]:
    """POST a streaming Responses request; every event validated against ResponseStreamEvent."""
    status, raw = post_raw(gw, path, {**body, "stream": True})
    assert status == 200, raw
    events = sse_events(raw)
    for event in events:
        check_event(event)
    numbers = [e["sequence_number"] for e in events]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), numbers
    return events
