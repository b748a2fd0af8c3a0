"""Maintenance windows, pure: schedules (one-off, cron, RRULE) across DST, and selectors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from collector.incidents.maintenance import (
    MaintenanceWindow,
    Scope,
    covers,
    next_occurrence,
    occurrence,
    open_until,
    window_zone,
    zone,
)


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def window(**values) -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": "w", "client": "acme", **values})


NIGHTLY = {"cron": "0 22 * * *", "duration": "2h"}
GAP = {"cron": "30 2 * * *", "duration": "1h"}  # 02:30 does not exist on spring-forward day
AMBIGUOUS = {"cron": "30 2 * * *", "duration": "30m"}  # 02:30 happens twice on fall-back day
TUESDAYS = {"rrule": "FREQ=WEEKLY;BYDAY=TU;BYHOUR=22;BYMINUTE=0", "duration": "2h"}

# Berlin: CET (+1) → CEST (+2) on 2026-03-29 02:00, back on 2026-10-25 03:00.
# Moscow: +3 all year (no DST since 2014), so the same local schedule moves against Berlin.
CASES = [
    # schedule, zone, now (UTC), expected (start, end) in UTC or None
    (NIGHTLY, "Europe/Berlin", "2026-03-28T21:30", ("2026-03-28T21:00", "2026-03-28T23:00")),  # CET
    (
        NIGHTLY,
        "Europe/Berlin",
        "2026-03-29T20:30",
        ("2026-03-29T20:00", "2026-03-29T22:00"),
    ),  # CEST
    (NIGHTLY, "Europe/Berlin", "2026-03-29T22:15", None),
    (NIGHTLY, "Europe/Berlin", "2026-03-29T19:59", None),
    (NIGHTLY, "Europe/Moscow", "2026-03-29T20:30", ("2026-03-29T19:00", "2026-03-29T21:00")),
    (NIGHTLY, "Europe/Moscow", "2026-03-29T21:30", None),
    (NIGHTLY, "Europe/Moscow", "2026-10-25T20:30", ("2026-10-25T19:00", "2026-10-25T21:00")),
    (
        NIGHTLY,
        "Europe/Berlin",
        "2026-10-25T22:30",
        ("2026-10-25T21:00", "2026-10-25T23:00"),
    ),  # CET again
    (NIGHTLY, "Europe/Berlin", "2026-10-25T20:30", None),
    (
        NIGHTLY,
        "UTC",
        "2026-03-29T23:59",
        ("2026-03-29T22:00", "2026-03-30T00:00"),
    ),  # across midnight
    (
        GAP,
        "Europe/Berlin",
        "2026-03-29T01:45",
        ("2026-03-29T01:30", "2026-03-29T02:30"),
    ),  # = 03:30 CEST
    (GAP, "Europe/Berlin", "2026-03-29T00:45", None),
    (GAP, "Europe/Berlin", "2026-03-30T00:45", ("2026-03-30T00:30", "2026-03-30T01:30")),
    (GAP, "Europe/Moscow", "2026-03-28T23:45", ("2026-03-28T23:30", "2026-03-29T00:30")),
    (
        AMBIGUOUS,
        "Europe/Berlin",
        "2026-10-25T00:45",
        ("2026-10-25T00:30", "2026-10-25T01:00"),
    ),  # first 02:30
    (AMBIGUOUS, "Europe/Berlin", "2026-10-25T01:45", None),  # the second 02:30 does not count twice
    (
        TUESDAYS,
        "Europe/Berlin",
        "2026-03-24T21:59",
        ("2026-03-24T21:00", "2026-03-24T23:00"),
    ),  # CET
    (
        TUESDAYS,
        "Europe/Berlin",
        "2026-03-31T21:00",
        ("2026-03-31T20:00", "2026-03-31T22:00"),
    ),  # CEST
    (TUESDAYS, "Europe/Berlin", "2026-03-31T22:00", None),  # end is exclusive
    (TUESDAYS, "Europe/Berlin", "2026-04-01T21:00", None),  # Wednesday
    (TUESDAYS, "Europe/Moscow", "2026-03-31T19:30", ("2026-03-31T19:00", "2026-03-31T21:00")),
    (
        {
            "rrule": "DTSTART:20260301T060000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=1;COUNT=2",
            "duration": "1h",
        },
        "Europe/Berlin",
        "2026-04-01T04:30",
        ("2026-04-01T04:00", "2026-04-01T05:00"),
    ),
    (
        {
            "rrule": "DTSTART:20260301T060000\nRRULE:FREQ=MONTHLY;BYMONTHDAY=1;COUNT=2",
            "duration": "1h",
        },
        "Europe/Berlin",
        "2026-05-01T04:30",
        None,
    ),  # COUNT exhausted
    (
        {"cron": "0 * * * *", "duration": "3h"},
        "UTC",
        "2026-01-01T10:30",  # overlapping: last to end
        ("2026-01-01T10:00", "2026-01-01T13:00"),
    ),
    (
        {"start": "2026-03-29T01:00", "end": "2026-03-29T04:00"},
        "Europe/Berlin",
        "2026-03-29T01:30",
        ("2026-03-29T00:00", "2026-03-29T02:00"),
    ),  # naive times are the window's zone (02:00-03:00 gap)
    (
        {"start": "2026-03-29T01:00Z", "end": "2026-03-29T04:00Z"},
        "Europe/Berlin",
        "2026-03-29T03:59",
        ("2026-03-29T01:00", "2026-03-29T04:00"),
    ),  # aware times are taken as given
    (
        {"start": "2026-03-29T01:00Z", "end": "2026-03-29T04:00Z"},
        "Europe/Berlin",
        "2026-03-29T04:00",
        None,
    ),
]


@pytest.mark.parametrize(("schedule", "tz", "now", "expected"), CASES)
def test_occurrence(schedule, tz, now, expected):
    got = occurrence(window(**schedule), zone(tz), ts(now))
    assert got == (None if expected is None else (ts(expected[0]), ts(expected[1])))


SELECTOR_CASES = [
    # selectors, scope, covered
    ({}, Scope("acme", "hq", "srv1", frozenset(), "disk-full"), True),
    ({}, Scope("globex", "hq", "srv1"), False),
    ({"sites": ["hq"]}, Scope("acme", "hq", "srv1"), True),
    ({"sites": ["hq"]}, Scope("acme", "branch", "srv1"), False),
    ({"sites": ["hq"]}, Scope("acme", None, None), False),  # a site-less (external) alert
    ({"assets": ["srv1", "srv2"]}, Scope("acme", "hq", "srv2"), True),
    ({"assets": ["srv1"]}, Scope("acme", "hq", "srv3"), False),
    ({"tags": ["backup", "db"]}, Scope("acme", "hq", "srv1", frozenset({"db"})), True),
    ({"tags": ["backup"]}, Scope("acme", "hq", "srv1", frozenset({"db"})), False),
    ({"rules": ["disk-full"]}, Scope("acme", "hq", "srv1", rule="disk-full"), True),
    ({"rules": ["disk-full"]}, Scope("acme", "hq", "srv1", rule="agent-silent"), False),
    (
        {"sites": ["hq"], "rules": ["disk-full"]},
        Scope("acme", "hq", "srv1", rule="disk-full"),
        True,
    ),
    (
        {"sites": ["hq"], "rules": ["disk-full"]},
        Scope("acme", "branch", "srv1", rule="disk-full"),
        False,
    ),
]


@pytest.mark.parametrize(("selectors", "scope", "covered"), SELECTOR_CASES)
def test_selectors(selectors, scope, covered):
    assert covers(window(**NIGHTLY, **selectors), scope) is covered


def test_open_until_takes_the_latest_end_of_covering_windows():
    windows = [
        MaintenanceWindow(name="short", client="acme", cron="0 22 * * *", duration=3600),
        MaintenanceWindow(name="long", client="acme", cron="0 21 * * *", duration=4 * 3600),
        MaintenanceWindow(
            name="other-site", client="acme", cron="0 20 * * *", duration=8 * 3600, sites=["b"]
        ),
    ]
    scope = Scope("acme", "hq", "srv1")
    assert open_until(windows, scope, ts("2026-01-10T22:30")) == (ts("2026-01-11T01:00"), "long")
    assert open_until(windows, scope, ts("2026-01-10T20:30")) is None


def test_client_zone_applies_when_the_window_has_none():
    w = window(**NIGHTLY)
    assert window_zone(w, {"acme": "Europe/Moscow"}).key == "Europe/Moscow"
    assert window_zone(w, {}).key == "UTC"
    assert (
        window_zone(window(**NIGHTLY, timezone="Europe/Berlin"), {"acme": "Europe/Moscow"}).key
        == "Europe/Berlin"
    )
    scope = Scope("acme")
    assert open_until([w], scope, ts("2026-03-29T19:30"), {"acme": "Europe/Moscow"}) is not None
    assert open_until([w], scope, ts("2026-03-29T19:30"), {"acme": "Europe/Berlin"}) is None


def test_next_occurrence():
    w = window(**NIGHTLY, timezone="Europe/Berlin")
    assert next_occurrence(w, zone("Europe/Berlin"), ts("2026-03-29T12:00")) == (
        ts("2026-03-29T20:00"),
        ts("2026-03-29T22:00"),
    )
    one_off = window(start="2026-01-01T00:00Z", end="2026-01-01T01:00Z")
    assert next_occurrence(one_off, zone("UTC"), ts("2026-01-02T00:00")) is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "exactly one schedule"),
        ({"cron": "0 22 * * *"}, "needs a duration"),
        ({"cron": "0 22 * *", "duration": "1h"}, "not a valid cron"),
        ({"rrule": "FREQ=SOMETIMES", "duration": "1h"}, "not a valid RRULE"),
        (
            {
                "rrule": "DTSTART;TZID=Europe/Berlin:20260101T220000\nRRULE:FREQ=DAILY",
                "duration": "1h",
            },
            "local time without a zone",
        ),
        ({"cron": "0 22 * * *", "rrule": "FREQ=DAILY", "duration": "1h"}, "exactly one schedule"),
        ({"start": "2026-01-01T00:00Z"}, "needs both start and end"),
        (
            {"start": "2026-01-01T00:00Z", "end": "2026-01-01T01:00Z", "duration": "1h"},
            "not a duration",
        ),
        ({"cron": "0 22 * * *", "duration": "1h", "timezone": "Mars/Olympus"}, "unknown time zone"),
        ({"cron": "0 22 * * *", "duration": "40d"}, "at most 31 days"),
        ({"cron": "0 22 * * *", "duration": 0}, "more than 0"),
    ],
)
def test_invalid_windows_name_the_problem(values, message):
    with pytest.raises(ValidationError, match=message):
        window(**values)


def test_a_zone_folder_name_is_an_unknown_time_zone():
    import pytest

    from collector.incidents.maintenance import zone

    with pytest.raises(ValueError, match="unknown time zone 'Europe'"):
        zone("Europe")
