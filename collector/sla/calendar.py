"""Business-time arithmetic on a contract's coverage calendar. Pure: no I/O, no clock.

Times are UTC epoch seconds (floats). Business hours are wall-clock ranges in the calendar's
time zone, so "09:00-17:00" is eight hours on every open day, also on the days the clocks
change (a range that crosses the skipped or repeated hour is as long as the wall clock
says: ``00:00-24:00`` is 23 h on the spring change and 25 h on the autumn one). A day is
closed when it is a public holiday of the calendar's country/subdivision (the ``holidays``
library) or an ``extra`` date, unless it is one of the ``working`` dates.

A target runs on one of two clocks (:func:`clock_of`): ``business`` (only business time
counts) or ``calendar`` (plain elapsed seconds, 24x7).
"""

from __future__ import annotations

import functools
import math
from datetime import date, datetime, time, timedelta
from typing import Literal

from collector.contracts.model import WEEKDAYS, Calendar, Target
from collector.incidents.maintenance import zone

Clock = Literal["business", "calendar", "business_days"]
#: One open day on the ``business_days`` clock, in its seconds (days × 86400: "10 days").
DAY = 86400.0

#: How far ahead a due time is searched before giving up (a calendar with no open hours).
_HORIZON_DAYS = 3 * 366


@functools.lru_cache(maxsize=256)
def public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """The public holidays of one year (cached per country, subdivision and year)."""
    import holidays as lib

    return frozenset(lib.country_holidays(country, subdiv=subdivision, years=year).keys())


def clock_of(calendar: Calendar, priority: str, target: Target) -> Clock:
    """The clock ``target`` runs on: its own ``clock``, else calendar for an always_on priority."""
    if target.clock is not None:
        return target.clock
    return "calendar" if priority in calendar.always_on else "business"


class BusinessCalendar:
    """A :class:`Calendar` that can measure and add business time."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar
        self.tz = zone(calendar.timezone)
        self._extra = frozenset(calendar.holidays.extra)
        self._working = frozenset(calendar.holidays.working)
        self._days: dict[date, list[tuple[float, float]]] = {}

    # ------------------------------------------------------------------ days

    def is_closed(self, day: date) -> bool:
        """A holiday (public or extra) that is not a working date."""
        if day in self._working:
            return False
        if day in self._extra:
            return True
        h = self.calendar.holidays
        return h.country is not None and day in public_holidays(h.country, h.subdivision, day.year)

    def _wall(self, day: date, minute: int) -> float:
        # fold=0: a wall time in the skipped hour maps onto the change itself, a repeated
        # one to its first occurrence — so a range is as long as the wall clock says.
        if minute >= 24 * 60:
            return datetime.combine(day + timedelta(days=1), time(), self.tz).timestamp()
        return datetime.combine(day, time(minute // 60, minute % 60), self.tz).timestamp()

    def intervals(self, day: date) -> list[tuple[float, float]]:
        """The business intervals of local ``day`` as UTC epoch ranges (cached)."""
        found = self._days.get(day)
        if found is None:
            found = []
            if not self.is_closed(day):
                for start, end in self.calendar.business_hours.get(WEEKDAYS[day.weekday()], []):
                    a, b = self._wall(day, start), self._wall(day, end)
                    if b > a:
                        found.append((a, b))
            if len(self._days) > 4096:
                self._days.clear()
            self._days[day] = found
        return found

    def _local_date(self, ts: float) -> date:
        return datetime.fromtimestamp(ts, self.tz).date()

    # ------------------------------------------------------------------ arithmetic

    def business_seconds(self, start: float, end: float) -> float:
        """Business seconds between ``start`` and ``end`` (0 when ``end <= start``)."""
        if end <= start:
            return 0.0
        total = 0.0
        day, last = self._local_date(start) - timedelta(days=1), self._local_date(end)
        while day <= last:
            for a, b in self.intervals(day):
                lo, hi = max(a, start), min(b, end)
                if hi > lo:
                    total += hi - lo
            day += timedelta(days=1)
        return total

    def add_business_seconds(self, start: float, seconds: float) -> float:
        """The earliest moment at which ``seconds`` of business time have passed since ``start``.

        ``math.inf`` when the calendar has no open hours within three years.
        """
        remaining = max(0.0, seconds)
        day = self._local_date(start) - timedelta(days=1)
        for _ in range(_HORIZON_DAYS):
            for a, b in self.intervals(day):
                lo = max(a, start)
                if b <= lo:
                    continue
                if remaining <= b - lo:
                    return lo + remaining
                remaining -= b - lo
            day += timedelta(days=1)
        return math.inf

    def _day_length(self, day: date) -> float:
        return sum(b - a for a, b in self.intervals(day))

    def business_days(self, start: float, end: float) -> float:
        """Open days between ``start`` and ``end``, × :data:`DAY`: each open day counts one,
        a part of it the part of its business hours inside [start, end)."""
        if end <= start:
            return 0.0
        total = 0.0
        day, last = self._local_date(start) - timedelta(days=1), self._local_date(end)
        while day <= last:
            length = self._day_length(day)
            if length > 0:
                inside = 0.0
                for a, b in self.intervals(day):
                    lo, hi = max(a, start), min(b, end)
                    if hi > lo:
                        inside += hi - lo
                total += inside / length
            day += timedelta(days=1)
        return total * DAY

    def add_business_days(self, start: float, amount: float) -> float:
        """The moment ``amount`` (days × :data:`DAY`) of open days have passed since ``start``:
        10 business days from Tuesday 10:00 is Tuesday two weeks later at 10:00 (no holiday)."""
        remaining = max(0.0, amount) / DAY
        day = self._local_date(start) - timedelta(days=1)
        for _ in range(_HORIZON_DAYS):
            length = self._day_length(day)
            if length > 0:
                for a, b in self.intervals(day):
                    lo = max(a, start)
                    if b <= lo:
                        continue
                    share = (b - lo) / length
                    if remaining <= share + 1e-12:
                        return lo + remaining * length
                    remaining -= share
            day += timedelta(days=1)
        return math.inf

    def measure(self, clock: Clock, start: float, end: float) -> float:
        """Time between ``start`` and ``end`` on ``clock``."""
        if clock == "calendar":
            return max(0.0, end - start)
        if clock == "business_days":
            return self.business_days(start, end)
        return self.business_seconds(start, end)

    def advance(self, clock: Clock, start: float, seconds: float) -> float:
        """``start`` plus ``seconds`` on ``clock``."""
        if clock == "calendar":
            return start + max(0.0, seconds)
        if clock == "business_days":
            return self.add_business_days(start, seconds)
        return self.add_business_seconds(start, seconds)
