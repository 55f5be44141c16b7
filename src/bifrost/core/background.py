"""Threads for work a client can ask for in bulk without being a normal request: inflating compressed
bodies, and answering admin reads of the request log (rows made into JSON).

Each runs in its own one-thread pool at a lower CPU priority than the event loop (on Linux, where a thread
has its own nice value), so that when a flood of such work keeps the thread busy, the kernel still runs the
event loop first and normal requests do not wait for a CPU behind it.

Why 10 and not 19: the thread takes the interpreter lock between calls into zlib or SQLite, and the event
loop may be waiting for that lock. Once asked, the holder gives it up within the interpreter's switch
interval of its own CPU time (the gateway sets it to 0.5 ms, ``cli.SWITCH_INTERVAL_MS``); at nice 10 a thread
gets about a tenth of a core that busy processes of normal priority share with it, so the loop waits at
most a few milliseconds for the lock even then. At 19 (a sixty-fourth) it could wait tens of milliseconds.
"""

from __future__ import annotations

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

BACKGROUND_NICE = 10  # added to the process's nice value (BIFROST_BACKGROUND_NICE=0: same priority as the loop)


def _lower_priority(by: int) -> None:
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + by))
    except OSError:  # not permitted here (some sandboxes): the work runs, at normal priority
        pass


def background_executor(name: str) -> ThreadPoolExecutor:
    """A one-thread pool whose thread runs below the event loop's priority (see the module docstring)."""
    by = int(os.environ.get("BIFROST_BACKGROUND_NICE", BACKGROUND_NICE))
    if sys.platform != "linux" or by <= 0:  # elsewhere a nice value is the whole process's
        return ThreadPoolExecutor(1, thread_name_prefix=name)
    return ThreadPoolExecutor(1, thread_name_prefix=name, initializer=_lower_priority, initargs=(by,))
