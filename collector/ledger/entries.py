"""The points ledger's entries: append-only ``ledger_entries``, balance = their sum.

Nothing here ever UPDATEs or DELETEs a ledger entry: a correction is a new entry (a
reversal charge, an adjustment). Every write that must happen once (a period's allotment,
its rollover and expiry, an incident's charge, a request's charge) carries a ``dedupe_key``
and is inserted with ``ON CONFLICT DO NOTHING``, so a retry or a concurrent writer is a
no-op instead of a second entry.

Ledger writes for one client are serialized by a row lock on the client (PostgreSQL;
SQLite has one writer anyway), so the balance a low-balance check reads includes every
charge committed before it.

Periods are handled lazily — :func:`ensure_periods` runs before every ledger write and
every statement read in a write transaction — and by the collector's periodic task
(the ``ledger-periods`` job, :mod:`collector.background`), so a period's allotment exists from its first minute on.

What an incident costs is :mod:`collector.ledger.service`, service requests are
:mod:`collector.ledger.requests` (both post through here); reads are :mod:`collector.ledger.read`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import notify, timeutil
from collector.contracts.model import Contract, PointsPolicy, format_points
from collector.contracts.store import get_contract
from collector.errors import InvalidArgument, NotFound
from collector.ledger import charges
from collector.notices import Voice, render
from collector.notices.model import LowBalanceNotice
from collector.schema import clients, contracts, ledger_entries, ledger_notices
from collector.store import dialect_insert

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "upkeep"
#: Periods caught up at most in one go (a collector down for years does not loop forever).
MAX_CATCH_UP = 36


# ---------------------------------------------------------------------- basics


def _period_label(contract: Contract | None, now: float) -> str:
    when = datetime.fromtimestamp(now, UTC)
    return contract.period_of(when) if contract is not None else when.strftime("%Y-%m")


def points_policy(conn: Connection, client_id: int) -> tuple[Contract, PointsPolicy] | None:
    contract = get_contract(conn, client_id)
    if contract is None or contract.points is None:
        return None
    return contract, contract.points


def lock_client(conn: Connection, client_id: int) -> None:
    """Serialize this client's ledger writes (row lock on PostgreSQL, until commit)."""
    query = sa.select(clients.c.id).where(clients.c.id == client_id)
    if conn.dialect.name != "sqlite":
        query = query.with_for_update()
    if conn.execute(query).first() is None:
        raise NotFound(f"no client with id {client_id}")


def insert_entry(
    conn: Connection,
    *,
    client_id: int,
    period: str,
    kind: str,
    centipoints: int,
    ts: float,
    actor: str,
    reason: str,
    incident_id: int | None = None,
    request_id: int | None = None,
    data: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Append one entry; its id, or None when ``dedupe_key`` was written before (by anyone)."""
    if kind not in charges.KINDS:
        raise ValueError(f"unknown ledger entry kind {kind!r}")
    values = dict(
        client_id=client_id,
        period=period,
        kind=kind,
        centipoints=int(centipoints),
        ts=ts,
        actor=actor,
        reason=reason,
        incident_id=incident_id,
        request_id=request_id,
        data=dict(data or {}),
        dedupe_key=dedupe_key,
    )
    insert = dialect_insert(conn.dialect.name)
    stmt = insert(ledger_entries).values(**values)
    if dedupe_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
    row = conn.execute(stmt.returning(ledger_entries.c.id)).first()
    return None if row is None else row[0]


def balance(conn: Connection, client_id: int, *, through_period: str | None = None) -> int:
    """The client's balance: the sum of its entries (up to and including ``through_period``)."""
    query = sa.select(sa.func.coalesce(sa.func.sum(ledger_entries.c.centipoints), 0)).where(
        ledger_entries.c.client_id == client_id
    )
    if through_period is not None:
        query = query.where(ledger_entries.c.period <= through_period)
    return int(conn.execute(query).scalar_one())


def _allotment_of(conn: Connection, client_id: int, period: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(ledger_entries.c.centipoints), 0)).where(
                ledger_entries.c.client_id == client_id,
                ledger_entries.c.period == period,
                ledger_entries.c.kind == "allotment",
            )
        ).scalar_one()
    )


# ---------------------------------------------------------------------- periods


def ensure_periods(conn: Connection, client_id: int, now: float) -> str | None:
    """Write the current period's allotment and close the periods before it (rollover and
    expiry), each once; returns the current period (None: the client has no points)."""
    found = points_policy(conn, client_id)
    if found is None:
        return None
    contract, policy = found
    current = _period_label(contract, now)
    last = conn.execute(
        sa.select(sa.func.max(ledger_entries.c.period)).where(
            ledger_entries.c.client_id == client_id, ledger_entries.c.kind == "allotment"
        )
    ).scalar()
    if last is not None and last >= current:
        return current
    if last is None:  # the ledger starts with the period the contract is first seen in
        _allot(conn, client_id, contract, policy, current)
        return current
    for _ in range(MAX_CATCH_UP):
        if last >= current:
            break
        following = charges.next_period(last)
        _close(conn, client_id, contract, policy, last, following)
        _allot(conn, client_id, contract, policy, following)
        last = following
    return current


def _allot(
    conn: Connection, client_id: int, contract: Contract, policy: PointsPolicy, period: str
) -> None:
    start, _ = contract.period_bounds(period)
    insert_entry(
        conn,
        client_id=client_id,
        period=period,
        kind="allotment",
        centipoints=policy.allotment,
        ts=start.timestamp(),
        actor=SYSTEM_ACTOR,
        reason=f"allotment for {period}",
        data={"plan": contract.plan.name},
        dedupe_key=f"allotment:{client_id}:{period}",
    )


def _close(
    conn: Connection,
    client_id: int,
    contract: Contract,
    policy: PointsPolicy,
    period: str,
    following: str,
) -> None:
    """Period ``period`` ended: move what rolls over into ``following``, expire the rest."""
    closing = balance(conn, client_id, through_period=period)
    kept, expired = charges.close_period(closing, policy)
    _, end = contract.period_bounds(period)
    at = end.timestamp()
    if expired:
        insert_entry(
            conn,
            client_id=client_id,
            period=period,
            kind="expiry",
            centipoints=-expired,
            ts=at,
            actor=SYSTEM_ACTOR,
            reason=f"{format_points(expired)} points of {period} expired "
            f"(rollover policy {policy.rollover.policy})",
            data={"balance": closing},
            dedupe_key=f"expiry:{client_id}:{period}",
        )
    if kept:
        insert_entry(
            conn,
            client_id=client_id,
            period=period,
            kind="rollover",
            centipoints=-kept,
            ts=at,
            actor=SYSTEM_ACTOR,
            reason=f"carried over to {following}",
            data={"balance": closing},
            dedupe_key=f"rollover-out:{client_id}:{period}",
        )
        insert_entry(
            conn,
            client_id=client_id,
            period=following,
            kind="rollover",
            centipoints=kept,
            ts=at,
            actor=SYSTEM_ACTOR,
            reason=f"carried over from {period}",
            data={"balance": closing},
            dedupe_key=f"rollover:{client_id}:{following}",
        )


def ensure_all_periods(store: Any, now: float | None = None) -> int:
    """The periodic task: :func:`ensure_periods` for every client with a contract."""
    now = timeutil.now() if now is None else now
    with store.read() as conn:
        ids = [r[0] for r in conn.execute(sa.select(contracts.c.client_id)).all()]
    done = 0
    for client_id in ids:
        try:
            with store.write() as conn:
                lock_client(conn, client_id)
                if ensure_periods(conn, client_id, now) is not None:
                    done += 1
        except Exception:  # one client's broken contract must not stop the others
            log.exception("ledger: period handling for client %s failed", client_id)
    return done


# ---------------------------------------------------------------------- posting


def post(
    conn: Connection,
    client_id: int,
    *,
    kind: str,
    centipoints: int,
    now: float,
    actor: str,
    reason: str,
    incident_id: int | None = None,
    request_id: int | None = None,
    data: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Append a charge, top-up or adjustment (after period handling), then check the
    low-balance thresholds if it took points away. None: the client has no points, or
    ``dedupe_key`` was written before."""
    lock_client(conn, client_id)
    period = ensure_periods(conn, client_id, now)
    if period is None:
        return None
    entry = insert_entry(
        conn,
        client_id=client_id,
        period=period,
        kind=kind,
        centipoints=centipoints,
        ts=now,
        actor=actor,
        reason=reason,
        incident_id=incident_id,
        request_id=request_id,
        data=data,
        dedupe_key=dedupe_key,
    )
    if entry is not None and centipoints < 0:
        check_low_balance(conn, client_id, now)
    return entry


def _require_reason(actor: str, reason: str) -> None:
    if not (actor or "").strip():
        raise InvalidArgument("by: say who makes the entry")
    if not (reason or "").strip():
        raise InvalidArgument("reason: say why")


def topup(
    conn: Connection, client_id: int, centipoints: int, *, actor: str, reason: str, now: float
) -> int:
    """The client bought points. Returns the entry id."""
    if centipoints <= 0:
        raise InvalidArgument("points: a top-up is a positive number of points")
    _require_reason(actor, reason)
    entry = post(
        conn, client_id, kind="topup", centipoints=centipoints, now=now, actor=actor, reason=reason
    )
    if entry is None:
        raise InvalidArgument("the client's contract has no points")
    return entry


def adjust(
    conn: Connection, client_id: int, centipoints: int, *, actor: str, reason: str, now: float
) -> int:
    """A correction, positive or negative, with who and why. Returns the entry id."""
    if centipoints == 0:
        raise InvalidArgument("points: an adjustment is not zero")
    _require_reason(actor, reason)
    entry = post(
        conn,
        client_id,
        kind="adjustment",
        centipoints=centipoints,
        now=now,
        actor=actor,
        reason=reason,
    )
    if entry is None:
        raise InvalidArgument("the client's contract has no points")
    return entry


# ---------------------------------------------------------------------- low balance


def check_low_balance(conn: Connection, client_id: int, now: float) -> list[str]:
    """Record (and mail) each threshold the balance is at or below, once per period.
    Returns the labels newly noticed."""
    found = points_policy(conn, client_id)
    if found is None:
        return []
    contract, policy = found
    period = _period_label(contract, now)
    current = balance(conn, client_id)
    crossed = charges.thresholds_crossed(current, _allotment_of(conn, client_id, period), policy)
    if not crossed:
        return []
    insert = dialect_insert(conn.dialect.name)
    new = []
    for label, _level in crossed:
        stmt = (
            insert(ledger_notices)
            .values(
                client_id=client_id,
                period=period,
                threshold=label,
                balance_centipoints=current,
                sent_at=now,
            )
            .on_conflict_do_nothing(index_elements=["client_id", "period", "threshold"])
        )
        if conn.execute(stmt).rowcount:
            new.append(label)
    if not new:
        return []
    # One mail for the lowest threshold newly reached (a big charge may pass two at once).
    lowest = new[-1]
    recipients = contract.contacts_for("low_balance")
    if not recipients:
        log.warning(
            "ledger: %s's balance is at %s (%s) but no contact receives low_balance notices",
            contract.client,
            format_points(current),
            lowest,
        )
        return new
    start, end = contract.period_bounds(period)
    mail = render(
        LowBalanceNotice(
            client=contract.client,
            period=period,
            period_start=start.timestamp(),
            period_end=end.timestamp(),
            balance_centipoints=current,
            allotment_centipoints=policy.allotment,
            threshold=lowest,
            used_up=lowest == charges.ZERO,
            at_zero=policy.at_zero,
        ),
        Voice.of(contract),
    )
    notify.queue(
        conn,
        kind="low_balance",
        recipients=recipients,
        subject=mail.subject,
        body_text=mail.text,
        body_html=mail.html,
        now=now,
        client_id=client_id,
        data={"period": period, "threshold": lowest, "balance": current},
        dedupe_key=f"low_balance:{client_id}:{period}:{lowest}",
    )
    return new
