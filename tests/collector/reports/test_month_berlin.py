"""The hand-computed November of month_berlin.py, in English and Russian: the report's HTML
text and its JSON model give the figures worked out below; no raw float, epoch or "None";
plurals agree; dates are Berlin's in the contract's locale; a shipped rule's title is said in
the client's language; the management view gives the month's satisfaction ratings.

By hand (times UTC; Berlin is UTC+1 in November):
- incidents 4: by monitoring 2 (N1, N3), reported by staff 2 (N2, N4).
- resolved in: N1 07:00→09:00 = 2 h, N2 13:00→16:30 = 3.5 h, N3 20 Nov 08:00→21 Nov 10:00
  = 26 h; average (2 + 3.5 + 26) / 3 = 10.5 h → "10 h 30 min".
- SLA, 4 × 2 = 8 targets. Response: N1 30 min ≤ 4 h, N2 20 min ≤ 1 h, N3 40 min ≤ 1 h, N4 1 h
  ≤ 4 h: 4 met. Resolution: N1 2 h ≤ 24 h, N2 3.5 h ≤ 8 h met; N3 26 h > 8 h breached; N4 still
  running, due 29 Nov 09:00, the report made 3 Dec 09:00: breached (running past due). 6 of 8
  = 75,00 %; 2 breaches. N4 so far: 24 h + (3 Dec 09:00 − 29 Nov 09:00 = 96 h) = 120 h
  = "5 d", over by 96 h = "4 d" (a zero last part is left out); N3 over by 26 − 8 = 18 h.
- preventive: 20 + 45 = 65 min = "1 h 5 min" = 1.08 h (65 / 60 = 1.0833).
- points: October 20.00 − 15.00 → opening 5,00; +20,00 (1 Nov 00:00 Berlin = 31 Oct 23:00
  UTC: dated 1 Nov) → 25,00; N2 −15,00 (1.5 h × 10) → closing 10,00; charged 15,00.
- evidence: backup age 259289.27 s = 3.0 days → "3 days"; 2.48 s → "2 seconds".
- ratings: N2 4, N3 5 → 2 ratings, (4 + 5) / 2 = 4.5.
"""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest

from collector import reports
from collector.management.periods import TimeRange, time_zone
from collector.management.satisfaction import satisfaction_view
from collector.reports import render
from collector.store import Store
from tests.collector.reports import month_berlin as mb

EXPECTED = {
    "en": {
        "generated": "Generated 03/12/2026, 10:00",
        "period": "Period 1 Nov 2026 – 30 Nov 2026",
        "assets": "We monitored 2 assets (servers and PCs: 1, printers: 1).",
        "card": "2 assets",
        "incidents": "4 incidents in this period: 2 detected by monitoring, 2 reported by your "
        "staff. Average time to resolve: 10 h 30 min.",
        "n1": "UPK-nordwind-1 srv1: newest file in /srv/backup is 3 days old srv1 "
        "03/11/2026, 08:00 minor",
        "n2": "UPK-nordwind-2 Printer on the 2nd floor jams printer1 10/11/2026, 14:00 major",
        "preventive": "2 preventive jobs, 1 h 5 min of work.",
        "evidence": "age of /srv/backup: 3 days → 2 seconds 20 min",
        "sla": "6 of 8 SLA targets met: compliance 75,00%.",
        "sla_summary": "The SLA was missed 2 times (compliance 75,00%).",
        "n3_over": "Took 26 h against 8 h: 18 h over.",
        "n4_over": "Took 5 d against 24 h: 4 d over.",
        "points": "Opening balance 5,00 monthly allotment 20,00 charge -15,00 Closing balance 10,00",
        "allotment": "1 Nov 2026 monthly allotment 20,00 25,00",
        "charge": "10 Nov 2026 charge UPK-nordwind-2 Printer on the 2nd floor jams "
        "cause: user error -15,00 10,00",
        "left": "Points left at the end of the period: 10,00.",
    },
    "ru": {
        "generated": "Сформирован 03.12.2026, 10:00",
        "period": "Период 1 нояб. 2026 г. – 30 нояб. 2026 г.",
        "assets": "Мы наблюдали за 2 устройствами (серверы и ПК: 1, принтеры: 1).",
        "card": "2 устройства",
        "incidents": "4 инцидента за период: обнаружено мониторингом: 2, сообщили ваши "
        "сотрудники: 2. Среднее время решения: 10 ч 30 мин.",
        "n1": "UPK-nordwind-1 srv1: самому новому файлу в /srv/backup уже 3 дня srv1 "
        "03.11.2026, 08:00 средний",
        "n2": "UPK-nordwind-2 Printer on the 2nd floor jams printer1 10.11.2026, 14:00 высокий",
        "preventive": "2 профилактические работы, 1 ч 5 мин работы.",
        "evidence": "возраст /srv/backup: 3 дня → 2 секунды 20 мин",
        "sla": "Выполнено 6 из 8 целевых сроков SLA: соблюдение 75,00%.",
        "sla_summary": "SLA нарушен 2 раза (соблюдение 75,00%).",
        "n3_over": "Заняло 26 ч при сроке 8 ч: превышение 18 ч.",
        "n4_over": "Заняло 5 д при сроке 24 ч: превышение 4 д.",
        "points": "Остаток на начало периода 5,00 ежемесячное начисление 20,00 списание -15,00 "
        "Остаток на конец периода 10,00",
        "allotment": "1 нояб. 2026 г. ежемесячное начисление 20,00 25,00",
        "charge": "10 нояб. 2026 г. списание UPK-nordwind-2 Printer on the 2nd floor jams "
        "причина: ошибка пользователя -15,00 10,00",
        "left": "Остаток баллов на конец периода: 10,00.",
    },
}
TITLES = {
    "en": "srv1: newest file in /srv/backup is 3 days old",
    "ru": "srv1: самому новому файлу в /srv/backup уже 3 дня",
}
#: English words of ours that must not appear in the Russian report (an untranslated msgid).
ENGLISH = ("Monthly report", "Points statement", "Incidents", "Preventive work", "availability")


@pytest.fixture(params=["en", "ru"])
def month(request, store: Store) -> tuple[str, dict[str, Any], str]:
    mb.build(store, request.param)
    model = reports.build(store, "nordwind", "2026-11", now=mb.NOW)
    page = render.html(model)
    text = re.sub(r"<style.*?</style>|<svg.*?</svg>|<[^>]+>", " ", page, flags=re.S)
    return request.param, model, " ".join(html_lib.unescape(text).split())


def test_the_report_text_gives_the_hand_computed_figures(month) -> None:
    language, _model, text = month
    for name, sentence in EXPECTED[language].items():
        assert sentence in text, (name, sentence)


def test_nothing_raw_reaches_the_reader(month) -> None:
    language, _model, text = month
    assert "None" not in text
    # No float with more than 3 decimals (a date like 03.12.2026 is not one).
    assert not re.findall(r"(?<![\d.])\d+[.,]\d{4,}(?![\d.])", text)
    assert not re.findall(r"\b1[6-9]\d{8}\b", text)  # no epoch seconds
    assert "259289" not in text and "seconds old" not in text
    assert not re.findall(r"\b1 assets\b|\b1 incidents\b|\b2 устройств\b", text)
    if language == "ru":
        for english in ENGLISH:
            assert english not in text, english


def test_the_json_model_has_the_same_figures(month) -> None:
    language, model, _text = month
    s = model["sections"]
    assert (model["language"], model["locale"]) == (
        language,
        f"{language}_DE" if language == "en" else "ru_RU",
    )
    assert (
        s["summary"]["incidents"],
        s["summary"]["proactive"],
        s["summary"]["user_reported"],
    ) == (4, 2, 2)
    assert (s["summary"]["sla_compliance"], s["summary"]["sla_breaches"]) == (75.0, 2)
    assert s["summary"]["preventive_hours"] == 1.08  # 65 / 60
    pts = s["points"]
    assert (pts["opening"], pts["closing"], pts["charged"]) == (500, 1000, 1500)
    [n1, _n2, _n3, _n4] = s["incidents"]["items"]
    assert n1["title"] == TITLES[language]
    assert [b["key"] for b in s["sla"]["breaches"]] == ["UPK-nordwind-3", "UPK-nordwind-4"]
    assert [b["over_seconds"] for b in s["sla"]["breaches"]] == [18 * 3600.0, 96 * 3600.0]


def test_the_months_ratings_in_the_management_view(store: Store) -> None:
    mb.build(store, "en")
    with store.read() as conn:
        november = TimeRange(mb.at(1) - 3600, mb.at(30, 23))  # Berlin's November
        view = satisfaction_view(conn, november, time_zone("Europe/Berlin"))
    assert (view.overall.count, view.overall.average) == (2, 4.5)
    assert [(r.incident, r.rating) for r in view.ratings] == [
        ("UPK-nordwind-3", 5),
        ("UPK-nordwind-2", 4),
    ]
    assert [(m.key, m.count, m.average) for m in view.by_month] == [("2026-11", 2, 4.5)]
