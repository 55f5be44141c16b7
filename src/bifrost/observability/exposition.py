"""The ``/metrics`` text exposition (Prometheus 0.0.4), byte for byte what prometheus_client's
``generate_latest`` writes, several times faster for the labelled Counter, Gauge and Histogram families.

``generate_latest`` builds a ``Sample`` and a label dict for every line, then validates and escapes every
label name and value again on every scrape: about 600 ms for the 35,000 lines of a full scrape at the
series bound. Here each series' label text is escaped once, when the series is first rendered, and kept
(the series bound keeps that cache bounded); a scrape only reads the values and joins strings.

The fast path reads prometheus_client's per-child value holders (``_metrics``, ``_value``, ``_buckets``,
``_sum``, ``_created``, ``_upper_bounds``): not a public API. Any collector that does not look exactly as
expected (another metric type, an unlabelled metric, a different prometheus_client) goes through
``generate_latest`` instead, and ``tests/observability/test_exposition.py`` compares both outputs byte for
byte, so a prometheus_client release that changes them fails loudly rather than renders wrongly.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import Counter, Gauge, Histogram, generate_latest
from prometheus_client import metrics as _pm
from prometheus_client.openmetrics import exposition as _om
from prometheus_client.utils import floatToGoString

_ESCAPING = _om.UNDERSCORES  # generate_latest's default


def _value_text(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _doc(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class _One:
    """One collector as a registry, for generate_latest."""

    __slots__ = ("collector",)

    def __init__(self, collector: Any) -> None:
        self.collector = collector

    def collect(self) -> Iterable[Any]:
        return self.collector.collect()


class _Family:
    """What a family's lines share, and each series' escaped label text (made once per series)."""

    __slots__ = ("bounds", "kind", "label_names", "le_at", "metric", "name", "series")

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.name = _om.escape_metric_name(metric._name, _ESCAPING)
        self.kind = metric._type
        self.label_names = [_om.escape_label_name(n, _ESCAPING) for n in metric._labelnames]
        # where `le` goes among the sorted label names of a bucket line
        self.le_at = sum(1 for n in metric._labelnames if n < "le")
        self.bounds: list[str] = []
        self.series: dict[tuple[str, ...], tuple[str, str, str]] = {}

    def labels_of(self, values: tuple[str, ...]) -> tuple[str, str, str]:
        """(label text "{...}", bucket line start up to `le="`, bucket line end after the bound)."""
        cached = self.series.get(values)
        if cached is None:
            pairs = sorted(zip(self.metric._labelnames, self.label_names, values, strict=True))
            parts = [f'{escaped}="{_value_text(v)}"' for _, escaped, v in pairs]
            before, after = ",".join(parts[: self.le_at]), ",".join(parts[self.le_at :])
            cached = (
                "{" + ",".join(parts) + "}",
                f"{self.name}_bucket{{{before}{',' if before else ''}le=\"",
                f'"{"," if after else ""}{after}}} ',
            )
            self.series[values] = cached
        return cached


def _fast(metric: Any) -> bool:
    """A labelled Counter/Gauge/Histogram parent as prometheus_client builds them (see the docstring)."""
    kind = type(metric)
    if kind not in (Counter, Gauge, Histogram):
        return False
    try:
        return bool(metric._labelnames) and not metric._labelvalues and isinstance(metric._metrics, dict)
    except AttributeError:
        return False


class Exposition:
    """Renders a fixed, ordered list of collectors (the order of their registration)."""

    def __init__(self, collectors: Sequence[Any]) -> None:
        self._parts: list[_Family | Any] = [_Family(c) if _fast(c) else c for c in collectors]

    def render(self) -> bytes:
        out: list[str] = []
        created = getattr(_pm, "_use_created", True)
        for part in self._parts:
            if isinstance(part, _Family):
                _render_family(part, out, created)
            else:
                out.append(generate_latest(_One(part)).decode("utf-8"))
        return "".join(out).encode("utf-8")


def _render_family(fam: _Family, out: list[str], with_created: bool) -> None:
    metric = fam.metric
    with metric._lock:
        children = list(metric._metrics.items())
    name, kind = fam.name, fam.kind
    doc = _doc(metric._documentation)
    family = name + "_total" if kind == "counter" else name
    out.append(f"# HELP {family} {doc}\n# TYPE {family} {kind}\n")
    created: list[str] = []
    if kind == "counter":
        for values, child in children:
            labels = fam.labels_of(values)[0]
            out.append(f"{name}_total{labels} {floatToGoString(child._value.get())}\n")
            if with_created:
                created.append(f"{name}_created{labels} {floatToGoString(child._created)}\n")
    elif kind == "gauge":
        for values, child in children:
            out.append(f"{name}{fam.labels_of(values)[0]} {floatToGoString(child._value.get())}\n")
    else:
        for values, child in children:
            labels, start, end = fam.labels_of(values)
            bounds = child._upper_bounds
            if len(fam.bounds) != len(bounds):
                fam.bounds = [floatToGoString(b) for b in bounds]
            acc = 0.0
            for le, bucket in zip(fam.bounds, child._buckets, strict=True):
                acc += bucket.get()
                out.append(f"{start}{le}{end}{floatToGoString(acc)}\n")
            count = floatToGoString(acc)
            out.append(f"{name}_count{labels} {count}\n")
            if bounds[0] >= 0:
                out.append(f"{name}_sum{labels} {floatToGoString(child._sum.get())}\n")
            if with_created:
                created.append(f"{name}_created{labels} {floatToGoString(child._created)}\n")
    if created:
        out.append(f"# HELP {name}_created {doc}\n# TYPE {name}_created gauge\n")
        out.extend(created)
