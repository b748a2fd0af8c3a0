"""Languages: the Russian catalog covers every message, a Russian report shows no English
text of ours, and numbers, dates and money follow the locale."""

from __future__ import annotations

import html
import re

import pytest
from babel.messages.pofile import read_po

from collector import reports
from collector.reports import i18n, render
from collector.reports.i18n import Formatter
from collector.store import Store
from tests.collector.reports import scenario

PLACEHOLDER = re.compile(r"%\(\w+\)s|%%")


@pytest.fixture(scope="module")
def ru_model(tmp_path_factory):
    store = Store.from_url(f"sqlite:///{tmp_path_factory.mktemp('i18n') / 'upkeep.db'}")
    store.upgrade()
    scenario.build(store, language="ru")  # the contract says Russian
    yield reports.build(store, "acme", "2026-10", now=scenario.NOW)
    store.dispose()


def _catalog():
    with i18n.po_path("ru").open("rb") as f:
        return read_po(f, locale="ru", domain=i18n.DOMAIN)


def _ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def test_extraction_finds_the_report_texts():
    ids = {_ids(m)[0] for m in i18n.extract() if m.id}
    assert {
        "Monthly report",
        "Risks ahead",
        "Took %(took)s against %(target)s: %(over)s over.",
        "%(num)s day",
    } <= ids  # templates, texts.py (N_), i18n.py (ngettext)
    assert len(ids) > 150


def test_russian_catalog_is_complete():
    catalog = _catalog()
    missing = []
    for message in i18n.extract():
        if not message.id:
            continue
        translated = catalog.get(message.id)
        strings = (
            ()
            if translated is None
            else (
                translated.string if isinstance(translated.string, tuple) else (translated.string,)
            )
        )
        if translated is None or translated.fuzzy or not strings or not all(strings):
            missing.append(_ids(message)[0])
        elif isinstance(message.id, tuple) and len(strings) != 3:
            missing.append(f"{message.id[0]} (needs 3 plural forms)")
    assert not missing, f"untranslated in {i18n.po_path('ru')}: {missing}"


def test_russian_translations_keep_the_placeholders():
    for message in _catalog():
        if not message.id:
            continue
        source = set(PLACEHOLDER.findall(" ".join(_ids(message))))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) - {"%(num)s"} <= source, (message.id, text)
            assert source - {"%(num)s"} <= set(PLACEHOLDER.findall(text)), (message.id, text)


def _visible_text(page: str) -> str:
    page = re.sub(r"<svg.*?</svg>", " ", page, flags=re.S)
    page = re.sub(r"<style.*?</style>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "\n", page))


def test_russian_report_has_no_english_of_ours(ru_model):
    assert ru_model["language"] == "ru"
    page = render.html(ru_model)
    assert '<html lang="ru">' in page
    text = _visible_text(page)
    nodes = {line.strip() for line in text.splitlines() if line.strip()}
    catalog = _catalog()
    leaks = []
    for message in i18n.extract():
        if not message.id:
            continue
        translated = catalog.get(message.id)
        same = set(
            translated.string if isinstance(translated.string, tuple) else (translated.string,)
        )
        for msgid in _ids(message):
            if msgid in same:
                continue  # the same word in both languages ("ping")
            if not PLACEHOLDER.search(msgid):
                if msgid in nodes:
                    leaks.append(msgid)
                continue
            for chunk in PLACEHOLDER.split(msgid):
                chunk = chunk.strip(" .,:;()")
                if len(chunk) >= 6 and chunk in text:  # "against", "of work": not our data's words
                    leaks.append(msgid)
    assert not leaks, leaks
    for russian in (
        "Ежемесячный отчёт",
        "Риски на будущее",
        "4 устройства",
        "через 19 дней",
        "62,00",
        "1\xa0200,00\xa0€",
        "Заняло",
        # after the semicolon the sentence goes on in lower case
        "Заменено 2 расходных материала; напечатано 3\xa0720 страниц.",
    ):
        assert russian in text, russian
    assert "; Напечатан" not in text


def test_the_chart_labels_are_translated(ru_model):
    from collector.reports import charts

    fmt = Formatter("ru")
    assert fmt.gettext("Incidents per week") == "Инцидентов в неделю"
    svg = charts.incidents_per_week(ru_model["sections"]["incidents"]["weekly"], fmt)
    assert svg is not None and svg.startswith("<svg")


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            {
                "number": "1,234.5",
                "percent": "99.71%",
                "money": "€1,200.00",
                "date": "Oct 1, 2026",
                "points": "-15.00",
                "duration": "1 h 30 min",
                "days": "1 day",
            },
        ),
        (
            "ru",
            {
                "number": "1\xa0234,5",
                "percent": "99,71%",
                "money": "1\xa0200,00\xa0€",
                "date": "1 окт. 2026\u202fг.",
                "points": "-15,00",
                "duration": "1 ч 30 мин",
                "days": "1 день",
            },
        ),
    ],
)
def test_formatting_follows_the_locale(language, expected):
    f = Formatter(language, "UTC")
    got = {
        "number": f.number(1234.5, 1),
        "percent": f.percent(99.709),
        "money": f.money("1200.00", "EUR"),
        "date": f.date(scenario.H0),
        "points": f.points(-1500),
        "duration": f.duration(5400),
        "days": f.days(1.2),
    }
    assert got == expected


@pytest.mark.parametrize(
    ("seconds", "en", "ru"),
    [
        (5 * 86400, "5 d", "5 д"),  # no "0 h" after whole days
        (5 * 86400 + 3 * 3600, "5 d 3 h", "5 д 3 ч"),
        (5 * 86400 + 3 * 3600 + 20 * 60, "5 d 3 h", "5 д 3 ч"),  # minutes not shown past 2 days
        (2 * 86400, "2 d", "2 д"),
        (47 * 3600, "47 h", "47 ч"),  # under 2 days: hours
        (86400, "24 h", "24 ч"),
        (3600, "1 h", "1 ч"),  # no "0 min" after whole hours
        (5400, "1 h 30 min", "1 ч 30 мин"),
        (45 * 60, "45 min", "45 мин"),
        (29, "0 min", "0 мин"),  # nothing to show but nothing: one zero part stays
        (None, "–", "–"),
    ],
)
def test_durations_leave_out_a_zero_last_part(seconds, en, ru):
    assert (Formatter("en").duration(seconds), Formatter("ru").duration(seconds)) == (en, ru)


def test_russian_plurals():
    f = Formatter("ru")
    assert [f.days(n) for n in (1, 2, 5, 11, 21, 22)] == [
        "1 день",
        "2 дня",
        "5 дней",
        "11 дней",
        "21 день",
        "22 дня",
    ]


def test_unknown_language():
    with pytest.raises(ValueError, match="language"):
        i18n.translations("de")
