"""Usage as the gateway accounts it (``/metrics`` token counters, which also drive cost and budgets): the same
Anthropic answer must count the same prompt and completion tokens whichever route served it, streaming or not.

Token convention (OpenAI's, as in ``bifrost.observability.pricing``): prompt tokens include cache reads and
cache writes. Each test has its own gateway, so the counters start at zero.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from bifrost.testing.fake_provider import FakeProvider
from conftest import GatewayFactory, GatewayProcess, http_get

from .helpers import anthropic_client, conformance_config, openai_client
from .matrix import CLAUDE

USAGE = {"input_tokens": 10, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 50, "output_tokens": 7}
ANSWER = {
    "id": "msg_accounting",
    "type": "message",
    "role": "assistant",
    "model": CLAUDE,
    "content": [{"type": "text", "text": "Counted."}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": USAGE,
}
HI: list[Any] = [{"role": "user", "content": "Hi"}]


def counted(gw: GatewayProcess, expected: tuple[float, float], timeout: float = 3.0) -> tuple[float, float]:
    """The counters once they equal `expected` (a request is recorded just after its last byte), else as they are."""
    deadline = time.monotonic() + timeout
    while (counters := token_counters(gw)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return counters


def token_counters(gw: GatewayProcess) -> tuple[float, float]:
    """(input, output) tokens the gateway counted for the anthropic provider, all methods."""
    status, body = http_get(gw.url + "/metrics")
    assert status == 200
    totals = {"bifrost_input_tokens_total": 0.0, "bifrost_output_tokens_total": 0.0}
    for line in body.decode().splitlines():
        name, _, rest = line.partition("{")
        if name in totals and 'provider="anthropic"' in rest:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return totals["bifrost_input_tokens_total"], totals["bifrost_output_tokens_total"]


@pytest.mark.parametrize("route", ["openai", "anthropic"])
def test_cache_writes_count_as_prompt_tokens_on_every_route(
    fake: FakeProvider, start_gateway: GatewayFactory, route: str
) -> None:
    gw = start_gateway(conformance_config(fake.url))
    fake.control.script({"status": 200, "error_body": ANSWER})  # the fake scripts no cache writes: a raw answer
    if route == "openai":
        openai_client(gw).chat.completions.create(model=f"anthropic/{CLAUDE}", messages=HI)
    else:
        anthropic_client(gw).messages.create(model=CLAUDE, max_tokens=64, messages=HI)
    assert counted(gw, (260, 7)) == (260, 7)


@pytest.mark.parametrize(
    "route",
    [
        pytest.param("openai-include-usage"),
        pytest.param("openai"),
        pytest.param("anthropic"),
    ],
)
def test_streamed_usage_is_counted(fake: FakeProvider, start_gateway: GatewayFactory, route: str) -> None:
    gw = start_gateway(conformance_config(fake.url))
    fake.control.script({"reply": "three words here", "usage": {"prompt_tokens": 100, "completion_tokens": 5}})
    if route.startswith("openai"):
        extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if route == "openai-include-usage" else {}
        list(openai_client(gw).chat.completions.create(model=f"anthropic/{CLAUDE}", messages=HI, stream=True, **extra))
    else:
        with anthropic_client(gw).messages.stream(model=CLAUDE, max_tokens=64, messages=HI) as stream:
            stream.get_final_message()
    assert counted(gw, (100, 5)) == (100, 5)
