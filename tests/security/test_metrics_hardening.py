"""Findings 1 and 4: no label value breaks /metrics, and no label combination explodes it.

1. A custom label value with invalid UTF-8 or control characters used to make every later scrape a 500.
4. The per-label caps did not bound their product: 1,000 models x many team values gave a 342 MB scrape.
   Each family now holds at most MAX_SERIES_PER_FAMILY combinations; later ones fold into "other" and
   bifrost_metrics_series_folded_total counts them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bifrost.observability.metrics import MAX_SERIES_PER_FAMILY
from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, openai_config

from .helpers import chat_bytes, raw_request, scrape, status_of


def _labelled(fake_url: str) -> dict[str, Any]:
    return openai_config(fake_url, client={"prometheus_labels": ["team"]})


def test_invalid_utf8_and_control_characters_in_a_label_never_break_the_scrape(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(_labelled(fake.url))
    hostile = [b"\xff", b"\xc3\x28bad", b"tab\there", b"x" * 5000]
    for value in hostile:
        answer = raw_request(gw.port, chat_bytes([(b"x-bf-prom-team", value)]))
        assert status_of(answer) == 200, answer[:300]
    # aiohttp's parser itself refuses control characters in a header value (400, before any route)
    assert status_of(raw_request(gw.port, chat_bytes([(b"x-bf-prom-team", b"esc\x1b[31m")]))) == 400
    # ... but a model name in the body can carry them into the model label
    answer = raw_request(gw.port, chat_bytes(body={"model": "openai/m\x1b[31m\x00", "messages": [
        {"role": "user", "content": "hi"}]}))
    assert status_of(answer) == 404, answer[:300]
    for _ in range(2):  # every later scrape too
        families = scrape(gw)
    samples = families["bifrost_upstream_requests"]
    teams = {s.labels["team"] for s in samples}
    assert all(len(team) <= 64 for team in teams), teams
    labels = [v for s in samples for v in s.labels.values()]
    assert not any(ch in v for v in labels for ch in "\x1b\x7f\x00"), labels
    assert sum(s.value for s in samples) == len(hostile) + 1
    assert gw.alive()


async def _many_combinations(url: str, n_models: int, n_teams: int) -> list[int]:
    sem = asyncio.Semaphore(32)
    async with aiohttp.ClientSession() as session:

        async def one(model: int, team: int) -> int:
            body = {"model": f"openai/model-{model}", "messages": [{"role": "user", "content": "hi"}]}
            async with sem, session.post(url, json=body, headers={"x-bf-prom-team": f"team-{team}"}) as resp:
                await resp.read()
                return resp.status

        return await asyncio.gather(*(one(m, t) for m in range(n_models) for t in range(n_teams)))


def test_series_per_family_are_bounded_and_folds_are_counted(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(_labelled(fake.url))
    n_models, n_teams = 60, 40  # 2,400 combinations, each under the per-label caps
    assert n_models * n_teams > MAX_SERIES_PER_FAMILY
    statuses = asyncio.run(_many_combinations(gw.v1_url + "/chat/completions", n_models, n_teams))
    assert set(statuses) == {404}  # models no key serves: routed to openai, refused before any upstream call
    families = scrape(gw)
    samples = families["bifrost_upstream_requests"]
    series = {tuple(sorted(s.labels.items())) for s in samples}
    assert len(series) <= MAX_SERIES_PER_FAMILY + 1, len(series)  # + the one folded series
    assert sum(s.value for s in samples) == len(statuses)  # folded requests are still counted
    folded = {s.labels["family"]: s.value for s in families["bifrost_metrics_series_folded"]}
    other = [s for s in samples if s.labels["model"] == "other" and s.labels["team"] == "other"]
    assert other and other[0].value == folded["req"] == len(statuses) - MAX_SERIES_PER_FAMILY
    assert fake.control.stats()["total"] == 0
