"""Time a full /metrics render with every family at its series bound (MAX_SERIES_PER_FAMILY).

    python bench/metrics_scrape.py

Fills one Metrics object (one custom label) with more label combinations than the bound, through the same
recording call the request path uses, then renders the exposition several times and prints the body
size, line count and render time (median of 5).
"""

from __future__ import annotations

import statistics
import time

from bifrost.observability.metrics import MAX_SERIES_PER_FAMILY, Metrics
from bifrost.observability.record import RequestRecord


def main() -> None:
    metrics = Metrics(["team"])
    n = 0
    for model in range(100):
        for team in range(30):  # 3,000 combinations > the bound
            for status in (200, 500):
                rec = RequestRecord(request_id=str(n), started_at=0.0, route="openai", method="chat",
                                    stream=True, provider="openai", model=f"model-{model}", status=status,
                                    latency_s=0.5, upstream_s=0.4, ttft_s=0.1, stream_chunks=10,
                                    stream_duration_s=0.3, prompt_tokens=10, completion_tokens=20, retries=1,
                                    fallback_index=1, prom_labels={"team": f"team-{team}"})
                metrics.observe(rec, 0.001)
                n += 1
    times = []
    body = b""
    for _ in range(5):
        started = time.perf_counter()
        body, _ = metrics.render()
        times.append(time.perf_counter() - started)
    print(f"requests recorded: {n}; bound per family: {MAX_SERIES_PER_FAMILY}")
    lines = body.count(b"\n")
    print(f"/metrics body: {len(body) / 1e6:.1f} MB, {lines} lines")
    print(f"render: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms (5 renders)")


if __name__ == "__main__":
    main()
