"""`bifrost` (serve), `bifrost check` (validate a config), `bifrost init` (write a starter one), CONTRACT §1."""

from __future__ import annotations

import argparse
import asyncio
import errno
import gc
import importlib.util
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from bifrost import __version__
from bifrost.config import Config, ConfigError, load_config

log = logging.getLogger("bifrost")

DRAIN_GRACE_S = 30.0
GC_THRESHOLD = "20000,20,20"  # gc.set_threshold once start-up is over (BIFROST_GC_THRESHOLD to change it)
SWITCH_INTERVAL_MS = 0.5  # sys.setswitchinterval (BIFROST_SWITCH_INTERVAL_MS to change it; Python's is 5)
EXIT_CANNOT_LISTEN = 3  # a worker that cannot bind: the supervisor stops instead of replacing it


# The event loop: uvloop unless `--loop asyncio` or it is not installed (set by main; forked workers inherit it).
_LOOP_FACTORY: Callable[[], asyncio.AbstractEventLoop] | None = None


def _run(main: Coroutine[Any, Any, None]) -> None:
    with asyncio.Runner(loop_factory=_LOOP_FACTORY) as runner:
        runner.run(main)


class ListenError(Exception):
    """The gateway could not bind its address; the message is the one line the user sees."""


def _listen_error(host: str, port: int, exc: OSError) -> ListenError:
    reason = "address already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
    return ListenError(f"error: cannot listen on {host}:{port}: {reason}")


def _serve_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bifrost",
        description="Bifrost: an OpenAI-compatible LLM gateway. `bifrost init [PATH]` writes a starter config; "
        "`bifrost check --config PATH` validates a config; "
        "`bifrost demo` serves a demo config against the built-in fake provider.",
    )
    p.add_argument(
        "--config",
        default=os.environ.get("BIFROST_CONFIG", "./config.json"),
        help="path to config.json (env BIFROST_CONFIG; default ./config.json)",
    )
    p.add_argument(
        "--host",
        default=os.environ.get("BIFROST_HOST", "127.0.0.1"),
        help="address to listen on (env BIFROST_HOST; default 127.0.0.1)",
    )
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("BIFROST_PORT", "8080")),
        help="port (env BIFROST_PORT; default 8080)",
    )
    p.add_argument("--workers", type=int, default=1, help="worker processes sharing the port (default 1)")
    p.add_argument(
        "--loop",
        default=os.environ.get("BIFROST_LOOP", "auto"),
        choices=["auto", "uvloop", "asyncio"],
        help="event loop (env BIFROST_LOOP; default auto: uvloop when installed, else asyncio)",
    )
    p.add_argument(
        "--log-level",
        default=os.environ.get("BIFROST_LOG_LEVEL", "info"),
        choices=["debug", "info", "warn", "warning", "error"],
        help="env BIFROST_LOG_LEVEL; default info",
    )
    p.add_argument(
        "--log-format", default=os.environ.get("BIFROST_LOG_FORMAT", "text"), choices=["text", "json"]
    )
    p.add_argument("--version", action="version", version=f"bifrost {__version__}")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] == "check":
        return _check(args_list[1:])
    if args_list and args_list[0] == "init":
        from bifrost.config.starter import run_init

        return run_init(args_list[1:])
    if args_list and args_list[0] == "demo":
        from bifrost.demo import run_demo

        return run_demo(args_list[1:])
    if args_list and args_list[0] == "serve":
        args_list = args_list[1:]
    args = _serve_parser().parse_args(args_list)
    _setup_logging(args.log_level, args.log_format)
    if not os.path.exists(args.config):
        print(
            f"error: no config file at {args.config}: run `bifrost init {args.config}` to write a starter one "
            "(or pass --config PATH / set BIFROST_CONFIG)",
            file=sys.stderr,
        )
        return 2
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"error: {problem.path}: {problem.message}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    global _LOOP_FACTORY
    if args.loop != "asyncio":
        try:
            import uvloop
        except ImportError:
            if args.loop == "uvloop":
                print("error: --loop uvloop: the uvloop package is not installed (pip install uvloop)", file=sys.stderr)
                return 2
        else:
            _LOOP_FACTORY = uvloop.new_event_loop
    if config.state_store.type == "redis" and importlib.util.find_spec("redis") is None:
        print(
            "error: state_store.type: 'redis' needs the redis package: pip install 'bifrost-gateway[redis]'",
            file=sys.stderr,
        )
        return 2
    if args.workers > 1 and config.state_store.type == "memory":
        from bifrost.governance import counts_requests

        if counts_requests(config):
            print(
                f"error: --workers {args.workers} with state_store 'memory' would give each worker its own rate "
                "limits, budgets and concurrency caps (the limits would multiply). Use Redis so the workers share "
                'them: "state_store": {"type": "redis", "config": {"url": "redis://127.0.0.1:6379/0"}}',
                file=sys.stderr,
            )
            return 2
    try:
        if args.workers == 1:
            _run(run_worker(config, args.host, args.port, reuse_port=False))
            return 0
        return _supervise(config, args)
    except ListenError as exc:
        _flush_logs()
        print(exc, file=sys.stderr)
        return 1


def _check(argv: list[str]) -> int:
    from bifrost.config.check import run_check

    p = argparse.ArgumentParser(
        prog="bifrost check", description="Validate a config.json and print each problem."
    )
    p.add_argument("--config", default=os.environ.get("BIFROST_CONFIG", "./config.json"))
    args = p.parse_args(argv)
    return run_check(args.config)


def _setup_logging(level: str, fmt: str) -> None:
    try:
        from bifrost.observability.logging import setup_logging
    except ImportError:  # pragma: no cover - observability not installed in this build
        logging.basicConfig(
            level=level.upper().replace("WARN", "WARNING").replace("WARNINGING", "WARNING"),
            format="%(asctime)s %(levelname)s %(name)s %(message)s",
        )
        return
    setup_logging(level, fmt)


def _flush_logs() -> None:
    try:
        from bifrost.observability.logging import flush_logs
    except ImportError:  # pragma: no cover - observability not installed in this build
        return
    flush_logs()


def _report(config: Config, host: str) -> None:
    """What is configured: providers, usable keys, models. Never a key value. Logged once the port is
    bound, so a gateway that cannot listen prints one line and nothing that looks like it started."""
    loop = "uvloop" if _LOOP_FACTORY is not None else "asyncio"
    log.info("Bifrost %s starting with config %s (event loop: %s)", __version__, config.source or "(inline)", loop)
    for warning in config.warnings:
        log.warning("%s", warning)
    for name, p in config.providers.items():
        usable = sum(1 for k in p.keys if k.usable)
        keys = "key-less" if p.is_key_less and not p.keys else f"{usable}/{len(p.keys)} usable keys"
        models = ", ".join(p.models) or "any model"
        base = _without_credentials(p.network.base_url) if p.network.base_url else "default endpoint"
        log.info("provider %s (%s wire): %s; models: %s; %s", name, p.base_type, keys, models, base)
    from bifrost.server.admin_auth import startup_notice

    notice = startup_notice(config, host)
    if notice:
        log.warning("%s", notice)


def _without_credentials(url: str) -> str:
    from bifrost.providers.base import split_credentials

    return split_credentials(url)[0]


async def run_worker(
    config: Config,
    host: str,
    port: int,
    reuse_port: bool,
    announce: bool = True,
    bound: asyncio.Event | None = None,
    reloads: Any = None,
) -> None:
    """Serve until SIGTERM/SIGINT, then stop accepting, drain in-flight requests, exit.

    Raises `ListenError` (after releasing everything it opened) when the address cannot be bound. With
    `announce`, logs "listening on ..." once the socket is bound (the supervisor announces for its workers).
    """
    from aiohttp import web

    from bifrost.server.app import LIVE_KEY, create_app
    from bifrost.server.connections import (
        apply_client_settings,
        client_connection_settings,
        guard_runner,
        install_loop_guards,
    )

    install_loop_guards(asyncio.get_running_loop())

    observer = _make_observer(config)
    app = create_app(config, observer, bind_host=host)
    runner = web.AppRunner(
        app,
        handler_cancellation=True,
        access_log=None,
        shutdown_timeout=DRAIN_GRACE_S,
        **client_connection_settings(config.client),
    )
    await runner.setup()
    guard_runner(runner, config.client)
    live = app[LIVE_KEY]
    live.hooks.append(lambda new: apply_client_settings(runner, new.client))  # a reload: new connections
    if observer is not None and hasattr(observer, "start"):
        await observer.start()
    site = web.TCPSite(runner, host, port, reuse_port=reuse_port or None, backlog=2048)
    _freeze_startup_objects()
    _shorten_switch_interval()
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        if observer is not None and hasattr(observer, "stop"):
            await observer.stop()
        raise _listen_error(host, port, exc) from None
    if announce:
        _report(config, host)
        log.info("listening on http://%s:%d", host, port)
        _flush_logs()  # the start-up report is written before the first request (a health check) is answered
    else:
        log.info("worker %d serving", os.getpid())
    if bound is not None:
        bound.set()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, live.reload_soon)  # re-read config.json (server/reload.py)
    if reloads is not None and reloads.value:  # the supervisor reloaded since this worker's config was read
        live.reload_soon()
    from bifrost.server.descriptors import start_watch

    watch = start_watch() if _LOOP_FACTORY is not None else None  # asyncio reports a failing accept() itself
    await stop.wait()
    if watch is not None:
        watch.cancel()
    log.info("shutting down: draining in-flight requests (up to %.0fs)", DRAIN_GRACE_S)
    live.gateway.draining = True
    await runner.cleanup()
    if observer is not None and hasattr(observer, "stop"):
        await observer.stop()
    log.info("stopped")


def _freeze_startup_objects() -> None:
    """Everything built at start-up (config, providers, and what the MCP SDK, pydantic and botocore import)
    lives as long as the process: moved out of the garbage collector's sight, so that its collections,
    which per-request allocations trigger, scan only what requests create. Without this a full collection
    walks every start-up object, and a gateway with MCP configured spent about a fifth of its CPU there."""
    if os.environ.get("BIFROST_GC_FREEZE", "1") == "0":
        return
    gc.collect()
    gc.freeze()
    # and collect the young generation every 20,000 net allocations instead of 700: what requests leave for
    # the collector (reference cycles of futures, exceptions) is small, and is found later in one pass
    threshold = os.environ.get("BIFROST_GC_THRESHOLD") or GC_THRESHOLD
    gc.set_threshold(*(int(x) for x in threshold.split(",")))


def _shorten_switch_interval() -> None:
    """The event loop gets the interpreter lock back within 0.5 ms of asking, not Python's 5 ms.

    Background threads (the log store's writer, admin reads, inflating) hold the lock between their calls
    into SQLite or zlib, and with the default interval every time the loop wanted it meanwhile it waited up
    to 5 ms: next to a flood of bad requests, most of a normal request's p99 (``bench/soak_hostile.py``).
    Only threads that compete for the lock switch more often; a gateway whose threads are idle is unchanged."""
    interval_ms = float(os.environ.get("BIFROST_SWITCH_INTERVAL_MS") or SWITCH_INTERVAL_MS)
    if interval_ms > 0:
        sys.setswitchinterval(interval_ms / 1000)


def _make_observer(config: Config) -> object | None:
    if os.environ.get("BIFROST_OBSERVABILITY", "").lower() == "off":  # for measuring its cost (bench/)
        return None
    try:
        from bifrost.observability.observer import Observer
    except ImportError:  # pragma: no cover - observability not installed in this build
        return None
    return Observer.from_config(config)


def _worker_main(config: Config, host: str, port: int, log_level: str, log_format: str, reloads: Any) -> None:
    # A SIGHUP before this worker listens is not lost: `reloads` counts the supervisor's reloads, and a worker
    # whose config predates one reloads as soon as it serves (also a worker that replaces a crashed one).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _setup_logging(log_level, log_format)
    try:
        _run(run_worker(config, host, port, reuse_port=True, announce=False, reloads=reloads))
    except ListenError as exc:
        _flush_logs()
        print(exc, file=sys.stderr)
        sys.exit(EXIT_CANNOT_LISTEN)
    finally:
        _flush_logs()  # a forked worker ends with os._exit: its log writer thread must drain first


def _probe_bind(host: str, port: int) -> None:
    """Fail fast, with one line, when the port is taken: workers bind with SO_REUSEPORT, which would
    otherwise share the port silently with another SO_REUSEPORT listener."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, addr = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(addr)
    except OSError as exc:
        raise _listen_error(host, port, exc) from None


def _forget_worker_metrics(pid: int) -> None:
    """A dead worker's live gauges (active requests, queue depth) must stop counting."""
    from bifrost.observability.metrics import mark_process_dead

    mark_process_dead(pid)


def _supervise(config: Config, args: argparse.Namespace) -> int:
    """N worker processes on one port (SO_REUSEPORT); signals are passed on; a crashed worker is replaced."""
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bifrost-metrics-")
    try:
        return _run_workers(config, args)
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


def _run_workers(config: Config, args: argparse.Namespace) -> int:
    _probe_bind(args.host, args.port)
    ctx = multiprocessing.get_context("fork")
    from bifrost.governance.admin import SUPERVISOR_ENV

    os.environ[SUPERVISOR_ENV] = str(os.getpid())  # a worker asks for a reload of all with SIGHUP
    reloads = ctx.Value("i", 0, lock=False)  # written by this process only (in a signal handler)
    worker_args = (config, args.host, args.port, args.log_level, args.log_format, reloads)
    workers = [ctx.Process(target=_worker_main, args=worker_args, daemon=False) for _ in range(args.workers)]
    _report(config, args.host)
    for w in workers:
        w.start()
    log.info("listening on http://%s:%d (%d workers)", args.host, args.port, args.workers)
    stopping = failed = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            log.info("shutting down %d workers: draining in-flight requests (up to %.0fs)", len(workers), DRAIN_GRACE_S)
        stopping = True
        for w in workers:
            if w.pid and w.is_alive():
                os.kill(w.pid, signal.SIGTERM)

    def reload_all(signum: int, _frame: object) -> None:
        reloads.value += 1
        for w in workers:
            if w.pid and w.is_alive():
                os.kill(w.pid, signal.SIGHUP)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, reload_all)
    while True:
        for i, w in enumerate(workers):
            w.join(timeout=0.5)
            if w.is_alive() or w.pid is None:
                continue
            _forget_worker_metrics(w.pid)
            if w.exitcode == EXIT_CANNOT_LISTEN and not stopping:
                forward(signal.SIGTERM, None)
                failed = True
            if stopping:
                continue
            log.error("worker %s exited with %s; starting a new one", w.pid, w.exitcode)
            workers[i] = ctx.Process(target=_worker_main, args=worker_args, daemon=False)
            workers[i].start()
        if stopping and not any(w.is_alive() for w in workers):
            log.info("stopped (%d workers)", len(workers))
            return 1 if failed else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
