"""Business-time arithmetic as table tests, with hand-computed expectations.

The calendar is a Munich office: Europe/Berlin, Mon–Fri 08:00–17:00 (9 h), Bavarian public
holidays (2026: Corpus Christi Thu 06-04, Christmas Fri 12-25; 10-03 and 11-01 fall on a
weekend). Clocks change on Sun 2026-03-29 (CET→CEST) and Sun 2026-10-25 (CEST→CET).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from collector.contracts.model import Calendar, Target
from collector.sla.calendar import BusinessCalendar, clock_of, public_holidays

BERLIN = ZoneInfo("Europe/Berlin")
H = 3600.0


def at(text: str, tz: ZoneInfo = BERLIN) -> float:
    """'2026-03-27 16:00' in Berlin (wall clock) → epoch."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=tz).timestamp()


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, BERLIN).strftime("%Y-%m-%d %H:%M %Z")


OFFICE = Calendar.model_validate(
    {
        "timezone": "Europe/Berlin",
        "business_hours": {d: "08:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": {
            "country": "DE",
            "subdivision": "BY",
            "extra": ["2026-03-04"],
            "working": ["2026-05-01"],
        },
    }
)
ALWAYS = Calendar.model_validate(
    {
        "timezone": "Europe/Berlin",
        "business_hours": {
            d: "00:00-24:00" for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        },
    }
)
SPLIT = Calendar.model_validate(
    {"timezone": "Europe/Berlin", "business_hours": {"mon": ["08:00-12:00", "13:00-17:00"]}}
)


def test_the_holidays_library_agrees_with_the_table():
    by = public_holidays("DE", "BY", 2026)
    assert {d.isoformat() for d in by} >= {"2026-06-04", "2026-12-25", "2026-10-03", "2026-11-01"}
    assert "2026-06-04" not in {
        d.isoformat() for d in public_holidays("DE", "BE", 2026)
    }  # not in Berlin


@pytest.mark.parametrize(
    ("calendar", "start", "end", "hours"),
    [
        # within one day
        (OFFICE, "2026-03-02 09:00", "2026-03-02 11:30", 2.5),
        # before opening and after closing count nothing
        (OFFICE, "2026-03-02 06:00", "2026-03-02 08:00", 0),
        (OFFICE, "2026-03-02 17:00", "2026-03-02 23:59", 0),
        # across a night: 16–17 Mon + 08–09 Tue
        (OFFICE, "2026-03-02 16:00", "2026-03-03 09:00", 2),
        # across a weekend: 16–17 Fri + 08–10 Mon
        (OFFICE, "2026-03-06 16:00", "2026-03-09 10:00", 3),
        # a whole weekend
        (OFFICE, "2026-03-07 00:00", "2026-03-08 23:00", 0),
        # spring DST weekend: still 1 h Fri + 2 h Mon of wall-clock business time
        (OFFICE, "2026-03-27 16:00", "2026-03-30 10:00", 3),
        # autumn DST weekend
        (OFFICE, "2026-10-23 16:00", "2026-10-26 10:00", 3),
        # a full business week in which the clocks changed (Mon 03-30 … Fri 04-03 is Good Friday)
        (OFFICE, "2026-03-30 00:00", "2026-04-04 00:00", 4 * 9),
        # public holiday (Corpus Christi, Bavaria): Wed 16–17 + Fri 08–09
        (OFFICE, "2026-06-03 16:00", "2026-06-05 09:00", 2),
        # Christmas (Fri): Thu 16–17, then Mon 08–09
        (OFFICE, "2026-12-24 16:00", "2026-12-28 09:00", 2),
        # an extra company holiday (Wed 03-04): Tue 16–17 + Thu 08–09
        (OFFICE, "2026-03-03 16:00", "2026-03-05 09:00", 2),
        # a working public holiday (Labour Day, Fri 05-01): Thu 16–17 + Fri 9 h + Mon 08–09
        (OFFICE, "2026-04-30 16:00", "2026-05-04 09:00", 11),
        # 24x7 on the DST days: 23 h and 25 h of wall-clock hours
        (ALWAYS, "2026-03-29 00:00", "2026-03-30 00:00", 23),
        (ALWAYS, "2026-10-25 00:00", "2026-10-26 00:00", 25),
        # a lunch break
        (SPLIT, "2026-03-02 11:00", "2026-03-02 14:00", 2),
        # reversed or empty spans
        (OFFICE, "2026-03-02 11:00", "2026-03-02 09:00", 0),
    ],
)
def test_business_seconds(calendar, start, end, hours):
    assert BusinessCalendar(calendar).business_seconds(at(start), at(end)) == pytest.approx(
        hours * H
    )


@pytest.mark.parametrize(
    ("calendar", "start", "hours", "due"),
    [
        (OFFICE, "2026-03-02 09:00", 2, "2026-03-02 11:00 CET"),
        # exactly to closing time: due at 17:00, not the next morning
        (OFFICE, "2026-03-27 16:00", 1, "2026-03-27 17:00 CET"),
        # over the spring DST weekend
        (OFFICE, "2026-03-27 16:00", 4, "2026-03-30 11:00 CEST"),
        # over the autumn DST weekend
        (OFFICE, "2026-10-23 15:00", 4, "2026-10-26 10:00 CET"),
        # opened at night / at the weekend: counts from the next opening
        (OFFICE, "2026-03-02 22:00", 2, "2026-03-03 10:00 CET"),
        (OFFICE, "2026-03-07 10:00", 0.5, "2026-03-09 08:30 CET"),
        # over a public holiday: 5 h Wed, Thu closed, 4 h Fri
        (OFFICE, "2026-06-03 12:00", 9, "2026-06-05 12:00 CEST"),
        # over the extra company holiday
        (OFFICE, "2026-03-03 16:00", 2, "2026-03-05 09:00 CET"),
        # a lunch break is skipped
        (SPLIT, "2026-03-02 11:00", 2, "2026-03-02 14:00 CET"),
        # 24x7 over the spring change: 22:00 CET + 4 h = 03:00 CEST
        (ALWAYS, "2026-03-28 22:00", 4, "2026-03-29 03:00 CEST"),
    ],
)
def test_add_business_seconds(calendar, start, hours, due):
    assert local(BusinessCalendar(calendar).add_business_seconds(at(start), hours * H)) == due


def test_add_is_the_inverse_of_measure():
    cal = BusinessCalendar(OFFICE)
    start = at("2026-03-25 10:17")
    for hours in (0.25, 3, 9, 17.5, 40, 100):
        due = cal.add_business_seconds(start, hours * H)
        assert cal.business_seconds(start, due) == pytest.approx(hours * H)


def test_a_calendar_without_open_hours_never_comes_due():
    closed = BusinessCalendar(Calendar.model_validate({"business_hours": {}}))
    assert closed.add_business_seconds(at("2026-03-02 09:00"), 60) == float("inf")
    assert closed.business_seconds(at("2026-03-02 09:00"), at("2026-03-09 09:00")) == 0


def test_calendar_clock_is_plain_elapsed_seconds():
    cal = BusinessCalendar(OFFICE)
    # Sat 12:00 → Sun 12:00 across the spring change is 23 h of real time
    assert cal.measure("calendar", at("2026-03-28 12:00"), at("2026-03-29 12:00")) == 23 * H
    assert cal.advance("calendar", at("2026-03-28 12:00"), 24 * H) == at("2026-03-29 13:00")


@pytest.mark.parametrize(
    ("always_on", "priority", "target", "clock"),
    [
        (["critical"], "critical", {"within": "4h"}, "calendar"),
        (["critical"], "major", {"within": "4h"}, "business"),
        (["critical"], "critical", {"within": "4h", "clock": "business"}, "business"),
        ([], "minor", {"within": "3d", "clock": "calendar"}, "calendar"),
    ],
)
def test_clock_of(always_on, priority, target, clock):
    calendar = Calendar(always_on=always_on)
    assert clock_of(calendar, priority, Target.model_validate(target)) == clock
