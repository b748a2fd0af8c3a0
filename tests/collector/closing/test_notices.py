"""The closing notices through the one renderer (collector.notices): each renders in en and ru
with nothing left untranslated, HTML escapes what people wrote, the digest counts in Russian.
(Catalog completeness for every notice: tests/collector/notices/test_catalog.py.)"""

from __future__ import annotations

import pytest

from collector.notices import Voice, render
from collector.notices.model import ClosingNotice, FixAnnouncedNotice, FixDigestNotice, FixItem

COMMON = dict(
    client="acme",
    incident="UPK-acme-1",
    title="Printer jams",
    asset="printer-2",
    opened_at=1791187200.0,
    resolved_at=1791194400.0,
    note="Replaced <the> roller",
    cleared=False,
    minutes=90,
    points_enabled=True,
    charged_centipoints=180,
    balance_centipoints=1820,
    reopen_url="https://x/closing/reopen?token=a.b",
)
VOICES = {"en": Voice("en", "Europe/Berlin", "en_DE"), "ru": Voice("ru", "Europe/Moscow", "ru_RU")}


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_closing_notice_renders_in_each_language(language: str) -> None:
    notice = ClosingNotice(
        **COMMON,
        reported=True,
        confirm_url="https://x/closing/confirm?token=a.b",
        closes_at=1791799200.0,
    )
    mail = render(notice, VOICES[language])
    assert "UPK-acme-1" in mail.subject and "\n" not in mail.subject
    assert "https://x/closing/confirm?token=a.b" in mail.text
    assert "Replaced <the> roller" in mail.text
    assert "Replaced &lt;the&gt; roller" in mail.html
    assert ("1 hour, 30 minutes" if language == "en" else "1 час 30 минут") in mail.text
    assert "1,80" in mail.text  # en_DE and ru_RU both write a decimal comma
    if language == "ru":
        for english in ("What", "Hello", "Time spent", "points of your contract"):
            assert english not in mail.text


@pytest.mark.parametrize("language", ["en", "ru"])
def test_the_announcement_has_no_confirm_link(language: str) -> None:
    mail = render(FixAnnouncedNotice(**COMMON), VOICES[language])
    assert "reopen?token=a.b" in mail.text and "confirm" not in mail.text


@pytest.mark.parametrize(("count", "word"), [(1, "проблема"), (3, "проблемы"), (5, "проблем")])
def test_the_digest_subject_counts_in_russian(count: int, word: str) -> None:
    item = FixItem("UPK-acme-1", "t", None, 1791194400.0, None, True, 0)
    mail = render(
        FixDigestNotice(
            client="acme",
            day=1791194400.0,
            items=(item,) * count,
            points_enabled=False,
            balance_centipoints=None,
        ),
        VOICES["ru"],
    )
    assert mail.subject.endswith(f": {count} {word}")
    assert "наш мониторинг подтвердил" in mail.text
