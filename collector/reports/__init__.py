"""Monthly client reports (issue 7): what was monitored, prevented, done, and what it cost.

- :func:`generate` — one report as bytes (``html`` | ``pdf`` | ``json`` | ``csv``);
- :func:`archive` — generate, write under ``<data_dir>/reports`` and record it in ``reports``;
- :mod:`collector.reports.schedule` — the periodic task that archives and e-mails each
  client's report once its contract period has ended;
- sections: :mod:`collector.reports.registry` (one module per section, loaded lazily).

docs/reports.md describes what each section shows and how it is computed.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collector.reports.archive import ArchivedReport
    from collector.store import Store

FORMATS = ("html", "pdf", "json", "csv")


def build(
    store: Store, client: str, period: str, *, language: str | None = None, now: float | None = None
) -> dict[str, Any]:
    """The report's data (the model every format renders), in one read transaction."""
    from collector.reports.model import build as build_model

    with store.read() as conn:
        return build_model(
            conn, client, period, now=time.time() if now is None else now, language=language
        )


def generate(
    store: Store,
    client: str,
    period: str,
    fmt: str = "html",
    language: str | None = None,
    *,
    now: float | None = None,
) -> bytes:
    """The report of ``client`` (name) for ``period`` (``YYYY-MM``) in format ``fmt``.

    ``language`` defaults to the contract's (English without a contract). Raises NotFound for
    an unknown client and InvalidArgument for a bad period, format or language.
    """
    from collector.errors import InvalidArgument
    from collector.reports.render import render

    if fmt not in FORMATS:
        raise InvalidArgument(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    return render(build(store, client, period, language=language, now=now), fmt)


def archive(
    store: Store,
    data_dir: Any,
    client: str,
    period: str,
    fmt: str = "pdf",
    language: str | None = None,
    *,
    actor: str = "upkeep",
    now: float | None = None,
    email: bool = False,
    replace: bool = True,
) -> ArchivedReport:
    """Generate and archive one report (see :func:`collector.reports.archive.archive`)."""
    from collector.reports.archive import archive as run

    return run(
        store,
        data_dir,
        client,
        period,
        fmt,
        language,
        actor=actor,
        now=now,
        email=email,
        replace=replace,
    )
