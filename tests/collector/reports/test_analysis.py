"""The report's pure arithmetic, with plain values: windows, fits, forecasts, periods."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collector.contracts.model import Contract
from collector.reports import analysis, period
from collector.reports.analysis import Window
from collector.reports.sections.updates import disk_status

H = 3600


@pytest.mark.parametrize(
    ("hours", "expected"),
    [
        ([], []),
        ([(0, 1.0), (H, 1.0)], []),
        ([(0, 0.0)], [Window(0, H, 3600.0)]),
        ([(2 * H, 0.5), (0, 0.0), (H, 0.0)], [Window(0, 3 * H, 9000.0)]),  # unsorted input, merged
        ([(0, 0.0), (2 * H, 0.75)], [Window(0, H, 3600.0), Window(2 * H, 3 * H, 900.0)]),
        ([(0, -1.0)], [Window(0, H, 3600.0)]),  # never more than the hour
    ],
)
def test_downtime_windows(hours, expected):
    assert analysis.downtime_windows(hours) == expected


def test_missing_hours():
    assert analysis.missing_hours([0, 2 * H], 0, 4 * H) == [(H, 0.0), (3 * H, 0.0)]
    assert analysis.missing_hours([], 0, 0) == []


@pytest.mark.parametrize(
    ("part", "whole", "expected"), [(1, 3, 33.333), (0, 0, None), (5, 5, 100.0)]
)
def test_percent(part, whole, expected):
    assert analysis.percent(part, whole) == expected


def test_fit_exact_line_and_forecast():
    xs = [0, 1, 2, 3]
    ys = [50 + 2 * x for x in xs]
    a, b = analysis.fit(
        len(xs),
        sum(xs),
        sum(ys),
        sum(x * y for x, y in zip(xs, ys, strict=True)),
        sum(x * x for x in xs),
    )
    assert (a, b) == (50.0, 2.0)
    assert analysis.days_until(a, b, 3, 100, rising=True) == 22.0
    # rising and already above a lower ceiling: passed
    assert analysis.days_until(a, b, 3, 10, rising=True) == 0.0
    assert analysis.days_until(100, -5, 0, 0, rising=False) == 20.0
    assert analysis.days_until(100, 0, 0, 0, rising=False) is None
    assert analysis.days_until(100, 1, 0, 90, rising=True) == 0.0  # already past it
    assert analysis.days_until(0, -1, 0, 0, rising=False) == 0.0  # empty already


@pytest.mark.parametrize(
    ("intercept", "slope", "x_now"),
    [
        (40.0, 2.5, 14.0),  # a refilled toner: rising, far above empty
        (75.0, 1e-12, 14.0),  # flat, with float noise of a slope
        (75.0, 0.0, 14.0),  # flat
    ],
)
def test_days_until_a_supply_moving_away_from_empty_never_runs_out(intercept, slope, x_now):
    assert analysis.days_until(intercept, slope, x_now, 0.0, rising=False) is None


def test_days_until_a_disk_being_cleaned_up_never_fills():
    assert analysis.days_until(90.0, -0.5, 10.0, 100.0, rising=True) is None
    assert analysis.days_until(90.0, 0.5, 10.0, 100.0, rising=True) == 10.0


def test_fit_needs_points_and_spread():
    assert analysis.fit(2, 1, 1, 1, 1) is None
    assert analysis.fit(3, 3, 3, 3, 3) is None  # all x equal


def test_week_of():
    assert [analysis.week_of(t, 0) for t in (0, 6 * 86400, 7 * 86400, -5)] == [0, 0, 1, 0]


@pytest.mark.parametrize(
    ("rules", "causes", "code"),
    [
        # the two cases from issue 16: different problems are not a recurring problem
        (["rebooted", "memory-high"], [None, None], None),
        (["process-down", "backup-too-old", "tls-cert-expiring"], [None, None, None], None),
        # what recurred decides
        (["disk-space", "disk-full-soon"], [None, None], "add_capacity"),
        (["memory-high", "swap-high", "rebooted"], [None, None, None], "add_memory"),
        (["rebooted", "rebooted"], [None, None], "check_restarts"),
        (["agent-silent", "ping-loss", "disk-space"], [None, None, None], "check_power_network"),
        (["toner-low", "toner-empty"], [None, None], "stock_supplies"),
        (["backup-too-old", "backup-too-old"], [None, None], "check_backups"),
        (["process-down", "service-down"], [None, None], "check_service"),
        # a classified cause that recurred wins over the rules
        (["disk-space", "disk-space", "x"], ["hardware", "wear", None], "replace_hardware"),
        ([None, None], ["client_error", "client_error"], "train_users"),
        ([None, None], ["third_party", "third_party"], "escalate_vendor"),
        # one classified cause is no pattern; an unknown rule has no family
        (["x", "x", "x"], ["hardware", None, None], None),
        ([None], [None], None),
    ],
)
def test_recommendation(rules, causes, code):
    assert analysis.recommendation(rules, causes) == code


def test_every_shipped_rule_has_a_problem_family():
    from tests.rules.test_rule_texts import shipped

    ids = {r.id for r in shipped()}
    assert ids == set(analysis.RULE_FAMILIES)
    families = {f for f in analysis.RULE_FAMILIES.values() if f is not None}
    assert families == set(analysis.FAMILY_RECOMMENDATIONS)


def test_every_recommendation_has_a_text():
    from collector.reports import texts

    codes = set(analysis.FAMILY_RECOMMENDATIONS.values()) | set(
        analysis.CAUSE_RECOMMENDATIONS.values()
    )
    assert codes <= set(texts.RECOMMENDATIONS)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ((1, 0, 0, 0, 10), "ok"),
        ((0, 0, 0, 0, 0), "failing"),
        ((1, 8, 8, 0, 0), "warning"),
        ((1, 8, 0, 2, 0), "warning"),
        ((1, 0, 0, 0, 95), "warning"),
        ((None, None, 0, None, None), "ok"),
    ],
)
def test_disk_status(values, expected):
    assert disk_status(*values) == expected


def test_periods_without_contract_are_utc_months():
    p = period.resolve("2026-12", None)
    assert (p.start, p.end) == (
        datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
        datetime(2027, 1, 1, tzinfo=UTC).timestamp(),
    )
    assert period.shift("2026-01", -1) == "2025-12" and period.shift("2026-11", 3) == "2027-02"
    now = datetime(2026, 11, 5, tzinfo=UTC).timestamp()
    assert (
        period.current_label(None, now) == "2026-11"
        and period.last_completed(None, now) == "2026-10"
    )


def test_periods_follow_the_contract():
    contract = Contract.model_validate(
        {
            "client": "acme",
            "plan": {"name": "p"},
            "period": {"start_day": 15},
            "calendar": {"timezone": "Asia/Kolkata"},
        }
    )
    p = period.resolve("2026-10", contract)
    assert p.start == datetime(2026, 10, 14, 18, 30, tzinfo=UTC).timestamp()
    assert p.end == datetime(2026, 11, 14, 18, 30, tzinfo=UTC).timestamp()
    # Rollup hours inside it: from 19:00 UTC on (the 18:00 hour starts before the period).
    assert p.hours[0] == datetime(2026, 10, 14, 19, tzinfo=UTC).timestamp()
    assert (
        period.last_completed(contract, datetime(2026, 11, 14, 19, tzinfo=UTC).timestamp())
        == "2026-10"
    )
    assert (
        period.last_completed(contract, datetime(2026, 11, 14, 18, tzinfo=UTC).timestamp())
        == "2026-09"
    )
