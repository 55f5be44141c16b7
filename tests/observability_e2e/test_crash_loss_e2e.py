"""Finding 14: what a crash lost is counted on the next start (SQLite and PostgreSQL, one or several workers).

Records younger than ``logs_store.flush_interval_ms`` are lost when the process is killed. Each process keeps
"records accepted" and "records settled" in a memory-mapped file of its own (``kill -9`` does not lose those
writes); the next start counts ``accepted - settled`` of every dead process as
``bifrost_logstore_dropped_total{reason="crash"}`` and logs one line. The tests read both sides: the loss
counted, and the rows the database really holds.
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from obs_helpers import StoreBackend, fresh_connection_posts, logs_api, scrape, wait_for, wait_for_lines

from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, GatewayProcess, openai_config

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
NEVER_MS = 600_000  # no timed flush during a test: only a full batch (500 records) is written
BATCH = 500


def _config(fake_url: str, backend: StoreBackend, state_dir: Path) -> dict[str, Any]:
    store = {**backend.logs_store(), "flush_interval_ms": NEVER_MS, "state_dir": str(state_dir)}
    return openai_config(fake_url, logs_store=store)


def _crash_count(gw: GatewayProcess) -> float:
    return sum(v for (name, labels), v in scrape(gw).items()
               if name == "bifrost_logstore_dropped_total" and dict(labels)["reason"] == "crash")


def _stored(gw: GatewayProcess) -> int:
    return int(logs_api(gw, limit=1)["total"])


def _send(gw: GatewayProcess, n: int) -> None:
    assert asyncio.run(fresh_connection_posts(gw.v1_url + "/chat/completions", CHAT, n)) == [200] * n


def _counter_pids(state_dir: Path) -> set[int]:
    return {int(p.name.split(".pending.", 1)[1].split(".")[0]) for p in state_dir.glob("*.pending.*")}


@pytest.mark.parametrize("unwritten", [37, 0], ids=["records-lost", "nothing-lost"])
def test_kill_9_loss_is_counted_on_the_next_start(
    unwritten: int, fake: FakeProvider, start_gateway: GatewayFactory, store_backend: StoreBackend, tmp_path: Path
) -> None:
    """A full batch is written at once; then `unwritten` more records wait for a flush that never comes.
    With none waiting, the next start still reports the crash, and counts 0 records lost."""
    state_dir = tmp_path / "state"
    config = _config(fake.url, store_backend, state_dir)
    first = start_gateway(config)
    _send(first, BATCH)
    wait_for(lambda: _stored(first) == BATCH, 10.0, "the full batch to be written")  # the queue is empty now
    if unwritten:
        _send(first, unwritten)  # fewer than a batch: they wait for the timed flush
    first.signal(signal.SIGKILL)
    first.wait()

    second = start_gateway(config)
    sent, stored = BATCH + unwritten, _stored(second)
    assert stored == BATCH
    assert _crash_count(second) == sent - stored == unwritten  # counted: exactly what the database lacks
    wait_for_lines(second, [f"{unwritten} request log records were lost"])
    assert len(list(state_dir.glob("*.pending.*"))) == 1  # the dead process's file is gone; this one's is there

    second.stop()  # a clean stop writes what is queued and leaves nothing to count
    assert not list(state_dir.glob("*.pending.*"))
    third = start_gateway(config)
    assert _crash_count(third) == 0 and _stored(third) == stored


def test_a_killed_worker_is_counted_by_its_replacement(
    fake: FakeProvider, start_gateway: GatewayFactory, store_backend: StoreBackend, tmp_path: Path
) -> None:
    """With --workers 2 each worker has its own counter file; the worker the supervisor starts in place of
    a killed one counts what the killed one lost."""
    state_dir = tmp_path / "state"
    mp_dir = tmp_path / "prom"
    mp_dir.mkdir()
    config = _config(fake.url, store_backend, state_dir)
    gw = start_gateway(config, args=["--workers", "2"], env={"PROMETHEUS_MULTIPROC_DIR": str(mp_dir)})
    wait_for(lambda: len(_counter_pids(state_dir)) == 2, 10.0, "both workers' counter files")
    sent = 60
    _send(gw, sent)
    assert _stored(gw) == 0  # nothing written yet: fewer than a batch, no timed flush
    victim, survivor = sorted(_counter_pids(state_dir))
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: len(_counter_pids(state_dir) - {survivor}) == 1 and victim not in _counter_pids(state_dir),
             15.0, "a replacement worker to claim the killed worker's file")
    lost = wait_for(lambda: _crash_count(gw), 10.0, "the crash to be counted")
    gw.stop()  # the surviving worker writes its records on a clean stop

    again = start_gateway(config)
    stored = _stored(again)
    assert 0 < lost <= sent and lost == sent - stored, (lost, stored)
    assert _crash_count(again) == 0
