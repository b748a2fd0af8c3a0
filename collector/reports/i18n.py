"""Languages of the report: gettext catalogs (Babel) and locale-aware formatting.

The English texts are the message ids; other languages have a catalog in
``locale/<lang>/LC_MESSAGES/upkeep_reports.po``. The ``.po`` file is compiled in memory the
first time a language is used (Babel's ``write_mo``), so a fresh checkout and an installed
wheel (the ``.po`` files are package data) work alike, with no build step to forget.

Update the catalog after changing texts: ``python -m collector.reports.i18n`` extracts the
messages from the code and templates and merges them into every ``.po`` file (new entries
come in empty; ``tests/collector/reports/test_i18n.py`` fails until they are translated).
"""

from __future__ import annotations

import functools
import gettext
import io
import math
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

DOMAIN = "upkeep_reports"
PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"
LANGUAGES = ("en", "ru")
#: How messages are found: Python code (``_``, ``N_``, ``ngettext``) and the Jinja templates.
METHOD_MAP = [("**/templates/**.j2", "jinja2"), ("**.py", "python")]
OPTIONS_MAP = {"**/templates/**.j2": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
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
        raise ValueError(f"unknown report language {language!r}; use one of {', '.join(LANGUAGES)}")
    if language == "en":
        return gettext.NullTranslations()
    with po_path(language).open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out: they count as untranslated
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def extract() -> Catalog:
    """Every message the report code and templates use (for the catalog and its tests)."""
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
        with path.open("rb") as f:
            catalog = read_po(f, locale=language, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        with path.open("wb") as f:
            write_po(
                f, catalog, width=100, omit_header=False, sort_output=True, ignore_obsolete=True
            )


# ---------------------------------------------------------------------- formatting


class Formatter:
    """Numbers, percentages, dates, money, points and durations for one locale and time zone."""

    def __init__(self, language: str, timezone: str = "UTC") -> None:
        self.language = language
        self.locale = Locale.parse(language)
        self.tz = ZoneInfo(timezone)
        self.t = translations(language)

    def gettext(self, message: str, **values: Any) -> str:
        text = self.t.gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        return self.t.ngettext(singular, plural, n) % {"num": n, **values}

    def number(self, value: float | int | None, digits: int = 0) -> str:
        if value is None:
            return "–"
        fmt = "#,##0" + ("." + "0" * digits if digits else "")
        return format_decimal(value, format=fmt, locale=self.locale)

    def percent(self, value: float | None, digits: int = 2) -> str:
        """``value`` is already a percentage (99.5 → "99.50 %")."""
        if value is None:
            return "–"
        fmt = "#,##0" + ("." + "0" * digits if digits else "") + "%"
        return format_percent(value / 100, format=fmt, locale=self.locale)

    def date(self, ts: float | None) -> str:
        if ts is None:
            return "–"
        return format_date(
            datetime.fromtimestamp(ts, UTC).astimezone(self.tz), format="medium", locale=self.locale
        )

    def datetime(self, ts: float | None) -> str:
        if ts is None:
            return "–"
        return format_datetime(
            datetime.fromtimestamp(ts, UTC).astimezone(self.tz),
            format="short",
            tzinfo=self.tz,
            locale=self.locale,
        )

    def money(self, amount: Decimal | float | str, currency: str) -> str:
        return format_currency(Decimal(str(amount)), currency, locale=self.locale)

    def points(self, centipoints: int | None) -> str:
        if centipoints is None:
            return "–"
        return format_decimal(Decimal(centipoints) / 100, format="#,##0.00", locale=self.locale)

    def duration(self, seconds: float | None) -> str:
        """``5400`` → "1 h 30 min" (days past 48 hours)."""
        if seconds is None:
            return "–"
        minutes = int(math.floor(seconds / 60 + 0.5))
        days, rest = divmod(minutes, 1440)
        hours, mins = divmod(rest, 60)
        if days >= 2:
            return self.gettext("%(d)s d %(h)s h", d=days, h=hours)
        hours += days * 24
        if hours:
            return self.gettext("%(h)s h %(m)s min", h=hours, m=mins)
        return self.gettext("%(m)s min", m=mins)

    def days(self, value: float | None) -> str:
        if value is None:
            return "–"
        n = int(math.floor(value))
        return self.ngettext("%(num)s day", "%(num)s days", n)

    def bytes(self, value: float | None) -> str:
        if value is None:
            return "–"
        units = [N_("B"), N_("KiB"), N_("MiB"), N_("GiB"), N_("TiB")]
        size, unit = float(value), 0
        while size >= 1024 and unit < len(units) - 1:
            size, unit = size / 1024, unit + 1
        return f"{self.number(size, 1 if unit else 0)} {self.gettext(units[unit])}"


if __name__ == "__main__":
    update_catalogs()
