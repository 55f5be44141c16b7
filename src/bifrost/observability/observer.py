"""Glue built once at start-up: each finished request -> cost, metrics, access log, log store."""

from __future__ import annotations

import logging
from typing import Any

from bifrost.config.model import Config
from bifrost.core.secrets import config_secrets
from bifrost.observability.logging import access_log, set_secrets
from bifrost.observability.logstore import LogStore, create_log_store
from bifrost.observability.metrics import Metrics
from bifrost.observability.pricing import Pricing
from bifrost.observability.record import RequestRecord

log = logging.getLogger("bifrost.observability")


class Observer:
    def __init__(
        self,
        metrics: Metrics,
        pricing: Pricing,
        store: LogStore | None = None,
        *,
        content_logging: bool = True,
    ) -> None:
        self.metrics = metrics
        self.pricing = pricing
        self.store = store
        self.content_logging = content_logging
        self._failures = 0

    @classmethod
    def from_config(cls, config: Config, **store_options: Any) -> Observer:
        """Metrics with client.prometheus_labels, pricing with overrides, the configured log store.

        Also registers the config's secret values with the log redaction filter.
        """
        set_secrets(config_secrets(config))
        metrics = Metrics(config.client.prometheus_labels)
        store = create_log_store(config.logs_store, config.client, metrics, **store_options)
        return cls(
            metrics,
            Pricing.from_config(config),
            store,
            content_logging=not config.client.disable_content_logging,
        )

    async def start(self) -> None:
        if self.store is not None:
            await self.store.start()

    async def stop(self) -> None:
        if self.store is not None:
            await self.store.stop()

    def request_started(self, method: str) -> None:
        """A request arrived (``bifrost_active_requests`` +1); ``finish`` with the same method ends it."""
        try:
            self.metrics.request_started(method)
        except Exception:
            pass

    def finish(self, rec: RequestRecord) -> float:
        """Record one finished request (active -1, cost, metrics, access log, store); returns its cost in USD.

        Called once per request, at its end, after ``request_started(rec.method)``. Never raises.
        """
        cost = 0.0
        try:
            self.metrics.request_finished(rec.method)
            cost = self.pricing.cost(
                rec.provider,
                rec.model or rec.model_requested,
                rec.prompt_tokens,
                rec.completion_tokens,
                rec.cached_tokens,
                rec.cache_write_tokens,
            )
            self.metrics.observe(rec, cost)
            access_log(rec, cost, content=self.content_logging)
            if self.store is not None:
                self.store.submit(rec, cost)
        except Exception:
            self._failures += 1
            if self._failures <= 10 or self._failures % 1000 == 0:
                log.exception("observability failed for a request", extra={"fields": {"id": rec.request_id}})
        return cost
