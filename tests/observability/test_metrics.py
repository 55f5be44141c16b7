"""Metrics: exact values and label sets over a real HTTP scrape, multiprocess aggregation, hot-path cost."""

from __future__ import annotations

import io
import multiprocessing
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bifrost.config.model import ClientConfig, Config, LogsStoreConfig
from bifrost.observability import logging as obs_logging
from bifrost.observability.metrics import Metrics, mark_process_dead, route_path
from bifrost.observability.observer import Observer
from bifrost.observability.record import Attempt, RequestRecord
from bifrost.observability.routes import register_routes

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def rec(**kw: Any) -> RequestRecord:
    base: dict[str, Any] = {"request_id": "r", "started_at": time.time(), "route": "openai", "method": "chat"}
    base.update(kw)
    return RequestRecord(**base)


def parse(body: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def named(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


def L(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


@asynccontextmanager
async def serve(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


SUCCESS = dict(
    request_id="ok-1",
    provider="openai",
    model="gpt-4o-mini",
    status=200,
    latency_s=0.5,
    upstream_s=0.4,
    prompt_tokens=100,
    completion_tokens=50,
    prom_labels={"environment": "prod"},
    attempts=[Attempt("openai", "gpt-4o-mini", "main", 200, latency_s=0.4)],
)
ERROR_429 = dict(
    request_id="err-1",
    provider="openai",
    model="gpt-4o",
    status=429,
    latency_s=0.2,
    upstream_s=0.15,
    retries=2,
    error_type="rate_limit_exceeded",
    error_message="openai: rate limited",
    prom_labels={"environment": "prod"},
    attempts=[Attempt("openai", "gpt-4o", "main", 429, "rate limited", 0.05) for _ in range(3)],
)
STREAM = dict(
    request_id="st-1",
    provider="anthropic",
    model="claude-3-5-sonnet-20241022",
    status=200,
    stream=True,
    latency_s=1.5,
    upstream_s=1.45,
    ttft_s=0.3,
    stream_chunks=11,
    stream_duration_s=1.0,
    prompt_tokens=20,
    completion_tokens=200,
    attempts=[Attempt("anthropic", "claude-3-5-sonnet-20241022", "k", 200, latency_s=1.45)],
)
FALLBACK = dict(
    request_id="fb-1",
    provider="anthropic",
    model="claude-3-haiku-20240307",
    model_requested="gpt-4o",
    status=200,
    latency_s=0.9,
    upstream_s=0.8,
    fallback_index=1,
    prompt_tokens=10,
    completion_tokens=10,
    prom_labels={"environment": "staging"},
    attempts=[
        Attempt("openai", "gpt-4o", "main", 503, "unavailable", 0.3),
        Attempt("anthropic", "claude-3-haiku-20240307", "k", 200, latency_s=0.5),
    ],
)
UNROUTED = dict(request_id="nf-1", status=404, latency_s=0.001, model_requested="nope")


def make_observer(labels: list[str]) -> Observer:
    return Observer.from_config(Config(client=ClientConfig(prometheus_labels=labels)))


async def test_metrics_over_http_exact_values_and_labels() -> None:
    obs = make_observer(["environment"])
    for fields in (SUCCESS, ERROR_429, STREAM, FALLBACK, UNROUTED):
        r = rec(**fields)
        obs.request_started(r.method)
        obs.finish(r)
    m = obs.metrics
    m.request_started("chat")
    m.request_started("chat")
    m.request_finished("chat")
    m.queue_depth("openai", 3)
    m.rate_limited("openai", "request_limit")
    m.mcp_tool_call("files", "read", True)
    m.mcp_tool_call("files", "read", False)

    app = web.Application()
    register_routes(app, m, None)
    async with serve(app) as base, aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        body = await resp.text()
    s = parse(body)
    chat = "/v1/chat/completions"

    assert named(s, "http_requests_total") == {
        L(path=chat, method="POST", status="200", environment="prod"): 1,
        L(path=chat, method="POST", status="429", environment="prod"): 1,
        L(path=chat, method="POST", status="200", environment=""): 1,
        L(path=chat, method="POST", status="200", environment="staging"): 1,
        L(path=chat, method="POST", status="404", environment=""): 1,
    }
    assert s[
        ("http_request_duration_seconds_sum", L(path=chat, method="POST", status="429", environment="prod"))
    ] == pytest.approx(0.2)

    ok = L(provider="openai", model="gpt-4o-mini", method="chat", environment="prod")
    err = L(provider="openai", model="gpt-4o", method="chat", environment="prod")
    st = L(provider="anthropic", model="claude-3-5-sonnet-20241022", method="chat", environment="")
    fb = L(provider="anthropic", model="claude-3-haiku-20240307", method="chat", environment="staging")
    assert named(s, "bifrost_upstream_requests_total") == {ok: 1, err: 1, st: 1, fb: 1}  # not the 404
    assert named(s, "bifrost_success_requests_total") == {ok: 1, st: 1, fb: 1}
    assert named(s, "bifrost_error_requests_total") == {
        L(provider="openai", model="gpt-4o", method="chat", status_code="429", environment="prod"): 1
    }
    assert named(s, "bifrost_input_tokens_total") == {ok: 100, st: 20, fb: 10}
    assert named(s, "bifrost_output_tokens_total") == {ok: 50, st: 200, fb: 10}
    cost = named(s, "bifrost_cost_total")
    assert set(cost) == {ok, st, fb}
    assert cost[ok] == pytest.approx(100 * 0.15e-6 + 50 * 0.6e-6)
    assert cost[st] == pytest.approx(20 * 3e-6 + 200 * 15e-6)
    assert cost[fb] == pytest.approx(10 * 0.25e-6 + 10 * 1.25e-6)

    assert named(s, "bifrost_upstream_latency_seconds_count") == {ok: 1, err: 1, st: 1, fb: 1}
    assert s[("bifrost_upstream_latency_seconds_sum", ok)] == pytest.approx(0.4)
    assert named(s, "bifrost_stream_first_token_latency_seconds_count") == {st: 1}
    assert s[("bifrost_stream_first_token_latency_seconds_sum", st)] == pytest.approx(0.3)
    assert s[("bifrost_stream_first_token_latency_seconds_bucket", st | {("le", "0.25")})] == 0
    assert s[("bifrost_stream_first_token_latency_seconds_bucket", st | {("le", "0.5")})] == 1
    assert named(s, "bifrost_stream_inter_token_latency_seconds_count") == {st: 1}
    assert s[("bifrost_stream_inter_token_latency_seconds_sum", st)] == pytest.approx(0.1)
    assert s[("bifrost_overhead_latency_seconds_sum", ok)] == pytest.approx(0.1)
    assert s[("bifrost_overhead_latency_seconds_sum", st)] == pytest.approx(0.05)
    assert named(s, "bifrost_retries_total") == {err: 2}
    assert named(s, "bifrost_fallbacks_total") == {fb: 1}

    assert named(s, "bifrost_active_requests") == {L(method="chat"): 1}
    assert named(s, "bifrost_queue_depth") == {L(provider="openai"): 3}
    assert named(s, "bifrost_rate_limited_total") == {L(provider="openai", reason="request_limit"): 1}
    assert named(s, "bifrost_mcp_tool_calls_total") == {
        L(client="files", tool="read", status="success"): 1,
        L(client="files", tool="read", status="error"): 1,
    }
    # every CONTRACT §7 family is exposed
    families = {f.name for f in text_string_to_metric_families(body)}
    for name in (
        "http_requests",
        "http_request_duration_seconds",
        "bifrost_upstream_requests",
        "bifrost_upstream_latency_seconds",
        "bifrost_success_requests",
        "bifrost_error_requests",
        "bifrost_input_tokens",
        "bifrost_output_tokens",
        "bifrost_cost",
        "bifrost_stream_first_token_latency_seconds",
        "bifrost_stream_inter_token_latency_seconds",
        "bifrost_overhead_latency_seconds",
        "bifrost_retries",
        "bifrost_fallbacks",
        "bifrost_active_requests",
        "bifrost_queue_depth",
        "bifrost_rate_limited",
        "bifrost_mcp_tool_calls",
        "bifrost_logstore_dropped",
    ):
        assert name in families, name


def test_custom_label_names_and_bounded_cardinality() -> None:
    m = Metrics(["team-id", "provider", "env"])  # "provider" clashes with a built-in label: ignored
    assert m.custom_labels == ("team_id", "env")
    for i in range(150):
        m.observe(rec(provider="openai", model="m", prom_labels={"team-id": f"team-{i}", "env": "x" * 100}), 0)
    s = named(parse(m.render()[0].decode()), "bifrost_upstream_requests_total")
    teams = {dict(labels)["team_id"] for labels in s}
    assert len(teams) == 101 and "other" in teams
    assert s[L(provider="openai", model="m", method="chat", team_id="other", env="x" * 64)] == 50
    assert {dict(labels)["env"] for labels in s} == {"x" * 64}


def test_route_paths_are_templates() -> None:
    assert route_path("openai", "embedding", False) == "/v1/embeddings"
    assert route_path("anthropic", "messages", True) == "/anthropic/v1/messages"
    assert route_path("genai", "chat", True) == "/genai/v1beta/models/{model}:streamGenerateContent"


def _mp_child(n_ok: int, n_err: int) -> None:
    # Runs in a spawned process: PROMETHEUS_MULTIPROC_DIR was inherited before prometheus_client was imported.
    m = Metrics(["environment"])
    assert m.multiprocess
    for _ in range(n_ok):
        m.observe(rec(**SUCCESS), 0.5)
    for _ in range(n_err):
        m.observe(rec(**ERROR_429), 0.0)
    m.request_started("chat")
    m.queue_depth("openai", 2)


def test_multiprocess_totals(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    ctx = multiprocessing.get_context("spawn")
    children = [ctx.Process(target=_mp_child, args=(3, 0)), ctx.Process(target=_mp_child, args=(2, 1))]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    body, ctype = Metrics(["environment"]).render()
    assert ctype.startswith("text/plain")
    s = parse(body.decode())
    ok = L(provider="openai", model="gpt-4o-mini", method="chat", environment="prod")
    err = L(provider="openai", model="gpt-4o", method="chat", environment="prod")
    assert named(s, "bifrost_upstream_requests_total") == {ok: 5, err: 1}
    assert named(s, "bifrost_success_requests_total") == {ok: 5}
    assert named(s, "bifrost_error_requests_total") == {err | {("status_code", "429")}: 1}
    assert named(s, "bifrost_input_tokens_total") == {ok: 500}
    assert named(s, "bifrost_cost_total") == {ok: pytest.approx(2.5)}
    assert named(s, "bifrost_retries_total") == {err: 2}
    assert s[("bifrost_upstream_latency_seconds_count", ok)] == 5
    assert s[("bifrost_upstream_latency_seconds_sum", ok)] == pytest.approx(2.0)
    assert s[("bifrost_upstream_latency_seconds_bucket", ok | {("le", "0.5")})] == 5
    assert (
        s[("http_requests_total", L(path="/v1/chat/completions", method="POST", status="200", environment="prod"))] == 5
    )
    assert named(s, "bifrost_active_requests") == {L(method="chat"): 2}
    assert named(s, "bifrost_queue_depth") == {L(provider="openai"): 4}
    mark_process_dead(children[0].pid or 0)  # the launcher does this when a worker exits
    s = parse(Metrics(["environment"]).render()[0].decode())
    assert named(s, "bifrost_active_requests") == {L(method="chat"): 1}


async def test_finish_microbenchmark(tmp_path: Any) -> None:
    """Prints the per-request cost of Observer (run with -s); not asserted: machines differ."""
    config = Config(
        client=ClientConfig(prometheus_labels=["environment"]),
        logs_store=LogsStoreConfig(enabled=True, path=str(tmp_path / "bench.db")),
    )
    obs_logging.setup_logging("info", "text", stream=io.StringIO())
    obs = Observer.from_config(config, queue_size=100_000)
    await obs.start()
    try:
        records = [rec(**fields) for fields in (SUCCESS, ERROR_429, STREAM, FALLBACK)] * 5_000
        for r in records[:200]:  # warm the label caches
            obs.request_started(r.method)
            obs.finish(r)
        t0 = time.perf_counter()
        for r in records:
            obs.request_started(r.method)
            obs.finish(r)
        per_call = (time.perf_counter() - t0) / len(records) * 1e6
        t0 = time.perf_counter()
        for r in records:
            obs.metrics.observe(r, 0.001)
        per_observe = (time.perf_counter() - t0) / len(records) * 1e6
        print(
            f"\nObserver.request_started + finish: {per_call:.1f} us/request "
            f"(metrics.observe alone: {per_observe:.1f} us), n={len(records)}"
        )
    finally:
        await obs.stop()
        obs_logging.shutdown_logging()
