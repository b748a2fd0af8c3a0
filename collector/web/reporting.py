"""The web UI's bridge to the client reports (``collector.reports``), in one place.

The reports module is built alongside the web UI; until it is importable, the reports page
lists archived reports and says that generating is not available. :func:`generate` is the
only call into it: ``collector.reports.archive.archive(store, data_dir, client, period, fmt,
actor=…)`` generates the report, writes it under ``<data_dir>/reports`` and records it in
the ``reports`` table, where the archive list and the download find it. (The function is
taken from the submodule: importing ``collector.reports.archive`` rebinds the package's
attribute of the same name to the submodule.)
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any

from collector.errors import InvalidArgument, NotFound
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
        store, settings.data_dir, client, period, fmt, actor=actor
    )


def archived_file(settings: Settings, stored_path: str) -> Path:
    """The file of an archived report; NotFound if it is missing or outside ``<data_dir>/reports``."""
    root = (settings.data_dir / "reports").resolve()
    stored = Path(stored_path)
    # Absolute, relative to the archive, or relative to where a relative data_dir was resolved.
    candidates = [stored] if stored.is_absolute() else [root / stored, stored]
    for candidate in candidates:
        path = candidate.resolve()
        if path.is_relative_to(root) and path.is_file():
            return path
    raise NotFound("the report's file is not in the archive")
