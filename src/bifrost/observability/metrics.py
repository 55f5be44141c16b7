"""Prometheus metrics with the original Bifrost's names (CONTRACT §7), built once at start-up.

Labels
------
* ``http_requests_total`` / ``http_request_duration_seconds``: ``path, method, status`` + custom labels, as
  Bifrost does. ``path`` is the canonical route template (``/v1/chat/completions``,
  ``/anthropic/v1/messages``, ``/genai/v1beta/models/{model}:generateContent``, ...) derived from the record's
  route and method, never the raw URL (bounded cardinality; ``/openai/...`` aliases count under ``/v1/...``);
  ``method`` is the HTTP method; ``status`` the status the request ended with: the HTTP status sent to the
  client, except that a stream which broke (or whose client left) after it started counts with its error's
  status (``502``, ``499``, ...) although its response line said 200.
* Request-level ``bifrost_*`` metrics (upstream requests, upstream latency, success, error, tokens, cost,
  first-token and inter-token latency, overhead, retries, fallbacks): ``provider, model, method`` + custom
  labels; ``bifrost_error_requests_total`` adds ``status_code`` (after ``method``, before custom labels).
  ``method`` is Bifrost's request type (``chat``, ``text``, ``embedding``, ``messages``, ...);
  ``provider`` and ``model`` are who answered (or the last one tried). They count requests that were
  routed to a provider (``rec.provider`` set), including ones the gateway itself refused after routing
  (rate limit, budget, queue full); requests refused before routing (bad JSON, unknown model, auth)
  appear only in ``http_*``.
  ``bifrost_success_requests_total + bifrost_error_requests_total == bifrost_upstream_requests_total``.
  ``bifrost_upstream_latency_seconds`` observes the time spent waiting on upstream calls, once per request
  that made at least one upstream attempt. ``bifrost_stream_inter_token_latency_seconds`` gets one
  observation per stream of two chunks or more: the mean gap between consecutive chunks.
  ``bifrost_overhead_latency_seconds`` is total time in the gateway minus time waiting on upstream.
  ``bifrost_retries_total`` adds the request's retry count; ``bifrost_fallbacks_total`` counts requests
  answered by a fallback (labelled with the fallback that answered).
* ``bifrost_active_requests{method}``, ``bifrost_queue_depth{provider}``,
  ``bifrost_rate_limited_total{provider, reason}``, ``bifrost_mcp_tool_calls_total{client, tool, status}``
  (status ``success``/``error``) and ``bifrost_logstore_dropped_total{reason}`` carry no custom labels.

Custom labels (``client.prometheus_labels``), valued from ``x-bf-prom-LABEL`` headers via
``RequestRecord.prom_labels`` (keyed by the configured name). Names are sanitised to Prometheus label names
(``team-id`` becomes ``team_id``); names that clash with a built-in label are ignored. Bounded cardinality
rule: a value is cleaned (control characters, invalid UTF-8 and secret runs replaced), cut to 64
characters, a missing header gives ``""``, and each label accepts at most 100 distinct values per process,
after which new values are recorded as ``"other"``. The ``model`` label follows the same rule with 1,000
values (clients may send arbitrary model names).

Series bound: the per-label caps do not bound their product, so each metric family also holds at most
``MAX_SERIES_PER_FAMILY`` label combinations. Past that, a new combination keeps its bounded labels
(provider, method, path, status) and records ``"other"`` for model and custom labels;
``bifrost_metrics_series_folded_total{family}`` counts the requests folded that way.

Multiprocess: when ``PROMETHEUS_MULTIPROC_DIR`` is set *before prometheus_client is first imported* (the
``--workers`` launcher does this before forking), values live in per-process files in that directory and
:meth:`Metrics.render` aggregates every worker's files with ``MultiProcessCollector``; gauges use ``livesum``.
The launcher should call :func:`mark_process_dead` for a worker that exits.
"""

from __future__ import annotations

import os
import re
from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as _mp
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

from bifrost.core.secrets import clean_text, scrub
from bifrost.observability.exposition import Exposition
from bifrost.observability.record import RequestRecord

_MP_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_LABELS = ("path", "method", "status")
BIFROST_LABELS = ("provider", "model", "method")
_RESERVED = frozenset({*HTTP_LABELS, *BIFROST_LABELS, "status_code", "reason", "client", "tool", "le"})

CUSTOM_VALUE_MAX_LEN = 64
MAX_SERIES_PER_FAMILY = 400  # a full scrape renders in about 0.1 s at this bound (bench/metrics_scrape.py)
CUSTOM_VALUE_MAX_DISTINCT = 100
MODEL_MAX_DISTINCT = 1000
OVERFLOW_VALUE = "other"

# LLM calls take seconds to minutes: extended buckets (the original Bifrost's upstream buckets).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30, 45, 60, 90)
FIRST_TOKEN_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30)
INTER_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.25, 0.5, 1)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)

_PATHS = {
    ("openai", "chat"): "/v1/chat/completions",
    ("openai", "text"): "/v1/completions",
    ("openai", "embedding"): "/v1/embeddings",
    ("openai", "list_models"): "/v1/models",
    ("openai", "responses"): "/v1/responses",
    ("anthropic", "messages"): "/anthropic/v1/messages",
    ("anthropic", "chat"): "/anthropic/v1/messages",
    ("anthropic", "count_tokens"): "/anthropic/v1/messages/count_tokens",
}
_GENAI_PATH = "/genai/v1beta/models/{model}:generateContent"
_GENAI_STREAM_PATH = "/genai/v1beta/models/{model}:streamGenerateContent"
# one label-child cache per metric (key: the label values)
_CACHES: tuple[str, ...] = ("http", "upstream", "uplat", "ok", "err", "in", "out", "cost", "ttft", "itl")
_CACHES += ("overhead", "retries", "fallbacks", "active", "queue", "rl", "mcp", "mcplat", "dropped")
_LABEL_NAME_BAD = re.compile(r"[^a-zA-Z0-9_]")
# families sharing one label set ("req": every provider/model/method metric) and the labels a fold keeps
_FAMILY_KINDS = ("http", "req", "err")
_KEEP = {"http": 3, "req": 1, "err": 1}  # leading labels kept as they are
_KEEP_ALSO = {"req": (2,), "err": (2, 3), "http": ()}  # method (and status_code) kept too


def _fold(kind: str, key: tuple[str, ...]) -> tuple[str, ...]:
    keep, also = _KEEP[kind], _KEEP_ALSO[kind]
    return tuple(v if i < keep or i in also else OVERFLOW_VALUE for i, v in enumerate(key))


def multiprocess_dir() -> str | None:
    """The multiprocess directory, when metrics are shared across worker processes."""
    return os.environ.get(_MP_ENV) or None


def mark_process_dead(pid: int) -> None:
    """Forget a dead worker's live gauges (active requests, queue depth). No-op in single-process mode."""
    path = multiprocess_dir()
    if path:
        _mp.mark_process_dead(pid, path)


def sanitize_label_name(name: str) -> str:
    """``team-id`` -> ``team_id``; a leading digit gets an underscore."""
    out = _LABEL_NAME_BAD.sub("_", name.strip())
    if not out or out[0].isdigit():
        out = "_" + out
    return out


def route_path(route: str, method: str, stream: bool) -> str:
    """Canonical path template for the http_* ``path`` label (bounded: never the raw URL)."""
    if route == "genai":
        return _GENAI_STREAM_PATH if stream else _GENAI_PATH
    return _PATHS.get((route, method)) or f"/{route}/{method}"


class _Bounded:
    """Caps a label's distinct values: beyond ``limit`` new values map to ``"other"``."""

    __slots__ = ("limit", "max_len", "seen")

    def __init__(self, limit: int, max_len: int = CUSTOM_VALUE_MAX_LEN) -> None:
        self.limit = limit
        self.max_len = max_len
        self.seen: set[str] = set()

    def __call__(self, value: object) -> str:
        if not value:
            return ""
        if not isinstance(value, str):
            value = str(value)  # a client's non-string model name
        if value in self.seen:
            return value
        # a new value: made printable, valid UTF-8 and secret-free before Prometheus ever sees it
        value = scrub(clean_text(value[: self.max_len * 4]))[: self.max_len]
        if value in self.seen:
            return value
        if len(self.seen) >= self.limit:
            return OVERFLOW_VALUE
        self.seen.add(value)
        return value


# layout of a deferred per-request accumulator (see Metrics._observe_deferred); +1 bucket each for +Inf
_UPLAT = 15
_OVERHEAD = _UPLAT + len(LATENCY_BUCKETS) + 1
_TTFT = _OVERHEAD + len(OVERHEAD_BUCKETS) + 1
_ITL = _TTFT + len(FIRST_TOKEN_BUCKETS) + 1
_REQ_SIZE = _ITL + len(INTER_TOKEN_BUCKETS) + 1


def _add_histogram(child: Any, count: int, total: float, buckets: list[int]) -> None:
    """Add pre-bucketed observations to a prometheus_client Histogram child (its own per-bucket values)."""
    for i, n in enumerate(buckets):
        if n:
            child._buckets[i].inc(n)
    child._sum.inc(total)


def _child(cache: dict[tuple[str, ...], Any], metric: Any, key: tuple[str, ...]) -> Any:
    child = cache.get(key)
    if child is None:
        child = cache[key] = metric.labels(*key)
    return child


class Metrics:
    """All metric objects plus the fast recording methods the request path calls."""

    def __init__(
        self,
        prometheus_labels: Sequence[str] = (),
        *,
        registry: CollectorRegistry | None = None,
        max_series: int = MAX_SERIES_PER_FAMILY,
    ):
        names: dict[str, str] = {}  # sanitized label name -> configured name (header suffix)
        for configured in prometheus_labels:
            label = sanitize_label_name(configured)
            if label not in _RESERVED and label not in names:
                names[label] = configured
        self.custom_labels: tuple[str, ...] = tuple(names)
        self._custom_keys: tuple[str, ...] = tuple(names.values())
        self._custom_bounds = tuple(_Bounded(CUSTOM_VALUE_MAX_DISTINCT) for _ in names)
        self._model_bound = _Bounded(MODEL_MAX_DISTINCT, max_len=128)
        self.multiprocess = multiprocess_dir() is not None
        own: list[Any] | None = None  # a registry of our own: its collectors, in registration order
        if registry is None and not self.multiprocess:
            registry = CollectorRegistry()
            # Process/platform/GC collectors describe one process only: single-process mode only.
            from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR

            own = [PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR]
            for collector in own:
                registry.register(collector)
        self.registry = registry
        self._build(registry)
        self._exposition: Exposition | None = None
        if own is not None:
            families = [v for v in vars(self).values() if isinstance(v, Counter | Gauge | Histogram)]
            self._exposition = Exposition([*own, *families])
        self._caches: dict[str, dict[tuple[str, ...], Any]] = {name: {} for name in _CACHES}
        # Single process: the request path only adds to plain accumulators (a few list additions and a
        # bisect); they are moved into the prometheus_client objects when /metrics is scraped. Several
        # workers: values must live in the shared files at once, so the path records directly.
        self._pending: dict[tuple[Any, ...], list[Any]] = {}
        self.max_series = max_series
        self._series: dict[str, set[tuple[str, ...]]] = {kind: set() for kind in _FAMILY_KINDS}
        self._folded: dict[str, int] = {}
        self._active_pending: dict[str, int] = {}
        if not self.multiprocess:
            self.observe = self._observe_deferred  # type: ignore[method-assign]
            self.request_started = self._started_deferred  # type: ignore[method-assign]
            self.request_finished = self._finished_deferred  # type: ignore[method-assign]

    # ---- construction -------------------------------------------------------------------------------------
    def _build(self, registry: CollectorRegistry | None) -> None:
        custom = self.custom_labels
        http = (*HTTP_LABELS, *custom)
        base = (*BIFROST_LABELS, *custom)
        err = (*BIFROST_LABELS, "status_code", *custom)
        r = registry
        self.http_requests = Counter("http_requests_total", "Total number of HTTP requests.", http, registry=r)
        self.http_duration = Histogram(
            "http_request_duration_seconds",
            "Duration of HTTP requests.",
            http,
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.upstream_requests = Counter(
            "bifrost_upstream_requests_total",
            "Total number of requests forwarded to upstream providers by Bifrost.",
            base,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "bifrost_upstream_latency_seconds",
            "Latency of requests forwarded to upstream providers by Bifrost.",
            base,
            registry=r,
            buckets=LATENCY_BUCKETS,
        )
        self.success_requests = Counter(
            "bifrost_success_requests_total",
            "Total number of successful requests forwarded to upstream providers by Bifrost.",
            base,
            registry=r,
        )
        self.error_requests = Counter(
            "bifrost_error_requests_total",
            "Total number of error requests forwarded to upstream providers by Bifrost.",
            err,
            registry=r,
        )
        self.input_tokens = Counter(
            "bifrost_input_tokens_total",
            "Total number of input tokens forwarded to upstream providers.",
            base,
            registry=r,
        )
        self.output_tokens = Counter(
            "bifrost_output_tokens_total",
            "Total number of output tokens returned by upstream providers.",
            base,
            registry=r,
        )
        self.cost = Counter(
            "bifrost_cost_total",
            "Total cost in USD for requests to upstream providers.",
            base,
            registry=r,
        )
        self.first_token = Histogram(
            "bifrost_stream_first_token_latency_seconds",
            "Latency of the first token of a stream response.",
            base,
            registry=r,
            buckets=FIRST_TOKEN_BUCKETS,
        )
        self.inter_token = Histogram(
            "bifrost_stream_inter_token_latency_seconds",
            "Latency of the intermediate tokens of a stream response (mean gap per stream).",
            base,
            registry=r,
            buckets=INTER_TOKEN_BUCKETS,
        )
        self.overhead = Histogram(
            "bifrost_overhead_latency_seconds",
            "Time spent in the gateway itself: total request time minus time waiting on upstream.",
            base,
            registry=r,
            buckets=OVERHEAD_BUCKETS,
        )
        self.retries = Counter("bifrost_retries_total", "Upstream retries.", base, registry=r)
        self.fallbacks = Counter("bifrost_fallbacks_total", "Requests answered by a fallback target.", base, registry=r)
        self.active = Gauge(
            "bifrost_active_requests",
            "Requests in flight.",
            ("method",),
            registry=r,
            multiprocess_mode="livesum",
        )
        self.queue = Gauge(
            "bifrost_queue_depth",
            "Requests waiting for a provider concurrency slot.",
            ("provider",),
            registry=r,
            multiprocess_mode="livesum",
        )
        self.rate_limited_total = Counter(
            "bifrost_rate_limited_total",
            "Requests refused by a rate limit or a full queue.",
            ("provider", "reason"),
            registry=r,
        )
        self.mcp_calls = Counter(
            "bifrost_mcp_tool_calls_total", "MCP tool executions.", ("client", "tool", "status"), registry=r
        )
        self.mcp_latency = Histogram(
            "bifrost_mcp_tool_latency_seconds",
            "MCP tool execution time.",
            ("client", "tool"),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.series_folded_total = Counter(
            "bifrost_metrics_series_folded_total",
            "Requests recorded under model/label value 'other' because their metric family reached "
            "its bound of label combinations.",
            ("family",),
            registry=r,
        )
        self.logstore_dropped_total = Counter(
            "bifrost_logstore_dropped_total",
            "Request log records dropped (queue full or store failing).",
            ("reason",),
            registry=r,
        )

    # ---- request-path calls -------------------------------------------------------------------------------
    def request_started(self, method: str) -> None:
        _child(self._caches["active"], self.active, (method,)).inc()

    def request_finished(self, method: str) -> None:
        _child(self._caches["active"], self.active, (method,)).dec()

    def queue_depth(self, provider: str, n: int) -> None:
        _child(self._caches["queue"], self.queue, (provider,)).set(n)

    def rate_limited(self, provider: str, reason: str) -> None:
        _child(self._caches["rl"], self.rate_limited_total, (provider, reason)).inc()

    def mcp_tool_call(self, client: str, tool: str, ok: bool, seconds: float | None = None) -> None:
        key = (client, tool, "success" if ok else "error")
        _child(self._caches["mcp"], self.mcp_calls, key).inc()
        if seconds is not None:
            _child(self._caches["mcplat"], self.mcp_latency, (client, tool)).observe(seconds)

    def logstore_dropped(self, reason: str, n: int = 1) -> None:
        if n > 0:
            _child(self._caches["dropped"], self.logstore_dropped_total, (reason,)).inc(n)

    def custom_values(self, prom_labels: dict[str, str]) -> tuple[str, ...]:
        """The record's custom label values, in label order, with the cardinality rule applied."""
        if not prom_labels:
            return ("",) * len(self._custom_keys)
        pairs = zip(self._custom_keys, self._custom_bounds, strict=True)
        return tuple(bound(prom_labels.get(key)) for key, bound in pairs)

    def _started_deferred(self, method: str) -> None:
        self._active_pending[method] = self._active_pending.get(method, 0) + 1

    def _finished_deferred(self, method: str) -> None:
        self._active_pending[method] = self._active_pending.get(method, 0) - 1

    def _acc(self, kind: str, key: tuple[str, ...], size: int) -> list[Any]:
        acc = self._pending.get((kind, key))
        if acc is None:
            key = self._admit(kind, key)
            acc = self._pending.get((kind, key))
            if acc is None:
                acc = self._pending[(kind, key)] = [0] * size
        return acc

    def _admit(self, kind: str, key: tuple[str, ...]) -> tuple[str, ...]:
        """The key itself while its family has room (or already holds it); else its folded form."""
        seen = self._series[kind]
        if key in seen:
            return key
        if len(seen) < self.max_series:
            seen.add(key)
            return key
        folded = _fold(kind, key)
        seen.add(folded)  # a fold per (provider, method, ...) at most: bounded by the config
        self._folded[kind] = self._folded.get(kind, 0) + 1
        return folded

    def _observe_deferred(self, rec: RequestRecord, cost: float) -> None:
        """`observe` in single-process mode: the same values, accumulated for the next scrape."""
        custom = self.custom_values(rec.prom_labels) if self._custom_keys else ()
        hkey = (route_path(rec.route, rec.method, rec.stream), "GET" if rec.method == "list_models" else "POST",
                str(rec.status), *custom)
        acc = self._acc("http", hkey, 3 + len(LATENCY_BUCKETS))  # [count, sum, buckets...]
        acc[0] += 1
        acc[1] += rec.latency_s
        acc[2 + bisect_left(LATENCY_BUCKETS, rec.latency_s)] += 1
        provider = rec.provider
        if not provider:
            return
        model = self._model_bound(rec.model or rec.model_requested)
        key = (provider, model, rec.method, *custom)
        # [upstream, ok, in, out, cost, retries, fallbacks, uplat count, uplat sum, overhead count, overhead sum,
        #  ttft count, ttft sum, itl count, itl sum, then the bucket counts of uplat, overhead, ttft, itl]
        acc = self._acc("req", key, _REQ_SIZE)
        acc[0] += 1
        if rec.status < 400:
            acc[1] += 1
        else:
            err = self._acc("err", (provider, model, rec.method, str(rec.status), *custom), 1)
            err[0] += 1
        acc[2] += rec.prompt_tokens
        acc[3] += rec.completion_tokens
        acc[4] += cost
        acc[5] += rec.retries
        if rec.fallback_index > 0:
            acc[6] += 1
        if rec.attempts or rec.upstream_s > 0:
            acc[7] += 1
            acc[8] += rec.upstream_s
            acc[_UPLAT + bisect_left(LATENCY_BUCKETS, rec.upstream_s)] += 1
        overhead = rec.latency_s - rec.upstream_s
        if overhead < 0:
            overhead = 0.0
        acc[9] += 1
        acc[10] += overhead
        acc[_OVERHEAD + bisect_left(OVERHEAD_BUCKETS, overhead)] += 1
        if rec.stream:
            if rec.ttft_s is not None:
                acc[11] += 1
                acc[12] += rec.ttft_s
                acc[_TTFT + bisect_left(FIRST_TOKEN_BUCKETS, rec.ttft_s)] += 1
            if rec.stream_chunks > 1:
                gap = rec.stream_duration_s / (rec.stream_chunks - 1)
                acc[13] += 1
                acc[14] += gap
                acc[_ITL + bisect_left(INTER_TOKEN_BUCKETS, gap)] += 1

    def _flush_pending(self) -> None:
        """Move the accumulated values into the prometheus_client objects (at scrape time)."""
        pending, self._pending = self._pending, {}
        caches = self._caches
        for (kind, key), acc in pending.items():
            if kind == "http":
                pair = caches["http"].get(key)
                if pair is None:
                    pair = caches["http"][key] = (self.http_requests.labels(*key), self.http_duration.labels(*key))
                pair[0].inc(acc[0])
                _add_histogram(pair[1], acc[0], acc[1], acc[2:])
            elif kind == "err":
                _child(caches["err"], self.error_requests, key).inc(acc[0])
            else:
                _child(caches["upstream"], self.upstream_requests, key).inc(acc[0])
                if acc[1]:
                    _child(caches["ok"], self.success_requests, key).inc(acc[1])
                for i, name, metric in ((2, "in", self.input_tokens), (3, "out", self.output_tokens),
                                        (4, "cost", self.cost), (5, "retries", self.retries),
                                        (6, "fallbacks", self.fallbacks)):
                    if acc[i]:
                        _child(caches[name], metric, key).inc(acc[i])
                for count_at, start, end, name, metric in (
                    (7, _UPLAT, _OVERHEAD, "uplat", self.upstream_latency),
                    (9, _OVERHEAD, _TTFT, "overhead", self.overhead),
                    (11, _TTFT, _ITL, "ttft", self.first_token),
                    (13, _ITL, _REQ_SIZE, "itl", self.inter_token),
                ):
                    if acc[count_at]:
                        child = _child(caches[name], metric, key)
                        _add_histogram(child, acc[count_at], acc[count_at + 1], acc[start:end])
        folded, self._folded = self._folded, {}
        for kind, n in folded.items():
            self.series_folded_total.labels(kind).inc(n)
        for method, delta in self._active_pending.items():
            child = _child(caches["active"], self.active, (method,))  # shown even when back to 0
            if delta:
                child.inc(delta)
        self._active_pending = {}

    def observe(self, rec: RequestRecord, cost: float) -> None:
        """Record one finished request (called once, at its end)."""
        custom = self.custom_values(rec.prom_labels) if self._custom_keys else ()
        caches = self._caches
        status = str(rec.status)
        http_method = "GET" if rec.method == "list_models" else "POST"
        hkey = self._admit_now("http", (route_path(rec.route, rec.method, rec.stream), http_method, status, *custom))
        pair = caches["http"].get(hkey)
        if pair is None:
            pair = caches["http"][hkey] = (self.http_requests.labels(*hkey), self.http_duration.labels(*hkey))
        pair[0].inc()
        pair[1].observe(rec.latency_s)

        provider = rec.provider
        if not provider:
            return
        model = self._model_bound(rec.model or rec.model_requested)
        key = self._admit_now("req", (provider, model, rec.method, *custom))
        _child(caches["upstream"], self.upstream_requests, key).inc()
        if rec.attempts or rec.upstream_s > 0:
            _child(caches["uplat"], self.upstream_latency, key).observe(rec.upstream_s)
        if rec.status < 400:
            _child(caches["ok"], self.success_requests, key).inc()
        else:
            ekey = self._admit_now("err", (provider, model, rec.method, status, *custom))
            _child(caches["err"], self.error_requests, ekey).inc()
        if rec.prompt_tokens:
            _child(caches["in"], self.input_tokens, key).inc(rec.prompt_tokens)
        if rec.completion_tokens:
            _child(caches["out"], self.output_tokens, key).inc(rec.completion_tokens)
        if cost > 0:
            _child(caches["cost"], self.cost, key).inc(cost)
        if rec.stream:
            if rec.ttft_s is not None:
                _child(caches["ttft"], self.first_token, key).observe(rec.ttft_s)
            if rec.stream_chunks > 1:
                gap = rec.stream_duration_s / (rec.stream_chunks - 1)
                _child(caches["itl"], self.inter_token, key).observe(gap)
        overhead = rec.latency_s - rec.upstream_s
        _child(caches["overhead"], self.overhead, key).observe(overhead if overhead > 0 else 0.0)
        if rec.retries > 0:
            _child(caches["retries"], self.retries, key).inc(rec.retries)
        if rec.fallback_index > 0:
            _child(caches["fallbacks"], self.fallbacks, key).inc()

    def _admit_now(self, kind: str, key: tuple[str, ...]) -> tuple[str, ...]:
        """`_admit` for the direct (multiprocess) path: folds are counted at once."""
        admitted = self._admit(kind, key)
        if admitted is not key:
            self._folded.pop(kind, None)
            self.series_folded_total.labels(kind).inc()
        return admitted

    # ---- exposition ---------------------------------------------------------------------------------------
    def render(self) -> tuple[bytes, str]:
        """Prometheus text exposition (all workers' values in multiprocess mode) and its content type."""
        path = multiprocess_dir()
        if path:
            registry = CollectorRegistry()
            _mp.MultiProcessCollector(registry, path=path)
            return generate_latest(registry), CONTENT_TYPE_PLAIN_0_0_4
        if self.registry is None:
            return b"", CONTENT_TYPE_PLAIN_0_0_4
        self._flush_pending()
        if self._exposition is not None:
            return self._exposition.render(), CONTENT_TYPE_PLAIN_0_0_4
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4
