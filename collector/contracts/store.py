"""Contracts in the store: one row per client in ``contracts`` (the validated model as JSON).

Everything that needs a client's contract (SLA clocks, ledger, preventive work, reports) reads
it with :func:`get_contract` inside its own transaction; files and the API write it with
:func:`put_contract`. Hot paths (the scope stage runs for every alert signal) use
:func:`cached_contract`, which reads only the row's version and re-parses on a change.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.contracts.model import Contract
from collector.schema import clients, contracts


def get_contract(conn: Connection, client_id: int) -> Contract | None:
    """The client's contract, or None when it has none."""
    row = conn.execute(
        sa.select(contracts.c.definition).where(contracts.c.client_id == client_id)
    ).first()
    return None if row is None else stored_contract(row.definition)


def stored_contract(definition: Any) -> Contract:
    """A stored definition as a contract. Stored definitions were accepted once: a form that
    is refused in new input since (a ``10d`` business target) keeps the meaning it had."""
    return Contract.model_validate(definition, context={"stored": True})


def put_contract(
    conn: Connection, client_id: int, contract: Contract, *, source: str, actor: str, now: float
) -> int:
    """Store ``contract`` for the client (insert or replace); returns its new version.

    The same definition again is a no-op (the version stays), except that a new ``source`` is
    recorded (a contract moved from the API to a file, or between files).
    """
    definition = contract.model_dump(mode="json")
    current = conn.execute(
        sa.select(contracts.c.version, contracts.c.definition, contracts.c.source).where(
            contracts.c.client_id == client_id
        )
    ).first()
    if current is None:
        conn.execute(
            contracts.insert().values(
                client_id=client_id,
                definition=definition,
                source=source,
                version=1,
                updated_by=actor,
                updated_at=now,
            )
        )
        return 1
    if current.definition == definition:
        if current.source != source:
            conn.execute(
                contracts.update()
                .where(contracts.c.client_id == client_id)
                .values(source=source, updated_by=actor, updated_at=now)
            )
        return current.version  # unchanged: a reload of the same file is a no-op
    conn.execute(
        contracts.update()
        .where(contracts.c.client_id == client_id)
        .values(
            definition=definition,
            source=source,
            version=current.version + 1,
            updated_by=actor,
            updated_at=now,
        )
    )
    return current.version + 1


def contract_row(conn: Connection, client_id: int) -> Any | None:
    """The stored row (definition, source, version, updated_by, updated_at), or None."""
    return conn.execute(sa.select(contracts).where(contracts.c.client_id == client_id)).first()


def list_contracts(conn: Connection) -> Sequence[Any]:
    """Every stored contract row with its client's name (``client``), by client name."""
    return conn.execute(
        sa.select(contracts, clients.c.name.label("client"))
        .join(clients, clients.c.id == contracts.c.client_id)
        .order_by(clients.c.name)
    ).all()


def delete_contract(conn: Connection, client_id: int) -> bool:
    """Remove the client's contract; False when it had none."""
    return conn.execute(contracts.delete().where(contracts.c.client_id == client_id)).rowcount > 0


_cache: dict[tuple[str, int], tuple[int, float, Contract]] = {}
_cache_lock = threading.Lock()


def cached_contract(conn: Connection, client_id: int) -> Contract | None:
    """:func:`get_contract` for hot paths: one primary-key read of the version; the parsed
    contract is reused while (version, updated_at) is unchanged."""
    row = conn.execute(
        sa.select(contracts.c.version, contracts.c.updated_at).where(
            contracts.c.client_id == client_id
        )
    ).first()
    if row is None:
        return None
    key = (str(conn.engine.url), client_id)  # one process may serve several stores (tests)
    with _cache_lock:
        hit = _cache.get(key)
    if hit is not None and hit[0] == row.version and hit[1] == row.updated_at:
        return hit[2]
    contract = get_contract(conn, client_id)
    if contract is not None:
        with _cache_lock:
            _cache[key] = (row.version, row.updated_at, contract)
    return contract
