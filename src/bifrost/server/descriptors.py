"""One log line a second while the process is (nearly) out of file descriptors.

The asyncio loop reports a failing accept() itself (one line a second, server/connections.py). uvloop does
not: libuv sheds the connections it cannot take (it accepts and closes them with a reserved descriptor) and
says nothing, so this watch is what tells the operator. It costs one directory listing a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource

log = logging.getLogger("bifrost")

FD_DIR = "/proc/self/fd"
NEARLY_OUT = 0.95  # of the soft RLIMIT_NOFILE


async def watch_descriptors(interval: float = 1.0) -> None:
    if not os.path.isdir(FD_DIR):  # not Linux: nothing cheap to count with
        return
    while True:
        await asyncio.sleep(interval)
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft == resource.RLIM_INFINITY or soft <= 0:
            continue
        with contextlib.suppress(OSError):  # listing needs a descriptor too: at the limit it may fail
            used = len(os.listdir(FD_DIR))
            if used < NEARLY_OUT * soft:
                continue
            log.error(
                "out of system resources: %d of %d file descriptors in use; new connections are refused "
                "until some close (raise the limit: ulimit -n)", used, soft,
            )
            continue
        log.error("out of system resources: all %d file descriptors in use; new connections are refused", soft)


def start_watch() -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(watch_descriptors())
