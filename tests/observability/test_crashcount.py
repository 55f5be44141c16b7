"""The crash counter files on their own (real files, real locks): claimed once, never by a live owner."""

from __future__ import annotations

import os
from pathlib import Path

from bifrost.observability.logstore.crashcount import ACCEPTED, SETTLED, CrashCounter, counter_base


def test_a_live_file_is_never_claimed_and_a_dead_one_once(tmp_path: Path) -> None:
    base = str(tmp_path / "logs.db")
    live = CrashCounter(base)
    assert live.open() == [] and live.counts is not None
    live.counts[ACCEPTED] += 7
    live.counts[SETTLED] += 2
    other = CrashCounter(base)
    assert other.open() == []  # the first one holds its lock: it is alive
    # the first process "dies": its lock goes away, its file stays (what kill -9 leaves)
    assert live.path is not None and live._fd is not None
    path = live.path
    live.path = None
    live.close()
    assert os.path.exists(path)
    third, fourth = CrashCounter(base), CrashCounter(base)
    losses = third.open()
    assert [(loss.pid, loss.lost) for loss in losses] == [(os.getpid(), 5)]
    assert fourth.open() == []  # already claimed
    for c in (other, third, fourth):
        c.close()
    assert not list(tmp_path.glob("*.pending.*"))


def test_an_unwritable_directory_turns_accounting_off(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    counter = CrashCounter(str(blocked / "sub" / "logs.db"))
    assert counter.open() == [] and counter.counts is None
    counter.close()


def test_postgres_files_do_not_depend_on_the_password(tmp_path: Path) -> None:
    one = counter_base("postgres", "postgresql://u:secret1@db:5432/logs", str(tmp_path))
    two = counter_base("postgres", "postgresql://u:secret2@db:5432/logs", str(tmp_path))
    other = counter_base("postgres", "postgresql://u:secret1@db:5432/other", str(tmp_path))
    assert one == two != other and "secret" not in one
    assert counter_base("sqlite", "/x/logs.db", None) == "/x/logs.db"
