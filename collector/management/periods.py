"""Time arithmetic of the management views, without I/O: ranges, local buckets, ages, months.

Everything inside is UTC epoch seconds; a time zone is only used to say where a local day,
week or month starts (so a bucket boundary follows daylight-saving changes). The views
turn these boundaries into SQL (``collector.management.views``), so the database does the
counting and this module only decides the edges.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from collector.errors import InvalidArgument

BucketUnit = Literal["day", "week"]

#: Age buckets of open incidents: (label, upper bound in seconds, exclusive); the last is open.
AGE_BUCKETS: tuple[tuple[str, float | None], ...] = (
    ("<4h", 4 * 3600.0),
    ("4-24h", 24 * 3600.0),
    ("1-3d", 3 * 86400.0),
    ("3-7d", 7 * 86400.0),
    (">7d", None),
)
AGE_LABELS = tuple(label for label, _ in AGE_BUCKETS)

#: The default range of a view when ``since`` is not given: this long before ``until``.
DEFAULT_SPAN = 30 * 86400.0
#: More buckets than this is a mistake (a year of days fits); refused with a clear error.
MAX_BUCKETS = 400
#: Ranges outside these years are refused (time-zone arithmetic is only sane inside them).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC).timestamp()
LATEST = datetime(2200, 1, 1, tzinfo=UTC).timestamp()


def time_zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; InvalidArgument naming it when unknown (or a folder like 'Europe')."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidArgument(
            f"tz: unknown time zone {name!r}; use an IANA name like 'Europe/Berlin'",
            fields=[{"loc": "tz", "msg": "unknown time zone", "type": "value_error"}],
        ) from None


def epoch(when: datetime) -> float:
    """An aware or naive (taken as UTC) datetime → epoch seconds."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A half-open range ``[since, until)`` of epoch seconds."""

    since: float
    until: float

    @property
    def seconds(self) -> float:
        return self.until - self.since


def resolve_range(
    since: datetime | None, until: datetime | None, now: float, default_span: float = DEFAULT_SPAN
) -> TimeRange:
    """The range a request asks for: ``until`` defaults to ``now``, ``since`` to ``default_span``
    before ``until``. InvalidArgument when it is empty, reversed or outside 1970–2200."""
    try:
        end = epoch(until) if until is not None else now
        start = epoch(since) if since is not None else end - default_span
    except (OverflowError, ValueError, OSError):
        raise InvalidArgument("since/until: not a usable time") from None
    for name, value in (("since", start), ("until", end)):
        if not EARLIEST <= value <= LATEST:
            raise InvalidArgument(
                f"{name}: must be between 1970 and 2200",
                fields=[{"loc": name, "msg": "out of range", "type": "value_error"}],
            )
    if start >= end:
        raise InvalidArgument(
            "since must be before until",
            fields=[{"loc": "since", "msg": "not before until", "type": "value_error"}],
        )
    return TimeRange(start, end)


def _local_midnight(day: date, tz: ZoneInfo) -> float:
    # datetime.combine in a zone resolves a midnight skipped by a DST change to the instant
    # after the gap, so boundaries stay ordered.
    return datetime.combine(day, time(), tz).timestamp()


@dataclass(frozen=True, slots=True)
class Bucket:
    """One local day or week: its label (the local start date) and its part of the range."""

    label: str
    start: float
    end: float


def buckets(span: TimeRange, tz: ZoneInfo, unit: BucketUnit) -> list[Bucket]:
    """The local days (or ISO weeks, Monday first) that ``span`` touches, each clipped to it.

    The first and last bucket may be partial; each is labelled with the local date its full
    day or week starts on. InvalidArgument beyond :data:`MAX_BUCKETS`.
    """
    step = timedelta(days=1 if unit == "day" else 7)
    first = datetime.fromtimestamp(span.since, tz).date()
    if unit == "week":
        first -= timedelta(days=first.weekday())
    estimate = span.seconds / step.total_seconds()
    if estimate > MAX_BUCKETS:
        raise InvalidArgument(
            f"the range holds about {estimate:.0f} {unit}s; at most {MAX_BUCKETS} "
            f"buckets (use bucket=week or a shorter range)"
        )
    out: list[Bucket] = []
    day = first
    start = _local_midnight(day, tz)
    while start < span.until:
        next_day = day + step
        end = _local_midnight(next_day, tz)
        lo, hi = max(start, span.since), min(end, span.until)
        if hi > lo:
            out.append(Bucket(day.isoformat(), lo, hi))
        day, start = next_day, end
    return out


def age_bucket(age_seconds: float) -> str:
    """The :data:`AGE_BUCKETS` label of an incident open for ``age_seconds`` (upper bound exclusive)."""
    for label, upper in AGE_BUCKETS:
        if upper is None or age_seconds < upper:
            return label
    raise AssertionError("the last age bucket is open-ended")


def months_covered(span: TimeRange, tz: ZoneInfo) -> Decimal:
    """How many local calendar months ``span`` covers, as a fraction (Oct 1 – Nov 1 is exactly 1).

    A partial month counts by its share of that month's seconds, so a monthly fee is
    prorated to the range. Rounded to 4 decimals.
    """
    total = Decimal(0)
    local = datetime.fromtimestamp(span.since, tz)
    year, month = local.year, local.month
    while True:
        start = datetime(year, month, 1, tzinfo=tz).timestamp()
        if start >= span.until:
            break
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        end = datetime(year, month, 1, tzinfo=tz).timestamp()
        overlap = min(end, span.until) - max(start, span.since)
        if overlap > 0:
            total += Decimal(repr(overlap)) / Decimal(repr(end - start))
    return total.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def percent(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in percent, one decimal; None when ``whole`` is 0 (nothing to judge)."""
    if whole <= 0:
        return None
    return round(100.0 * part / whole, 1)
