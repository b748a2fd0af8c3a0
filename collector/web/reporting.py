"""The web UI's bridge to the client reports (``collector.reports``), in one place.

The reports module is built alongside the web UI; until it is importable, the reports page
lists archived reports and says that generating is not available. :func:`generate` is the
only call into it: ``collector.reports.archive.archive(store, data_dir, client, period, fmt,
actor=…)`` generates the report, stores it in the database (``artefacts``) and records it in
the ``reports`` table, where the archive list and the download find it. (The function is
taken from the submodule: importing ``collector.reports.archive`` rebinds the package's
attribute of the same name to the submodule.)
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from collector.errors import InvalidArgument
from collector.settings import Settings
from collector.store import Store

log = logging.getLogger(__name__)
ARCHIVE_MODULE = "collector.reports.archive"

FORMATS = ("html", "pdf", "json", "csv")


def available() -> bool:
    """Whether ``collector.reports.archive`` imports and offers ``archive``."""
    try:
        module = importlib.import_module(ARCHIVE_MODULE)
    except ModuleNotFoundError as exc:
        if exc.name not in (ARCHIVE_MODULE, "collector.reports", "collector"):
            log.warning("reports not available: collector.reports needs %s", exc.name)
        return False
    except Exception:  # a half-built module must not take the page down
        log.exception("reports not available: importing collector.reports failed")
        return False
    return callable(getattr(module, "archive", None))


def generate(
    store: Store, settings: Settings, *, client: str, period: str, fmt: str, actor: str
) -> Any:
    """Generate and archive one report; returns what ``archive`` returns (the archived row)."""
    if fmt not in FORMATS:
        raise InvalidArgument(f"format must be one of {', '.join(FORMATS)}")
    return importlib.import_module(ARCHIVE_MODULE).archive(
        store,
        settings.data_dir,
        client,
        period,
        fmt,
        actor=actor,
        max_bytes=settings.artefact_max_bytes,
    )


def archived_content(store: Store, settings: Settings, row: Any) -> bytes:
    """The content of an archived report row: from the database, or (archived before 0010)
    its file under ``<data_dir>/reports``; NotFound if missing or outside the archive."""
    from collector.reports.archive import content_of

    with store.read() as conn:
        return content_of(conn, settings.data_dir, row)
