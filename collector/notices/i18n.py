"""The notices' catalog: ``locale/<lang>/LC_MESSAGES/upkeep_notices.po`` (Babel).

The English texts are the message ids. ``python -m collector.notices.i18n`` extracts every
message from the templates and code of this package and merges it into each ``.po`` (new
entries come in empty; ``tests/collector/notices/test_catalog.py`` fails until they are
translated).
"""

from __future__ import annotations

import functools
import gettext
import io
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

DOMAIN = "upkeep_notices"
PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"
LANGUAGES = ("en", "ru")
METHOD_MAP = [("templates/**.j2", "jinja2"), ("**.py", "python")]
OPTIONS_MAP = {"templates/**.j2": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}


def N_(message: str) -> str:  # noqa: N802 — the usual gettext_noop name
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog of ``language`` (English: the message ids themselves)."""
    if language not in LANGUAGES:
        raise ValueError(f"unknown notice language {language!r}; use one of {', '.join(LANGUAGES)}")
    if language == "en":
        return gettext.NullTranslations()
    with po_path(language).open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out: they count as untranslated
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def extract() -> Catalog:
    """Every message the notice templates and code use."""
    catalog = Catalog(domain=DOMAIN, project="upkeep", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE_DIR), METHOD_MAP, OPTIONS_MAP, keywords=KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def update_catalogs() -> None:
    """Merge freshly extracted messages into each language's ``.po`` (keeps translations)."""
    template = extract()
    for language in LANGUAGES[1:]:
        path = po_path(language)
        if path.exists():
            with path.open("rb") as f:
                catalog = read_po(f, locale=language, domain=DOMAIN)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            catalog = Catalog(locale=language, domain=DOMAIN, project="upkeep", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)
        with path.open("wb") as f:
            write_po(
                f, catalog, width=100, omit_header=False, sort_output=True, ignore_obsolete=True
            )


if __name__ == "__main__":
    update_catalogs()
