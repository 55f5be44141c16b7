"""Config reload without restart: the live gateway, swapped for new requests while old ones finish.

``POST /api/config/reload`` and SIGHUP call :meth:`Live.reload`. It re-reads config.json and validates it as
``bifrost check`` does. Invalid: nothing changes, and the answer (and the log) names each problem with its
JSON path. Valid: a new :class:`~bifrost.server.gateway.Gateway` is built from it (providers, keys, weights,
aliases, fallbacks, routing, queues, timeouts, MCP clients) and started, then every route object's ``gw`` is
pointed at it in one step of the event loop. Routes read ``self.gw`` once per request, so a request or
stream in flight keeps the gateway it started with, and every request that arrives afterwards gets the new
one: the hot path pays nothing for reloads (the same single attribute read as before).

What is kept across a reload:

- the state store: rate-limit counters, budget usage, concurrency slots, stored Responses;
- the governor (rules swapped in place: ``governance``, ``client.enforce_auth_on_inference``,
  ``client.drop_excess_requests``), the metrics registry and the log store;
- providers whose section did not change (their connections, queues and key cool-downs, as they are); a
  changed provider gets new objects, and its keys with the same name and value keep their cool-downs;
- the MCP clients when the ``mcp`` section did not change.

The old gateway drains: it counts its requests in flight (``Gateway.active``), and once none is left (or
after :data:`DRAIN_LIMIT_S`) the upstream sessions and MCP clients that the new gateway does not share are
closed. A few settings cannot change while the process runs (:data:`RESTART_ONLY`, plus the command-line
options); when the file changes them, the answer and the log line name them and the rest still applies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
import os
from collections.abc import Callable, Iterable
from typing import Any

from bifrost.config import Config, ConfigError, load_config
from bifrost.server.gateway import Gateway

log = logging.getLogger("bifrost")

DRAIN_LIMIT_S = 3600.0  # an old gateway's upstream connections are closed after this long, even if still in use
DRAIN_POLL_S = 0.25
# settings of config.json that apply only at start: (JSON path, why)
RESTART_ONLY = (
    ("state_store", "the state store (counters, budgets) is opened at start"),
    ("logs_store", "the log store is opened at start"),
    ("client.prometheus_labels", "metric label names are fixed when the metrics are created"),
    ("auth_config.protect_metrics", "which routes need the admin credential is fixed at start"),
)
# never read from config.json: the command line (or BIFROST_HOST, BIFROST_PORT, BIFROST_LOG_LEVEL, ...)
COMMAND_LINE_ONLY = ("--host", "--port", "--workers", "--log-level", "--log-format", "--config")
_SKIP = frozenset({"warnings", "source", "governance"})  # `governance_rules` is compared instead of the raw dict
_DETAILED = ("providers", "client", "auth_config")  # changes named per provider / per field

Hook = Callable[[Config], None]


class Live:
    """The gateway that serves new requests, the route objects that hold it, and the older ones draining."""

    def __init__(self, gateway: Gateway, holders: Iterable[Any]) -> None:
        self.gateway = gateway
        self.holders = list(holders)  # objects with a `gw` attribute (the route classes)
        self.draining: list[Gateway] = []
        self.hooks: list[Hook] = []  # settings outside the gateway (admin credential, server timeouts, ...)
        self._lock: asyncio.Lock | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- reload --------------------------------------------------------------------------------------
    async def reload(self) -> tuple[bool, dict[str, Any]]:
        """Re-read config.json and apply it; (ok, the answer's body). One reload at a time."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            return await self._reload()

    def reload_soon(self) -> None:
        """From a signal handler: reload in a task (it logs its outcome)."""
        self._keep(asyncio.ensure_future(self.reload()))

    async def _reload(self) -> tuple[bool, dict[str, Any]]:
        old = self.gateway
        source = old.config.source
        if not source:
            return False, _refused("the gateway was not started from a config file; nothing to reload", [])
        if old.draining:
            return False, _refused("the gateway is shutting down; nothing was reloaded", [])
        try:
            loaded = load_config(source)
        except ConfigError as exc:
            return False, _invalid(source, [{"path": p.path, "message": p.message} for p in exc.problems])
        config, restart = _effective(old.config, loaded, old.governor is not None)
        multiplied = _multiplied_limits(old, config)
        if multiplied:
            return False, _invalid(source, [{"path": "governance", "message": multiplied}])
        changed = changes(old.config, config)
        body: dict[str, Any] = {
            "status": "reloaded",
            "source": source,
            "applied": changed,
            "restart_required": [{"path": path, "message": why} for path, why in restart],
            "restart_only": [path for path, _ in RESTART_ONLY] + list(COMMAND_LINE_ONLY),
            "warnings": loaded.warnings,
            "notes": [f"'{path}' changed: it applies after a restart ({why})" for path, why in restart],
        }
        if changed:
            try:
                pricing = _pricing(config)
                new = _build(old, config)
            except Exception as exc:  # a pricing override the schema let through, a provider that cannot be built
                path, _, message = str(exc).partition(": ")
                problem = {"path": path, "message": message} if message and " " not in path else {
                    "path": "$", "message": str(exc)}
                return False, _invalid(source, [problem])
            try:
                await new.start()
            except Exception as exc:
                await new.abandon()
                return False, _invalid(source, [{"path": "$", "message": f"could not start: {exc}"}])
            self._swap(old, new, pricing)
        applied = ", ".join(changed) if changed else "nothing changed"
        later = "; ".join(f"{path} ({why})" for path, why in restart)
        log.log(
            logging.WARNING if later else logging.INFO,
            "config reloaded from %s: applied %s%s", source, applied, f"; needs a restart: {later}" if later else "",
        )
        return True, body

    def _swap(self, old: Gateway, new: Gateway, pricing: Any) -> None:
        """Point everything at `new` at once (no await in here) and start draining `old`."""
        governor = new.governor = old.governor
        if governor is not None:
            governor.apply(new.config)
            governor.pricing = pricing
        observer: Any = new.observer
        if hasattr(observer, "pricing"):
            observer.pricing = pricing
            observer.content_logging = not new.config.client.disable_content_logging
        for holder in self.holders:
            holder.gw = new
        self.gateway = new
        for hook in self.hooks:
            hook(new.config)
        old.retire()
        self.draining.append(old)
        self._keep(asyncio.ensure_future(self._retire(old)))

    async def _retire(self, old: Gateway) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DRAIN_LIMIT_S
        while old.active > 0 and loop.time() < deadline:
            await asyncio.sleep(DRAIN_POLL_S)
        if old.active > 0:
            log.warning(
                "config reload: %d requests still run on the previous config after %.0fs; closing its connections",
                old.active, DRAIN_LIMIT_S,
            )
        else:
            log.info("config reload: the previous config's requests have finished; its connections are closed")
        self.draining.remove(old)
        await self._release(old)
        if gc.get_freeze_count():  # start-up froze the first config's objects (cli): let this one's go, keep the rest
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    async def _release(self, old: Gateway) -> None:
        """Close what `old` alone holds: its model catalog, and the providers and MCP clients no live or
        draining gateway shares."""
        others = (self.gateway, *self.draining)
        shared = {id(p) for gw in others for p in gw.providers.values()} | {id(gw.mcp) for gw in others}
        try:
            await old.catalog.close()
            if old.mcp is not None and id(old.mcp) not in shared:
                await old.mcp.close()
            for provider in old.providers.values():
                if id(provider) not in shared:
                    await provider.close()
        except Exception:
            log.exception("config reload: closing the previous config's connections failed")

    # -- shutdown --------------------------------------------------------------------------------------
    async def close(self) -> None:
        """At shutdown: every gateway's connections, the shared state store once."""
        for task in list(self._tasks):
            task.cancel()
        for old in list(self.draining):
            self.draining.remove(old)
            await self._release(old)
        await self.gateway.close()

    def _keep(self, task: asyncio.Future[Any]) -> None:
        self._tasks.add(task)  # type: ignore[arg-type]
        task.add_done_callback(self._tasks.discard)  # type: ignore[arg-type]


def changes(old: Config, new: Config) -> list[str]:
    """The JSON paths whose value differs: ``providers.NAME``, ``client.FIELD``, ``fallbacks``, ``mcp``, ..."""
    out: list[str] = []
    for field in dataclasses.fields(Config):
        name = field.name
        if name in _SKIP:
            continue
        before, after = getattr(old, name), getattr(new, name)
        if before == after:
            continue
        if name == "providers":
            out += [f"providers.{p}" for p in {**before, **after} if before.get(p) != after.get(p)]
        elif name in _DETAILED:
            out += [f"{name}.{f.name}" for f in dataclasses.fields(before) if _differs(before, after, f.name)]
        else:
            out.append("governance" if name == "governance_rules" else name)
    return out


def _differs(before: Any, after: Any, name: str) -> bool:
    return bool(getattr(before, name) != getattr(after, name))


def _effective(old: Config, new: Config, governed: bool) -> tuple[Config, list[tuple[str, str]]]:
    """`new` with the settings that need a restart kept as they run, and those settings (path, why)."""
    restart = [(path, why) for path, why in RESTART_ONLY if _get(old, path) != _get(new, path)]
    client = dataclasses.replace(new.client, prometheus_labels=old.client.prometheus_labels)
    auth = dataclasses.replace(new.auth_config, protect_metrics=old.auth_config.protect_metrics)
    keep: dict[str, Any] = {"state_store": old.state_store, "logs_store": old.logs_store, "auth_config": auth}
    if not governed:
        from bifrost.governance import needs_governor

        if needs_governor(new):  # the middleware is installed only when governance is configured at start
            restart.append(("governance", "governance was not configured at start: restart to turn it on"))
            client = dataclasses.replace(client, enforce_auth_on_inference=old.client.enforce_auth_on_inference)
            keep.update(governance=old.governance, governance_rules=old.governance_rules)
    return dataclasses.replace(new, client=client, **keep), restart


def _multiplied_limits(old: Gateway, config: Config) -> str | None:
    """Under --workers with the memory store, counting rules would count per worker (N times the limits)."""
    from bifrost.governance import counts_requests
    from bifrost.governance.admin import SUPERVISOR_ENV

    if os.environ.get(SUPERVISOR_ENV) and not old.state.shared and counts_requests(config):
        return (
            "rate limits, budgets and concurrency caps with --workers need state_store 'redis' (each worker's "
            "memory store would count alone, multiplying the limits); restart with Redis configured"
        )
    return None


def _get(config: Config, path: str) -> Any:
    value: Any = config
    for part in path.split("."):
        value = getattr(value, part)
    return value


def _build(old: Gateway, config: Config) -> Gateway:
    """A gateway for `config` sharing the state store, the unchanged providers and the unchanged MCP clients."""
    carried = {
        name: provider
        for name, provider in old.providers.items()
        if config.providers.get(name) == provider.config
    }
    mcp = old.mcp if old.mcp is not None and config.mcp == old.config.mcp else None
    new = Gateway(config, old.observer, state=old.state, carried=carried, mcp=mcp)
    metrics = getattr(old.observer, "metrics", None)
    for name, provider in new.providers.items():
        if name in carried:
            provider.queue.drop_excess = config.client.drop_excess_requests
            continue
        provider.queue.metrics = metrics
        before = old.providers.get(name)
        if before is not None:
            provider.keys.inherit(before.keys)
    return new


def _pricing(config: Config) -> Any:
    from bifrost.observability.pricing import Pricing

    return Pricing.from_config(config)  # ValueError "providers.X.meta_config.pricing_overrides...: why"


def _refused(message: str, problems: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_config"},
        "problems": problems,
    }


def _invalid(source: str, problems: list[dict[str, str]]) -> dict[str, Any]:
    log.error("config reload refused, keeping the running config: %s",
              "; ".join(f"{p['path']}: {p['message']}" for p in problems))
    count = len(problems)
    return _refused(f"{source} has {count} problem{'s' if count != 1 else ''}; the running config is kept", problems)
