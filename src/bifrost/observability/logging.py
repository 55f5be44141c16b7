"""Gateway logging: text or JSON lines on stderr, one access line per request, secrets redacted.

* Logger ``bifrost`` (children: ``bifrost.access`` for access lines, ``bifrost.upstream`` for upstream
  errors). Level from ``--log-level``, else ``BIFROST_LOG_LEVEL``, else ``info``.
* The request path only builds a ``LogRecord`` and puts it on a bounded queue; a background thread formats,
  redacts and writes it, so a slow stderr consumer never stalls the event loop. Records beyond 10,000 waiting
  are dropped (see :func:`dropped_records`).
* Redaction safety net: every value given to :func:`set_secrets` (API keys, virtual keys; values shorter than
  8 characters are ignored), and every run of 8 of its characters, is replaced by ``***`` in the message,
  its args, structured fields and tracebacks before anything is written (the one scrubber,
  ``bifrost.core.secrets``). Text lines escape control characters and invalid UTF-8.
* Prompts and answers are logged only at ``debug``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Iterable
from typing import IO, Any

import orjson

from bifrost.core.secrets import SCRUBBER, clean_text
from bifrost.observability.record import RequestRecord

LOGGER_NAME = "bifrost"
ACCESS_LOGGER_NAME = "bifrost.access"
UPSTREAM_LOGGER_NAME = "bifrost.upstream"
ENV_LEVEL = "BIFROST_LOG_LEVEL"
FORMATS = ("text", "json")
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_LEVEL_NAMES = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "warn",
    logging.ERROR: "error",
    logging.CRITICAL: "critical",
}
MIN_SECRET_LEN = 8
QUEUE_SIZE = 10_000
CONTENT_MAX_CHARS = 65_536
_MASK = "***"

_access = logging.getLogger(ACCESS_LOGGER_NAME)
_upstream = logging.getLogger(UPSTREAM_LOGGER_NAME)


# ---- redaction -------------------------------------------------------------------------------------------
class RedactingFilter(logging.Filter):
    """Replaces configured secret values with ``***`` in a record's message, args, fields and traceback."""

    def __init__(self) -> None:
        super().__init__()

    @property
    def secrets(self) -> tuple[str, ...]:
        return SCRUBBER.secrets

    def redact(self, text: str) -> str:
        return SCRUBBER.scrub(text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = clean_text(self.redact(message))
        if clean is not message or record.args:
            record.msg, record.args = clean, None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            for key, value in fields.items():
                if isinstance(value, str):
                    fields[key] = clean_text(self.redact(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = _EXC_FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


_EXC_FORMATTER = logging.Formatter()
_redactor = RedactingFilter()


def set_secrets(values: Iterable[str | None]) -> None:
    """Values never to be written by any bifrost log handler (longest first, so overlaps mask fully)."""
    SCRUBBER.update(values, MIN_SECRET_LEN)


def redaction_filter() -> RedactingFilter:
    """The shared filter, to attach to any other handler that may see bifrost records."""
    return _redactor


def redact(text: str) -> str:
    return _redactor.redact(text)


# ---- formatting ------------------------------------------------------------------------------------------
_second: tuple[int, str] = (-1, "")  # the formatted current second, swapped atomically


def _timestamp(record: logging.LogRecord) -> str:
    global _second
    cached = _second
    second = int(record.created)
    if second != cached[0]:
        cached = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{cached[1]}.{int(record.msecs):03d}Z"


_NEEDS_QUOTES = re.compile(r'[\s"=\x00-\x1f\x7f\ud800-\udfff]')


def _text_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if not text or _NEEDS_QUOTES.search(text):
        return orjson.dumps(text).decode()
    return text


class TextFormatter(logging.Formatter):
    """``2025-01-01T00:00:00.000Z INFO  bifrost.access request id=... route=openai ...``"""

    def format(self, record: logging.LogRecord) -> str:
        parts = [
            _timestamp(record),
            f"{_LEVEL_NAMES.get(record.levelno, record.levelname).upper():<5}",
            record.name,
            record.getMessage(),
        ]
        fields = getattr(record, "fields", None)
        if fields:
            parts.extend(f"{k}={_text_value(v)}" for k, v in fields.items())
        line = " ".join(parts)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, msg, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": _timestamp(record),
            "level": _LEVEL_NAMES.get(record.levelno, record.levelname.lower()),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            for key, value in fields.items():
                out.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return orjson.dumps(out, default=str).decode()


# ---- background writing ----------------------------------------------------------------------------------
_STOP = object()
_BATCH = 1024
_LINGER_S = 0.02  # the writer wakes at most ~50 times a second, whatever the request rate


class BackgroundHandler(logging.Handler):
    """Queues records (O(1), no lock held); a daemon thread redacts, formats and writes them in batches.

    At most QUEUE_SIZE records wait; beyond that they are dropped and counted in ``dropped``.
    """

    def __init__(self, stream: IO[str], formatter: logging.Formatter) -> None:
        super().__init__()
        self.stream = stream
        self.setFormatter(formatter)
        self.dropped = 0
        self._start()

    def _start(self) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="bifrost-log-writer", daemon=True)
        self._thread.start()

    def handle(self, record: logging.LogRecord) -> bool:  # type: ignore[override]
        if self.filters and not self.filter(record):
            return False
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._queue.qsize() >= QUEUE_SIZE:
                self.dropped += 1
                return
            if record.args:  # freeze the message now: args may be mutated once the call returns
                record.msg, record.args = record.getMessage(), None
            if record.exc_info:
                record.exc_text = record.exc_text or _EXC_FORMATTER.formatException(record.exc_info)
                record.exc_info = None
            self._queue.put(record)
        except Exception:
            self.handleError(record)

    def _run(self) -> None:
        q = self._queue
        while True:
            batch = [q.get()]
            if batch[0] is not _STOP:
                time.sleep(_LINGER_S)  # let records accumulate: one GIL hand-off per batch, not per line
            while len(batch) < _BATCH:
                try:
                    batch.append(q.get_nowait())
                except queue.Empty:
                    break
            lines: list[str] = []
            events: list[threading.Event] = []
            stop = False
            for item in batch:
                if isinstance(item, logging.LogRecord):
                    try:
                        _redactor.filter(item)
                        lines.append(self.format(item))
                    except Exception:
                        self.handleError(item)
                elif isinstance(item, threading.Event):
                    events.append(item)
                elif item is _STOP:
                    stop = True
            if lines:
                with contextlib.suppress(Exception):
                    self.stream.write("\n".join(lines) + "\n")
                    self.stream.flush()
            for event in events:
                event.set()
            if stop:
                return

    def flush(self, timeout: float = 2.0) -> None:
        """Wait until everything queued before this call is written."""
        if self._thread.is_alive():
            done = threading.Event()
            self._queue.put(done)
            done.wait(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(2.0)
        super().close()

    def after_fork(self) -> None:
        self._start()


class _State:
    handler: logging.Handler | None = None
    lock = threading.Lock()


def resolve_level(level: str | None = None) -> int:
    """``--log-level`` value, else ``BIFROST_LOG_LEVEL``, else info. Raises ValueError on unknown names."""
    name = (level or os.environ.get(ENV_LEVEL) or "info").strip().lower()
    if name not in LEVELS:
        raise ValueError(f"unknown log level {name!r}; expected one of debug, info, warn, error")
    return LEVELS[name]


def setup_logging(
    level: str | None = None,
    fmt: str = "text",
    *,
    stream: IO[str] | None = None,
    background: bool = True,
) -> None:
    """Configure the ``bifrost`` logger (idempotent: a second call replaces the first).

    ``level``: debug|info|warn|error, None for ``BIFROST_LOG_LEVEL`` else info. ``fmt``: text|json.
    ``stream`` defaults to stderr; ``background=False`` writes synchronously (tools, tests).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}; expected text or json")
    levelno = resolve_level(level)
    formatter: logging.Formatter = JsonFormatter() if fmt == "json" else TextFormatter()
    out = stream if stream is not None else sys.stderr
    handler: logging.Handler
    if background:
        handler = BackgroundHandler(out, formatter)
    else:
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        handler.addFilter(_redactor)
    with _State.lock:
        _teardown_locked()
        logger = logging.getLogger(LOGGER_NAME)
        logger.setLevel(levelno)
        logger.propagate = False
        logger.addHandler(handler)
        _State.handler = handler


def _teardown_locked() -> None:
    handler, _State.handler = _State.handler, None
    if handler is not None:
        logging.getLogger(LOGGER_NAME).removeHandler(handler)
        with contextlib.suppress(Exception):
            handler.flush()
            handler.close()


def flush_logs() -> None:
    """Wait until queued records are written (tests, shutdown)."""
    handler = _State.handler
    if handler is not None:
        handler.flush()


def shutdown_logging() -> None:
    """Flush and stop the writer thread; the ``bifrost`` logger goes back to propagating to the root."""
    with _State.lock:
        _teardown_locked()
        logger = logging.getLogger(LOGGER_NAME)
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


def dropped_records() -> int:
    handler = _State.handler
    return handler.dropped if isinstance(handler, BackgroundHandler) else 0


def _after_fork_in_child() -> None:  # threads do not survive fork: give each worker its own writer thread
    _State.lock = threading.Lock()
    if isinstance(_State.handler, BackgroundHandler):
        _State.handler.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(shutdown_logging)


# ---- access log ------------------------------------------------------------------------------------------
def _emit(logger: logging.Logger, level: int, msg: str, fields: dict[str, Any]) -> None:
    """Log without the caller-frame lookup (``findCaller``): the formatters never print it."""
    logger.handle(logger.makeRecord(logger.name, level, "", 0, msg, (), None, extra={"fields": fields}))


def _content(value: Any) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= CONTENT_MAX_CHARS else text[:CONTENT_MAX_CHARS] + "...[truncated]"


def access_log(rec: RequestRecord, cost: float | None = None, *, content: bool = True) -> None:
    """One info line per request; a warn line per failed upstream attempt; content only at debug.

    Fields: id, route, method, stream, provider, model, key (the key's name, never its value), status,
    latency_ms, upstream_ms, ttft_ms, tokens_in, tokens_out, retries, fallback (index), cost, and for
    errors error_type and error; virtual_key (its id, never its value) when governance identified one.
    """
    if _access.isEnabledFor(logging.INFO):
        fields: dict[str, Any] = {
            "id": rec.request_id,
            "route": rec.route,
            "method": rec.method,
            "stream": rec.stream,
            "provider": rec.provider,
            "model": rec.model or rec.model_requested,
            "key": rec.key_name,
            "status": rec.status,
            "latency_ms": round(rec.latency_s * 1000, 2),
            "upstream_ms": round(rec.upstream_s * 1000, 2),
            "ttft_ms": None if rec.ttft_s is None else round(rec.ttft_s * 1000, 2),
            "tokens_in": rec.prompt_tokens,
            "tokens_out": rec.completion_tokens,
            "retries": rec.retries,
            "fallback": rec.fallback_index,
        }
        if rec.virtual_key is not None:
            fields["virtual_key"] = rec.virtual_key
        if cost is not None:
            fields["cost"] = round(cost, 8)
        if rec.status >= 400:
            fields["error_type"] = rec.error_type
            fields["error"] = rec.error_message
        _emit(_access, logging.INFO, "request", fields)
    if rec.attempts and _upstream.isEnabledFor(logging.WARNING):
        for a in rec.attempts:
            if a.status >= 400 or a.error:
                attempt = {
                    "id": rec.request_id,
                    "provider": a.provider,
                    "model": a.model,
                    "key": a.key_name,
                    "status": a.status,
                    "error": a.error,
                    "latency_ms": round(a.latency_s * 1000, 2),
                }
                _emit(_upstream, logging.WARNING, "upstream error", attempt)
    has_content = rec.request_body is not None or rec.response_content is not None
    if content and has_content and _access.isEnabledFor(logging.DEBUG):
        body = {
            "id": rec.request_id,
            "request": _content(rec.request_body),
            "response": _content(rec.response_content),
        }
        _emit(_access, logging.DEBUG, "request content", body)
