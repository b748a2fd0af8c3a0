"""Page texts: every message of the templates and code has a Russian translation, and a page
renders in the person's language and time zone."""

from __future__ import annotations

from babel.messages.pofile import read_po

from collector.oncall import texts


def test_every_message_is_translated_to_russian() -> None:
    with texts.po_path("ru").open("rb") as f:
        catalog = read_po(f, locale="ru", domain=texts.DOMAIN)
    needed = {m.id for m in texts.extract() if m.id}
    missing = sorted(m for m in needed if not (catalog.get(m) and catalog.get(m).string))
    assert missing == []


def test_page_in_english_and_russian() -> None:
    values = {
        "key": "UPK-acme-3",
        "client": "acme",
        "title": "Core switch down",
        "priority": "critical",
        "asset": "sw-core",
        "opened_at": 1_790_000_000.0,  # 2026-09-21 14:13:20 UTC
        "step": 1,
        "response_due": 1_790_003_600.0,
        "ack_url": "https://u.example/a",
        "resolve_url": "https://u.example/r",
    }
    subject, text, ack, res = texts.render_page("en", "Europe/Berlin", **values)
    assert subject == "[Critical] UPK-acme-3 Core switch down"
    assert text == (
        "Critical incident UPK-acme-3 at acme\nCore switch down\nAsset: sw-core\n"
        "Detected: 21 Sep 2026, 16:13 +0200\n"
        "Nobody has acknowledged it yet: you are step 2 of the escalation.\n"
        "Response due: 21 Sep 2026, 17:13 +0200\n\n"
        "Acknowledge: https://u.example/a\nResolve: https://u.example/r\n"
    )
    assert (ack, res) == ("Acknowledge", "Resolve")
    subject, text, ack, res = texts.render_page("ru", "Europe/Moscow", **values)
    assert subject == "[Критический] UPK-acme-3 Core switch down"
    assert "Обнаружен: 21 сент. 2026, 17:13 +0300" in text
    assert "Принять: https://u.example/a" in text and (ack, res) == ("Принять", "Решено")
