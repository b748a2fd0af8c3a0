"""The report model: every section's data for one client and period, as one plain dict.

Everything the HTML/PDF shows and the JSON/CSV exports carry comes from this dict, so the
formats cannot disagree. Times are UTC epoch seconds, points are centipoints, percentages
are numbers from 0 to 100.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Connection

from collector import admin
from collector.contracts.store import get_contract
from collector.errors import InvalidArgument
from collector.incidents.titles import localize_titles
from collector.notices import Voice, default_locale
from collector.notices.human import Human, parse_locale
from collector.reports import registry
from collector.reports.context import ReportContext
from collector.reports.i18n import LANGUAGES
from collector.reports.period import resolve

SCHEMA_VERSION = 1


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def build(
    conn: Connection,
    client: str,
    label: str,
    *,
    now: float,
    language: str | None = None,
    sections: list[str] | None = None,
) -> dict[str, Any]:
    """The data of the report of ``client`` (name) for period ``label`` (``YYYY-MM``)."""
    row = admin.get_client(conn, client)
    contract = get_contract(conn, row.id)
    try:
        period = resolve(label, contract)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    language = language or (contract.language if contract is not None else "en")
    if language not in LANGUAGES:
        raise InvalidArgument(
            f"unknown report language {language!r}; use one of {', '.join(LANGUAGES)}"
        )
    if conn.dialect.name == "postgresql":
        # Dozens of short aggregates: compiling them (JIT) costs more than it saves.
        conn.exec_driver_sql("SET LOCAL jit = off")
    ctx = ReportContext(
        conn=conn, client_id=row.id, client=row.name, contract=contract, period=period, now=now
    )
    names = sections or list(registry.SECTIONS)
    done: dict[str, dict[str, Any]] = {}
    for name in registry.compute_order(names):
        done[name] = registry.load(name).compute(ctx, done)
    locale = (
        Voice.of(contract, language).locale
        if contract is not None
        else default_locale(language, None, period.timezone)
    )
    # Rule titles were written in English when the incidents opened: said in the report's.
    localize_titles(done, conn, row.id, language, Human(parse_locale(locale), period.timezone))
    plan = None
    if contract is not None:
        plan = {
            "name": contract.plan.name,
            "monthly_fee": str(contract.plan.monthly_fee),
            "currency": contract.plan.currency,
        }
    return {
        "schema": SCHEMA_VERSION,
        "client": row.name,
        "language": language,
        # How dates and numbers are written: the contract's locale when the report is in the
        # contract's language, else that language in the calendar's country.
        "locale": locale,
        "plan": plan,
        "period": {
            "label": period.label,
            "start": period.start,
            "end": period.end,
            "timezone": period.timezone,
            "start_iso": _iso(period.start),
            "end_iso": _iso(period.end),
        },
        "generated_at": now,
        "sections": {name: done[name] for name in names},
    }
