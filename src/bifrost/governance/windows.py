"""Window arithmetic: when a counter started now resets, and OpenAI's way of writing a wait ("6m0s")."""

from __future__ import annotations

import calendar
import datetime as dt

from bifrost.governance.config import Duration


def _add_months(moment: dt.datetime, months: int) -> dt.datetime:
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def _floor(moment: dt.datetime, unit: str) -> dt.datetime:
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        return day - dt.timedelta(days=day.weekday())  # weeks start on Monday (ISO)
    if unit == "M":
        return day.replace(day=1)
    if unit == "y":
        return day.replace(month=1, day=1)
    return day


def window(duration: Duration, now_ms: int, aligned: bool = False) -> tuple[int, int]:
    """(window_ms, expire_at_ms) for a counter whose first charge is now.

    Fixed units give a plain window; months and years (and every calendar-aligned window) give the
    absolute end: the start of the next calendar day/week/month/year (UTC) for aligned windows.
    """
    fixed = duration.fixed_ms
    if fixed is not None and not aligned:
        return fixed, 0
    moment = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.UTC)
    start = _floor(moment, duration.unit) if aligned else moment
    if duration.unit == "M":
        end = _add_months(start, duration.count)
    elif duration.unit == "y":
        end = _add_months(start, 12 * duration.count)
    else:
        end = start + dt.timedelta(milliseconds=fixed or 0)
    return 0, int(end.timestamp() * 1000)


def reset_text(ms: int) -> str:
    """A wait as OpenAI writes it in x-ratelimit-reset-*: "120ms", "1s", "59.5s", "6m0s", "1h2m3s"."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    seconds = ms / 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{secs:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{text}"
    if minutes:
        return f"{int(minutes)}m{text}"
    return text
