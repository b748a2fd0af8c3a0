"""The notices' Russian catalog covers every message their templates and code use (found by
Babel's extraction, not listed by hand), with the same placeholders as the English text."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from collector.notices import i18n

PLACEHOLDER = re.compile(r"%\(\w+\)s|%%")


def _catalog():
    with i18n.po_path("ru").open("rb") as f:
        return read_po(f, locale="ru", domain=i18n.DOMAIN)


def _ids(message) -> tuple[str, ...]:
    return message.id if isinstance(message.id, tuple) else (message.id,)


def test_extraction_finds_templates_and_code():
    ids = {_ids(m)[0] for m in i18n.extract() if m.id}
    assert "Support points used up" in ids  # a template
    assert "business time" in ids  # words.py (N_)
    assert "%(num)s SLA target missed" in ids  # ngettext in a template


def test_russian_catalog_is_complete():
    catalog = _catalog()
    missing = []
    for message in i18n.extract():
        if not message.id:
            continue
        found = catalog.get(message.id)
        strings = (
            ()
            if found is None
            else (found.string if isinstance(found.string, tuple) else (found.string,))
        )
        if found is None or "fuzzy" in found.flags or not strings or not all(strings):
            missing.append(_ids(message)[0])
    assert missing == []


def test_russian_plural_forms_are_all_there():
    catalog = _catalog()
    assert catalog.num_plurals == 3
    for message in catalog:
        if isinstance(message.id, tuple):
            assert len(message.string) == 3 and all(message.string), message.id


def test_translations_keep_the_placeholders():
    for message in _catalog():
        if not message.id:
            continue
        wanted = set(PLACEHOLDER.findall(_ids(message)[-1]))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for text in strings:
            assert set(PLACEHOLDER.findall(text)) == wanted, message.id
