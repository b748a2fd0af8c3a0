"""The one notice renderer: a typed notice + the reader's :class:`Voice` → subject, text, HTML.

Templates are Jinja2 with the i18n extension (``{% trans %}``, ``_()``, ``ngettext``) over
the Babel catalog of :mod:`collector.notices.i18n`; values go through the filters of
:class:`collector.notices.human.Human` (``|duration``, ``|ago``, ``|in``, ``|bytes``,
``|percent``, ``|date``, ``|datetime``, ``|points``, ``|number``, ``|money``) in the voice's
locale and time zone. ``StrictUndefined``: a template naming a field the notice lacks fails
the test suite, not a client's mail.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jinja2

from collector.notices import words
from collector.notices.human import Human, default_locale, parse_locale
from collector.notices.i18n import PACKAGE_DIR, translations

if TYPE_CHECKING:
    from collector.contracts.model import Contract
    from collector.notices.model import Notice


@dataclass(frozen=True)
class Voice:
    """Who reads a notice: language (catalog), IANA time zone, Babel locale (``en_DE``)."""

    language: str = "en"
    timezone: str = "UTC"
    locale: str = "en"

    @classmethod
    def of(cls, contract: Contract, language: str | None = None) -> Voice:
        """The contract's voice (``language``: another language, e.g. English for technicians,
        with the locale then derived for that language in the contract's country)."""
        tz = contract.calendar.timezone
        lang = language or contract.language
        if lang == contract.language:
            return cls(lang, tz, contract.effective_locale)
        return cls(lang, tz, default_locale(lang, contract.calendar.holidays.country, tz))

    @property
    def human(self) -> Human:
        return _human(self.locale, self.timezone)


@functools.cache
def _human(locale: str, timezone: str) -> Human:
    return Human(parse_locale(locale), timezone)


@dataclass(frozen=True)
class Rendered:
    """A notice in words."""

    subject: str
    text: str
    html: str


def _filter(name: str) -> Any:
    @jinja2.pass_context
    def apply(context: jinja2.runtime.Context, value: Any, *args: Any) -> str:
        human: Human = context["h"]
        if name == "in":
            return human.in_(value)
        return str(getattr(human, name)(value, *args))

    return apply


_FILTER_NAMES: tuple[str, ...] = (
    "duration",
    "ago",
    "in",
    "bytes",
    "percent",
    "date",
    "datetime",
    "points",
    "number",
    "money",
)


def _paragraphs(text: str) -> list[str]:
    """A macro's output split at blank lines (keeps ``Markup``: nothing is escaped twice)."""
    kind = type(text)
    return [kind(p.strip()) for p in re.split(r"\n\s*\n", str(text)) if p.strip()]


@functools.cache
def _environment(language: str, html: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PACKAGE_DIR / "templates")),
        autoescape=html,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    for name in _FILTER_NAMES:
        env.filters[name] = _filter(name)
    env.filters["paragraphs"] = _paragraphs
    return env


def _block(template: jinja2.Template, name: str, values: dict[str, Any]) -> str:
    context = template.new_context(values)
    return "".join(template.blocks[name](context))


def render(notice: Notice, voice: Voice) -> Rendered:
    """``notice`` in ``voice``'s language, locale and time zone."""
    values = {
        "n": notice,
        "words": words,
        "h": voice.human,
        "voice": voice,
        **{f.name: getattr(notice, f.name) for f in dataclasses.fields(notice)},
    }
    text_template = _environment(voice.language, False).get_template(f"{notice.template}.txt.j2")
    subject = " ".join(_block(text_template, "subject", values).split())
    body = _block(text_template, "body", values).strip("\n") + "\n"
    html_template = _environment(voice.language, True).get_template(f"{notice.template}.html.j2")
    html = html_template.render({**values, "subject": subject})
    return Rendered(subject=subject, text=body, html=html)
