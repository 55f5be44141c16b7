"""A throwaway PostgreSQL server for the log store tests (the Debian package's binaries, or any on PATH).

``with throwaway_postgres() as url:`` runs ``initdb`` + ``pg_ctl start`` in a temporary directory on a free
loopback port (as the ``postgres`` user when running as root) and yields a superuser URL without a password;
:class:`PostgresUnavailable` says why no server could be started (the caller skips with that reason).
``fresh_database(url)`` / ``drop_database(url)`` give each test its own database on that server.
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message is the reason to print when skipping."""


def pg_bindir() -> str | None:
    """The directory holding ``initdb`` and ``pg_ctl``: PATH first, then the Debian package's layout."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    which = shutil.which("pg_ctl")
    if which:
        candidates.insert(0, os.path.dirname(which))
    for d in candidates:
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """Start a private server, yield ``postgresql://postgres@127.0.0.1:PORT/postgres``, stop and delete it."""
    bindir = pg_bindir()
    if bindir is None:
        raise PostgresUnavailable("PostgreSQL server binaries (initdb, pg_ctl) not found")
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        raise PostgresUnavailable("asyncpg is not installed (pip install -e '.[test]')") from None
    run_as: dict[str, Any] = {}
    base = tempfile.mkdtemp(prefix="bifrost-pg-")
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the 'postgres' user
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(base, ignore_errors=True)
            raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server as") from None
        os.chown(base, pw.pw_uid, pw.pw_gid)
        run_as = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    data, port = os.path.join(base, "data"), _free_port()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=base, capture_output=True, text=True, timeout=120, **run_as)

    init = run(f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    log_file = os.path.join(base, "server.log")
    started = (
        init.returncode == 0
        and run(f"{bindir}/pg_ctl", "-D", data, "-l", log_file, "-w", "-t", "60", "-o", options, "start").returncode
        == 0
    )
    if not started:
        log = Path(log_file)
        detail = (init.stderr or "") + (log.read_text() if log.exists() else "")
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresUnavailable(f"could not start a throwaway PostgreSQL server: {detail.strip()[-300:]}")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


async def admin(url: str, sql: str) -> None:
    """Run one statement on its own connection."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def fresh_database(server_url: str) -> str:
    """Create a new, empty database on the server; returns its URL."""
    name = f"bifrost_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(server_url, f"CREATE DATABASE {name}"))
    return server_url.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    server_url, name = url.rsplit("/", 1)
    asyncio.run(admin(server_url + "/postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
