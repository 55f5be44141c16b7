"""Request log store: every request recorded off the request path (SQLite by default, PostgreSQL for several
instances), read back through ``GET /api/logs`` and ``GET /api/logs/stats``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bifrost.config.model import ClientConfig, LogsStoreConfig
from bifrost.observability.logstore.base import BaseLogStore, FilterError, LogFilters, LogStore
from bifrost.observability.logstore.crashcount import counter_base

if TYPE_CHECKING:
    from bifrost.observability.metrics import Metrics

__all__ = ["BaseLogStore", "FilterError", "LogFilters", "LogStore", "create_log_store"]


def create_log_store(
    config: LogsStoreConfig, client: ClientConfig, metrics: Metrics | None, **options: Any
) -> LogStore | None:
    """The configured store (not started), or None when ``logs_store.enabled`` is false.

    ``options`` (queue_size, batch_size, flush_interval, write_timeout, stop_timeout) tune the writer;
    the defaults suit production.
    """
    if not config.enabled:
        return None
    common: dict[str, Any] = {
        "retention_days": config.log_retention_days,
        "include_content": not client.disable_content_logging,
        "metrics": metrics,
        "flush_interval": config.flush_interval_ms / 1000.0,
        "crash_base": counter_base(config.type, config.path if config.type == "sqlite" else config.url or "",
                                   config.state_dir),
        **options,
    }
    if config.type == "sqlite":
        from bifrost.observability.logstore.sqlite import SQLiteLogStore

        return SQLiteLogStore(config.path, **common)
    if config.type == "postgres":
        if not config.url:
            raise ValueError("logs_store.config.url: required for a postgres logs store")
        try:
            import asyncpg  # noqa: F401
        except ImportError:
            raise ValueError(
                "logs_store.type: postgres needs asyncpg (pip install 'bifrost-gateway[postgres]')"
            ) from None
        from bifrost.observability.logstore.postgres import PostgresLogStore

        return PostgresLogStore(config.url, **common)
    raise ValueError(f"logs_store.type: unknown store type {config.type!r}; expected sqlite or postgres")
