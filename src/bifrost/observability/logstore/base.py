"""The request log store: protocol, filters, row shape and the SQL both backends share."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import orjson

from bifrost.core.secrets import clean_text
from bifrost.observability.logging import redact
from bifrost.observability.logstore.crashcount import ACCEPTED, SETTLED, CrashCounter, CrashLoss, unmapped
from bifrost.observability.logstore.writer import BatchWriter
from bifrost.observability.record import RequestRecord

if TYPE_CHECKING:
    from bifrost.observability.metrics import Metrics

log = logging.getLogger("bifrost.logstore")

TABLE = "request_logs"
COLUMNS = (
    "request_id",
    "ts",
    "route",
    "method",
    "stream",
    "model_requested",
    "provider",
    "model",
    "key_name",
    "status",
    "latency_ms",
    "upstream_ms",
    "ttft_ms",
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "cost",
    "retries",
    "fallback_index",
    "error_type",
    "error_message",
    "attempts",
    "prom_labels",
    "request_body",
    "response_content",
    "virtual_key",
)
DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
MAX_OFFSET = 10**12
LIST_CONTENT_CHARS = 2000  # list views show this much of a prompt/answer; GET /api/logs/{id} shows it all
PAGE_ROWS = 100  # a list answer is fetched and written this many rows at a time
CONTENT_COLUMNS = ("request_body", "response_content")
_LIST_COLUMNS = ", ".join(
    f"substr({c}, 1, {LIST_CONTENT_CHARS + 1}) AS {c}" if c in CONTENT_COLUMNS else c for c in COLUMNS
)
CONTENT_MAX_CHARS = 262_144  # per field; longer content is cut and marked
RETENTION_INTERVAL_S = 3600.0
T = TypeVar("T")
Placeholder = Callable[[int], str]  # 1-based parameter index -> "?" (sqlite) or "$n" (postgres)


@runtime_checkable
class LogStore(Protocol):
    async def start(self) -> None: ...
    async def stop(self) -> None: ...  # flushes what is queued (bounded wait)
    def submit(self, rec: RequestRecord, cost: float) -> None: ...  # never blocks, never raises
    async def flush(self) -> None: ...
    async def query(self, filters: LogFilters) -> dict[str, Any]: ...
    async def count(self, filters: LogFilters) -> int: ...
    def pages(self, filters: LogFilters) -> AsyncIterator[list[dict[str, Any]]]: ...
    def json_pages(self, filters: LogFilters) -> AsyncIterator[tuple[int, bytes]]: ...
    async def get(self, request_id: str) -> dict[str, Any] | None: ...
    async def stats(self, filters: LogFilters) -> dict[str, Any]: ...


class FilterError(ValueError):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


def _parse_time(param: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    text = value.strip()
    # an unescaped "+" in a query string arrives as a space: "...T10:00:00 02:00" means "+02:00"
    for candidate in (text, text[:10] + text[10:].replace(" ", "+")):
        try:
            parsed = datetime.fromisoformat(candidate)
            break
        except ValueError:
            continue
    else:
        raise FilterError(param, f"{param}: expected unix seconds or an ISO 8601 time, got {value!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _parse_int(param: str, value: str, low: int, high: int | None = None) -> int:
    if len(value) > 20:
        raise FilterError(param, f"{param}: expected an integer of at most 20 digits")
    try:
        number = int(value)
    except ValueError:
        raise FilterError(param, f"{param}: expected an integer, got {value!r}") from None
    if number < low or (high is not None and number > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise FilterError(param, f"{param}: must be {bound}, got {number}")
    return number


@dataclass(slots=True)
class LogFilters:
    """Query filters. ``status``: an exact HTTP code; ``outcome``: "error" (>= 400) or "success" (< 400)."""

    start: float | None = None
    end: float | None = None
    provider: str | None = None
    model: str | None = None
    virtual_key: str | None = None
    status: int | None = None
    outcome: str | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> LogFilters:
        """From query parameters: start, end, provider, model, virtual_key, status, limit, offset. Raises
        FilterError."""
        f = cls()
        if params.get("start"):
            f.start = _parse_time("start", params["start"])
        if params.get("end"):
            f.end = _parse_time("end", params["end"])
        if f.start is not None and f.end is not None and f.end < f.start:
            raise FilterError("end", "end: must not be before start")
        f.provider = params.get("provider") or None
        f.model = params.get("model") or None
        f.virtual_key = params.get("virtual_key") or None
        status = (params.get("status") or "").strip().lower()
        if status in ("error", "success"):
            f.outcome = status
        elif status:
            f.status = _parse_int("status", status, 100, 599)
        if params.get("limit"):
            f.limit = _parse_int("limit", params["limit"], 1, MAX_LIMIT)
        if params.get("offset"):
            f.offset = _parse_int("offset", params["offset"], 0, MAX_OFFSET)
        return f

    def where(self, ph: Placeholder) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        args: list[Any] = []

        def add(sql: str, value: Any) -> None:
            args.append(value)
            clauses.append(sql.format(ph(len(args))))

        if self.start is not None:
            add("ts >= {}", self.start)
        if self.end is not None:
            add("ts <= {}", self.end)
        if self.provider is not None:
            add("provider = {}", self.provider)
        if self.model is not None:
            add("model = {}", self.model)
        if self.virtual_key is not None:
            add("virtual_key = {}", self.virtual_key)
        if self.status is not None:
            add("status = {}", self.status)
        if self.outcome == "error":
            clauses.append("status >= 400")
        elif self.outcome == "success":
            clauses.append("status < 400")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


# ---- rows ------------------------------------------------------------------------------------------------
# Rows are made safe when they are built: every text field is a string (a client's `"model": {"a": 1}` is
# stored as its JSON), cleaned (invalid UTF-8 and control characters replaced: SQLite and PostgreSQL both
# refuse them) and scrubbed of secrets; every number is a number. A row that still cannot be built is
# dropped alone and counted (reason "bad_record").
TEXT_MAX_CHARS = 1024  # identifiers, model names, error types: longer is a client's doing


def _text(value: Any, limit: int = TEXT_MAX_CHARS) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        try:
            value = orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
        except (TypeError, orjson.JSONEncodeError):
            value = str(value)
    text = redact(clean_text(value))
    if len(text) > limit:
        text = text[:limit] + f"...[truncated {len(text) - limit} chars]"
    return text


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0


def _num(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return number if math.isfinite(number) else 0.0


def _dump(value: Any) -> str | None:
    return _text(value, CONTENT_MAX_CHARS)


def _json_text(value: Any) -> str | None:
    """A JSON column (attempts, labels) from already-cleaned values."""
    return orjson.dumps(value, default=str).decode() if value else None


def to_row(rec: RequestRecord, cost: float, include_content: bool) -> tuple[Any, ...]:
    """One record as a tuple in COLUMNS order (safe and scrubbed; runs in the writer, off the hot path)."""
    attempts = [
        {
            "provider": _text(a.provider),
            "model": _text(a.model),
            "key_name": _text(a.key_name),
            "status": _int(a.status),
            "error": _text(a.error, CONTENT_MAX_CHARS),
            "latency_ms": round(_num(a.latency_s) * 1000, 3),
        }
        for a in rec.attempts
    ]
    labels = {_text(k): _text(v) for k, v in rec.prom_labels.items()} if rec.prom_labels else None
    return (
        _text(rec.request_id) or "",
        _num(rec.started_at),
        _text(rec.route),
        _text(rec.method),
        bool(rec.stream),
        _text(rec.model_requested),
        _text(rec.provider),
        _text(rec.model or rec.model_requested),
        _text(rec.key_name),
        _int(rec.status),
        _num(rec.latency_s) * 1000,
        _num(rec.upstream_s) * 1000,
        None if rec.ttft_s is None else _num(rec.ttft_s) * 1000,
        _int(rec.prompt_tokens),
        _int(rec.completion_tokens),
        _int(rec.cached_tokens),
        _num(cost),
        _int(rec.retries),
        _int(rec.fallback_index),
        _text(rec.error_type),
        _text(rec.error_message, CONTENT_MAX_CHARS),
        _json_text(attempts),
        _json_text(labels),
        _dump(rec.request_body) if include_content else None,
        _dump(rec.response_content) if include_content else None,
        _text(rec.virtual_key),
    )


def safe_rows(items: list[tuple[RequestRecord, float]], include_content: bool) -> tuple[list[tuple[Any, ...]], int]:
    """The rows of a batch, and how many records could not be made into a row (dropped alone)."""
    rows: list[tuple[Any, ...]] = []
    bad = 0
    for rec, cost in items:
        try:
            rows.append(to_row(rec, cost, include_content))
        except Exception:
            bad += 1
    return rows, bad


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _preview(text: str | None, parse: bool) -> tuple[Any, bool]:
    """A list view's content: (value, truncated). Cut content is shown as text, never half-parsed."""
    if text is None:
        return None, False
    if len(text) > LIST_CONTENT_CHARS:
        return text[:LIST_CONTENT_CHARS], True
    return (_loads(text) if parse else text), False


def _page(
    render: Callable[[list[Mapping[str, Any]]], T], rows: list[Mapping[str, Any]]
) -> tuple[int, tuple[float, int] | None, T]:
    """(rows fetched, (ts, seq) of the last one, the rendered page)."""
    last = (float(rows[-1]["ts"]), int(rows[-1]["seq"])) if rows else None
    return len(rows), last, render(rows)


def _dict_page(rows: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [row_to_dict(r, list_view=True) for r in rows]


def _json_page(rows: list[Mapping[str, Any]]) -> tuple[int, bytes]:
    return len(rows), b",".join(orjson.dumps(row_to_dict(r, list_view=True), default=str) for r in rows)


def row_to_dict(row: Mapping[str, Any], list_view: bool = False) -> dict[str, Any]:
    """A stored row as the API shows it. `list_view`: content cut to LIST_CONTENT_CHARS (then
    ``content_truncated`` is true and the full record is at GET /api/logs/{id})."""
    if list_view:
        body, cut_body = _preview(row["request_body"], parse=True)
        answer, cut_answer = _preview(row["response_content"], parse=False)
    else:
        body, answer, cut_body, cut_answer = _loads(row["request_body"]), row["response_content"], False, False
    ts = float(row["ts"])
    return {
        "id": row["request_id"],
        "timestamp": ts,
        "time": datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "route": row["route"],
        "method": row["method"],
        "stream": bool(row["stream"]),
        "model_requested": row["model_requested"],
        "provider": row["provider"],
        "model": row["model"],
        "key_name": row["key_name"],
        "virtual_key": row["virtual_key"],
        "status": row["status"],
        "latency_ms": row["latency_ms"],
        "upstream_ms": row["upstream_ms"],
        "ttft_ms": row["ttft_ms"],
        "prompt_tokens": row["prompt_tokens"],
        "completion_tokens": row["completion_tokens"],
        "cached_tokens": row["cached_tokens"],
        "cost": row["cost"],
        "retries": row["retries"],
        "fallback_index": row["fallback_index"],
        "error_type": row["error_type"],
        "error_message": row["error_message"],
        "attempts": _loads(row["attempts"]) or [],
        "prom_labels": _loads(row["prom_labels"]) or {},
        "request_body": body,
        "response_content": answer,
        "content_truncated": cut_body or cut_answer,
    }


# ---- stats SQL (identical on both backends: nearest-rank percentiles via window functions) --------------
_AGG = (
    "SELECT provider, model, COUNT(*) AS total,"
    " COALESCE(SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), 0) AS errors,"
    " COALESCE(SUM(prompt_tokens), 0) AS tokens_in, COALESCE(SUM(completion_tokens), 0) AS tokens_out,"
    " COALESCE(SUM(cost), 0) AS cost FROM " + TABLE + "{where} GROUP BY provider, model"
)
_PCT = (
    "WITH r AS (SELECT {cols} latency_ms,"
    " ROW_NUMBER() OVER ({part} ORDER BY latency_ms) AS rn, COUNT(*) OVER ({part_only}) AS n"
    " FROM " + TABLE + "{where})"
    " SELECT {cols} MAX(CASE WHEN rn = (50 * n + 99) / 100 THEN latency_ms END) AS p50,"
    " MAX(CASE WHEN rn = (99 * n + 99) / 100 THEN latency_ms END) AS p99 FROM r {group}"
)


def stats_sql(where: str) -> tuple[str, str, str]:
    """(aggregates by provider/model, percentiles by provider/model, overall percentiles)."""
    by = "PARTITION BY provider, model"
    grouped = _PCT.format(cols="provider, model,", part=by, part_only=by, where=where, group="GROUP BY provider, model")
    overall = _PCT.format(cols="", part="", part_only="", where=where, group="")
    return _AGG.format(where=where), grouped, overall


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _summary(total: int, errors: int, p50: Any, p99: Any, tin: int, tout: int, cost: float) -> dict[str, Any]:
    return {
        "total": total,
        "errors": errors,
        "error_rate": (errors / total) if total else 0.0,
        "latency_ms": {"p50": _float(p50), "p99": _float(p99)},
        "tokens": {"input": tin, "output": tout},
        "cost": cost,
    }


def build_stats(
    agg: list[Mapping[str, Any]], pct: list[Mapping[str, Any]], overall: Mapping[str, Any] | None
) -> dict[str, Any]:
    pcts = {(r["provider"], r["model"]): (r["p50"], r["p99"]) for r in pct}
    groups = []
    total = errors = tin = tout = 0
    cost = 0.0
    for r in agg:
        g_total, g_err = int(r["total"]), int(r["errors"])
        g_in, g_out, g_cost = int(r["tokens_in"]), int(r["tokens_out"]), float(r["cost"])
        total, errors, tin, tout = total + g_total, errors + g_err, tin + g_in, tout + g_out
        cost += g_cost
        p50, p99 = pcts.get((r["provider"], r["model"]), (None, None))
        groups.append(
            {
                "provider": r["provider"],
                "model": r["model"],
                **_summary(g_total, g_err, p50, p99, g_in, g_out, g_cost),
            }
        )
    groups.sort(key=lambda g: (-g["total"], g["provider"] or "", g["model"] or ""))
    p50 = overall["p50"] if overall else None
    p99 = overall["p99"] if overall else None
    return {**_summary(total, errors, p50, p99, tin, tout, cost), "by_provider_model": groups}


# ---- shared store behaviour ------------------------------------------------------------------------------
class BaseLogStore(abc.ABC):
    """Queueing, batching, retention and the query/stats logic; backends supply the SQL plumbing."""

    placeholder: Placeholder

    def __init__(
        self,
        *,
        retention_days: int = 30,
        include_content: bool = True,
        metrics: Metrics | None = None,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval: float = 0.5,
        write_timeout: float = 30.0,
        stop_timeout: float = 5.0,
        crash_base: str | None = None,
    ) -> None:
        self.retention_days = retention_days
        self.include_content = include_content
        self.writer = BatchWriter(
            self._insert,
            metrics=metrics,
            max_queue=queue_size,
            batch_size=batch_size,
            flush_interval=flush_interval,
            write_timeout=write_timeout,
            stop_timeout=stop_timeout,
        )
        self._retention_task: asyncio.Task[None] | None = None
        self.crash_counter = CrashCounter(crash_base) if crash_base else None

    # backends
    @abc.abstractmethod
    async def _open(self) -> None: ...

    @abc.abstractmethod
    async def _close(self) -> None: ...

    @abc.abstractmethod
    async def _insert(self, items: list[tuple[RequestRecord, float]]) -> int:
        """Write a batch; a batch the store refuses is written row by row. Returns the rows dropped."""

    @abc.abstractmethod
    async def _fetch(self, sql: str, args: list[Any]) -> list[Mapping[str, Any]]: ...

    @abc.abstractmethod
    async def _fetch_converted(self, sql: str, args: list[Any], convert: Callable[[list[Mapping[str, Any]]], T]) -> T:
        """`convert` applied to the rows off the event loop, in the store's one reader thread: a list answer's
        rows are made into dicts and JSON there, so admin reads, however many arrive, take one thread's
        turns at the interpreter and never hold the loop for a page."""

    @abc.abstractmethod
    async def _delete_before(self, cutoff: float) -> int: ...

    # lifecycle
    async def start(self) -> None:
        await self._open()
        if self.crash_counter is not None:
            self._count_crashes(self.crash_counter, await asyncio.to_thread(self.crash_counter.open))
        await self._retention_once()
        self.writer.start()
        self._retention_task = asyncio.create_task(self._retention_loop(), name="bifrost-logstore-retention")

    async def stop(self) -> None:
        if self._retention_task is not None:
            self._retention_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._retention_task
            self._retention_task = None
        await self.writer.stop()
        if self.crash_counter is not None:
            self.writer.counts = unmapped()  # let go of the mapping before it is closed
            self.crash_counter.close()
        await self._close()

    def _count_crashes(self, counter: CrashCounter, losses: list[CrashLoss]) -> None:
        """Count what killed processes of this log lost (see crashcount), then map this process's counters."""
        interval_ms = round(self.writer.flush_interval * 1000)
        for loss in losses:
            fields = {"pid": loss.pid, "lost": loss.lost, "flush_interval_ms": interval_ms}
            if loss.lost is None:
                log.warning("a previous bifrost process ended without a clean shutdown: how many request log "
                            "records it lost cannot be known", extra={"fields": fields})
                continue
            log.warning("a previous bifrost process ended without a clean shutdown: %d request log records "
                        "were lost", loss.lost, extra={"fields": fields})
            self.writer.count_crash(loss.lost)
        if counter.counts is not None:
            counter.counts[ACCEPTED] = self.writer.counts[ACCEPTED]  # records queued before start (if any)
            counter.counts[SETTLED] = self.writer.counts[SETTLED]
            self.writer.counts = counter.counts

    def submit(self, rec: RequestRecord, cost: float) -> None:
        self.writer.submit(rec, cost)

    async def flush(self) -> None:
        await self.writer.flush()

    @property
    def dropped(self) -> int:
        return self.writer.dropped

    # retention
    async def apply_retention(self, now: float | None = None) -> int:
        """Delete rows older than retention_days (0 or less: keep forever). Returns rows deleted."""
        if self.retention_days <= 0:
            return 0
        cutoff = (time.time() if now is None else now) - self.retention_days * 86400
        return await self._delete_before(cutoff)

    async def _retention_once(self) -> None:
        try:
            deleted = await self.apply_retention()
            if deleted:
                log.info(
                    "logs store retention",
                    extra={"fields": {"deleted": deleted, "days": self.retention_days}},
                )
        except Exception as exc:
            log.warning("logs store retention failed", extra={"fields": {"error": str(exc)}})

    async def _retention_loop(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_INTERVAL_S)
            await self._retention_once()

    # reads
    async def count(self, filters: LogFilters) -> int:
        where, args = filters.where(self.placeholder)
        count = await self._fetch(f"SELECT COUNT(*) AS total FROM {TABLE}{where}", args)
        return int(count[0]["total"]) if count else 0

    def pages(self, filters: LogFilters) -> AsyncIterator[list[dict[str, Any]]]:
        """The list view's rows as dicts, newest first, PAGE_ROWS at a time (content cut to LIST_CONTENT_CHARS)."""
        return self._pages(filters, _dict_page)

    def json_pages(self, filters: LogFilters) -> AsyncIterator[tuple[int, bytes]]:
        """The list view as the HTTP answer writes it: (rows, the rows as JSON objects joined by commas)."""
        return self._pages(filters, _json_page)

    async def _pages(self, filters: LogFilters, render: Callable[[list[Mapping[str, Any]]], T]) -> AsyncIterator[T]:
        """After the first page the next one starts below the last row seen (ts, seq), so rows written
        meanwhile neither repeat nor shift the window."""
        where, args = filters.where(self.placeholder)
        left = filters.limit
        after: tuple[float, int] | None = None
        while left > 0:
            n = min(PAGE_ROWS, left)
            page_args = list(args)
            clause = where
            if after is not None:
                page_args += [after[0], after[0], after[1]]
                i = len(page_args)
                keyset = (
                    f"(ts < {self.placeholder(i - 2)} OR (ts = {self.placeholder(i - 1)}"
                    f" AND seq < {self.placeholder(i)}))"
                )
                clause = f"{where} AND {keyset}" if where else f" WHERE {keyset}"
            offset = filters.offset if after is None else 0
            page_args += [n, offset]
            i = len(page_args)
            sql = (
                f"SELECT seq, {_LIST_COLUMNS} FROM {TABLE}{clause} ORDER BY ts DESC, seq DESC"
                f" LIMIT {self.placeholder(i - 1)} OFFSET {self.placeholder(i)}"
            )
            got, last, page = await self._fetch_converted(sql, page_args, functools.partial(_page, render))
            if not got:
                return
            after = last
            yield page
            if got < n:
                return
            left -= n

    async def query(self, filters: LogFilters) -> dict[str, Any]:
        """The list view as one dict (the HTTP route streams `pages` instead)."""
        total = await self.count(filters)
        logs = [row async for page in self.pages(filters) for row in page]
        return {
            "logs": logs,
            "total": total,
            "limit": filters.limit,
            "offset": filters.offset,
            "has_more": filters.offset + len(logs) < total,
        }

    async def get(self, request_id: str) -> dict[str, Any] | None:
        """The newest full record with this request id (content as stored), or None."""
        sql = (
            f"SELECT {', '.join(COLUMNS)} FROM {TABLE} WHERE request_id = {self.placeholder(1)}"
            " ORDER BY ts DESC, seq DESC LIMIT 1"
        )
        rows = await self._fetch(sql, [request_id])
        return row_to_dict(rows[0]) if rows else None

    async def stats(self, filters: LogFilters) -> dict[str, Any]:
        where, args = filters.where(self.placeholder)
        agg_sql, pct_sql, overall_sql = stats_sql(where)
        agg = await self._fetch(agg_sql, args)
        pct = await self._fetch(pct_sql, args)
        overall = await self._fetch(overall_sql, args)
        result = build_stats(agg, pct, overall[0] if overall else None)
        result["filters"] = {
            "start": filters.start,
            "end": filters.end,
            "provider": filters.provider,
            "model": filters.model,
            "status": filters.status or filters.outcome,
        }
        return result
