"""The notices' catalog: ``locale/<lang>/LC_MESSAGES/upkeep_notices.po`` (Babel).

The English texts are the message ids. ``python -m collector.notices.i18n`` extracts every
message from the templates and code of this package and merges it into each ``.po`` (new
entries come in empty; ``tests/collector/notices/test_catalog.py`` fails until they are
translated).
"""

from __future__ import annotations

from pathlib import Path

from collector import catalogs

DOMAIN = "upkeep_notices"
PACKAGE_DIR = Path(__file__).resolve().parent
LOCALE_DIR = PACKAGE_DIR / "locale"
LANGUAGES = catalogs.LANGUAGES
CATALOG = catalogs.MessageCatalog(DOMAIN, PACKAGE_DIR, "notice", "templates/**.j2")
N_ = catalogs.N_
po_path = CATALOG.po_path
translations = CATALOG.translations
extract = CATALOG.extract
update_catalogs = CATALOG.update


if __name__ == "__main__":
    update_catalogs()
