"""SLA targets in working days: ``within: 10 business_days`` counts open days of the contract's
calendar (weekends and public holidays closed), distinct from ``business_hours``; the
ambiguous short forms ``10d`` / ``3d`` are refused with a hint naming the file, line and column.

Hand-computed on a Berlin calendar (Mon–Fri 08:00–17:00, holidays of DE-BE, 24 and 31
December company holidays): 1 December 2026 is a Tuesday.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from collector.contracts.files import parse_file
from collector.contracts.model import Calendar, Contract, PriorityTargets
from collector.notices import Voice, render
from collector.sla.calendar import BusinessCalendar
from collector.sla.clock import compute
from collector.sla.service import sla_notice

BERLIN = ZoneInfo("Europe/Berlin")
CALENDAR = Calendar.model_validate(
    {
        "timezone": "Europe/Berlin",
        "business_hours": {d: "08:00-17:00" for d in ("mon", "tue", "wed", "thu", "fri")},
        "holidays": {"country": "DE", "subdivision": "BE", "extra": ["2026-12-24", "2026-12-31"]},
    }
)


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp()


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, BERLIN).strftime("%Y-%m-%d %H:%M")


def due(within: str, opened: str) -> str:
    targets = PriorityTargets.model_validate({"resolution": within})
    status = compute(
        priority="minor",
        targets=targets,
        calendar=CALENDAR,
        opened_at=at(opened),
        responded_at=None,
        resolved_at=None,
        pauses=[],
        now=at(opened),
    )
    assert status.resolution is not None and status.resolution.due_at is not None
    return local(status.resolution.due_at)


@pytest.mark.parametrize(
    ("within", "opened", "expected"),
    [
        # 2,3,4,7,8,9,10,11,14,15 December: the tenth working day after, at the same time
        ("10 business_days", "2026-12-01 10:00", "2026-12-15 10:00"),
        # opened before business hours: the day itself is the first of the ten
        ("10 business_days", "2026-12-01 06:30", "2026-12-14 17:00"),
        # opened on a Saturday: counting starts Monday 08:00
        ("1 business_day", "2026-12-05 11:00", "2026-12-07 17:00"),
        # over Christmas: 24, 25, 26 (Sat), 27 (Sun), 31 Dec and 1 Jan are closed
        ("3 business_days", "2026-12-22 12:00", "2026-12-29 12:00"),
        # business hours are hours of the business clock: 16 h = two 9 h days less 2 h
        ("16 business_hours", "2026-12-01 08:00", "2026-12-02 15:00"),
        ("10 calendar_days", "2026-12-01 10:00", "2026-12-11 10:00"),
        ("4 calendar_hours", "2026-12-01 22:00", "2026-12-02 02:00"),
        ({"within": "10d", "clock": "calendar"}, "2026-12-01 10:00", "2026-12-11 10:00"),
    ],
)
def test_due_times(within, opened, expected):
    assert due(within, opened) == expected


def test_elapsed_working_days_and_breach():
    targets = PriorityTargets.model_validate({"resolution": "2 business_days"})
    status = compute(
        priority="minor",
        targets=targets,
        calendar=CALENDAR,
        opened_at=at("2026-12-01 08:00"),
        responded_at=None,
        resolved_at=None,
        pauses=[],
        now=at("2026-12-03 12:30"),  # two full days and half of Thursday's 9 hours
    )
    r = status.resolution
    assert r is not None and r.clock == "business_days"
    assert r.elapsed == pytest.approx(2.5 * 86400)
    assert r.breached and r.percent == pytest.approx(125.0)
    mail = render(
        sla_notice("UPK-acme-1", r, "breach", "minor"), Voice("en", "Europe/Berlin", "en_GB")
    )
    assert mail.text.startswith(
        "SLA breached for UPK-acme-1 (minor): the resolution target of 2 days (working days) was due "
        "2 Dec 2026, 17:00 CET; 2.5 days counted."
    )
    ru = render(
        sla_notice("UPK-acme-1", r, "breach", "minor"), Voice("ru", "Europe/Berlin", "ru_RU")
    )
    assert "срок решения 2 дня (рабочие дни)" in ru.text and "учтено 2,5 дня" in ru.text


@pytest.mark.parametrize("short", ["10d", "3d", "1w", "1d12h"])
def test_day_short_forms_are_refused_with_a_hint(short):
    with pytest.raises(
        ValueError, match=rf"within '{short}' is ambiguous: write '\d+ business_days'"
    ):
        PriorityTargets.model_validate({"resolution": short})
    with pytest.raises(ValueError, match="ambiguous"):
        PriorityTargets.model_validate({"resolution": {"within": short, "clock": "business"}})


def test_a_unit_that_contradicts_the_clock_is_refused():
    with pytest.raises(
        ValueError, match="counts on the business_days clock, but clock says 'calendar'"
    ):
        PriorityTargets.model_validate(
            {"resolution": {"within": "3 business_days", "clock": "calendar"}}
        )


def test_a_stored_contract_keeps_what_was_accepted():
    from collector.contracts.store import stored_contract

    legacy = {
        "client": "acme",
        "plan": {"name": "Basic"},
        "sla": {"technical": {"resolution": "10d"}},
    }
    contract = stored_contract(legacy)  # accepted before the refusal: kept, same meaning
    resolution = contract.sla.technical.resolution
    assert (resolution.within, resolution.clock) == (864000, None)
    with pytest.raises(ValueError, match="ambiguous"):
        Contract.model_validate(legacy)


def test_hours_short_forms_and_stored_numbers_still_load():
    t = PriorityTargets.model_validate({"response": "4h", "resolution": 864000})
    assert t.response is not None and t.response.within == 4 * 3600
    assert t.resolution is not None and t.resolution.within == 864000  # stored contracts reload
    # what a business_days target stores comes back as the same target
    stored = PriorityTargets.model_validate({"resolution": "10 business_days"}).model_dump(
        mode="json"
    )
    again = PriorityTargets.model_validate(stored)
    assert again.resolution is not None and (again.resolution.within, again.resolution.clock) == (
        864000,
        "business_days",
    )


def test_the_refusal_names_file_line_and_column(tmp_path):
    path = tmp_path / "acme.yaml"
    path.write_text(
        "client: acme\nplan: {name: Basic}\nsla:\n  minor:\n    response: 4h\n    resolution: 3d\n"
    )
    parsed = parse_file(path)
    assert parsed.contract is None
    [problem] = parsed.problems
    assert problem.startswith(f"{path}:6: sla.minor.resolution: within '3d' is ambiguous")
    assert "'3 business_days'" in problem


def test_the_shipped_sample_contract_loads_and_uses_working_days():
    from pathlib import Path

    import collector.contracts

    sample = Path(collector.contracts.__file__).parent / "sample-contract.yaml"
    parsed = parse_file(sample)
    assert parsed.problems == []
    contract = parsed.contract
    assert isinstance(contract, Contract)
    technical = contract.sla.for_priority("technical")
    assert technical is not None and technical.resolution is not None
    assert technical.resolution.clock == "business_days"
    assert BusinessCalendar(contract.calendar).calendar.timezone == contract.calendar.timezone
