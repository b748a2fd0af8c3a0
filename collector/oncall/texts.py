"""Page texts: a Jinja template (``templates/page.txt.j2``) with gettext catalogs (Babel) per
language (``locale/<lang>/LC_MESSAGES/upkeep_oncall.po``), dates in the person's time zone and
locale. ``tests/collector/oncall/test_texts.py`` fails while a message has no translation."""

from __future__ import annotations

import functools
import gettext
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_datetime
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

DOMAIN = "upkeep_oncall"
PACKAGE_DIR = Path(__file__).resolve().parent
LANGUAGES = ("en", "ru")
METHOD_MAP = [("**/templates/**.j2", "jinja2"), ("**.py", "python")]
OPTIONS_MAP = {"**/templates/**.j2": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}}


def N_(message: str) -> str:  # noqa: N802 — the usual gettext_noop name
    return message


PRIORITY_LABELS = {
    "critical": N_("Critical"),
    "major": N_("Major"),
    "minor": N_("Minor"),
    "technical": N_("Technical"),
}
ACK_LABEL = N_("Acknowledge")
RESOLVE_LABEL = N_("Resolve")
SUBJECT = N_("[%(priority)s] %(key)s %(title)s")


def po_path(language: str) -> Path:
    return PACKAGE_DIR / "locale" / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(language: str) -> gettext.NullTranslations:
    if language == "en" or language not in LANGUAGES:
        return gettext.NullTranslations()
    with po_path(language).open("rb") as f:
        catalog = read_po(f, locale=language, domain=DOMAIN)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


@functools.cache
def _env(language: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PACKAGE_DIR / "templates")),
        extensions=["jinja2.ext.i18n"],
        autoescape=False,  # plain text for chats, SMS and text mail
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=False,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def when(ts: float, timezone: str, language: str) -> str:
    """A moment in the person's zone and locale (``2 Dec 2026, 03:15 CET``)."""
    tz = ZoneInfo(timezone)
    return format_datetime(
        datetime.fromtimestamp(ts, UTC).astimezone(tz),
        "d MMM y, HH:mm zzz",
        tzinfo=tz,
        locale=language,
    )


def render_page(language: str, timezone: str, **values: Any) -> tuple[str, str, str, str]:
    """(subject, text, acknowledge label, resolve label) of a page in ``language``."""
    t = translations(language)
    priority_label = t.gettext(PRIORITY_LABELS.get(values["priority"], values["priority"]))
    text = (
        _env(language)
        .get_template("page.txt.j2")
        .render(
            priority_label=priority_label,
            opened=when(values["opened_at"], timezone, language),
            response_due=None
            if values.get("response_due") is None
            else when(values["response_due"], timezone, language),
            **{k: v for k, v in values.items() if k not in ("opened_at", "response_due")},
        )
    )
    subject = t.gettext(SUBJECT) % {
        "priority": priority_label,
        "key": values["key"],
        "title": values["title"],
    }
    return subject, text.strip() + "\n", t.gettext(ACK_LABEL), t.gettext(RESOLVE_LABEL)


def extract() -> Catalog:
    catalog = Catalog(domain=DOMAIN, project="upkeep", charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(
        str(PACKAGE_DIR),
        METHOD_MAP,
        OPTIONS_MAP,
        keywords={"_": None, "N_": None, "gettext": None},
        strip_comment_tags=True,
    ):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


_ANSWERS = {
    ("acknowledge", True): N_("Acknowledged. The escalation stops."),
    ("resolve", True): N_("Resolved. The escalation ends."),
    ("acknowledge", False): N_("Someone else acted on this incident already."),
    ("resolve", False): N_("Someone else acted on this incident already."),
    ("used", False): N_("This button was used already or is not valid."),
}


def answer_text(language: str, action: str, done: bool) -> str:
    """What the person sees after pressing a button or confirming a link."""
    return translations(language).gettext(_ANSWERS.get((action, done), _ANSWERS[("used", False)]))
