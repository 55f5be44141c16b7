"""Time to first SSE chunk, and how the chunks of a stream are spaced, at concurrency 1.

Usage: python bench/ttfb.py --url http://127.0.0.1:8080/v1/chat/completions [--requests 300] [--warmup 20]

Sends streaming chat completions one after another over one keep-alive connection and, for
each response, notes when every complete SSE event (``...\\n\\n``) arrived. Prints one JSON
object (times in milliseconds):

- ``ttfb_ms``: request sent -> first complete SSE event received (p50/p90/p99/mean);
- ``first_to_last_ms``: first event -> last event (``data: [DONE]``) of the same response;
- ``gap_ms``: time between consecutive events (p50/p99);
- ``events``: events per response; ``arrivals``: distinct socket reads that completed at
  least one event, per response (equal to ``events`` when nothing is batched).

The upstream decides the pacing (bench/run.py scripts the fake provider to stream N chunks
``chunk_delay_ms`` apart), so comparing the gateway with a direct run shows both the added
time to first chunk and whether chunks are forwarded as they arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time
from typing import Any

import aiohttp

# Asks for the usage chunk (as the gateway itself does upstream, for its metrics), so that direct and
# proxied runs see the same events.
BODY = {
    "model": "gpt-4o-mini",
    "stream": True,
    "stream_options": {"include_usage": True},
    "messages": [{"role": "user", "content": "Say hello"}],
}


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50": round(percentile(values, 50), 4),
        "p90": round(percentile(values, 90), 4),
        "p99": round(percentile(values, 99), 4),
        "mean": round(sum(values) / len(values), 4),
        "max": round(max(values), 4),
    }


async def one(session: aiohttp.ClientSession, url: str, payload: bytes) -> tuple[float, list[float], int]:
    """Returns (ttfb, event arrival times relative to the send, arrivals)."""
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench-client"}
    t0 = time.perf_counter()
    times: list[float] = []
    arrivals = 0
    async with session.post(url, data=payload, headers=headers) as resp:
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {(await resp.read())[:200]!r}")
        buffer = b""
        async for data in resp.content.iter_any():
            now = time.perf_counter() - t0
            buffer += data
            complete = buffer.count(b"\n\n")
            if complete:
                arrivals += 1
                times.extend([now] * complete)
                buffer = buffer[buffer.rfind(b"\n\n") + 2 :]
    if not times:
        raise RuntimeError("no SSE event received")
    return times[0], times, arrivals


async def run(url: str, requests: int, warmup: int, timeout: float) -> dict[str, Any]:
    payload = json.dumps(BODY).encode()
    connector = aiohttp.TCPConnector(limit=1)
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    ttfb: list[float] = []
    spans: list[float] = []
    gaps: list[float] = []
    events: list[int] = []
    arrivals: list[int] = []
    async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
        for _ in range(warmup):
            await one(session, url, payload)
        for _ in range(requests):
            first, times, reads = await one(session, url, payload)
            ttfb.append(first * 1000)
            spans.append((times[-1] - times[0]) * 1000)
            gaps.extend((b - a) * 1000 for a, b in itertools.pairwise(times))
            events.append(len(times))
            arrivals.append(reads)
    return {
        "requests": requests,
        "ttfb_ms": summary(ttfb),
        "first_to_last_ms": summary(spans),
        "gap_ms": summary(gaps),
        "events": round(sum(events) / len(events), 3),
        "arrivals": round(sum(arrivals) / len(arrivals), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=30.0, help="per-request timeout, seconds")
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.requests, args.warmup, args.timeout))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
