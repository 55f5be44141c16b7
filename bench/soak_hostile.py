"""Normal traffic next to hostile clients: latency, and what the hostile traffic costs the gateway's threads.

    python bench/soak_hostile.py [--rounds 3] [--hostile heads,junk,bombs,logs] [--shared]

The same clients as ``tests/security/test_soak_hostile.py`` (4 normal clients at ~70 req/s; hostile
clients in their own process: 20 slow heads a second, junk JSON with fresh label values and bad pinned keys,
1 MB deflate bombs, ``/api/logs?limit=1000``; ``--hostile`` picks a subset), against one gateway (SQLite log
store, 1 MB body limit). Each round measures normal traffic alone, then next to the hostile clients, then
the hostile clients alone while reading the gateway's CPU time per thread from /proc: the event loop's
(main thread) and the other threads' (log store, inflating). Prints one JSON line per round, then the
latencies of all rounds pooled and each phase's per-round p99s (a p99 of ~600 requests is noisy: compare
the pooled p99s, and a phase's p99 with the spread of the other's).

Placement, as ``bench/run.py`` does it: the gateway (all its threads) on core 0; the fake upstream, the normal
client and the hostile clients on core 1, the hostile clients at the lowest CPU priority, standing for
attackers on other machines: what is measured is what they cost the gateway, not what their own CPU use
takes from the normal client on a shared core. ``--shared`` runs everything unpinned on all cores.

To compare two versions on a shared machine, run them interleaved, e.g. with ``PYTHONPATH=/other/src``
for one of them (the gateway subprocess inherits it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, openai_config
from run import fake_provider
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


SUT_CPUS = {0}  # the gateway
LOAD_CPUS = {1}  # the fake upstream, the normal client, the hostile clients (lowest priority)


def _pin_gateway(pid: int) -> None:
    """Every thread the gateway has now (threads it starts later inherit their creator's CPUs)."""
    for task in glob.glob(f"/proc/{pid}/task/*"):
        os.sched_setaffinity(int(task.rsplit("/", 1)[1]), SUT_CPUS)


def _round(gw: GatewayProcess, kinds: list[str], hostile_cpus: set[int] | None,
           pooled: dict[str, list[float]]) -> dict[str, Any]:
    url = gw.v1_url + "/chat/completions"
    ctx = multiprocessing.get_context("spawn")
    alone = asyncio.run(_normal(url, time.monotonic() + PHASE_S))
    with ctx.Pool(1) as pool:
        pending = pool.apply_async(_hostile_process, (gw.port, gw.url, PHASE_S + 1.0, tuple(kinds), hostile_cpus))
        time.sleep(0.5)
        mixed = asyncio.run(_normal(url, time.monotonic() + PHASE_S))
        pending.get(timeout=PHASE_S * 4)
        pid = gw.proc.pid
        before = _thread_cpu(pid)
        started = time.monotonic()
        hostile = pool.apply(_hostile_process, (gw.port, gw.url, PHASE_S, tuple(kinds), hostile_cpus))
        seconds = time.monotonic() - started
        after = _thread_cpu(pid)
    pooled["alone"] += alone
    pooled["with_hostile"] += mixed
    loop_cpu = after.get(pid, 0.0) - before.get(pid, 0.0)
    other_cpu = sum(v - before.get(tid, 0.0) for tid, v in after.items() if tid != pid)
    return {"normal_alone": _summary(alone), "normal_with_hostile": _summary(mixed),
            "hostile_alone": {"requests": hostile, "seconds": round(seconds, 1),
                              "event_loop_cpu_s": round(loop_cpu, 2), "other_threads_cpu_s": round(other_cpu, 2),
                              "loop_ms_per_hostile_request": round(loop_cpu * 1000 / max(hostile, 1), 2)}}


@contextlib.contextmanager
def _fake(workdir: Path, pin: bool) -> Iterator[str]:
    """The fake upstream: pinned, in its own process on core 1 (as bench/run.py runs it), so that it does not
    share an interpreter lock with the normal client; unpinned, in a thread of this process."""
    if pin:
        with fake_provider(workdir) as (_, url):
            yield url
    else:
        with FakeProvider.start() as fake:
            yield fake.url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hostile", default=",".join(ALL), help=f"comma-separated subset of {', '.join(ALL)}")
    parser.add_argument("--shared", action="store_true", help="no pinning: everything on all cores")
    args = parser.parse_args()
    pin = not args.shared and len(os.sched_getaffinity(0)) >= 2
    if pin:
        os.sched_setaffinity(0, LOAD_CPUS)  # this process: the fake upstream and the normal client
    kinds = [k for k in args.hostile.split(",") if k]
    unknown = set(kinds) - set(ALL)
    if unknown:
        parser.error(f"unknown hostile kinds: {', '.join(sorted(unknown))}")
    workdir = Path(tempfile.mkdtemp(prefix="bifrost-soak-"))
    with _fake(workdir, pin) as fake_url:
        config = openai_config(fake_url, client={"max_request_body_size_mb": 1, "prometheus_labels": ["team"]},
                               logs_store={"enabled": True, "type": "sqlite",
                                           "config": {"path": str(workdir / "logs.db")}})
        factory = GatewayFactory(workdir)
        gw = factory(config)
        if pin:
            _pin_gateway(gw.proc.pid)
        try:
            asyncio.run(_normal(gw.v1_url + "/chat/completions", time.monotonic() + 1.0))  # warm up
            pooled: dict[str, list[float]] = {"alone": [], "with_hostile": []}
            rounds = [_round(gw, kinds, LOAD_CPUS if pin else None, pooled) for _ in range(args.rounds)]
            for line in rounds:
                print(json.dumps(line), flush=True)
            print(json.dumps({"pooled": {phase: _summary(v) for phase, v in pooled.items()},
                              "round_p99_ms": {phase: sorted(r[f"normal_{phase}"]["p99_ms"] for r in rounds)
                                               for phase in pooled},
                              "pinned": pin, "hostile": kinds}), flush=True)
        finally:
            factory.close()


if __name__ == "__main__":
    main()
