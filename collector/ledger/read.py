"""The ledger's read model: every points figure anyone shows comes from here (the API and the
CLI statement, the monthly report, the management views, the web UI). Nobody else reads
``ledger_entries``.

- :func:`statement` — one period's :class:`~collector.ledger.charges.Statement`: opening
  balance (every entry of earlier periods), allotment, carry-over in and out, charges
  (reversals netted), top-ups, adjustments, expiry, closing balance, the entries by time;
- :func:`period_figures` — the :class:`~collector.ledger.charges.Figures` of the contract
  periods a time range covers, per client, summed in SQL (the management view);
- :func:`figures` — one client's figures for a few periods (the report's trends);
- :func:`balances` — the current balance per client (lists, the dashboard).

An entry belongs to the period it was written for (``period``), not to the moment: a period's
allotment is stamped at its start, its carry-over out and its expiry at its end. A period is a
month of the contract's calendar (its time zone and start day); without a contract, a UTC
month. ``as_of`` cuts a running period at a moment (entries stamped after it are left out).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import timeutil
from collector.contracts.model import Contract, parse_period
from collector.contracts.store import get_contract
from collector.errors import InvalidArgument, NotFound
from collector.ledger import charges
from collector.ledger.charges import EntryView, Figures, Statement
from collector.ledger.entries import ensure_periods, lock_client, points_policy
from collector.schema import clients, incidents, ledger_entries, service_requests

__all__ = [
    "EntryView",
    "Figures",
    "Statement",
    "balances",
    "figures",
    "period_figures",
    "periods_between",
    "statement",
]

_le = ledger_entries


def _contract(conn: Connection, client_id: int) -> Contract | None:
    try:
        return get_contract(conn, client_id)
    except Exception:  # a stored contract the model no longer accepts: UTC months
        return None


def bounds(contract: Contract | None, period: str) -> tuple[float, float]:
    """Epoch start (inclusive) and end (exclusive) of ``period`` for the contract."""
    if contract is not None:
        start, end = contract.period_bounds(period)
        return start.timestamp(), end.timestamp()
    year, month = parse_period(period)
    following = charges.next_period(period)
    ny, nm = parse_period(following)
    return (
        datetime(year, month, 1, tzinfo=UTC).timestamp(),
        datetime(ny, nm, 1, tzinfo=UTC).timestamp(),
    )


def period_of(contract: Contract | None, ts: float) -> str:
    when = datetime.fromtimestamp(ts, UTC)
    return contract.period_of(when) if contract is not None else when.strftime("%Y-%m")


def periods_between(contract: Contract | None, since: float, until: float) -> list[str]:
    """The periods that overlap ``[since, until)``, oldest first (at most 120)."""
    if until <= since:
        return []
    label = period_of(contract, since)
    out: list[str] = []
    while len(out) < 120 and bounds(contract, label)[0] < until:
        out.append(label)
        label = charges.next_period(label)
    return out


def _moves(where: Iterable[Any]) -> sa.Select:
    """Sums per client, period, kind and sign (a rollover is in or out by its sign)."""
    positive = sa.case((_le.c.centipoints > 0, 1), else_=0).label("positive")
    inner = sa.select(_le.c.client_id, _le.c.period, _le.c.kind, _le.c.centipoints, positive).where(
        *where
    )
    sub = inner.subquery()
    return sa.select(
        sub.c.client_id, sub.c.period, sub.c.kind, sa.func.sum(sub.c.centipoints).label("total")
    ).group_by(sub.c.client_id, sub.c.period, sub.c.kind, sub.c.positive)


def _fold(
    rows: Iterable[Any], periods: Sequence[str], opening: int = 0
) -> list[tuple[str, Figures]]:
    """Figures of ``periods`` (ascending) from grouped rows of any periods: what is before
    the first one opens it, each closing opens the next."""
    by_period: dict[str, list[tuple[str, int]]] = {}
    for r in rows:
        if r.period < periods[0]:
            opening += int(r.total)
        else:
            by_period.setdefault(r.period, []).append((r.kind, int(r.total)))
    out = []
    for label in periods:
        f = Figures.fold(opening, by_period.get(label, ()))
        out.append((label, f))
        opening = f.closing_balance
    return out


def statement(
    conn: Connection,
    client_id: int,
    period: str | None = None,
    *,
    now: float | None = None,
    as_of: float | None = None,
) -> Statement | None:
    """The statement of ``period`` (default: the current one); ``as_of``: only the entries
    stamped at or before it.

    In a write transaction (``store.write()``) the periods are brought up to date first; in
    a read transaction it shows what is stored. None when the client has no points and no
    entries.
    """
    now = timeutil.now() if now is None else now
    name = conn.execute(sa.select(clients.c.name).where(clients.c.id == client_id)).scalar()
    if name is None:
        raise NotFound(f"no client with id {client_id}")
    if conn.get_execution_options().get("upkeep_write"):
        lock_client(conn, client_id)
        ensure_periods(conn, client_id, now)
    found = points_policy(conn, client_id)
    contract = found[0] if found is not None else _contract(conn, client_id)
    if period is None:
        period = period_of(contract, now)
    else:
        try:
            parse_period(period)
        except ValueError as exc:
            raise InvalidArgument(f"period: {exc}") from None
    start, end = bounds(contract, period) if contract is not None else (None, None)
    cut = [] if as_of is None else [_le.c.ts <= as_of]
    opening = int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(_le.c.centipoints), 0)).where(
                _le.c.client_id == client_id, _le.c.period < period, *cut
            )
        ).scalar_one()
    )
    rows = conn.execute(
        sa.select(
            _le,
            incidents.c.key.label("incident_key"),
            incidents.c.title.label("incident_title"),
            incidents.c.cause.label("incident_cause"),
            service_requests.c.key.label("request_key"),
            service_requests.c.title.label("request_title"),
        )
        .outerjoin(incidents, incidents.c.id == _le.c.incident_id)
        .outerjoin(service_requests, service_requests.c.id == _le.c.request_id)
        .where(_le.c.client_id == client_id, _le.c.period == period, *cut)
        .order_by(_le.c.ts, _le.c.id)
    ).all()
    if found is None and not rows and opening == 0:
        return None
    entries = [
        EntryView(
            r.id,
            r.kind,
            int(r.centipoints),
            r.ts,
            r.actor,
            r.reason,
            r.incident_key,
            r.request_key,
            dict(r.data or {}),
            subject=r.incident_title or r.request_title,
            cause=r.incident_cause if r.kind == "charge" else None,
        )
        for r in rows
    ]
    return charges.build_statement(
        client=name,
        period=period,
        opening=opening,
        entries=entries,
        start=start,
        end=end,
        timezone=contract.calendar.timezone if contract is not None else "UTC",
        at_zero=found[1].at_zero if found is not None else None,
        allotment_policy=found[1].allotment if found is not None else None,
    )


def figures(conn: Connection, client_id: int, periods: Sequence[str]) -> list[tuple[str, Figures]]:
    """The figures of ``periods`` (ascending) for one client, the same as each period's
    :func:`statement` shows."""
    if not periods:
        return []
    rows = conn.execute(_moves([_le.c.client_id == client_id, _le.c.period <= periods[-1]])).all()
    return _fold(rows, periods)


def period_figures(
    conn: Connection, since: float, until: float
) -> dict[int, list[tuple[str, Figures]]]:
    """Per client with ledger entries: the figures of each contract period overlapping
    ``[since, until)``, as of ``until`` (the last one's closing balance is the balance then).

    One grouped query (per client, period, kind and sign, over every entry up to ``until``:
    the groups grow with clients × months of history, not with entries), and each client's
    contract for its periods (its calendar).
    """
    rows = conn.execute(_moves([_le.c.ts <= until])).all()
    per_client: dict[int, list[Any]] = {}
    for r in rows:
        per_client.setdefault(r.client_id, []).append(r)
    out = {}
    for client_id, grouped in per_client.items():
        periods = periods_between(_contract(conn, client_id), since, until)
        if periods:
            out[client_id] = _fold([r for r in grouped if r.period <= periods[-1]], periods)
    return out


def balances(conn: Connection, client_ids: Collection[int] | None = None) -> dict[int, int]:
    """The balance (centipoints) per client with entries, of ``client_ids`` (None: every
    client): the sum of its ledger, the closing balance of its current statement."""
    query = sa.select(_le.c.client_id, sa.func.sum(_le.c.centipoints)).group_by(_le.c.client_id)
    if client_ids is not None:
        query = query.where(_le.c.client_id.in_(sorted(client_ids)))
    return {r[0]: int(r[1] or 0) for r in conn.execute(query).all()}
