"""Escalation steps as table tests over a simulated clock: the schedule, catching up after a
pause of the job, the SLA warning pulling the next step forward (once), business hours."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from collector.contracts.model import Calendar
from collector.oncall.escalation import PageTarget, Policy, Step, due
from collector.sla.calendar import BusinessCalendar

ON_CALL = (PageTarget("rotation", "primary"),)
SECOND = (PageTarget("rotation", "secondary"),)
LEAD = (PageTarget("person", "lead"),)
CRITICAL = Policy("standard", "critical", (Step(0, ON_CALL), Step(600, SECOND), Step(1200, LEAD)))
T0 = 1_000_000.0


@pytest.mark.parametrize(
    ("next_step", "now", "steps", "next_at"),
    [
        (0, T0, (0,), T0 + 600),  # page the on-call engineer at once
        (1, T0 + 599, (), T0 + 600),  # nothing yet
        (1, T0 + 600, (1,), T0 + 1200),  # after 10 min: the second
        (2, T0 + 1200, (2,), None),  # after 20 min: the team lead, end of the climb
        (0, T0 + 1300, (0, 1, 2), None),  # the job was away: every step that is owed, in order
        (3, T0 + 9999, (), None),  # climbed to the top: nothing more
    ],
)
def test_schedule(
    next_step: int, now: float, steps: tuple[int, ...], next_at: float | None
) -> None:
    decided = due(CRITICAL, T0, next_step, now)
    assert (decided.steps, decided.next_at) == (steps, next_at)
    assert decided.next_step == next_step + len(steps)


@pytest.mark.parametrize(
    ("next_step", "now", "pulled", "steps", "reasons", "next_at", "pulled_after"),
    [
        # warn_at (T0+300) comes before step 2's 10 min: the next step is due then
        (1, T0 + 100, False, (), (), T0 + 300, False),
        (1, T0 + 300, False, (1,), ("sla_warning",), T0 + 1200, True),
        # once pulled, the rest follows its own schedule
        (2, T0 + 600, True, (), (), T0 + 1200, True),
        (2, T0 + 1200, True, (2,), ("schedule",), None, True),
        # a warning time after the step was due anyway adds nothing
        (1, T0 + 700, False, (1, 2), ("schedule", "sla_warning"), None, True),
    ],
)
def test_sla_warning_pulls_the_next_step(
    next_step, now, pulled, steps, reasons, next_at, pulled_after
) -> None:
    warn_at = T0 + 300 if now < T0 + 650 else T0 + 650
    decided = due(CRITICAL, T0, next_step, now, sla_warn_at=warn_at, sla_pulled=pulled)
    assert (decided.steps, decided.reasons, decided.next_at, decided.sla_pulled) == (
        steps,
        reasons,
        next_at,
        pulled_after,
    )


BERLIN = ZoneInfo("Europe/Berlin")
OFFICE = BusinessCalendar(
    Calendar.model_validate(
        {
            "timezone": "Europe/Berlin",
            "business_hours": {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            "holidays": {"extra": ["2026-12-24"]},
        }
    )
)
MINOR = Policy("standard", "minor", (Step(0, ON_CALL), Step(3600, LEAD)), business_hours=True)


def b(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


@pytest.mark.parametrize(
    ("opened", "now", "steps", "next_at"),
    [
        ("2026-12-01 10:00", "2026-12-01 10:00", (0,), "2026-12-01 11:00"),  # Tuesday, in hours
        ("2026-12-01 22:00", "2026-12-01 22:00", (), "2026-12-02 08:00"),  # night: next morning
        ("2026-12-01 22:00", "2026-12-02 08:00", (0,), "2026-12-02 09:00"),
        (
            "2026-12-04 16:30",
            "2026-12-04 16:30",
            (0,),
            "2026-12-07 08:30",
        ),  # Friday: Monday morning
        ("2026-12-23 20:00", "2026-12-23 20:00", (), "2026-12-25 08:00"),  # the 24th is closed
    ],
)
def test_business_hours_policy_waits_for_the_next_business_morning(
    opened, now, steps, next_at
) -> None:
    decided = due(MINOR, b(opened), 0, b(now), add_business=OFFICE.add_business_seconds)
    assert decided.steps == steps
    assert decided.next_at == b(next_at)
