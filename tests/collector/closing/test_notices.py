"""The closing catalog is complete (every message of the code and templates has its Russian
text) and every notice renders in both languages."""

from __future__ import annotations

import pytest
from babel.messages.pofile import read_po

from collector.closing import notices


def test_every_message_has_a_russian_translation() -> None:
    with notices.po_path("ru").open("rb") as f:
        catalog = read_po(f, locale="ru", domain=notices.DOMAIN)
    missing = []
    for message in notices.extract():
        if not message.id:
            continue
        found = catalog.get(message.id)
        strings = found.string if found is not None else None
        ok = all(strings) if isinstance(strings, tuple) else bool(strings)
        if found is None or not ok or found.fuzzy:
            missing.append(message.id)
    assert missing == []


CONTEXT = {
    "key": "UPK-acme-1",
    "title": "Printer jams",
    "asset": "printer-2",
    "reported": True,
    "opened": "1",
    "resolved": "2",
    "zone": "Europe/Berlin",
    "note": None,
    "cleared": True,
    "time_spent": None,
    "points_enabled": False,
    "charged": False,
    "cost": None,
    "balance": None,
    "confirm_url": "https://x/confirm",
    "reopen_url": "https://x/reopen",
    "auto_close_day": "3",
}


@pytest.mark.parametrize("language", notices.LANGUAGES)
@pytest.mark.parametrize("kind", ["closing", "announce"])
def test_each_notice_renders_in_each_language(kind: str, language: str) -> None:
    subject, body = notices.render(kind, language, CONTEXT)
    assert "UPK-acme-1" in subject and "\n" not in subject
    assert "printer-2" in body and "https://x/reopen" in body
    if language == "ru":
        assert "What" not in body and "Hello" not in body  # no msgid left untranslated


@pytest.mark.parametrize(("count", "word"), [(1, "проблема"), (3, "проблемы"), (5, "проблем")])
def test_the_digest_subject_counts_in_russian(count: int, word: str) -> None:
    items = [
        {
            "key": f"k{i}",
            "title": "t",
            "asset": None,
            "resolved": "r",
            "note": "n",
            "cleared": False,
            "charged": False,
            "cost": None,
        }
        for i in range(count)
    ]
    subject, _ = notices.render(
        "digest",
        "ru",
        {
            "day": "5 октября 2026",
            "count": count,
            "items": items,
            "zone": "UTC",
            "points_enabled": False,
            "balance": None,
        },
    )
    assert subject.endswith(f": {count} {word}")
