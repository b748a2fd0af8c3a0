"""The rules' Russian catalog covers the summary of every shipped rule (read from
rules/*.yaml, not listed by hand), each translation with the same ``{…}`` fields and filters,
and renders with the fields a summary may name."""

from __future__ import annotations

import string

from babel.messages.pofile import read_po

from collector.notices.human import Human
from collector.rules import i18n
from collector.rules.engine import render_source


def _catalog():
    with i18n.po_path("ru").open("rb") as f:
        return read_po(f, locale="ru", domain=i18n.DOMAIN)


def _fields(template: str) -> set[tuple[str, str]]:
    return {
        (name, spec or "")
        for _text, name, spec, _conv in string.Formatter().parse(template)
        if name is not None
    }


def test_extraction_finds_every_shipped_summary():
    ids = {m.id for m in i18n.extract() if m.id}
    assert "{asset}: newest file in {path} is {value:duration} old" in ids
    assert "{target}: TLS certificate expires {value:in}" in ids
    assert len(ids) >= 40
    # The test packs' cases are not shipped rules.
    assert not any(f.endswith(".test.yaml") for m in i18n.extract() for f, _ in m.locations)


def test_russian_catalog_is_complete():
    catalog = _catalog()
    missing = [
        m.id
        for m in i18n.extract()
        if m.id
        and (
            catalog.get(m.id) is None
            or "fuzzy" in catalog.get(m.id).flags
            or not catalog.get(m.id).string
        )
    ]
    assert missing == []


def test_translations_keep_the_fields_and_filters():
    for message in _catalog():
        if message.id:
            assert _fields(message.string) == _fields(message.id), message.id


def test_every_translation_renders_without_a_raw_number_or_placeholder():
    ru = Human("ru_RU", "Europe/Moscow")
    for message in _catalog():
        if not message.id:
            continue
        names = {name for name, _spec in _fields(message.id)} - {"value", "eta"}
        source = {
            "template": message.id,
            "fields": {n: f"<{n}>" for n in names},
            "value": 259211.5,
            "unit": "seconds" if "duration" in message.id or "ago" in message.id else None,
            "eta": 3 * 86400.0,
        }
        text = render_source(source, ru, message.string)
        assert "{" not in text and "None" not in text, text
        if any(spec in ("duration", "ago", "in") for _n, spec in _fields(message.id)):
            assert "259211" not in text and "3 дня" in text, text  # words, not seconds
