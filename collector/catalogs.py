"""One Babel message catalog of a package: ``locale/<lang>/LC_MESSAGES/<domain>.po``.

The English texts are the message ids. The reports (``collector.reports.i18n``), the client
notices (``collector.notices.i18n``) and the shipped rules' summaries (``collector.rules.i18n``)
each have one; this is the loading, extraction and merge they share, so a fix to how a ``.po``
is read or updated is made once.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations

LANGUAGES = ("en", "ru")
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}


def N_(message: str) -> str:  # noqa: N802 — the usual gettext_noop name
    """Mark ``message`` for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class MessageCatalog:
    """The catalog ``domain`` of the package in ``package_dir``; ``what`` names its texts in
    errors ("report", "notice"); ``templates`` is the glob of its Jinja templates."""

    domain: str
    package_dir: Path
    what: str
    templates: str
    languages: tuple[str, ...] = LANGUAGES
    #: Messages that are not in code or templates (e.g. the shipped rules' summaries in YAML):
    #: ``(message, filename, line)`` triples, extracted with the rest.
    extra: Callable[[], Iterable[tuple[str, str, int]]] | None = field(default=None, compare=False)
    _cache: dict[str, gettext.NullTranslations] = field(default_factory=dict, compare=False)

    @property
    def locale_dir(self) -> Path:
        return self.package_dir / "locale"

    def po_path(self, language: str) -> Path:
        return self.locale_dir / language / "LC_MESSAGES" / f"{self.domain}.po"

    def translations(self, language: str) -> gettext.NullTranslations:
        """The catalog of ``language`` (English: the message ids themselves), read once."""
        if language not in self.languages:
            raise ValueError(
                f"unknown {self.what} language {language!r}; use one of {', '.join(self.languages)}"
            )
        found = self._cache.get(language)
        if found is None:
            found = self._cache[language] = self._read(language)
        return found

    def _read(self, language: str) -> gettext.NullTranslations:
        if language == "en":
            return gettext.NullTranslations()
        with self.po_path(language).open("rb") as f:
            catalog = read_po(f, locale=language, domain=self.domain)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)  # fuzzy entries are left out: they count as untranslated
        buffer.seek(0)
        return Translations(buffer, domain=self.domain)

    def extract(self) -> Catalog:
        """Every message the package's code and templates use (for the catalog and its tests)."""
        method_map = [(self.templates, "jinja2"), ("**.py", "python")]
        options_map = {
            self.templates: {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"}
        }
        catalog = Catalog(domain=self.domain, project="upkeep", charset="utf-8")
        for filename, lineno, message, comments, context in extract_from_dir(
            str(self.package_dir),
            method_map,
            options_map,
            keywords=KEYWORDS,
            strip_comment_tags=True,
        ):
            catalog.add(
                message, None, [(filename, lineno)], auto_comments=comments, context=context
            )
        for message, filename, lineno in self.extra() if self.extra is not None else ():
            catalog.add(message, None, [(filename, lineno)])
        return catalog

    def update(self) -> None:
        """Merge freshly extracted messages into each language's ``.po`` (keeps translations;
        new entries come in empty, and the catalog tests fail until they are translated)."""
        template = self.extract()
        for language in self.languages[1:]:
            path = self.po_path(language)
            if path.exists():
                with path.open("rb") as f:
                    catalog = read_po(f, locale=language, domain=self.domain)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                catalog = Catalog(
                    locale=language, domain=self.domain, project="upkeep", charset="utf-8"
                )
            catalog.update(template, no_fuzzy_matching=True)
            with path.open("wb") as f:
                write_po(
                    f, catalog, width=100, omit_header=False, sort_output=True, ignore_obsolete=True
                )
