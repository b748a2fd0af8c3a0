"""Who is on call: table tests over a simulated clock (hand-overs, DST, holidays, layers,
overrides). Every moment is written as Europe/Berlin wall time so the tables read like the
schedule an admin has in mind."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from collector.oncall.schedule import Layer, Override, Rotation, next_change, nights, shifts, who_at

BERLIN = ZoneInfo("Europe/Berlin")


def t(text: str) -> float:
    """'2026-03-30 08:59' in Berlin → epoch."""
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


WEEKLY = Rotation(
    "primary",
    (
        Layer(
            ("anna", "boris", "chen"), date(2026, 3, 2), "Europe/Berlin", time(9, 0), 7, name="week"
        ),
    ),
)


@pytest.mark.parametrize(
    ("moment", "person"),
    [
        ("2026-03-02 08:59", None),  # before the first hand-over
        ("2026-03-02 09:00", "anna"),
        ("2026-03-09 08:59", "anna"),
        ("2026-03-09 09:00", "boris"),
        ("2026-03-16 09:00", "chen"),
        ("2026-03-23 09:00", "anna"),  # round again
        # DST spring forward (29 March 2026, 02:00 → 03:00): the hand-over stays at 09:00 local
        ("2026-03-30 08:59", "anna"),
        ("2026-03-30 09:00", "boris"),
        # DST fall back (25 October 2026, 03:00 → 02:00)
        ("2026-10-26 08:59", "anna"),  # 34 weeks after the start: hand-over 34 → boris
        ("2026-10-26 09:00", "boris"),
    ],
)
def test_weekly_handover_at_local_time_across_dst(moment: str, person: str | None) -> None:
    assert who_at(WEEKLY, [], t(moment)).person == person


def test_the_week_across_spring_forward_is_167_hours() -> None:
    start = t("2026-03-23 09:00")
    change = next_change(WEEKLY, [], start)
    assert change is not None
    assert change[0] == t("2026-03-30 09:00")
    assert change[0] - start == 167 * 3600
    autumn = next_change(WEEKLY, [], t("2026-10-19 09:00"))
    assert autumn is not None and autumn[0] - t("2026-10-19 09:00") == 169 * 3600


def _closed(days: set[date]):
    return lambda day: day in days


# Easter Monday 2026 is 6 April; 1 May 2026 is a Friday.
HOLIDAYS = {date(2026, 4, 6), date(2026, 5, 1)}


@pytest.mark.parametrize(
    ("moment", "person"),
    [
        # 2 Mar boris, 9 chen, 16 anna, 23 boris, 30 chen, then 6 April is Easter Monday
        ("2026-04-06 09:00", "chen"),  # chen keeps the phone over the holiday
        ("2026-04-06 23:00", "chen"),
        ("2026-04-07 08:59", "chen"),
        ("2026-04-07 09:00", "anna"),  # the hand-over moved to Tuesday
        ("2026-04-13 09:00", "boris"),  # the next one is on its own Monday again
    ],
)
def test_weekly_handover_moves_off_a_holiday(moment: str, person: str) -> None:
    rotation = Rotation(
        "primary",
        (
            Layer(
                ("boris", "chen", "anna"),
                date(2026, 3, 2),
                "Europe/Berlin",
                time(9, 0),
                7,
                closed=_closed(HOLIDAYS),
            ),
        ),
    )
    assert who_at(rotation, [], t(moment)).person == person


@pytest.mark.parametrize(
    ("moment", "person"),
    [
        ("2026-04-30 09:00", "anna"),  # Thursday
        ("2026-05-01 09:00", "anna"),  # Friday holiday: no hand-over
        ("2026-05-02 08:59", "anna"),
        ("2026-05-02 09:00", "boris"),  # Saturday: the Friday slot moved here (one hand-over)
        ("2026-05-03 09:00", "anna"),  # nobody is skipped
    ],
)
def test_daily_rotation_holiday_keeps_the_phone_without_skipping_anyone(
    moment: str, person: str
) -> None:
    rotation = Rotation(
        "daily",
        (
            Layer(
                ("anna", "boris"),
                date(2026, 4, 30),
                "Europe/Berlin",
                time(9, 0),
                1,
                closed=_closed(HOLIDAYS),
            ),
        ),
    )
    assert who_at(rotation, [], t(moment)).person == person


FOLLOW_THE_SUN = Rotation(
    "sun",
    (
        Layer(
            ("eva", "finn"),
            date(2026, 3, 2),
            "Europe/Berlin",
            time(8, 0),
            7,
            hours=(8 * 60, 20 * 60),
            name="europe",
        ),
        Layer(
            ("kim", "lee"),
            date(2026, 3, 2),
            "Asia/Singapore",
            time(8, 0),
            7,
            hours=(3 * 60, 15 * 60),
            name="asia",
        ),
    ),
)


@pytest.mark.parametrize(
    ("moment", "person", "layer"),
    [
        ("2026-03-03 07:59", "kim", "asia"),  # 14:59 in Singapore (asia covers 03:00-15:00 there)
        ("2026-03-03 08:00", "eva", "europe"),
        ("2026-03-03 19:59", "eva", "europe"),
        ("2026-03-03 20:00", "kim", "asia"),
        ("2026-03-10 12:00", "finn", "europe"),
        ("2026-03-10 22:00", "lee", "asia"),
    ],
)
def test_follow_the_sun_layers(moment: str, person: str, layer: str) -> None:
    found = who_at(FOLLOW_THE_SUN, [], t(moment))
    assert (found.person, found.layer) == (person, layer)


def test_follow_the_sun_next_change_is_the_window_edge() -> None:
    change = next_change(FOLLOW_THE_SUN, [], t("2026-03-03 12:00"))
    assert change is not None
    assert change[0] == t("2026-03-03 20:00") and change[1].person == "kim"


VACATION = Override(
    "primary",
    "chen",
    t("2026-03-11 00:00"),
    t("2026-03-13 00:00"),
    replaces="boris",
    reason="vacation",
    created_by="lead",
)
SWAP = Override(
    "primary",
    "boris",
    t("2026-03-02 09:00"),
    t("2026-03-09 09:00"),
    reason="swap",
    created_by="anna",
)


@pytest.mark.parametrize(
    ("moment", "overrides", "person"),
    [
        ("2026-03-10 12:00", [VACATION], "boris"),  # before the vacation
        ("2026-03-11 00:00", [VACATION], "chen"),
        ("2026-03-12 23:59", [VACATION], "chen"),
        ("2026-03-13 00:00", [VACATION], "boris"),  # back
        ("2026-03-04 12:00", [VACATION], "anna"),  # replaces boris only: anna's week untouched
        ("2026-03-04 12:00", [SWAP], "boris"),  # a swap without replaces covers whoever it is
        ("2026-03-11 12:00", [SWAP, VACATION], "chen"),
        # a later override wins over an earlier one for the same moment
        (
            "2026-03-04 12:00",
            [SWAP, Override("primary", "chen", t("2026-03-04 00:00"), t("2026-03-05 00:00"))],
            "chen",
        ),
    ],
)
def test_overrides(moment: str, overrides: list[Override], person: str) -> None:
    assert who_at(WEEKLY, overrides, t(moment)).person == person


def test_override_is_named_in_the_answer_and_in_the_shifts() -> None:
    found = who_at(WEEKLY, [VACATION], t("2026-03-12 10:00"))
    assert found.override == VACATION
    got = [
        (a, b, w.person)
        for a, b, w in shifts(WEEKLY, [VACATION], t("2026-03-09 09:00"), t("2026-03-16 09:00"))
    ]
    assert got == [
        (t("2026-03-09 09:00"), t("2026-03-11 00:00"), "boris"),
        (t("2026-03-11 00:00"), t("2026-03-13 00:00"), "chen"),
        (t("2026-03-13 00:00"), t("2026-03-16 09:00"), "boris"),
    ]


def test_nights_count_who_held_the_phone_at_three() -> None:
    days = [date(2026, 3, d) for d in range(3, 17)]  # nights before 3..16 March
    assert nights(WEEKLY, [], days, "Europe/Berlin") == {"anna": 7, "boris": 7}
    assert nights(WEEKLY, [VACATION], days, "Europe/Berlin") == {"anna": 7, "boris": 5, "chen": 2}
