"""The SLA clocks of one incident as table tests (pure: plain values, hand-computed times).

Contract: Munich office hours (Europe/Berlin, Mon–Fri 08:00–17:00, Bavarian holidays),
critical is always_on (its targets run on the calendar clock), and

    critical  response 30m, resolution 4h      (calendar: always_on)
    major     response 2h,  resolution 16h     (business)
    minor     response 4h business, resolution 72h calendar
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from collector.contracts.model import Calendar, Sla
from collector.sla.clock import Pause, compute, notices_due

BERLIN = ZoneInfo("Europe/Berlin")
H = 3600.0

CALENDAR = Calendar.model_validate(
    {
        "timezone": "Europe/Berlin",
        "business_hours": {d: "08:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": {"country": "DE", "subdivision": "BY"},
        "always_on": ["critical"],
    }
)
SLA = Sla.model_validate(
    {
        "critical": {"response": "30m", "resolution": "4h"},
        "major": {"response": "2h", "resolution": "16h"},
        "minor": {
            "response": {"within": "4h", "clock": "business"},
            "resolution": {"within": "72h", "clock": "calendar"},
        },
    }
)


def at(text: str | None) -> float | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=BERLIN).timestamp()


def local(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, BERLIN).strftime("%Y-%m-%d %H:%M %Z")


def clocks(priority, opened, now, responded=None, resolved=None, pauses=()):
    return compute(
        priority=priority,
        targets=SLA.for_priority(priority),
        calendar=CALENDAR,
        opened_at=at(opened),
        responded_at=at(responded),
        resolved_at=at(resolved),
        pauses=[Pause(at(a), at(b), r) for a, b, r in pauses],
        now=at(now),
    )


CASES = [
    # name, priority, opened, now, responded, resolved, pauses,
    #   (response due, response elapsed h, response breached, response state),
    #   (resolution due, resolution elapsed h, resolution breached, resolution state), paused h
    (
        "weekend and spring DST, business clock",
        "major",
        "2026-03-27 16:30",
        "2026-03-30 16:00",
        "2026-03-30 09:00",
        None,
        (),
        # response: 0.5 h Fri + 1 h Mon (met); resolution: 0.5 h Fri + 9 h Mon … + 6.5 h Tue
        ("2026-03-30 09:30 CEST", 1.5, False, "stopped"),
        ("2026-03-31 14:30 CEST", 8.5, False, "running"),
        0,
    ),
    (
        "always_on critical over the DST change: calendar seconds",
        "critical",
        "2026-03-28 22:00",
        "2026-03-29 04:00",
        "2026-03-28 22:40",
        None,
        (),
        # 22:00 CET + 4 h real = 03:00 CEST; at 04:00 CEST 5 h have passed (the night lost an hour)
        ("2026-03-28 22:30 CET", 40 / 60, True, "stopped"),
        ("2026-03-29 03:00 CEST", 5, True, "running"),
        0,
    ),
    (
        "opened at night: nothing counts until 08:00",
        "major",
        "2026-03-02 22:00",
        "2026-03-03 09:00",
        None,
        None,
        (),
        ("2026-03-03 10:00 CET", 1, False, "running"),
        ("2026-03-04 15:00 CET", 1, False, "running"),
        0,
    ),
    (
        "public holiday (Corpus Christi) is skipped",
        "major",
        "2026-06-03 16:00",
        "2026-06-05 09:30",
        None,
        None,
        (),
        # Wed 16–17 + Fri 08:00–09:30 = 2.5 h; resolution: Wed 1 h + Fri 9 h + Mon 6 h
        ("2026-06-05 09:00 CEST", 2.5, True, "running"),
        ("2026-06-08 14:00 CEST", 2.5, False, "running"),
        0,
    ),
    (
        "a pause spanning a weekend moves the due time",
        "major",
        "2026-03-05 09:00",
        "2026-03-09 10:30",
        "2026-03-05 09:10",
        None,
        [("2026-03-06 15:00", "2026-03-09 10:00", "waiting_for_client")],
        # Thu 8 h + Fri 7 h until the pause, then Mon from 10:00: 16 h reached Mon 11:00
        ("2026-03-05 11:00 CET", 10 / 60, False, "stopped"),
        ("2026-03-09 11:00 CET", 15.5, False, "running"),
        67,
    ),
    (
        "the same incident, resolved after its due time",
        "major",
        "2026-03-05 09:00",
        "2026-03-10 09:00",
        "2026-03-05 09:10",
        "2026-03-09 11:30",
        [("2026-03-06 15:00", "2026-03-09 10:00", "waiting_for_client")],
        ("2026-03-05 11:00 CET", 10 / 60, False, "stopped"),
        ("2026-03-09 11:00 CET", 16.5, True, "stopped"),
        67,
    ),
    (
        "still waiting: paused; due as if it resumed now",
        "major",
        "2026-03-05 09:00",
        "2026-03-06 16:00",
        "2026-03-05 09:10",
        None,
        [("2026-03-06 15:00", None, "waiting_for_third_party")],
        ("2026-03-05 11:00 CET", 10 / 60, False, "stopped"),
        # 15 h counted; 1 h left, resuming at 16:00 Fri → 17:00 Fri
        ("2026-03-06 17:00 CET", 15, False, "paused"),
        1,
    ),
    (
        "calendar and business targets of one priority",
        "minor",
        "2026-03-06 16:00",
        "2026-03-09 12:00",
        None,
        None,
        (),
        ("2026-03-09 11:00 CET", 5, True, "running"),
        ("2026-03-09 16:00 CET", 68, False, "running"),
        0,
    ),
    (
        "two pauses, and the time between resolution and reopen",
        "minor",
        "2026-03-02 08:00",
        "2026-03-05 20:00",
        "2026-03-02 08:30",
        None,
        [
            ("2026-03-02 10:00", "2026-03-02 12:00", "waiting_for_client"),
            ("2026-03-03 12:00", "2026-03-04 12:00", "resolved"),
        ],
        ("2026-03-02 12:00 CET", 0.5, False, "stopped"),
        # 84 h elapsed − 26 h paused = 58 h; due at 08:00 + 72 h + 26 h = Thu 03-06 10:00
        ("2026-03-06 10:00 CET", 58, False, "running"),
        26,
    ),
]


@pytest.mark.parametrize(
    (
        "name",
        "priority",
        "opened",
        "now",
        "responded",
        "resolved",
        "pauses",
        "response",
        "resolution",
        "paused",
    ),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_clocks(
    name, priority, opened, now, responded, resolved, pauses, response, resolution, paused
):
    status = clocks(priority, opened, now, responded, resolved, pauses)
    for got, (due, hours, breached, state) in (
        (status.response, response),
        (status.resolution, resolution),
    ):
        assert (local(got.due_at), round(got.elapsed / H, 4), got.breached, got.state) == (
            due,
            round(hours, 4),
            breached,
            state,
        ), got.target
    assert status.paused_seconds == pytest.approx(paused * H)


def test_warning_time_is_warn_at_of_the_target():
    status = clocks("major", "2026-03-27 16:30", "2026-03-27 16:45")
    assert local(status.response.warn_due_at) == "2026-03-30 09:00 CEST"  # 1.5 h = 75 % of 2 h
    # 12 h of 16 h: 0.5 h Fri + 9 h Mon + 2.5 h Tue
    assert local(status.resolution.warn_due_at) == "2026-03-31 10:30 CEST"


def test_a_priority_change_recomputes_from_detection_and_keeps_pauses():
    pauses = [("2026-03-06 15:00", "2026-03-09 10:00", "waiting_for_client")]
    major = clocks(
        "major", "2026-03-05 09:00", "2026-03-09 10:30", "2026-03-05 09:10", None, pauses
    )
    assert local(major.resolution.due_at) == "2026-03-09 11:00 CET"
    # Raised to critical: 4 h of calendar time from detection — long breached.
    critical = clocks(
        "critical", "2026-03-05 09:00", "2026-03-09 10:30", "2026-03-05 09:10", None, pauses
    )
    assert local(critical.resolution.due_at) == "2026-03-05 13:00 CET"
    assert critical.resolution.breached and critical.resolution.clock == "calendar"
    # 97.5 h since detection, 67 h of it paused
    assert critical.resolution.elapsed == pytest.approx(30.5 * H)
    # Lowered to minor (72 h calendar): 30 h before the pause, 42 h after Mon 10:00.
    minor = clocks(
        "minor", "2026-03-05 09:00", "2026-03-09 10:30", "2026-03-05 09:10", None, pauses
    )
    assert local(minor.resolution.due_at) == "2026-03-11 04:00 CET"
    assert not minor.resolution.breached
    assert minor.paused_seconds == critical.paused_seconds == major.paused_seconds == 67 * H


def test_overall_state():
    assert clocks("major", "2026-03-02 09:00", "2026-03-02 10:00").state == "running"
    assert (
        clocks(
            "major", "2026-03-02 09:00", "2026-03-02 10:00", "2026-03-02 09:05", "2026-03-02 09:50"
        ).state
        == "stopped"
    )
    assert (
        clocks(
            "major",
            "2026-03-02 09:00",
            "2026-03-02 10:00",
            "2026-03-02 09:05",
            None,
            [("2026-03-02 09:30", None, "waiting_for_client")],
        ).state
        == "paused"
    )


@pytest.mark.parametrize(
    ("now", "notified", "due"),
    [
        ("2026-03-02 09:10", [], []),
        # 1.5 h of 2 h: the response warning
        ("2026-03-02 10:30", [], [("response", "warning")]),
        ("2026-03-02 10:45", ["response:warning"], []),
        # past due: the breach (once)
        ("2026-03-02 11:01", ["response:warning"], [("response", "breach")]),
        ("2026-03-02 11:30", ["response:warning", "response:breach"], []),
        # never looked at before the breach: only the breach, no late warning
        ("2026-03-02 12:00", [], [("response", "breach")]),
        # 12 h of resolution time (Tue 12:00) with the response long breached and notified
        ("2026-03-03 12:00", ["response:warning", "response:breach"], [("resolution", "warning")]),
    ],
)
def test_notices_due(now, notified, due):
    status = clocks("major", "2026-03-02 09:00", now)
    assert notices_due(status, notified) == due


def test_a_late_stop_is_a_breach_but_never_a_warning():
    late = clocks("major", "2026-03-02 09:00", "2026-03-02 12:00", responded="2026-03-02 11:30")
    assert notices_due(late, []) == [("response", "breach")]
    early = clocks("major", "2026-03-02 09:00", "2026-03-02 12:00", responded="2026-03-02 10:50")
    assert notices_due(early, []) == []  # stopped in time (after 75 %): nothing to say any more


@pytest.mark.parametrize(
    ("kind", "language", "subject", "body"),
    [
        (
            "warning",
            "en",
            "SLA warning: UPK-acme-7 response due 2 Mar 2026, 11:00 CET",
            "SLA warning for UPK-acme-7 (major): 75% of the response time of 2 hours (business time) "
            "is used; it is due 2 Mar 2026, 11:00 CET.",
        ),
        (
            "breach",
            "en",
            "SLA breached: UPK-acme-7 response",
            "SLA breached for UPK-acme-7 (major): the response target of 2 hours (business time) was "
            "due 2 Mar 2026, 11:00 CET; 1 hour, 30 minutes counted.",
        ),
        (
            "breach",
            "ru",
            "Нарушение SLA: UPK-acme-7, время реакции",
            "Нарушение SLA по UPK-acme-7 (высокий): срок реакции 2 часа (рабочее время) истёк "
            "2 мар. 2026\u202fг., 11:00 CET; учтено 1 час 30 минут.",
        ),
    ],
)
def test_notice_text(kind, language, subject, body):
    from collector.sla.service import notice_text

    status = clocks("major", "2026-03-02 09:00", "2026-03-02 10:30")
    assert notice_text("UPK-acme-7", status.response, kind, "major", "Europe/Berlin", language) == (
        subject,
        body,
    )
