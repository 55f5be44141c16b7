"""`python bench/run.py --governance`: what governance adds per request, with the memory and Redis stores.

Three gateways on core 0, same provider config: governance off; a virtual key with a request window, a
token window, a concurrency cap and a budget (all far above what the run can reach) counted in memory;
the same counted in a real redis-server (pinned to core 1 with the fake and wrk). Every wrk request
carries the virtual key (``BENCH_API_KEY``). The table gives each one's latency and throughput as a
ratio to governance off, measured in the same run.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

VK = "sk-bf-bench-0000000000"
RULES = {
    "id": "bench",
    "value": VK,
    "rate_limit": {"request_max_limit": 1_000_000_000, "request_reset_duration": "1h",
                   "token_max_limit": 1_000_000_000_000, "token_reset_duration": "1h"},
    "max_concurrent_requests": 10_000,
    "budget": {"max_limit": 1_000_000, "reset_duration": "1d"},
}


@contextlib.contextmanager
def redis_server(
    workdir: Path, pinned: Callable[[str | None, list[str]], list[str]], core: str
) -> Iterator[str | None]:
    """A throwaway redis-server (no persistence); yields its URL, or None when the binary is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(workdir)]
    proc = subprocess.Popen(pinned(core, argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def configs(base: dict[str, Any], workdir: Path, redis_url: str | None) -> dict[str, Path | None]:
    out: dict[str, Path | None] = {}
    variants: dict[str, dict[str, Any] | None] = {
        "gov-off": base,
        "gov-memory": {**base, "governance": {"virtual_keys": [RULES]}},
        "gov-redis": None if redis_url is None else {
            **base, "governance": {"virtual_keys": [RULES]},
            "state_store": {"type": "redis", "config": {"url": redis_url}},
        },
    }
    for name, config in variants.items():
        if config is None:
            out[name] = None
            continue
        path = workdir / f"bifrost-{name}.json"
        path.write_text(json.dumps(config, indent=2))
        out[name] = path
    return out


LABELS = {
    "gov-off": "bifrost, governance off",
    "gov-memory": "bifrost, governance, memory store",
    "gov-redis": "bifrost, governance, Redis store",
}


def tables(results: list[dict[str, Any]], get: Callable[..., float | None], fmt: Callable[..., str],
           fmt_rps: Callable[..., str], failure: Callable[[dict[str, Any]], str]) -> list[str]:
    by_key = {r["key"]: r for r in results}
    lines = [
        "The gateway on one core, governance off and on (a virtual key with request and token windows, a "
        "concurrency cap and a budget, checked and charged on every request). *x off* is the ratio to "
        "governance off in this run (latency: higher is slower; req/s: lower is slower). *CPU/req* is "
        "1 / (requests per CPU-second of the gateway) at c=64: the steadiest measure on a shared machine, "
        "since it does not count time spent waiting for the CPU:",
        "",
        "| system | c=1 p50 | x off | c=64 req/s | x off | c=64 CPU/req | x off | added | "
        "stream c=64 req/s | x off |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def ratio(key: str, *path: str, invert: bool = False) -> str:
        base, value = get(by_key, "gov-off", *path), get(by_key, key, *path)
        if not base or not value or key == "gov-off":
            return "-"
        return f"{(base / value if invert else value / base):.2f}"

    base_cpu = get(by_key, "gov-off", "ns_c64", "rps_per_cpu")
    for r in results:
        k = r["key"]
        if "ns_c1" not in r:
            lines.append(f"| {r['label']} | {failure(r)} |||||||||")
            continue
        per_cpu = get(by_key, k, "ns_c64", "rps_per_cpu")
        us = 1e6 / per_cpu if per_cpu else None
        added = "-" if k == "gov-off" or not us or not base_cpu else f"{us - 1e6 / base_cpu:+.0f} µs"
        lines.append(
            f"| {r['label']} | {fmt(get(by_key, k, 'ns_c1', 'p50_ms'))} ms | {ratio(k, 'ns_c1', 'p50_ms')} "
            f"| {fmt_rps(get(by_key, k, 'ns_c64', 'rps'))} | {ratio(k, 'ns_c64', 'rps')} "
            f"| {fmt(us, 0)} µs | {ratio(k, 'ns_c64', 'rps_per_cpu', invert=True)} | {added} "
            f"| {fmt_rps(get(by_key, k, 'st_c64', 'rps'))} | {ratio(k, 'st_c64', 'rps')} |"
        )
    return lines
