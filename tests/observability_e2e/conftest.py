"""Log store backends for the e2e tests: a SQLite file in tmp_path, or a fresh database on a throwaway
PostgreSQL server (skipped, with the reason printed, when no PostgreSQL server can be started here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from obs_helpers import StoreBackend

from pgserver import PostgresUnavailable, drop_database, fresh_database, throwaway_postgres


@pytest.fixture(scope="session")
def e2e_pg_server() -> Iterator[str]:
    try:
        with throwaway_postgres() as url:
            yield url
    except PostgresUnavailable as exc:
        reason = f"{exc}: the postgres log store e2e tests are skipped"
        print(f"\nSKIP: {reason}")
        pytest.skip(reason)


@pytest.fixture(params=["sqlite", "postgres"])
def store_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreBackend]:
    if request.param == "sqlite":
        yield StoreBackend("sqlite", str(tmp_path / "store" / "logs.db"))  # the directory does not exist yet
        return
    url = fresh_database(request.getfixturevalue("e2e_pg_server"))
    try:
        yield StoreBackend("postgres", url)
    finally:
        drop_database(url)
