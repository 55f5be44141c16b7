"""Finding 9: compressed and large bodies. Decompression is incremental with the size limit enforced as
it goes, off the event loop (bifrost.server.bodies); a body that does not decode is a 400, a
body over the limit a 413, and other clients are served meanwhile. Peak memory for a body at the limit is
measured by bench/body_memory.py (docs/security.md)."""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, http_get, openai_config

from .helpers import CHAT, post, raw_request


@pytest.mark.parametrize(
    ("encoding", "data"),
    [("deflate", b"\x78\x9cthis is not deflate at all"), ("deflate", b"garbage"), ("gzip", b"\x1f\x8bnot gzip"),
     ("gzip", gzip.compress(json.dumps(CHAT).encode(), mtime=0)[:40])],
    ids=["deflate-bad-stream", "deflate-garbage", "gzip-bad-stream", "gzip-cut-short"],
)
def test_a_body_that_does_not_decode_is_a_400(
    encoding: str, data: bytes, fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(openai_config(fake.url))
    status, _, body = post(gw.v1_url + "/chat/completions", data, {"Content-Encoding": encoding})
    assert 400 <= status < 500 and status != 408, (status, body)
    assert json.loads(body)["error"]["message"]
    assert fake.control.stats()["total"] == 0
    assert http_get(gw.url + "/health")[0] == 200


def test_an_encoding_the_gateway_cannot_decode_is_a_400(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    """Brotli: the gateway inflates gzip and deflate only."""
    gw = start_gateway(openai_config(fake.url))
    status, _, body = post(gw.v1_url + "/chat/completions", b"nope", {"Content-Encoding": "br"})
    assert status == 400 and b"content-encoding" in body.lower()


def test_a_compressed_body_that_inflates_past_the_limit_is_a_413(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(openai_config(fake.url, client={"max_request_body_size_mb": 1}))
    bomb = zlib.compress(b'{"model": "gpt-4o-mini", "messages": [], "pad": "' + b" " * (256 * 1024 * 1024), 9)
    assert len(bomb) < 1024 * 1024
    status, _, body = post(gw.v1_url + "/chat/completions", bomb, {"Content-Encoding": "deflate"})
    assert status == 413, body[:300]
    assert json.loads(body)["error"]["code"] == "request_too_large"
    assert http_get(gw.url + "/health")[0] == 200
    good = zlib.compress(json.dumps(CHAT).encode())
    assert post(gw.v1_url + "/chat/completions", good, {"Content-Encoding": "deflate"})[0] == 200


def _big_chat() -> bytes:
    """A chat body of about 600 KB that compresses well: inflating it takes the worker-thread path."""
    words = " ".join(f"word{i % 97}" for i in range(100_000))
    return json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": words}]}).encode()


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate", "gzip-two-members"])
def test_compressed_bodies_arrive_whole(encoding: str, fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    """Inflated off the event loop (bifrost.server.bodies): the upstream gets exactly the JSON the client
    compressed, whichever way it was compressed."""
    gw = start_gateway(openai_config(fake.url))
    plain = _big_chat()
    if encoding == "gzip":
        data = gzip.compress(plain)
    elif encoding == "deflate":
        data = zlib.compress(plain)
    elif encoding == "raw-deflate":
        packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
        data, encoding = packer.compress(plain) + packer.flush(), "deflate"
    else:
        data, encoding = gzip.compress(plain[:1000]) + gzip.compress(plain[1000:]), "gzip"
    assert len(data) < len(plain) // 10
    status, _, body = post(gw.v1_url + "/chat/completions", data, {"Content-Encoding": encoding})
    assert status == 200, body[:300]
    sent = json.loads(plain)["messages"][0]["content"]
    assert fake.control.last()["body"]["messages"][0]["content"] == sent


def test_an_unknown_encoding_is_a_400(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(openai_config(fake.url))
    status, _, body = post(gw.v1_url + "/chat/completions", json.dumps(CHAT).encode(), {"Content-Encoding": "zstd"})
    assert status == 400 and "zstd" in json.loads(body)["error"]["message"]
    assert fake.control.stats()["total"] == 0


@pytest.mark.parametrize("value", [b"\x80", b"\xff\xfe gzip"], ids=["lone-continuation-byte", "not-utf8"])
@pytest.mark.parametrize(
    "path", ["/v1/chat/completions", "/anthropic/v1/messages", "/genai/v1beta/models/gemini-2.0-flash:generateContent"]
)
def test_a_content_encoding_that_is_not_text_is_a_400_in_the_route_shape(
    value: bytes, path: str, fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    """Found by the hypothesis fuzz test: the 400 quoted the header's invalid UTF-8 and its JSON failed (a 500)."""
    gw = start_gateway(openai_config(fake.url))
    body = json.dumps(CHAT).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\ncontent-encoding: "
    ).encode()
    answer = raw_request(gw.port, head + value + b"\r\n\r\n" + body)
    status = int(answer.split(b" ", 2)[1])
    assert status == 400, answer[:300]
    payload = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert "error" in payload
    assert fake.control.stats()["total"] == 0
