"""The texts of closing communication: Jinja2 templates (``templates/*.j2``) with Babel
catalogs (``locale/<lang>/LC_MESSAGES/upkeep_closing.po``), in the contract's language and its
calendar's time zone. English texts are the message ids.

Shaped to fold into the one notice renderer: each notice is a kind (``closing``,
``announce``, ``digest``, the link and portal pages) with one template and a context of
already-formatted values (:class:`NoticeFormatter`).

Update the catalog after changing texts: ``python -m collector.closing.notices`` extracts the
messages and merges them into every ``.po`` (new entries come in empty;
``tests/collector/closing/test_notices.py`` fails until they are translated).
"""

from __future__ import annotations

import functools
import gettext
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from babel.dates import format_datetime
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from collector.reports.i18n import Formatter

DOMAIN = "upkeep_closing"
PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
LOCALE_DIR = PACKAGE_DIR / "locale"
LANGUAGES = ("en", "ru")
METHOD_MAP = [("**/templates/**.j2", "jinja2"), ("**.py", "python")]
OPTIONS_MAP = {"**/templates/**.j2": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}
KEYWORDS = {
    "_": None,
    "N_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "_t": (2,),
    "gettext_for": (2,),
}
#: Dates and times in messages: unambiguous in every locale ("1 December 2026, 15:04").
DATETIME_FORMAT = "d MMMM y, HH:mm"
DATE_FORMAT = "d MMMM y"


def N_(message: str) -> str:  # noqa: N802 — the usual gettext_noop name
    return message


#: The durations of the report formatter (collector.reports.i18n.Formatter.duration), which
#: look their texts up in this catalog when it formats for a closing message.
DURATION_TEXTS = (N_("%(d)s d %(h)s h"), N_("%(h)s h %(m)s min"), N_("%(m)s min"))


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; use one of {', '.join(LANGUAGES)}")
    if language == "en":
        return gettext.NullTranslations()
    with po_path(language).open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out: they count as untranslated
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def extract() -> Catalog:
    """Every message of the closing code and templates (for the catalog and its test)."""
    catalog = Catalog(domain=DOMAIN, project="upkeep", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE_DIR), METHOD_MAP, OPTIONS_MAP, keywords=KEYWORDS, strip_comment_tags=True
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def update_catalogs() -> None:
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


class NoticeFormatter(Formatter):
    """The report formatter (numbers, points, durations) with the closing catalog."""

    def __init__(self, language: str, timezone: str = "UTC") -> None:
        super().__init__(language, timezone)
        self.t = translations(language)

    def when(self, ts: float | None) -> str:
        """``1 December 2026, 15:04`` in the client's zone."""
        if ts is None:
            return "–"
        local = datetime.fromtimestamp(ts, UTC).astimezone(self.tz)
        return format_datetime(local, DATETIME_FORMAT, locale=self.locale)

    def day(self, ts: float | None) -> str:
        if ts is None:
            return "–"
        local = datetime.fromtimestamp(ts, UTC).astimezone(self.tz)
        return format_datetime(local, DATE_FORMAT, locale=self.locale)


@functools.cache
def environment(language: str, extra_dirs: tuple[str, ...] = ()) -> Environment:
    """One Jinja environment per language (its translations installed once; thread-safe)."""
    env = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(str(TEMPLATES_DIR)), *(FileSystemLoader(d) for d in extra_dirs)]
        ),
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default=False),
        extensions=["jinja2.ext.i18n"],
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def render(kind: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of the notice ``kind`` (``templates/<kind>.txt.j2``)."""
    template = environment(language).get_template(f"{kind}.txt.j2")
    ctx = template.new_context(dict(context))
    subject = "".join(template.blocks["subject"](ctx)).strip()
    body = "".join(template.blocks["body"](ctx)).strip() + "\n"
    return subject, body


def render_page(
    name: str, language: str, context: dict[str, Any], extra_dirs: tuple[str, ...] = ()
) -> str:
    """An HTML page (``templates/<name>``) in ``language``."""
    return environment(language, extra_dirs).get_template(name).render(**context)


def gettext_for(language: str, message: str, **values: Any) -> str:
    text = translations(language).gettext(message)
    return text % values if values else text


if __name__ == "__main__":
    update_catalogs()
