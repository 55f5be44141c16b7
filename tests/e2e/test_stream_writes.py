"""How a stream goes out: the events of one upstream read leave in one write, none waits for a later read,
and a finished stream's upstream connection is reused (issue 14: streaming throughput)."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from typing import Any

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, openai_config
from security.helpers import scrape

pytestmark = pytest.mark.asyncio


@pytest.fixture(scope="module")
def gateway(fake_server: FakeProvider, start_module_gateway: GatewayFactory) -> GatewayProcess:
    return start_module_gateway(openai_config(fake_server.url))


async def raw_chunks(gw: GatewayProcess, script: dict[str, Any], include_usage: bool = False) -> list[bytes]:
    """POST a streaming chat over a plain socket; the HTTP/1.1 chunks of the answer, as framed by the gateway."""
    request: dict[str, Any] = {
        "model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}],
    }
    if include_usage:
        request["stream_options"] = {"include_usage": True}
    body = json.dumps(request).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {gw.url[7:]}\r\nContent-Type: application/json\r\n"
        f"x-bf-eh-x-fake-script: {json.dumps(script)}\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(head + body)
    raw = await asyncio.wait_for(reader.read(-1), 20)
    writer.close()
    status_line, _, rest = raw.partition(b"\r\n")
    assert b" 200 " in status_line, raw[:500]
    headers, _, data = rest.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in headers.lower()
    chunks = []
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return chunks
        chunks.append(data[:size])
        data = data[size + 2 :]


async def test_events_of_one_upstream_read_go_out_in_one_write(gateway: GatewayProcess) -> None:
    # the fake sends the whole stream in one write: role chunk, 6 words, the final chunk, [DONE]
    chunks = await raw_chunks(gateway, {"reply": "one two three four five six"})
    text = b"".join(chunks)
    events = [e for e in text.split(b"\n\n") if e]
    assert len(events) == 9 and events[-1] == b"data: [DONE]"
    # before: one write per event (9 chunks); now the events, then at most [DONE] with the end
    assert len(chunks) <= 2, [c[:40] for c in chunks]


async def test_paced_events_are_not_held_back(gateway: GatewayProcess) -> None:
    # 40 ms between events: every event is its own upstream read, and goes out before the next one arrives
    chunks = await raw_chunks(gateway, {"reply": "one two three four", "chunk_delay_ms": 40})
    events = [e for e in b"".join(chunks).split(b"\n\n") if e]
    assert len(events) == 7 and events[-1] == b"data: [DONE]"
    assert len(chunks) >= 6, [c[:40] for c in chunks]  # role + 4 words + final: each written on arrival
    assert all(c.count(b"data: ") == 1 for c in chunks[:5])


async def test_a_finished_stream_gives_its_connection_back(gateway: GatewayProcess, fake: FakeProvider) -> None:
    for _ in range(3):
        # the end of the upstream body comes 50 ms after [DONE]: the stream is over before its HTTP answer
        # is, and the gateway reads that end rather than close the connection
        await raw_chunks(gateway, {"reply": "a b", "end_delay_ms": 50})
    ports = {r["peer_port"] for r in fake.control.log() if r["path"].endswith("/chat/completions")}
    assert len(ports) == 1, ports


# --- a same-wire stream passed on unread (RequestContext.raw_stream) -----------------------------------------


def upstream_bytes(fake: FakeProvider, script: dict[str, Any], usage: bool) -> bytes:
    """What the fake itself streams for this script (the bytes the gateway should pass on)."""
    body = {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    if usage:
        body["stream_options"] = {"include_usage": True}
    request = urllib.request.Request(
        fake.url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST",
        headers={
            "Content-Type": "application/json", "Authorization": "Bearer sk-x", "x-fake-script": json.dumps(script),
        },
    )
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as resp:
        return resp.read()


def _value(families: dict[str, Any], family: str, suffix: str = "_total") -> float:
    return sum(s.value for s in families.get(family, []) if s.name == family + suffix)


async def test_a_same_wire_stream_goes_out_byte_for_byte_and_is_still_counted(
    gateway: GatewayProcess, fake: FakeProvider
) -> None:
    script = {"reply": "one two three", "usage": {"prompt_tokens": 7, "completion_tokens": 3}}
    client = openai.AsyncOpenAI(base_url=gateway.openai_url + "/v1", api_key="sk-any", max_retries=0)
    before = scrape(gateway)
    # the client asks for usage: its usage chunk is read (the only event read) and passed on as it is
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True}, extra_headers={"x-bf-eh-x-fake-script": json.dumps(script)},
    )
    chunks = [c async for c in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3
    # the bytes are the upstream's own
    upstream = upstream_bytes(fake, script, usage=True)
    relayed = b"".join(await raw_chunks(gateway, script, include_usage=True))
    assert _strip_ids(relayed) == _strip_ids(upstream)
    # without include_usage the gateway asks for it anyway, keeps that chunk to itself, and counts it
    stream = await client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True,
        extra_headers={"x-bf-eh-x-fake-script": json.dumps(script)},
    )
    plain = [c async for c in stream]
    assert all(c.usage is None for c in plain) and plain[-1].choices[0].finish_reason == "stop"
    after = scrape(gateway)
    assert _value(after, "bifrost_output_tokens") - _value(before, "bifrost_output_tokens") == 9
    assert _value(after, "bifrost_input_tokens") - _value(before, "bifrost_input_tokens") == 21
    # the events passed on unread still count as chunks: each of the 3 streams has an inter-token latency
    gaps = _value(after, "bifrost_stream_inter_token_latency_seconds", "_count") - _value(
        before, "bifrost_stream_inter_token_latency_seconds", "_count"
    )
    assert gaps == 3


def _strip_ids(raw: bytes) -> bytes:
    return re.sub(rb'"(id|created)":("[^"]*"|\d+)', b"", raw)
