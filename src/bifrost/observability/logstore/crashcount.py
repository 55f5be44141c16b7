"""Crash-loss accounting for the request log store: how many records a killed process never wrote.

Each running process keeps two counters in a small file of its own, mapped into memory: records *accepted*
(put on the writer's queue) and records *settled* (written, or dropped and counted for another reason). The
request path bumps one integer in the mapping (no system call); the writer bumps the other after each batch.
A ``kill -9`` or an out-of-memory kill does not lose those stores: the pages belong to the kernel's page
cache, which writes them back whatever happens to the process. The process holds an exclusive ``flock`` on
its file while it lives and removes the file on a clean stop.

At start-up a store looks for files of its own log (same SQLite database, or same PostgreSQL database) whose
lock it can take: their process is gone without a clean stop. ``accepted - settled`` of such a file is the
number of records that process lost; the store logs one line, counts them as
``bifrost_logstore_dropped_total{reason="crash"}`` and removes the file. With ``--workers N`` every worker
has its own file (a worker that replaces a killed one counts the loss). What cannot be counted: records of
requests still in flight at the kill, and a machine that loses power (the page cache dies with it).

Where the files live (``logs_store.state_dir``): by default next to the SQLite database
(``logs.db.pending.<pid>.<token>``); for PostgreSQL in ``$XDG_STATE_HOME/bifrost`` (else
``~/.local/state/bifrost``), named after a hash of the database URL without its password. A directory that
cannot be written turns the accounting off with one warning; the store works as before.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import mmap
import os
import secrets
import struct
import urllib.parse
from dataclasses import dataclass

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX: no crash accounting
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("bifrost.logstore")

MAGIC = b"BFLOGCN1"
_LAYOUT = struct.Struct("=8sQQ")  # magic, accepted, settled (native order, as the memoryview sees them)
SIZE = 64  # room to grow; the mapping covers a page anyway
ACCEPTED, SETTLED = 1, 2  # indexes in the mapping seen as 64-bit unsigned integers (index 0 is the magic)


def unmapped() -> memoryview:
    """Counters that live in plain memory (no file): the writer's default, and what it gets back on close."""
    return memoryview(bytearray(SIZE)).cast("Q")


@dataclass(frozen=True, slots=True)
class CrashLoss:
    pid: int
    lost: int | None  # None: the file was unreadable, the number cannot be known
    path: str


def default_state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "bifrost")


def counter_base(kind: str, location: str, state_dir: str | None) -> str:
    """The path prefix of this store's counter files (``<prefix>.pending.<pid>.<token>``)."""
    if kind == "sqlite" and not state_dir:
        return os.path.abspath(location)
    identity = os.path.abspath(location) if kind == "sqlite" else _without_password(location)
    digest = hashlib.sha256(identity.encode("utf-8", "replace")).hexdigest()[:12]
    return os.path.join(os.path.abspath(state_dir or default_state_dir()), f"bifrost-logs-{kind}-{digest}")


def _without_password(url: str) -> str:
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
        return urllib.parse.urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, parts.query, ""))
    except ValueError:
        return url.rsplit("@", 1)[-1]


class CrashCounter:
    """This process's counter file (see the module docstring). ``open`` claims dead processes' files."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.path: str | None = None
        self._fd: int | None = None
        self._map: mmap.mmap | None = None
        self._view: memoryview | None = None

    @property
    def counts(self) -> memoryview | None:
        """The mapping as 64-bit integers ([ACCEPTED], [SETTLED]); None when accounting is off."""
        return self._view

    def open(self) -> list[CrashLoss]:
        """Claim the files of processes that died, then create this process's own. Never raises."""
        if fcntl is None:
            return []
        try:
            os.makedirs(os.path.dirname(self.base) or ".", exist_ok=True)
            losses = self._claim_dead()
            self._create()
        except OSError as exc:
            self.close()
            log.warning(
                "request log crash accounting is off: cannot write its state file",
                extra={"fields": {"path": self.base, "error": f"{type(exc).__name__}: {exc}"[:300]}},
            )
            return []
        return losses

    def _claim_dead(self) -> list[CrashLoss]:
        losses: list[CrashLoss] = []
        for path in sorted(glob.glob(glob.escape(self.base) + ".pending.*")):
            loss = _claim(path)
            if loss is not None:
                losses.append(loss)
        return losses

    def _create(self) -> None:
        token = secrets.token_hex(4)
        final = f"{self.base}.pending.{os.getpid()}.{token}"
        temp = f"{self.base}.creating.{os.getpid()}.{token}"  # locked before it gets a name others look for
        fd = os.open(temp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.ftruncate(fd, SIZE)
            os.pwrite(fd, _LAYOUT.pack(MAGIC, 0, 0), 0)
            mapping = mmap.mmap(fd, SIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            os.rename(temp, final)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._fd, self._map, self.path = fd, mapping, final
        self._view = memoryview(mapping).cast("Q")

    def close(self) -> None:
        """A clean stop: remove the file (the writer must have let go of ``counts`` first)."""
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            self.path = None
        if self._view is not None:
            self._view.release()
            self._view = None
        if self._map is not None:
            with contextlib.suppress(BufferError, ValueError):
                self._map.close()
            self._map = None
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)  # releases the lock
            self._fd = None


def _claim(path: str) -> CrashLoss | None:
    """The loss recorded in a dead process's file, which is removed; None if its process lives (or another
    starting process claimed the file first)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return None  # locked: its process is running
        try:
            if os.stat(path).st_ino != os.fstat(fd).st_ino:
                return None  # claimed and removed by another process meanwhile
        except FileNotFoundError:
            return None
        data = os.pread(fd, _LAYOUT.size, 0)
        lost: int | None = None
        if len(data) == _LAYOUT.size:
            magic, accepted, settled = _LAYOUT.unpack(data)
            if magic == MAGIC:
                lost = max(0, accepted - settled)
        os.unlink(path)
        return CrashLoss(_pid_of(path), lost, path)
    finally:
        os.close(fd)


def _pid_of(path: str) -> int:
    try:
        return int(path.rsplit(".pending.", 1)[1].split(".", 1)[0])
    except (IndexError, ValueError):
        return 0
