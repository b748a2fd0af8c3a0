"""The one notice renderer: every kind in English and Russian, in the reader's locale and
time zone; HTML escapes what a client or technician typed; locales default from the contract.

Expected texts are written out by hand (dates: 1 December 2026 is a Tuesday; Berlin is UTC+1).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from collector.contracts.model import Contract
from collector.notices import Human, Voice, render
from collector.notices.model import (
    ApprovalRequestNotice,
    LowBalanceNotice,
    ReportMailNotice,
    SlaNotice,
)


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


BERLIN_EN = Voice("en", "Europe/Berlin", "en_DE")
BERLIN_RU = Voice("ru", "Europe/Berlin", "ru_RU")

SLA = SlaNotice(
    client="acme",
    incident="UPK-acme-7",
    priority="critical",
    target="resolution",
    kind="breach",
    within_seconds=4 * 3600,
    clock="calendar",
    due_at=ts("2026-12-01 13:05"),
    elapsed_seconds=4 * 3600 + 25 * 60,
    percent=110.4,
)
LOW = LowBalanceNotice(
    client="acme",
    period="2026-12",
    period_start=ts("2026-11-30 23:00"),  # 1 December 00:00 in Berlin
    period_end=ts("2026-12-31 23:00"),
    balance_centipoints=450,
    allotment_centipoints=2000,
    threshold="25%",
    used_up=False,
    at_zero="allow_negative",
)


def test_sla_breach_in_english_on_a_berlin_calendar():
    mail = render(SLA, BERLIN_EN)
    assert mail.subject == "SLA breached: UPK-acme-7 resolution"
    assert mail.text == (
        "SLA breached for UPK-acme-7 (critical): the resolution target of 4 hours (calendar time) "
        "was due 1 Dec 2026, 14:05 CET; 4 hours, 25 minutes counted.\n"
    )
    assert "<p>SLA breached for UPK-acme-7 (critical)" in mail.html
    assert "<title>SLA breached: UPK-acme-7 resolution</title>" in mail.html


def test_sla_warning_in_russian():
    warning = dataclasses.replace(SLA, kind="warning", target="response", percent=75.0)
    mail = render(warning, BERLIN_RU)
    assert (
        mail.subject == "Предупреждение SLA: UPK-acme-7, время реакции до 1 дек. 2026 г., 14:05 CET"
    )
    assert mail.text.startswith(
        "Предупреждение SLA по UPK-acme-7 (критический): использовано 75% времени на реакцию 4 часа "
        "(календарное время)"
    )


def test_low_balance_names_the_period_by_its_dates_not_the_day_before():
    mail = render(LOW, BERLIN_EN)
    assert mail.subject == "[acme] Support points low: 4,50 left"  # en_DE: decimal comma
    assert mail.text == (
        "Your support points balance for 1 Dec 2026 – 31 Dec 2026: 4,50.\n\n"
        "It has reached the 25% threshold of your 20,00 points per period.\n\n"
        "To buy more points, reply to this message or call us.\n"
    )
    ru = render(dataclasses.replace(LOW, used_up=True, threshold="zero"), BERLIN_RU)
    assert ru.subject == "[acme] Баллы поддержки израсходованы"
    assert "1 дек. 2026 г. – 31 дек. 2026 г.: 4,50" in ru.text.replace("\u202f", " ")
    assert "Новые платные работы будут выставлены в счёт как перерасход." in ru.text
    assert ru.html.count("<p>") == 3


def test_approval_request_escapes_what_people_typed():
    notice = ApprovalRequestNotice(
        client="acme",
        request="REQ-acme-3",
        title="New <laptop> for Bob",
        requested_by="ann@acme.example",
        description="Setup & data move",
        estimate_minutes=90,
        work_type="onsite",
        estimate_centipoints=150,
        approve_url="https://upkeep.example/a?x=1&y=2",
        reject_url="https://upkeep.example/r",
    )
    mail = render(notice, BERLIN_EN)
    assert mail.subject == "[acme] Approval needed: REQ-acme-3 New <laptop> for Bob — 1,50 points"
    assert "Estimated work: 1 hour, 30 minutes (onsite)." in mail.text
    assert "Approve: https://upkeep.example/a?x=1&y=2" in mail.text
    assert "New &lt;laptop&gt; for Bob" in mail.html and "<laptop>" not in mail.html
    assert 'href="https://upkeep.example/a?x=1&amp;y=2"' in mail.html
    ru = render(
        dataclasses.replace(notice, held_incident="UPK-acme-9", held_basis="client_error"),
        BERLIN_RU,
    )
    assert ru.text.startswith(
        "Списание 1,50 баллов за UPK-acme-9 (client_error) увело бы баланс ниже нуля"
    )


@pytest.mark.parametrize(
    ("breaches", "en", "ru"),
    [
        (1, "1 SLA target missed", "1 цель SLA не выполнена"),
        (3, "3 SLA targets missed", "3 цели SLA не выполнены"),
        (5, "5 SLA targets missed", "5 целей SLA не выполнено"),
    ],
)
def test_report_mail_plural_forms(breaches, en, ru):
    notice = ReportMailNotice(
        client="acme",
        period="2026-12",
        period_start=LOW.period_start,
        period_end=LOW.period_end,
        assets=12,
        availability=99.714,
        proactive=3,
        incidents=4,
        preventive_hours=1.5,
        sla_met=False,
        sla_breaches=breaches,
        points_enabled=True,
        points_left=6200,
    )
    mail = render(notice, BERLIN_EN)
    assert mail.subject == "Monthly report for acme, December 2026"
    assert en in mail.text and "Availability: 99,71%" in mail.text
    assert "Preventive work: 1 hour, 30 minutes" in mail.text
    assert ru in render(notice, BERLIN_RU).text


def _contract(**fields) -> Contract:
    return Contract.model_validate({"client": "acme", "plan": {"name": "Basic"}, **fields})


@pytest.mark.parametrize(
    ("fields", "locale"),
    [
        ({"calendar": {"timezone": "Europe/Berlin"}}, "en_DE"),
        ({"calendar": {"timezone": "Europe/London"}}, "en_GB"),
        ({"language": "ru", "calendar": {"timezone": "Europe/Moscow"}}, "ru_RU"),
        ({"calendar": {"timezone": "UTC", "holidays": {"country": "DE"}}}, "en_DE"),
        ({"calendar": {"timezone": "Europe/Berlin"}, "locale": "en-GB"}, "en_GB"),
        ({}, "en"),
    ],
)
def test_contract_locale_defaults_from_language_and_country(fields, locale):
    assert _contract(**fields).effective_locale == locale


def test_a_locale_for_another_language_is_refused():
    with pytest.raises(ValueError, match="locale 'de-DE' is for language 'de'"):
        _contract(locale="de-DE")
    with pytest.raises(ValueError, match="'xx-YY' is not a known locale"):
        _contract(locale="xx-YY")


def test_voice_of_a_contract_for_technicians_is_english_in_the_clients_country():
    contract = _contract(language="ru", calendar={"timezone": "Europe/Berlin"})
    assert Voice.of(contract) == Voice("ru", "Europe/Berlin", "ru_RU")  # CLDR has no ru_DE
    assert Voice.of(contract, "en") == Voice("en", "Europe/Berlin", "en_DE")


@pytest.mark.parametrize(
    ("locale", "values"),
    [
        (
            "en_DE",
            ("3 days", "10 minutes ago", "in 5 days", "12,3 GB", "97%", "1 hour, 30 minutes"),
        ),
        (
            "en_GB",
            ("3 days", "10 minutes ago", "in 5 days", "12.3 GB", "97%", "1 hour, 30 minutes"),
        ),
        ("ru_RU", ("3 дня", "10 минут назад", "через 5 дней", "12,3 ГБ", "97%", "1 час 30 минут")),
    ],
)
def test_human_values(locale, values):
    h = Human(locale, "Europe/Berlin")
    got = (
        h.duration(259211),
        h.ago(590),
        h.in_(431835),
        h.bytes(12.3e9),
        h.percent(97.2),
        h.duration(5400, True),
    )
    assert got == values
    assert h.duration(None) == "–"
