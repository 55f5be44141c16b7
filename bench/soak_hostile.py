"""Normal traffic next to hostile clients: latency, and what the hostile traffic costs the gateway's threads.

    python bench/soak_hostile.py [--rounds 3] [--hostile heads,junk,bombs,logs]

The same clients as ``tests/security/test_soak_hostile.py`` (4 normal clients at ~70 req/s; hostile
clients in their own process: 20 slow heads a second, junk JSON with fresh label values and bad pinned keys,
1 MB deflate bombs, ``/api/logs?limit=1000``; ``--hostile`` picks a subset), against one gateway (SQLite log
store, 1 MB body limit). Each round measures normal traffic alone, then next to the hostile clients, then
the hostile clients alone while reading the gateway's CPU time per thread from /proc: the event loop's
(main thread) and the other threads' (log store, inflating). Prints one JSON line per round.

To compare two versions on a shared machine, run them interleaved, e.g. with ``PYTHONPATH=/other/src``
for one of them (the gateway subprocess inherits it).
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, openai_config
from security.test_soak_hostile import HOSTILE_KINDS as ALL
from security.test_soak_hostile import PHASE_S, _hostile_process, _normal, _p99


def _thread_cpu(pid: int) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    out: dict[int, float] = {}
    for path in glob.glob(f"/proc/{pid}/task/*/stat"):
        try:
            fields = Path(path).read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(path.split("/")[4])] = (int(fields[11]) + int(fields[12])) / ticks
    return out


def _summary(latencies: list[float]) -> dict[str, Any]:
    return {"n": len(latencies), "p50_ms": round(statistics.median(latencies) * 1000, 2),
            "p99_ms": round(_p99(latencies) * 1000, 2)}


def _round(gw: GatewayProcess, kinds: list[str]) -> dict[str, Any]:
    url = gw.v1_url + "/chat/completions"
    ctx = multiprocessing.get_context("spawn")
    alone = asyncio.run(_normal(url, time.monotonic() + PHASE_S))
    with ctx.Pool(1) as pool:
        pending = pool.apply_async(_hostile_process, (gw.port, gw.url, PHASE_S + 1.0, tuple(kinds)))
        time.sleep(0.5)
        mixed = asyncio.run(_normal(url, time.monotonic() + PHASE_S))
        pending.get(timeout=PHASE_S * 4)
        pid = gw.proc.pid
        before = _thread_cpu(pid)
        started = time.monotonic()
        hostile = pool.apply(_hostile_process, (gw.port, gw.url, PHASE_S, tuple(kinds)))
        seconds = time.monotonic() - started
        after = _thread_cpu(pid)
    loop_cpu = after.get(pid, 0.0) - before.get(pid, 0.0)
    other_cpu = sum(v - before.get(tid, 0.0) for tid, v in after.items() if tid != pid)
    return {"normal_alone": _summary(alone), "normal_with_hostile": _summary(mixed),
            "hostile_alone": {"requests": hostile, "seconds": round(seconds, 1),
                              "event_loop_cpu_s": round(loop_cpu, 2), "other_threads_cpu_s": round(other_cpu, 2),
                              "loop_ms_per_hostile_request": round(loop_cpu * 1000 / max(hostile, 1), 2)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hostile", default=",".join(ALL), help=f"comma-separated subset of {', '.join(ALL)}")
    args = parser.parse_args()
    kinds = [k for k in args.hostile.split(",") if k]
    unknown = set(kinds) - set(ALL)
    if unknown:
        parser.error(f"unknown hostile kinds: {', '.join(sorted(unknown))}")
    workdir = Path(tempfile.mkdtemp(prefix="bifrost-soak-"))
    with FakeProvider.start() as fake:
        config = openai_config(fake.url, client={"max_request_body_size_mb": 1, "prometheus_labels": ["team"]},
                               logs_store={"enabled": True, "type": "sqlite",
                                           "config": {"path": str(workdir / "logs.db")}})
        factory = GatewayFactory(workdir)
        gw = factory(config)
        try:
            asyncio.run(_normal(gw.v1_url + "/chat/completions", time.monotonic() + 1.0))  # warm up
            for _ in range(args.rounds):
                print(json.dumps(_round(gw, kinds)), flush=True)
        finally:
            factory.close()


if __name__ == "__main__":
    main()
