"""With the Redis `state_store`, a Response one gateway instance served is continued, retrieved and deleted
through another: `previous_response_id` works across workers and hosts."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory
from redisserver import RedisServer, RedisUnavailable, throwaway_redis

from .helpers import CLAUDE, client, responses_config


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    try:
        with throwaway_redis() as server:
            yield server
    except RedisUnavailable as exc:
        print(f"SKIP: {exc}")
        pytest.skip(str(exc))


def test_a_conversation_continues_on_another_instance(
    redis_server: RedisServer, fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    config = responses_config(fake.url, state_store={"type": "redis", "config": {"url": redis_server.url}})
    first, second = start_gateway(config), start_gateway(config)
    model = f"anthropic/{CLAUDE}"  # translated: the gateway itself stores the response

    turn1 = client(first).responses.create(model=model, input="my name is Ada")
    got = client(second).responses.retrieve(turn1.id)
    assert got.id == turn1.id and got.output_text == turn1.output_text

    fake.control.reset()
    turn2 = client(second).responses.create(model=model, input="what is my name?", previous_response_id=turn1.id)
    assert turn2.output_text
    sent = fake.control.log()[-1]["body"]["messages"]  # the earlier turns, expanded by the second instance
    texts = [block["text"] for m in sent for block in (m["content"] if isinstance(m["content"], list) else [])]
    assert "my name is Ada" in " ".join(texts) + " ".join(m["content"] for m in sent if isinstance(m["content"], str))

    client(first).responses.delete(turn2.id)
    with pytest.raises(openai.NotFoundError):
        client(second).responses.retrieve(turn2.id)
