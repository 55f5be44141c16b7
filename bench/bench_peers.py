"""`python bench/run.py --peers`: the peers users compare Bifrost with, measured in the same run.

Systems, each pinned to core 0 with the fake provider and wrk on core 1, as in the main run:

- the minimal aiohttp proxy on uvloop (the floor);
- bifrost configured as the main run measures it (governance, an MCP client with no tools, metrics);
- LiteLLM proxy (Python), one worker, a `model_list` entry for the fake;
- Portkey's open-source gateway (Node), routed to the fake by its ``x-portkey-provider`` and
  ``x-portkey-custom-host`` headers.

The peers are not dependencies of anything here: install them once, where run.py looks for them
(or point ``BENCH_LITELLM`` at a ``litellm`` executable and ``BENCH_PORTKEY`` at Portkey's
``build/start-server.js``); a peer that is not installed is skipped with that note:

    python -m venv bench/.peers/litellm && bench/.peers/litellm/bin/pip install 'litellm[proxy]==1.81.*'
    npm install --prefix bench/.peers/portkey @portkey-ai/gateway@1.15.2
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / ".peers"
LITELLM_KEY = "sk-litellm-bench-0123456789abcdef0123456789abcdef"  # it refuses to start without a master key


def litellm_binary() -> str | None:
    path = os.environ.get("BENCH_LITELLM") or str(PEERS / "litellm" / "bin" / "litellm")
    return path if os.path.exists(path) else None


def portkey_script() -> str | None:
    path = os.environ.get("BENCH_PORTKEY") or str(
        PEERS / "portkey" / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
    )
    return path if os.path.exists(path) else None


def litellm_config(fake_url: str, model: str, workdir: Path) -> Path:
    # plain YAML, written by hand: no YAML library needed for three keys
    path = workdir / "litellm.yaml"
    path.write_text(
        "model_list:\n"
        f"  - model_name: {model}\n"
        "    litellm_params:\n"
        f"      model: openai/{model}\n"
        f"      api_base: {fake_url}/v1\n"
        "      api_key: sk-bench\n"
        "litellm_settings:\n"
        "  drop_params: true\n"
    )
    return path


def peer_suts(fake_url: str, workdir: Path, sut: Callable[..., Any], main_suts: list[Any], model: str) -> list[Any]:
    """The floor and bifrost from the main run, then LiteLLM and Portkey (skipped when not installed)."""
    keep = [s for s in main_suts if s.key in ("direct", "minimal", "bifrost-1w")]
    return [*keep, *peers(fake_url, workdir, sut, model)]


def peers(fake_url: str, workdir: Path, sut: Callable[..., Any], model: str) -> list[Any]:
    """LiteLLM and Portkey, each skipped with a note when not installed; no time to first chunk (their
    routing headers and keys are sent by wrk only)."""
    litellm = litellm_binary()
    litellm_sut = sut(
        "litellm", "LiteLLM proxy (1 worker)",
        [litellm or "litellm", "--config", str(litellm_config(fake_url, model, workdir)), "--num_workers", "1",
         "--host", "127.0.0.1"],
        env={"LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False", "LITELLM_MASTER_KEY": LITELLM_KEY},
        headers={"Authorization": f"Bearer {LITELLM_KEY}"},
        ready_timeout=120.0, note="litellm[proxy], one worker, no database",
    )
    if litellm is None:
        litellm_sut.skip = "not installed: see bench/bench_peers.py for the one install command"
    portkey = portkey_script()
    node = shutil.which("node")
    portkey_sut = sut(
        "portkey", "Portkey gateway (Node)", [node or "node", portkey or "start-server.js", "--headless"],
        headers={"x-portkey-provider": "openai", "x-portkey-custom-host": fake_url + "/v1"},
        ready_timeout=60.0, note="@portkey-ai/gateway, routed to the fake with its x-portkey-* headers",
    )
    portkey_sut.stream_optional = True  # 1.15.2 on Node 20 answered every stream with a 500 here
    if portkey is None or node is None:
        portkey_sut.skip = "not installed (node and @portkey-ai/gateway): see bench/bench_peers.py"
    for peer in (litellm_sut, portkey_sut):
        peer.gateway = True  # its peak RSS is reported
        peer.ttfb = False
    portkey_sut.port_equals = True
    return [litellm_sut, portkey_sut]


def tables(results: list[dict[str, Any]], get: Any, fmt: Any, fmt_rps: Any, failure: Any) -> list[str]:
    by_key = {r["key"]: r for r in results}
    d50 = get(by_key, "direct", "ns_c1", "p50_ms")
    base = get(by_key, "bifrost-1w", "ns_c64", "rps")
    base_st = get(by_key, "bifrost-1w", "st_c64", "rps")
    lines = [
        "Each system on one core (wrk `-t1`; latency in ms; *added* = p50 minus direct p50; ratios: bifrost's "
        "req/s over the system's):",
        "",
        "| system | c=1 p50 | c=1 added p50 | c=64 req/s | c=64 p50 | c=64 p99 | bifrost is | stream c=64 req/s "
        "| bifrost is | peak RSS, main process |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    notes: list[str] = []
    for r in results:
        if not any(run in r for run in ("ns_c1", "ns_c64", "st_c64")):
            lines.append(f"| {r['label']} | {failure(r)} |||||||||")
            continue
        if r.get("no_stream"):
            notes.append(f"- {r['label']}: streaming not measured: {r['no_stream']}")
        k = r["key"]
        p50 = get(by_key, k, "ns_c1", "p50_ms")
        added = "-" if k == "direct" or p50 is None or d50 is None else f"+{p50 - d50:.3f}"
        rps, st = get(by_key, k, "ns_c64", "rps"), get(by_key, k, "st_c64", "rps")
        times = "-" if k in ("direct", "bifrost-1w") or not rps or not base else f"{base / rps:.2f}x"
        times_st = "-" if k in ("direct", "bifrost-1w") or not st or not base_st else f"{base_st / st:.2f}x"
        rss = get(by_key, k, "rss", "total_mib")
        main = get(by_key, k, "rss", "worker_max_mib")
        lines.append(
            f"| {r['label']} | {fmt(p50)} | {added} | {fmt_rps(rps)} | {fmt(get(by_key, k, 'ns_c64', 'p50_ms'))} "
            f"| {fmt(get(by_key, k, 'ns_c64', 'p99_ms'))} | {times} | {fmt_rps(st)} | {times_st} "
            f"| {'-' if rss is None or main is None else f'{main:.0f} MiB ({rss:.0f} with children)'} |"
        )
    return lines + (["", *notes] if notes else [])
