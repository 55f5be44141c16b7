"""The fast /metrics exposition writes exactly what prometheus_client's generate_latest writes.

It reads prometheus_client's per-series value holders (not a public API): if a prometheus_client release
changes them, this comparison fails rather than /metrics silently rendering something else.
"""

from __future__ import annotations

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bifrost.observability.metrics import Metrics
from bifrost.observability.record import RequestRecord

# process_* and python_gc_* values change between two renders (memory, CPU time, collections)
_LIVE = ("process_", "python_")


def _stable(body: bytes) -> list[str]:
    return [line for line in body.decode().splitlines() if not line.startswith(_LIVE)]


def _record(i: int, team: str) -> RequestRecord:
    return RequestRecord(
        request_id=str(i), started_at=0.0, route="genai" if i % 4 == 0 else "openai", method="chat",
        stream=bool(i % 2), provider="" if i % 13 == 0 else "openai", model=f"model-{i % 9}",
        status=(200, 429, 502)[i % 3], latency_s=0.003 * i, upstream_s=0.002 * i, ttft_s=0.05,
        stream_chunks=i % 5, stream_duration_s=0.2, prompt_tokens=i, completion_tokens=2 * i, retries=i % 2,
        fallback_index=i % 3, prom_labels={"team": team},
    )


def test_fast_render_is_byte_identical_to_generate_latest() -> None:
    metrics = Metrics(["team", "env"], max_series=40)  # a small bound: folded "other" series too
    teams = ['plain', 'quote " and \\ backslash', "ünïcode", "", "{braces}=,"]
    for i in range(300):
        metrics.observe(_record(i, teams[i % len(teams)]), 0.0001 * i)
    metrics.rate_limited("openai", "queue_full")
    metrics.logstore_dropped("crash", 3)
    metrics.mcp_tool_call("files", "read", True, 0.2)
    metrics.mcp_tool_call("files", "read", False)
    metrics.request_started("chat")
    metrics.queue_depth("openai", 2)
    for _ in range(2):  # the second render reuses the cached label text
        fast, _ = metrics.render()
        assert _stable(fast) == _stable(generate_latest(metrics.registry))
    families = {f.name for f in text_string_to_metric_families(fast.decode())}
    assert {"http_requests", "bifrost_upstream_latency_seconds", "bifrost_metrics_series_folded"} <= families


def test_an_empty_metrics_object_renders_like_generate_latest() -> None:
    metrics = Metrics()
    fast, _ = metrics.render()
    assert _stable(fast) == _stable(generate_latest(metrics.registry))
