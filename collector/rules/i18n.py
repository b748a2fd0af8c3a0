"""The shipped rules' catalog: ``locale/<lang>/LC_MESSAGES/upkeep_rules.po`` (Babel).

The message ids are the ``summary`` templates of the shipped packs (``rules/*.yaml``, not the
``*.test.yaml`` cases), placeholders and filters included (``{asset}: {mountpoint} is
{value:percent} full``); a translation keeps the same ``{…}`` fields. Incident titles are said
in the client's language from them (:mod:`collector.incidents.titles`); a custom rule's
summary is not in the catalog, and its incidents keep the English title.

``python -m collector.rules.i18n`` merges the shipped summaries into each ``.po`` (new entries
come in empty; ``tests/rules/test_rules_catalog.py`` fails until they are translated).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import yaml

from collector import catalogs

DOMAIN = "upkeep_rules"
PACKAGE_DIR = Path(__file__).resolve().parent
_SUMMARY = re.compile(r"^\s*summary:\s")


def shipped_summaries() -> Iterator[tuple[str, str, int]]:
    """``(summary, file, line)`` of every rule in the shipped packs."""
    from collector.rules.service import default_rules_paths

    for folder in default_rules_paths():
        for path in sorted(folder.glob("*.yaml")):
            if path.name.endswith(".test.yaml"):
                continue
            text = path.read_text(encoding="utf-8")
            lines = [n for n, line in enumerate(text.splitlines(), 1) if _SUMMARY.match(line)]
            rules = (yaml.safe_load(text) or {}).get("rules") or []
            summaries = [r["summary"] for r in rules if isinstance(r, dict) and r.get("summary")]
            for i, summary in enumerate(summaries):
                yield str(summary), path.name, lines[i] if i < len(lines) else 0


CATALOG = catalogs.MessageCatalog(
    DOMAIN, PACKAGE_DIR, "rule", "templates/**.j2", extra=shipped_summaries
)
po_path = CATALOG.po_path
extract = CATALOG.extract
update_catalogs = CATALOG.update


@functools.cache
def _shipped() -> frozenset[str]:
    return frozenset(m for m, _file, _line in shipped_summaries())


def translated(template: str, language: str) -> str | None:
    """``template`` (a shipped summary) in ``language``; None when the catalog has no
    translation of it (a custom rule's summary, an unknown language)."""
    if language not in CATALOG.languages:
        return None
    if language == "en":
        return template if template in _shipped() else None
    text = CATALOG.translations(language).gettext(template)
    return text if text != template else None


if __name__ == "__main__":
    update_catalogs()
