"""Shared by the resilience tests: clients, raw HTTP, SSE parsing, small configs on the fake provider."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import openai

from harness import GatewayProcess

HELLO: list[Any] = [{"role": "user", "content": "Hello!"}]  # typed loosely: both SDKs take it
CHAT = {"model": "gpt-4o-mini", "messages": HELLO}
REPLY = "one two three four"  # streamed as: role chunk, 4 word chunks, finish chunk, [DONE]


def network(fake_url: str, **extra: Any) -> dict[str, Any]:
    """Fast backoffs (10-50 ms) so retries cost little test time."""
    return {"base_url": fake_url, "retry_backoff_initial_ms": 10, "retry_backoff_max_ms": 50, **extra}


def provider(fake_url: str, keys: Sequence[dict[str, Any]] = (), **net: Any) -> dict[str, Any]:
    """An OpenAI-wire provider on the fake; network_config fields as keyword arguments."""
    conf: dict[str, Any] = {"network_config": network(fake_url, **net)}
    if keys:
        conf["keys"] = list(keys)
    return conf


def key(name: str, models: Sequence[str] = ("*",), weight: float = 1.0) -> dict[str, Any]:
    """A key whose value is ``sk-<name>`` (the fake logs the value, so tests see which key was used)."""
    return {"name": name, "value": f"sk-{name}", "models": list(models), "weight": weight}


def client(gw: GatewayProcess, timeout: float = 20.0, **kwargs: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.openai_url, api_key="sk-client-ignored", max_retries=0, timeout=timeout, **kwargs)


def async_client(gw: GatewayProcess, timeout: float = 20.0, **kwargs: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=gw.openai_url, api_key="sk-client-ignored", max_retries=0, timeout=timeout, **kwargs
    )


def extras(model: Any) -> dict[str, Any]:
    """The gateway's ``extra_fields`` as the SDK keeps them (pydantic extra attributes)."""
    fields = (model.model_extra or {}).get("extra_fields")
    assert isinstance(fields, dict), f"no extra_fields in {model!r}"
    return fields


def error_body(exc: openai.APIStatusError) -> dict[str, Any]:
    """The whole JSON error body (the SDK's ``exc.body`` is only the inner ``error`` object)."""
    body = exc.response.json()
    assert isinstance(body, dict)
    return body


async def post(
    url: str, body: dict[str, Any], headers: dict[str, str] | None = None, timeout: float = 20.0
) -> tuple[int, dict[str, str], bytes]:
    """POST JSON with a fresh session; (status, headers, whole body) whatever the status."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.post(url, json=body, headers=headers) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.read()


def sse_frames(raw: bytes) -> list[tuple[str | None, str]]:
    """(event name or None, data) per SSE frame, in order."""
    frames: list[tuple[str | None, str]] = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        event = None
        data = []
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[6:] if line[5:6] == " " else line[5:])
        frames.append((event, "\n".join(data)))
    return frames


def assert_openai_error(body: bytes | dict[str, Any], status: int | None = None) -> dict[str, Any]:
    """A well-formed OpenAI error object: message, type, param, code; returns the inner error."""
    obj = json.loads(body) if isinstance(body, bytes) else body
    err = obj["error"]
    assert isinstance(err, dict), obj
    assert isinstance(err["message"], str) and err["message"], obj
    assert isinstance(err["type"], str) and err["type"], obj
    assert "param" in err and "code" in err, obj
    return err


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        time.sleep(0.02)


async def async_wait_until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        await asyncio.sleep(0.02)


def keys_seen(log: list[dict[str, Any]], path: str = "/v1/chat/completions") -> list[str | None]:
    """The API key of each upstream request the fake received on ``path``, oldest first."""
    return [r["key"] for r in log if r["path"] == path]


def models_seen(log: list[dict[str, Any]]) -> list[str | None]:
    return [(r["body"] or {}).get("model") for r in log]
