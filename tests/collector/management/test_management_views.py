"""The management views against the hand-built October (conftest.py), on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from collector.management import views
from collector.management.periods import TimeRange, age_bucket
from tests.collector.management.scenario import NOW, UNTIL, at

pytestmark = pytest.mark.usefixtures("scenario")
BERLIN = ZoneInfo("Europe/Berlin")
UTC = ZoneInfo("UTC")


def nonzero(buckets, field):
    return {b.label: getattr(b, field) for b in buckets if getattr(b, field)}


def test_created_vs_resolved_per_utc_day(read, october):
    view = read(views.created_vs_resolved, october, UTC, "day")
    assert len(view.buckets) == 31 and view.buckets[0].label == "2026-10-01"
    assert nonzero(view.buckets, "created") == {
        "2026-10-02": 1,
        "2026-10-05": 1,
        "2026-10-10": 1,
        "2026-10-16": 1,
        "2026-10-19": 1,
        "2026-10-20": 2,
    }
    # G4 was opened in September but resolved on Oct 1: it counts as resolved only.
    assert nonzero(view.buckets, "resolved") == {
        "2026-10-01": 1,
        "2026-10-02": 1,
        "2026-10-06": 1,
        "2026-10-12": 1,
    }
    assert (view.created, view.resolved) == (7, 4)


def test_created_vs_resolved_follows_the_time_zone_and_dst(read, october):
    view = read(views.created_vs_resolved, october, BERLIN, "day")
    # Oct 1 00:00 UTC is 02:00 in Berlin; Nov 1 00:00 UTC is 01:00 there: 32 local days touched.
    assert [view.buckets[0].label, view.buckets[-1].label, len(view.buckets)] == [
        "2026-10-01",
        "2026-11-01",
        32,
    ]
    assert view.buckets[0].start.timestamp() == october.since
    assert view.buckets[-1].end.timestamp() == october.until
    # A2 opened at 23:30 UTC on the 5th: the 6th in Berlin.
    assert nonzero(view.buckets, "created") == {
        "2026-10-02": 1,
        "2026-10-06": 1,
        "2026-10-10": 1,
        "2026-10-16": 1,
        "2026-10-19": 1,
        "2026-10-20": 2,
    }
    dst_day = next(b for b in view.buckets if b.label == "2026-10-25")
    assert (dst_day.end - dst_day.start).total_seconds() == 25 * 3600  # clocks went back an hour


def test_created_vs_resolved_per_week(read, october):
    view = read(views.created_vs_resolved, october, UTC, "week")
    assert [b.label for b in view.buckets] == [
        "2026-09-28",
        "2026-10-05",
        "2026-10-12",
        "2026-10-19",
        "2026-10-26",
    ]
    assert [b.created for b in view.buckets] == [1, 2, 1, 3, 0]
    assert [b.resolved for b in view.buckets] == [2, 1, 1, 0, 0]


def test_open_incidents_by_age_and_priority(read):
    view = read(views.open_by_age, NOW)
    counts = {r.priority: {k: v for k, v in r.counts.items() if v} for r in view.rows}
    # A3 2 h; G3 exactly 4 h (not "<4h"); A4 exactly 24 h; G2 4 d; A5 22.5 d.
    assert counts == {
        "critical": {"3-7d": 1},
        "major": {"4-24h": 1},
        "minor": {"<4h": 1, "1-3d": 1},
        "technical": {">7d": 1},
    }
    assert [r.priority for r in view.rows] == ["critical", "major", "minor", "technical"]
    assert view.totals == {"<4h": 1, "4-24h": 1, "1-3d": 1, "3-7d": 1, ">7d": 1} and view.total == 5
    assert view.oldest_opened_at.timestamp() == at("2026-09-28 00:00")


def test_open_incidents_sql_buckets_agree_with_the_pure_function(read, store):
    import sqlalchemy as sa

    from collector.incidents.lifecycle import ACTIVE
    from collector.schema import incidents

    with store.read() as conn:
        rows = conn.execute(
            sa.select(incidents.c.priority, incidents.c.opened_at).where(
                incidents.c.state.in_(ACTIVE)
            )
        ).all()
    expected: dict[tuple[str, str], int] = {}
    for priority, opened in rows:
        key = (priority, age_bucket(NOW - opened))
        expected[key] = expected.get(key, 0) + 1
    view = read(views.open_by_age, NOW)
    got = {(r.priority, k): v for r in view.rows for k, v in r.counts.items() if v}
    assert got == expected


def test_sla_compliance_per_client_and_priority(read, october):
    view = read(views.sla_compliance, october, NOW)

    def figures(row):
        return (
            row.incidents,
            row.response.met,
            row.response.breached,
            row.response.pending,
            row.response.untracked,
            row.response.percent,
            row.resolution.met,
            row.resolution.breached,
            row.resolution.pending,
            row.resolution.untracked,
            row.resolution.percent,
        )

    assert {(r.client, r.priority): figures(r) for r in view.rows} == {
        ("acme", "critical"): (1, 1, 0, 0, 0, 100.0, 1, 0, 0, 0, 100.0),
        ("acme", "major"): (1, 0, 1, 0, 0, 0.0, 1, 0, 0, 0, 100.0),
        ("acme", "minor"): (2, 1, 0, 1, 0, 100.0, 0, 1, 1, 0, 0.0),
        ("globex", "critical"): (1, 0, 1, 0, 0, 0.0, 0, 1, 0, 0, 0.0),  # running past due: breached
        ("globex", "major"): (2, 1, 0, 0, 1, 100.0, 0, 1, 0, 1, 0.0),
    }
    assert [(r.client, r.priority) for r in view.rows][:3] == [
        ("acme", "critical"),
        ("acme", "major"),
        ("acme", "minor"),
    ]
    assert {r.client: figures(r) for r in view.clients} == {
        "acme": (4, 2, 1, 1, 0, 66.7, 2, 1, 1, 0, 66.7),
        "globex": (3, 1, 1, 0, 1, 50.0, 0, 2, 0, 1, 0.0),
    }
    assert figures(view.overall) == (7, 3, 2, 1, 1, 60.0, 2, 3, 1, 1, 40.0)
    # An hour earlier, G2's resolution clock was not due yet: still running, not judged.
    earlier = read(views.sla_compliance, october, NOW - 3600)
    g2 = next(r for r in earlier.rows if (r.client, r.priority) == ("globex", "critical"))
    assert (g2.resolution.breached, g2.resolution.pending, g2.resolution.percent) == (0, 1, None)


def test_technician_workload(read, october):
    view = read(views.technician_workload, october)
    rows = {
        r.actor: (
            r.incident_minutes,
            r.request_minutes,
            r.total_minutes,
            r.time_entries,
            r.incidents_worked,
            r.requests_worked,
            r.acknowledged,
            r.resolved,
            r.automatic,
        )
        for r in view.rows
    }
    assert rows == {
        "alice": (180, 120, 300, 4, 3, 1, 2, 1, False),
        "bob": (60, 60, 120, 3, 2, 1, 1, 1, False),
        "upkeep": (0, 0, 0, 0, 0, 0, 0, 2, True),
    }
    assert [r.actor for r in view.rows] == ["alice", "bob", "upkeep"]  # people by time, Upkeep last
    assert view.total_minutes == 420


def test_top_problem_assets_and_clients(read, october):
    view = read(views.top_problems, october)

    def pairs(rows):
        return [(r.client, getattr(r, "asset", None), r.incidents, r.minutes) for r in rows]

    assert pairs(view.assets_by_incidents) == [
        ("acme", "srv1", 3, 105),
        ("globex", "nas", 2, 135),
        ("acme", "printer1", 1, 0),
        ("globex", "sw1", 1, 0),
    ]
    assert pairs(view.assets_by_time) == [("globex", "nas", 2, 135), ("acme", "srv1", 3, 105)]
    assert pairs(view.clients_by_incidents) == [("acme", None, 4, 105), ("globex", None, 3, 195)]
    assert pairs(view.clients_by_time) == [
        ("globex", None, 3, 195),
        ("initech", None, 0, 120),
        ("acme", None, 4, 105),
    ]
    limited = read(views.top_problems, october, 1)
    assert pairs(limited.assets_by_incidents) == [("acme", "srv1", 3, 105)]


def test_time_vs_fee_flags_the_client_that_costs_more_than_it_pays(read, october):
    view = read(views.time_vs_fee, october, UTC, Decimal(60))
    rows = {
        r.client: (r.minutes, r.hours, r.cost, r.fee, r.margin, r.currency, r.loss)
        for r in view.rows
    }
    assert rows == {
        "acme": (
            105,
            Decimal("1.75"),
            Decimal("105.00"),
            Decimal("100.00"),
            Decimal("-5.00"),
            "EUR",
            True,
        ),
        "globex": (
            195,
            Decimal("3.25"),
            Decimal("195.00"),
            Decimal("500.00"),
            Decimal("305.00"),
            "USD",
            False,
        ),
        "initech": (120, Decimal("2.00"), Decimal("120.00"), None, None, None, False),
    }  # oldco: disabled, no time, no contract → not listed
    assert view.rows[0].client == "acme" and view.loss_clients == ["acme"]
    assert all(r.months == Decimal("1.0000") for r in view.rows)
    cheaper = read(views.time_vs_fee, october, UTC, Decimal(50))
    assert cheaper.loss_clients == []  # 1.75 h × 50 = 87.50 < 100


def test_time_vs_fee_prorates_the_fee_for_part_of_a_month(read):
    half = TimeRange(at("2026-10-01 00:00"), at("2026-10-16 12:00"))  # 15.5 of 31 days
    view = read(views.time_vs_fee, half, UTC, Decimal(60))
    acme = next(r for r in view.rows if r.client == "acme")
    assert acme.months == Decimal("0.5000") and acme.fee == Decimal("50.00")
    assert acme.minutes == 90 and acme.cost == Decimal("90.00") and acme.loss  # A1 60 + A2 30


def test_points_consumption(read, october):
    view = read(views.points_consumption, october)
    acme, globex = view.clients
    assert (acme.client, acme.charged, acme.balance, acme.overdraft) == ("acme", 1150, -50, 50)
    assert [
        (p.period, p.allotment, p.charged, p.topups, p.expired, p.net) for p in acme.periods
    ] == [("2026-10", 1000, 1150, 100, 0, -50)]  # September's expiry is September's statement
    # The November charge is after the range: neither in the movements nor in the balance.
    assert (globex.client, globex.charged, globex.balance, globex.overdraft) == (
        "globex",
        300,
        1700,
        0,
    )
    assert view.charged == 1450 and view.overdrawn_clients == ["acme"]


def test_points_balance_is_as_of_until(read):
    view = read(views.points_consumption, TimeRange(at("2026-10-01 00:00"), at("2026-10-19 00:00")))
    acme = next(c for c in view.clients if c.client == "acme")
    assert (acme.charged, acme.balance, acme.overdraft) == (
        250,
        750,
        0,
    )  # before the 900 charge and top-up


def test_connector_health(read, october):
    view = read(views.connector_health, october, NOW)
    jira, redmine = view.connectors
    assert (jira.name, jira.pending, jira.in_flight, jira.failed, jira.delivered) == (
        "jira",
        2,
        0,
        1,
        1,
    )
    assert jira.oldest_pending_age_seconds == 7200 and jira.max_attempts == 12
    assert jira.last_error == "HTTP 400: bad field"
    assert (
        redmine.name,
        redmine.pending,
        redmine.in_flight,
        redmine.failed,
        redmine.delivered,
    ) == ("redmine", 0, 1, 0, 1)
    assert redmine.oldest_pending_age_seconds == 1800 and redmine.last_error is None
    assert [
        (p.name, p.subject, p.state, p.attempts, p.last_error) for p in view.connector_problems
    ] == [
        ("jira", "UPK-globex-2", "dead", 12, "HTTP 400: bad field"),
        ("jira", "UPK-globex-3", "pending", 3, "HTTP 503"),
    ]
    assert view.connector_problems[0].next_attempt_at is None
    kinds = {
        q.name: (q.pending, q.failed, q.delivered, q.oldest_pending_age_seconds)
        for q in view.notifications
    }
    assert kinds == {"low_balance": (0, 1, 1, None), "report": (1, 0, 0, 21600)}
    assert [(p.name, p.last_error) for p in view.notification_problems] == [
        ("low_balance", "SMTP 550 mailbox unavailable")
    ]


def test_views_of_an_empty_range_are_empty(read):
    empty = TimeRange(UNTIL + 10 * 86400, UNTIL + 11 * 86400)
    assert read(views.created_vs_resolved, empty, UTC, "day").created == 0
    assert (
        read(views.sla_compliance, empty, NOW).rows == []
        and read(views.sla_compliance, empty, NOW).overall.incidents == 0
    )
    assert read(views.technician_workload, empty).rows == []
    assert read(views.top_problems, empty).assets_by_incidents == []
    # points are per contract period: a day in November shows November's statement up to then
    assert read(views.points_consumption, empty).charged == 100  # globex's 2 November charge
