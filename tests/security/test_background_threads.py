"""Work a client can ask for in bulk without being a normal request (inflating a compressed body, an admin
read of the request log) runs in threads below the event loop's CPU priority (``core/background.py``), so a
flood of it does not take the CPU from normal requests (``bench/soak_hostile.py`` measures that)."""

from __future__ import annotations

import json
import os
import sys
import time
import zlib
from pathlib import Path

import pytest

from bifrost.core.background import BACKGROUND_NICE
from bifrost.testing.fake_provider import FakeProvider
from harness import GatewayFactory, openai_config

from .helpers import get, post

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="a thread's own nice value is Linux's")


def _nice_by_thread(pid: int) -> dict[int, int]:
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(task.name)] = int(fields[16])  # field 19 of proc(5): nice
    return out


@pytest.mark.parametrize("by", [None, 0], ids=["default", "BIFROST_BACKGROUND_NICE=0"])
def test_inflating_and_admin_reads_run_below_the_event_loop(
    fake: FakeProvider, start_gateway: GatewayFactory, tmp_path: Path, by: int | None
) -> None:
    config = openai_config(fake.url, logs_store={"enabled": True, "type": "sqlite",
                                                 "config": {"path": str(tmp_path / "logs.db")}})
    gw = start_gateway(config, env=None if by is None else {"BIFROST_BACKGROUND_NICE": str(by)})
    lowered_by = BACKGROUND_NICE if by is None else by
    base = _nice_by_thread(gw.proc.pid)[gw.proc.pid]
    assert base == os.getpriority(os.PRIO_PROCESS, 0)  # the event loop: the priority it was started with
    assert not [t for t, nice in _nice_by_thread(gw.proc.pid).items() if nice != base]

    words = " ".join(f"word{i % 97}" for i in range(100_000))  # inflates past what the loop inflates inline
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": words}]}).encode()
    status, _, answer = post(gw.v1_url + "/chat/completions", zlib.compress(body), {"Content-Encoding": "deflate"})
    assert status == 200, answer[:300]
    lowered = {t for t, nice in _nice_by_thread(gw.proc.pid).items() if nice != base}
    assert len(lowered) == (1 if lowered_by else 0)  # the inflating thread
    assert {_nice_by_thread(gw.proc.pid)[t] for t in lowered} <= {min(19, base + lowered_by)}

    deadline = time.monotonic() + 10
    while True:  # the record reaches the store within its flush interval
        status, _, answer = get(gw.url + "/api/logs?limit=10")
        assert status == 200, answer[:300]
        if json.loads(answer)["logs"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert json.loads(answer)["logs"][0]["status"] == 200
    threads = _nice_by_thread(gw.proc.pid)
    lowered = {t for t, nice in threads.items() if nice != base}
    assert len(lowered) == (2 if lowered_by else 0)  # and the log store's reader; the writer and the rest unchanged
    assert {threads[t] for t in lowered} <= {min(19, base + lowered_by)}
    assert threads[gw.proc.pid] == base
