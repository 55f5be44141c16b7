"""GET /metrics of a real gateway process after scripted traffic from the official openai SDK.

Parsed with prometheus_client's own parser; exact counter deltas and label sets (CONTRACT §7), one worker
and ``--workers 2`` (totals exact whichever worker answers the scrape).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from obs_helpers import (
    HELLO,
    L,
    Samples,
    delta,
    fresh_connection_posts,
    label_names,
    named,
    post_json,
    scrape,
    sdk,
    wait_for,
)

from bifrost.config import load_config
from bifrost.observability.pricing import Pricing
from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, openai_config

TEAM = "blue"
USAGE = {"prompt_tokens": 7, "completion_tokens": 3}
N_OK, M_STREAMS = 5, 3
MINI, GPT4O, LLAMA = "gpt-4o-mini", "gpt-4o", "llama-3.1-8b-instant"
CHAT = "/v1/chat/completions"


def metrics_config(fake_url: str) -> dict[str, Any]:
    return openai_config(
        fake_url,
        providers={"openai": {"network_config": {"max_retries": 1}}},
        fallbacks={GPT4O: [f"groq/{LLAMA}"]},
        client={"prometheus_labels": ["team"]},
    )


def http(status: int, team: str = "") -> frozenset[tuple[str, str]]:
    return L(path=CHAT, method="POST", status=str(status), team=team)


def up(provider: str, model: str, team: str = "", **extra: str) -> frozenset[tuple[str, str]]:
    return L(provider=provider, model=model, method="chat", team=team, **extra)


def drive_traffic(gw: GatewayProcess, fake: FakeProvider) -> None:
    """The scripted traffic whose exact effect on /metrics the test checks."""
    client = sdk(gw)
    fake.control.default({"reply": "one two three", "usage": USAGE})
    # N plain successes
    for _ in range(N_OK):
        resp = client.chat.completions.create(model=MINI, messages=HELLO)
        assert resp.usage is not None and resp.usage.prompt_tokens == USAGE["prompt_tokens"]
    # M streams that ask for usage
    for _ in range(M_STREAMS):
        stream = client.chat.completions.create(
            model=MINI, messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
        assert len(chunks) > 2
        assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == USAGE["completion_tokens"]
    # a stream that fails after its first chunks: an error event in the stream, counted as an upstream error
    fake.control.script({"stream_error_after": 2, "match": {"model": MINI}})
    with pytest.raises(openai.APIError):
        for _ in client.chat.completions.create(model=MINI, messages=HELLO, stream=True):
            pass
    # an upstream 500, retried, then a success
    fake.control.script({"status": 500, "match": {"model": MINI}})
    resp = client.chat.completions.create(model=MINI, messages=HELLO)
    assert (resp.model_extra or {})["extra_fields"]["retries"] == 1
    # the primary answers 503 to both tries: the config fallback (groq) answers; labelled by x-bf-prom-team
    fake.control.rules({"status": 503, "match": {"model": GPT4O}})
    resp = client.chat.completions.create(model=GPT4O, messages=HELLO, extra_headers={"x-bf-prom-team": TEAM})
    fake.control.rules()
    fields = (resp.model_extra or {})["extra_fields"]
    assert (fields["provider"], fields["fallback_index"], fields["retries"]) == ("groq", 1, 1)
    assert resp.model == LLAMA
    # an upstream 400: not retried, no fallback
    fake.control.script({"status": 400, "error_message": "temperature is out of range", "match": {"model": MINI}})
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MINI, messages=HELLO)
    # an upstream 503 on both tries and no fallback for gpt-4o-mini: the 503 reaches the client
    fake.control.script({"status": 503, "match": {"model": MINI}}, {"status": 503, "match": {"model": MINI}})
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model=MINI, messages=HELLO)
    assert failed.value.status_code == 503
    # a request the gateway itself refuses before routing (400, never reaches a provider)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MINI, messages=[])


def test_exact_deltas_and_label_sets_after_scripted_traffic(
    fake: FakeProvider, start_gateway: GatewayFactory
) -> None:
    gw = start_gateway(metrics_config(fake.url))
    before = scrape(gw)
    drive_traffic(gw, fake)
    after = scrape(gw)

    ok_mini = N_OK + M_STREAMS + 1  # plain, streams, the retried one
    sent_mini = ok_mini + 3  # + the broken stream + the upstream 400 + the exhausted 503
    assert delta(before, after, "http_requests_total") == {
        http(200): ok_mini,
        http(200, TEAM): 1,
        http(400): 2,  # the upstream 400 and the gateway's own 400
        http(503): 1,
        http(502): 1,  # the stream that broke after it started (the wire said 200; the request failed)
    }
    assert delta(before, after, "http_request_duration_seconds_count") == delta(before, after, "http_requests_total")
    assert delta(before, after, "bifrost_upstream_requests_total") == {
        up("openai", MINI): sent_mini,
        up("groq", LLAMA, TEAM): 1,
    }
    assert delta(before, after, "bifrost_success_requests_total") == {
        up("openai", MINI): ok_mini,
        up("groq", LLAMA, TEAM): 1,
    }
    assert delta(before, after, "bifrost_error_requests_total") == {
        up("openai", MINI, status_code="400"): 1,
        up("openai", MINI, status_code="502"): 1,
        up("openai", MINI, status_code="503"): 1,
    }
    # every extra try: the retried 500, the exhausted 503's retry; the fallback request's retry on openai
    # is labelled with who answered (groq)
    assert delta(before, after, "bifrost_retries_total") == {up("openai", MINI): 2, up("groq", LLAMA, TEAM): 1}
    assert delta(before, after, "bifrost_fallbacks_total") == {up("groq", LLAMA, TEAM): 1}
    assert delta(before, after, "bifrost_input_tokens_total") == {
        up("openai", MINI): ok_mini * USAGE["prompt_tokens"],
        up("groq", LLAMA, TEAM): USAGE["prompt_tokens"],
    }
    assert delta(before, after, "bifrost_output_tokens_total") == {
        up("openai", MINI): ok_mini * USAGE["completion_tokens"],
        up("groq", LLAMA, TEAM): USAGE["completion_tokens"],
    }
    pricing = Pricing.from_config(load_config(str(gw.config_path)))
    want_cost = pricing.cost("openai", MINI, ok_mini * USAGE["prompt_tokens"], ok_mini * USAGE["completion_tokens"])
    assert want_cost > 0
    assert delta(before, after, "bifrost_cost_total")[up("openai", MINI)] == pytest.approx(want_cost)
    # every stream that sent a first chunk, the broken one included (it sent two)
    streams = {up("openai", MINI): M_STREAMS + 1}
    assert delta(before, after, "bifrost_stream_first_token_latency_seconds_count") == streams
    assert delta(before, after, "bifrost_stream_inter_token_latency_seconds_count") == streams
    # one upstream-latency and one overhead observation per routed request
    assert delta(before, after, "bifrost_upstream_latency_seconds_count") == {
        up("openai", MINI): sent_mini,
        up("groq", LLAMA, TEAM): 1,
    }
    assert delta(before, after, "bifrost_overhead_latency_seconds_count") == {
        up("openai", MINI): sent_mini,
        up("groq", LLAMA, TEAM): 1,
    }
    # every request has ended: nothing in flight, nothing queued
    assert named(after, "bifrost_active_requests") == {L(method="chat"): 0.0}
    assert all(v == 0 for v in named(after, "bifrost_queue_depth").values())
    # success + error == upstream requests, per provider/model
    ok, err = named(after, "bifrost_success_requests_total"), named(after, "bifrost_error_requests_total")
    for labels, total in named(after, "bifrost_upstream_requests_total").items():
        errors = sum(v for lbl, v in err.items() if frozenset(x for x in lbl if x[0] != "status_code") == labels)
        assert ok.get(labels, 0) + errors == total, labels

    # label sets: Bifrost's names, plus the configured custom label
    base = frozenset({"provider", "model", "method", "team"})
    http_labels = frozenset({"path", "method", "status", "team"})
    assert label_names(after, "http_requests_total") == {http_labels}
    assert label_names(after, "http_request_duration_seconds_bucket") == {http_labels}
    for name in (
        "bifrost_upstream_requests_total",
        "bifrost_success_requests_total",
        "bifrost_input_tokens_total",
        "bifrost_output_tokens_total",
        "bifrost_cost_total",
        "bifrost_retries_total",
        "bifrost_fallbacks_total",
        "bifrost_upstream_latency_seconds_bucket",
        "bifrost_stream_first_token_latency_seconds_bucket",
        "bifrost_stream_inter_token_latency_seconds_bucket",
        "bifrost_overhead_latency_seconds_bucket",
    ):
        assert label_names(after, name) == {base}, name
    assert label_names(after, "bifrost_error_requests_total") == {base | {"status_code"}}
    assert label_names(after, "bifrost_active_requests") == {frozenset({"method"})}
    # no metric ever carries a key (values or names)
    text = "\n".join(f"{n} {sorted(lbl)}" for n, lbl in after)
    assert not any(secret in text for secret in ("sk-test-main", "sk-test-spare", "gsk-test"))


def test_histogram_buckets_are_cumulative_and_match_count(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(metrics_config(fake.url))
    drive_traffic(gw, fake)
    samples = scrape(gw)
    for name in ("http_request_duration_seconds", "bifrost_stream_first_token_latency_seconds"):
        for labels, count in named(samples, f"{name}_count").items():
            buckets = sorted(
                (float(dict(lbl)["le"]), v)
                for lbl, v in named(samples, f"{name}_bucket").items()
                if frozenset(x for x in lbl if x[0] != "le") == labels
            )
            values = [v for _, v in buckets]
            assert values == sorted(values), (name, labels)
            assert buckets[-1] == (float("inf"), count), (name, labels)


def test_each_route_and_a_client_gone_mid_stream(fake: FakeProvider, start_gateway: GatewayFactory) -> None:
    gw = start_gateway(metrics_config(fake.url))
    before = scrape(gw)
    fake.control.default({"usage": USAGE})
    hi = [{"role": "user", "content": "hi"}]
    assert post_json(gw.url + "/anthropic/v1/messages", {"model": MINI, "max_tokens": 9, "messages": hi})[0] == 200
    assert post_json(gw.v1_url + "/completions", {"model": MINI, "prompt": "hi"})[0] == 200
    assert post_json(gw.openai_url + "/embeddings", {"model": MINI, "input": "hi"})[0] == 200
    # a client that goes away after the first chunk of a slow stream
    fake.control.script({"reply": " ".join(["word"] * 40), "chunk_delay_ms": 50})
    body = {"model": MINI, "messages": hi, "stream": True}
    with httpx.Client(timeout=10) as client, client.stream("POST", gw.v1_url + "/chat/completions", json=body) as resp:
        assert resp.status_code == 200
        next(line for line in resp.iter_lines() if line.startswith("data:"))

    def ended() -> Samples | None:
        samples = scrape(gw)
        return samples if delta(before, samples, "http_requests_total").get(http(499)) else None

    after = wait_for(ended, what="the abandoned stream to be recorded")
    assert delta(before, after, "http_requests_total") == {
        L(path="/anthropic/v1/messages", method="POST", status="200", team=""): 1,
        L(path="/v1/completions", method="POST", status="200", team=""): 1,
        L(path="/v1/embeddings", method="POST", status="200", team=""): 1,
        http(499): 1,
    }
    assert delta(before, after, "bifrost_success_requests_total") == {
        L(provider="openai", model=MINI, method=method, team=""): 1 for method in ("messages", "text", "embedding")
    }
    assert delta(before, after, "bifrost_error_requests_total") == {up("openai", MINI, status_code="499"): 1}
    active = named(after, "bifrost_active_requests")
    assert set(active.values()) == {0.0} and {dict(k)["method"] for k in active} >= {"messages", "text", "embedding"}


# ---- --workers 2 -----------------------------------------------------------------------------------------
TOTAL = 200


def _pids_with_values(mp_dir: Path) -> set[int]:
    """Worker pids that wrote a counter value (prometheus_client's multiprocess files: counter_PID.db)."""
    pids: set[int] = set()
    for path in mp_dir.glob("counter_*.db"):
        pids.add(int(path.stem.split("_", 1)[1]))
    return pids


def test_two_workers_totals_are_exact(fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path) -> None:
    mp_dir = tmp_path / "prom-multiproc"
    mp_dir.mkdir()
    fake.control.default({"usage": USAGE})
    gw = start_gateway(
        metrics_config(fake.url), args=["--workers", "2"], env={"PROMETHEUS_MULTIPROC_DIR": str(mp_dir)}
    )
    body = {"model": MINI, "messages": HELLO}
    statuses = asyncio.run(fresh_connection_posts(gw.v1_url + "/chat/completions", body, TOTAL))
    assert statuses == [200] * TOTAL
    pids = _pids_with_values(mp_dir)
    assert len(pids) == 2 and os.getpid() not in pids, f"requests were not served by two workers: {pids}"
    # whichever worker answers the scrape, the totals are the sum over both
    for _ in range(4):
        samples = scrape(gw)
        assert named(samples, "http_requests_total") == {http(200): TOTAL}
        assert named(samples, "bifrost_success_requests_total") == {up("openai", MINI): TOTAL}
        assert named(samples, "bifrost_upstream_requests_total") == {up("openai", MINI): TOTAL}
        assert named(samples, "bifrost_input_tokens_total") == {up("openai", MINI): TOTAL * USAGE["prompt_tokens"]}
        assert named(samples, "bifrost_active_requests") == {L(method="chat"): 0.0}
