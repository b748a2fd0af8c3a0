"""Pure time arithmetic of the management views: ranges, local buckets, ages, months, percent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from collector.errors import InvalidArgument
from collector.management.periods import (
    DEFAULT_SPAN,
    TimeRange,
    age_bucket,
    buckets,
    months_covered,
    percent,
    resolve_range,
    time_zone,
)
from tests.collector.management.scenario import at

H, D = 3600.0, 86400.0


@pytest.mark.parametrize(
    ("age", "label"),
    [
        (0, "<4h"),
        (4 * H - 1, "<4h"),
        (4 * H, "4-24h"),
        (24 * H - 0.5, "4-24h"),
        (24 * H, "1-3d"),
        (3 * D - 1, "1-3d"),
        (3 * D, "3-7d"),
        (7 * D - 1, "3-7d"),
        (7 * D, ">7d"),
        (400 * D, ">7d"),
    ],
)
def test_age_bucket_upper_bounds_are_exclusive(age, label):
    assert age_bucket(age) == label


def test_resolve_range_defaults_to_the_last_30_days():
    now = at("2026-10-20 12:00")
    assert resolve_range(None, None, now) == TimeRange(now - DEFAULT_SPAN, now)
    until = datetime(2026, 10, 10, tzinfo=UTC)
    assert resolve_range(None, until, now) == TimeRange(
        until.timestamp() - DEFAULT_SPAN, until.timestamp()
    )


def test_resolve_range_takes_naive_times_as_utc_and_keeps_offsets():
    span = resolve_range(
        datetime(2026, 10, 1), datetime(2026, 10, 2, 2, tzinfo=timezone(timedelta(hours=2))), 0
    )
    assert span == TimeRange(at("2026-10-01 00:00"), at("2026-10-02 00:00"))


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (datetime(2026, 10, 2), datetime(2026, 10, 1), "since must be before until"),
        (datetime(2026, 10, 1), datetime(2026, 10, 1), "since must be before until"),
        (datetime(1, 1, 1), datetime(2026, 10, 1), "since: must be between 1970 and 2200"),
        (datetime(2026, 10, 1), datetime(9999, 12, 31), "until: must be between 1970 and 2200"),
    ],
)
def test_resolve_range_refuses_bad_ranges(since, until, message):
    with pytest.raises(InvalidArgument, match=message):
        resolve_range(since, until, at("2026-10-20 12:00"))


@pytest.mark.parametrize("name", ["Europe", "Nowhere/City", "", "../etc/passwd", "/etc/localtime"])
def test_unknown_time_zones_are_refused_by_name(name):
    with pytest.raises(InvalidArgument, match="tz: unknown time zone"):
        time_zone(name)


def test_day_buckets_are_clipped_to_the_range():
    span = TimeRange(at("2026-10-01 06:00"), at("2026-10-03 12:00"))
    got = [(b.label, b.end - b.start) for b in buckets(span, ZoneInfo("UTC"), "day")]
    assert got == [("2026-10-01", 18 * H), ("2026-10-02", 24 * H), ("2026-10-03", 12 * H)]


def test_week_buckets_start_on_monday_in_the_zone():
    # 2026-10-04 is a Sunday; 23:30 UTC is already Monday 01:30 in Berlin.
    span = TimeRange(at("2026-10-04 23:30"), at("2026-10-20 00:00"))
    assert [b.label for b in buckets(span, ZoneInfo("UTC"), "week")] == [
        "2026-09-28",
        "2026-10-05",
        "2026-10-12",
        "2026-10-19",
    ]
    assert [b.label for b in buckets(span, ZoneInfo("Europe/Berlin"), "week")] == [
        "2026-10-05",
        "2026-10-12",
        "2026-10-19",
    ]


def test_spring_forward_day_is_23_hours():
    span = TimeRange(
        at("2026-03-28 23:00"), at("2026-03-30 22:00")
    )  # Berlin: Mar 29 00:00 .. Mar 31 00:00
    got = [(b.label, b.end - b.start) for b in buckets(span, ZoneInfo("Europe/Berlin"), "day")]
    assert got == [("2026-03-29", 23 * H), ("2026-03-30", 24 * H)]


def test_too_many_buckets_is_a_clear_error():
    span = TimeRange(at("2020-01-01 00:00"), at("2026-01-01 00:00"))
    with pytest.raises(InvalidArgument, match="at most 400 buckets"):
        buckets(span, ZoneInfo("UTC"), "day")
    assert len(buckets(span, ZoneInfo("UTC"), "week")) == 314


@pytest.mark.parametrize(
    ("since", "until", "tz", "months"),
    [
        ("2026-10-01 00:00", "2026-11-01 00:00", "UTC", "1.0000"),
        ("2026-10-01 00:00", "2027-01-01 00:00", "UTC", "3.0000"),
        ("2026-02-01 00:00", "2026-02-15 00:00", "UTC", "0.5000"),
        ("2026-10-16 00:00", "2026-11-16 00:00", "UTC", "1.0161"),  # 16/31 + 15/30
        # Berlin: October there is 745 h long (DST ends); the range covers 743 h of it and 1 h of November.
        ("2026-10-01 00:00", "2026-11-01 00:00", "Europe/Berlin", "0.9987"),
    ],
)
def test_months_covered(since, until, tz, months):
    assert months_covered(TimeRange(at(since), at(until)), ZoneInfo(tz)) == Decimal(months)


@pytest.mark.parametrize(
    ("part", "whole", "expected"), [(2, 3, 66.7), (0, 5, 0.0), (5, 5, 100.0), (0, 0, None)]
)
def test_percent(part, whole, expected):
    assert percent(part, whole) == expected
