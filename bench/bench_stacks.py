"""`python bench/run.py --stacks`: the same minimal pass-through proxy on other Python server and client stacks.

Every proxy (bench/minimal_proxy.py, the floor, and bench/stacks/*.py) does what the floor does:
POST /v1/chat/completions, body untouched, JSON or SSE relayed as it arrives, pooled upstream
connections; all run on uvloop unless the row says asyncio. run.py measures each one on core 0 like
the main benchmark; this module says which proxies there are and renders their table, with every ratio
taken to the floor on uvloop (aiohttp server + aiohttp client) measured in the same run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
FLOOR = "aiohttp+aiohttp"  # the key every ratio is taken to


@dataclass(frozen=True)
class Stack:
    key: str
    label: str
    script: str  # relative to bench/
    loop: str = "uvloop"
    needs: tuple[str, ...] = ()  # importable modules; the row is skipped with a note when one is missing
    note: str = ""


STACKS = [
    Stack(FLOOR, "aiohttp server + aiohttp client (uvloop)", "minimal_proxy.py", needs=("uvloop",),
          note="the floor, bench/minimal_proxy.py"),
    Stack("aiohttp+aiohttp-asyncio", "aiohttp server + aiohttp client (asyncio loop)", "minimal_proxy.py",
          loop="asyncio", note="the floor on the standard library's event loop"),
    Stack("aiohttp-lowlevel+aiohttp", "aiohttp low-level server + aiohttp client", "stacks/aiohttp_lowlevel.py",
          needs=("uvloop",), note="web.Server + ServerRunner, one plain handler: no Application/router/middleware"),
    Stack("granian-rsgi+aiohttp", "granian RSGI + aiohttp client", "stacks/granian_rsgi.py",
          needs=("uvloop", "granian"), note="1 worker, 1 Rust runtime thread"),
    Stack("uvicorn-asgi+aiohttp", "uvicorn (httptools) + raw ASGI + aiohttp client", "stacks/uvicorn_asgi.py",
          needs=("uvloop", "uvicorn", "httptools")),
    Stack("aiohttp+pyreqwest", "aiohttp server + pyreqwest client", "stacks/aiohttp_pyreqwest.py",
          needs=("uvloop", "pyreqwest"), note="reqwest/hyper on its own Tokio thread"),
    Stack("aiohttp+curl-cffi", "aiohttp server + curl-cffi AsyncSession", "stacks/aiohttp_curlcffi.py",
          needs=("uvloop", "curl_cffi"), note="libcurl multi driven by the event loop"),
    Stack("granian-rsgi+pyreqwest", "granian RSGI + pyreqwest client", "stacks/granian_pyreqwest.py",
          needs=("uvloop", "granian", "pyreqwest"), note="the best-looking server with the best-looking client"),
    Stack("aiohttp+httpx", "aiohttp server + httpx AsyncClient", "stacks/aiohttp_httpx.py",
          needs=("uvloop", "httpx")),
]


def specs(fake_url: str) -> list[dict[str, Any]]:
    """One dict per proxy: key, label, argv (``--port`` is appended by run.py), note, skip.

    ``BENCH_STACKS=key,key`` (environment) keeps only those rows (and the floor), for a quick look.
    """
    only = {k for k in os.environ.get("BENCH_STACKS", "").split(",") if k}
    out = []
    for s in STACKS:
        if only and s.key not in only and s.key != FLOOR:
            continue
        argv = [sys.executable, str(BENCH / s.script), "--upstream", fake_url, "--loop", s.loop]
        missing = [m for m in s.needs if importlib.util.find_spec(m) is None]
        skip = f"{', '.join(missing)} not installed (pip install -r bench/requirements.txt)" if missing else ""
        note = f"bench/{s.script}, {s.loop}" + (f"; {s.note}" if s.note else "")
        out.append({"key": s.key, "label": s.label, "argv": argv, "note": note, "skip": skip})
    return out


def tables(
    results: list[dict[str, Any]],
    get: Callable[..., float | None],
    fmt: Callable[..., str],
    fmt_rps: Callable[[float | None], str],
    short_failure: Callable[[dict[str, Any]], str],
) -> list[str]:
    """The comparison table; ratios are req/s and req/CPU-s to the floor on uvloop."""
    by_key = {r["key"]: r for r in results}
    d50 = get(by_key, "direct", "ns_c1", "p50_ms")

    def ratio(key: str, run: str) -> str:
        if key in ("direct", FLOOR):
            return "-" if key == "direct" else "1.00x / 1.00x"
        parts = []
        for field in ("rps", "rps_per_cpu"):
            value, base = get(by_key, key, run, field), get(by_key, FLOOR, run, field)
            parts.append(f"{value / base:.2f}x" if value and base else "-")
        return " / ".join(parts)

    lines = [
        "Minimal pass-through proxies, one core each (wrk `-t1`; latency in ms; *vs floor* = req/s ratio / "
        "req/CPU-s ratio to aiohttp server + aiohttp client on uvloop, in this run):",
        "",
        "| stack | c=1 p50 | c=1 added p50 | c=64 req/s | c=64 req/CPU-s | c=64 p99 | vs floor "
        "| stream c=64 req/s | stream req/CPU-s | stream c=64 p99 | vs floor |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        k = r["key"]
        if not any(run in r for run in ("ns_c1", "ns_c64", "st_c64")):
            lines.append(f"| {r['label']} | {short_failure(r)} ||||||||||")
            continue
        p50 = get(by_key, k, "ns_c1", "p50_ms")
        added = "-" if k == "direct" or p50 is None or d50 is None else f"+{p50 - d50:.3f}"
        lines.append(
            f"| {r['label']} | {fmt(p50)} | {added} | {fmt_rps(get(by_key, k, 'ns_c64', 'rps'))} "
            f"| {fmt_rps(get(by_key, k, 'ns_c64', 'rps_per_cpu'))} | {fmt(get(by_key, k, 'ns_c64', 'p99_ms'))} "
            f"| {ratio(k, 'ns_c64')} | {fmt_rps(get(by_key, k, 'st_c64', 'rps'))} "
            f"| {fmt_rps(get(by_key, k, 'st_c64', 'rps_per_cpu'))} | {fmt(get(by_key, k, 'st_c64', 'p99_ms'))} "
            f"| {ratio(k, 'st_c64')} |"
        )
    return lines
