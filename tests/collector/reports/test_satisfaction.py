"""The report's satisfaction section: a November written by the real services (incidents
reported and resolved, the closing job sending messages, the client answering by link, the
automatic close), rendered in English and Russian as HTML, PDF, JSON and CSV, and a month in
which nothing was sent.

By hand (times UTC; Berlin is UTC+1 in November; the report is made 1 Dec 08:00 UTC):

- #1 "Printer on the 2nd floor jams": resolved 3 Nov 09:00, message sent 09:01, confirmed
  3 Nov 12:00 with rating 5 and a comment with markup (shown escaped).
- #2 "Outlook asks for the password again": resolved 10 Nov 10:00, sent 10:01, reopened as
  "not solved" 10 Nov 23:30 UTC = 11 Nov 00:30 in Berlin (the report says 11 Nov) with
  rating 2 and a comment; resolved again 12 Nov 09:00, sent 09:01, confirmed 14:00 with 4.
- #3 "Scanner does not send e-mail": resolved 20 Nov 10:00, sent 10:01, no answer: closed
  automatically by the job at 23 Nov 11:00 (3 days after).
- #4 "Shared calendar is empty": resolved 28 Nov 09:00, sent 09:01, still waiting (it would
  close 1 Dec 09:01).
- sent 5 (#1, #2 twice, #3, #4); answered 3 of 5 = 60 %; ratings 5, 2, 4: 3 ratings,
  average 11 / 3 = 3.67 → "3,7" (en_DE and ru_RU write a decimal comma); per score
  5: 1, 4: 1, 3: 0, 2: 1, 1: 0 → 33 % each given, 0 % the others.
- October: nothing sent, nothing answered: one sentence.
"""

from __future__ import annotations

import csv
import html as html_lib
import io
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from collector import reports
from collector.reports import render
from collector.reports.i18n import Formatter
from collector.settings import Settings
from collector.store import Store
from tests.collector.closing import closingkit as kit
from tests.collector.ledger.ledgerkit import Clock, ts

NOW = ts("2026-12-01 08:00")
COMMENT = "Quick & <b>friendly</b> help, thanks!"
REOPEN_COMMENT = "It still asks every morning."

EXPECTED = {
    "en": [
        "Your feedback",
        "We sent 5 closing messages after resolved incidents. You answered 3 of 5 (60%).",
        "3 ratings, on average 3,7 out of 5.",
        "Rating Given Share 5 out of 5 1 33% 4 out of 5 1 33% 3 out of 5 0 0% "
        "2 out of 5 1 33% 1 out of 5 0 0%",
        "Your comments Date Incident Answer Comment "
        f"3 Nov 2026 UPK-acme-1 Printer on the 2nd floor jams all good 5 out of 5 {COMMENT} "
        "11 Nov 2026 UPK-acme-2 Outlook asks for the password again not solved 2 out of 5 "
        f"{REOPEN_COMMENT}",
        "Reopened because it was not solved: 1 incident Date Incident "
        "11 Nov 2026 UPK-acme-2 Outlook asks for the password again",
        "Closed automatically after no answer: 1 incident Date Incident "
        "23 Nov 2026 UPK-acme-3 Scanner does not send e-mail",
    ],
    "ru": [
        "Ваши отзывы",
        "Мы отправили 5 сообщений о решённых инцидентах. Вы ответили на 3 из 5 (60%).",
        "3 оценки, в среднем 3,7 из 5.",
        "Оценка Поставлено Доля 5 из 5 1 33% 4 из 5 1 33% 3 из 5 0 0% 2 из 5 1 33% 1 из 5 0 0%",
        "Ваши комментарии Дата Инцидент Ответ Комментарий "
        f"3 нояб. 2026 г. UPK-acme-1 Printer on the 2nd floor jams всё в порядке 5 из 5 {COMMENT} "
        "11 нояб. 2026 г. UPK-acme-2 Outlook asks for the password again не решено 2 из 5 "
        f"{REOPEN_COMMENT}",
        "Открыт снова, потому что проблема не решена: 1 инцидент Дата Инцидент "
        "11 нояб. 2026 г. UPK-acme-2 Outlook asks for the password again",
        "Закрыт автоматически, так как ответа не было: 1 инцидент Дата Инцидент "
        "23 нояб. 2026 г. UPK-acme-3 Scanner does not send e-mail",
    ],
}
NOTHING = {
    "en": "We sent you no closing messages in this period, so there is nothing to rate.",
    "ru": "За этот период мы не отправляли вам сообщений о решённых инцидентах, оценивать нечего.",
}


def seed(store: Store, settings: Settings, clock: Clock, language: str) -> None:
    """The November above, through the incident service, the closing job and the links."""
    kit.give(store, "acme", language=language, timezone="Europe/Berlin", auto_close="3d")
    world = kit.wired(store, settings)
    answered = 0

    def resolve_and_send(key: str, when: str, note: str) -> dict[str, str]:
        clock.set(when)
        world.incidents.act(key, "resolve", "tech", note=note)
        assert world.closing.run_once(now=clock.tick(60))["sent"] == 1
        return kit.links_in(kit.queued(store)[-1].body_text)

    def report(when: str, title: str) -> str:
        clock.set(when)
        return world.incidents.report(client="acme", title=title, actor="jane")

    def answer(links: dict[str, str], action: str, when: str, **values: Any) -> None:
        nonlocal answered
        world.closing.answer_by_link(links[action], action, now=clock.set(when), **values)
        answered += 1

    first = report("2026-11-03 08:00", "Printer on the 2nd floor jams")
    links = resolve_and_send(first, "2026-11-03 09:00", "Cleared the jam.")
    answer(links, "confirm", "2026-11-03 12:00", rating=5, comment=COMMENT)

    second = report("2026-11-10 08:00", "Outlook asks for the password again")
    links = resolve_and_send(second, "2026-11-10 10:00", "Reset the saved password.")
    answer(links, "reopen", "2026-11-10 23:30", rating=2, comment=REOPEN_COMMENT)
    links = resolve_and_send(second, "2026-11-12 09:00", "Removed the stale credential.")
    answer(links, "confirm", "2026-11-12 14:00", rating=4)

    third = report("2026-11-20 08:00", "Scanner does not send e-mail")
    resolve_and_send(third, "2026-11-20 10:00", "Fixed the SMTP settings of the scanner.")
    assert world.closing.run_once(now=clock.set("2026-11-23 11:00"))["auto_closed"] == 1

    fourth = report("2026-11-27 08:00", "Shared calendar is empty")
    resolve_and_send(fourth, "2026-11-28 09:00", "Re-shared the calendar.")
    assert answered == 3


def _text(page: str) -> str:
    text = re.sub(r"<style.*?</style>|<svg.*?</svg>|<[^>]+>", " ", page, flags=re.S)
    return " ".join(html_lib.unescape(text).split())


@pytest.fixture(scope="module", params=["en", "ru"])
def month(request, tmp_path_factory) -> Iterator[tuple[str, Store]]:
    language = request.param
    from collector import timeutil

    path = tmp_path_factory.mktemp(f"satisfaction-{language}")
    store = Store.from_url(f"sqlite:///{path / 'upkeep.db'}")
    store.upgrade()
    clock = Clock(ts("2026-11-01 08:00"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(timeutil, "now", clock)
        seed(store, Settings.for_data_dir(path / "data", closing_delay=0.0), clock, language)
    yield language, store
    store.dispose()


def test_the_html_report_tells_the_month_in_the_clients_words(month) -> None:
    language, store = month
    model = reports.build(store, "acme", "2026-11", now=NOW)
    page = render.html(model)
    # The client's comment is text, never markup.
    assert "Quick &amp; &lt;b&gt;friendly&lt;/b&gt; help, thanks!" in page
    assert "<b>friendly</b>" not in page
    text = _text(page)
    for sentence in EXPECTED[language]:
        assert sentence in text, sentence
    assert NOTHING[language] not in text
    assert "None" not in text and not re.findall(r"\b1[6-9]\d{8}\b", text)


def test_the_pdf_report_has_the_same_sentences(month, tmp_path) -> None:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils not installed (scripts/test-system-deps)")
    language, store = month
    model = reports.build(store, "acme", "2026-11", now=NOW)
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(render.pdf(model))
    text = " ".join(
        subprocess.run(
            ["pdftotext", "-enc", "UTF-8", str(pdf), "-"], check=True, capture_output=True
        )
        .stdout.decode()
        .split()
    )
    sent, rated = EXPECTED[language][1:3]
    for sentence in (sent, rated, COMMENT, REOPEN_COMMENT):
        assert sentence in text, sentence
    dates = ("11 Nov 2026", "23 Nov 2026") if language == "en" else ("11 нояб.", "23 нояб.")
    for date in dates:
        assert date in text, date


def test_json_and_csv_carry_the_figures(month) -> None:
    _language, store = month
    model = reports.build(store, "acme", "2026-11", now=NOW)
    d = json.loads(render.as_json(model))["sections"]["satisfaction"]
    assert (d["sent"], d["answered"], d["answered_percent"]) == (5, 3, 60.0)
    assert (d["ratings"]["count"], d["ratings"]["average"]) == (3, 3.67)
    assert [(p["score"], p["count"]) for p in d["ratings"]["per_score"]] == [
        (5, 1),
        (4, 1),
        (3, 0),
        (2, 1),
        (1, 0),
    ]
    assert [(c["incident"], c["answer"], c["rating"], c["comment"]) for c in d["comments"]] == [
        ("UPK-acme-1", "confirmed", 5, COMMENT),
        ("UPK-acme-2", "reopened", 2, REOPEN_COMMENT),
    ]
    assert [c["incident"] for c in d["reopened"]] == ["UPK-acme-2"]
    assert d["reopened"][0]["answered_at"] == ts("2026-11-10 23:30")
    assert [(c["incident"], c["answered_at"]) for c in d["auto_closed"]] == [
        ("UPK-acme-3", ts("2026-11-23 11:00"))
    ]
    rows = {
        (r["section"], r["field"]): r["value"]
        for r in csv.DictReader(io.StringIO(render.as_csv(model).decode()))
    }
    assert rows[("satisfaction", "sent")] == "5"
    assert rows[("satisfaction", "ratings.average")] == "3.67"
    assert rows[("satisfaction", "comments[0].comment")] == COMMENT


def test_a_month_with_nothing_sent_says_so_in_one_sentence(month) -> None:
    language, store = month
    model = reports.build(store, "acme", "2026-10", now=NOW)
    d = model["sections"]["satisfaction"]
    assert (d["sent"], d["answered"], d["answered_percent"], d["ratings"]["count"]) == (
        0,
        0,
        None,
        0,
    )
    assert d["ratings"]["average"] is None and not d["comments"] and not d["auto_closed"]
    text = _text(render.html(model))
    section = text.split(EXPECTED[language][0], 1)[1]
    assert section.startswith(" " + NOTHING[language])
    assert "3,7" not in section and "None" not in text


def test_the_same_ratings_as_the_management_view(month) -> None:
    from collector.management.periods import TimeRange, time_zone
    from collector.management.satisfaction import satisfaction_view

    _language, store = month
    model = reports.build(store, "acme", "2026-11", now=NOW)
    period = model["period"]
    with store.read() as conn:
        view = satisfaction_view(
            conn, TimeRange(period["start"], period["end"]), time_zone("Europe/Berlin")
        )
    d = model["sections"]["satisfaction"]["ratings"]
    assert (view.overall.count, round(view.overall.average, 2)) == (d["count"], d["average"])


@pytest.mark.parametrize(
    ("n", "ratings", "sent"),
    [
        (1, "1 оценка", "Мы отправили 1 сообщение о решённом инциденте."),
        (2, "2 оценки", "Мы отправили 2 сообщения о решённых инцидентах."),
        (5, "5 оценок", "Мы отправили 5 сообщений о решённых инцидентах."),
        (11, "11 оценок", "Мы отправили 11 сообщений о решённых инцидентах."),
        (21, "21 оценка", "Мы отправили 21 сообщение о решённом инциденте."),
        (24, "24 оценки", "Мы отправили 24 сообщения о решённых инцидентах."),
    ],
)
def test_russian_plurals_of_the_section(n, ratings, sent) -> None:
    f = Formatter("ru")
    assert f.ngettext("%(num)s rating", "%(num)s ratings", n) == ratings
    assert (
        f.ngettext(
            "We sent %(num)s closing message after a resolved incident.",
            "We sent %(num)s closing messages after resolved incidents.",
            n,
        )
        == sent
    )


def test_the_read_model_on_each_backend(store, tmp_path, monkeypatch) -> None:
    """:func:`collector.closing.read.satisfaction` gives the hand-computed figures on SQLite
    and PostgreSQL alike (the section only copies them)."""
    from collector import admin, timeutil
    from collector.closing import read

    clock = Clock(ts("2026-11-01 08:00"))
    monkeypatch.setattr(timeutil, "now", clock)
    seed(store, Settings.for_data_dir(tmp_path / "data", closing_delay=0.0), clock, "en")
    november = (ts("2026-10-31 23:00"), ts("2026-11-30 23:00"))  # Berlin's November
    with store.read() as conn:
        client_id = admin.get_client(conn, "acme").id
        found = read.satisfaction(conn, client_id, *november)
        assert read.satisfaction(conn, client_id + 1, *november).sent == 0
    assert (found.sent, found.answered, found.ratings.count) == (5, 3, 3)
    assert found.ratings.per_score == {1: 0, 2: 1, 3: 0, 4: 1, 5: 1}
    assert round(found.ratings.average or 0, 4) == 3.6667
    assert [(a.incident, a.answer, a.rating) for a in found.answers] == [
        ("UPK-acme-1", "confirmed", 5),
        ("UPK-acme-2", "reopened", 2),
        ("UPK-acme-2", "confirmed", 4),
        ("UPK-acme-3", "auto_closed", None),
    ]
    assert [a.incident for a in found.comments] == ["UPK-acme-1", "UPK-acme-2"]
    assert [a.incident for a in found.reopened] == ["UPK-acme-2"]
    assert [a.incident for a in found.auto_closed] == ["UPK-acme-3"]
