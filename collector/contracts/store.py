"""Contracts in the store: one row per client in ``contracts`` (the validated model as JSON).

Everything that needs a client's contract (SLA clocks, ledger, preventive work, reports) reads
it with :func:`get_contract` inside its own transaction; files and the API write it with
:func:`put_contract`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.contracts.model import Contract
from collector.schema import contracts


def get_contract(conn: Connection, client_id: int) -> Contract | None:
    """The client's contract, or None when it has none."""
    row = conn.execute(sa.select(contracts.c.definition).where(contracts.c.client_id == client_id)).first()
    return None if row is None else Contract.model_validate(row.definition)


def put_contract(conn: Connection, client_id: int, contract: Contract, *, source: str, actor: str,
                 now: float) -> int:
    """Store ``contract`` for the client (insert or replace); returns its new version."""
    definition = contract.model_dump(mode="json")
    current = conn.execute(sa.select(contracts.c.version, contracts.c.definition)
                           .where(contracts.c.client_id == client_id)).first()
    if current is None:
        conn.execute(contracts.insert().values(client_id=client_id, definition=definition, source=source,
                                               version=1, updated_by=actor, updated_at=now))
        return 1
    if current.definition == definition:
        return current.version  # unchanged: a reload of the same file is a no-op
    conn.execute(contracts.update().where(contracts.c.client_id == client_id)
                 .values(definition=definition, source=source, version=current.version + 1,
                         updated_by=actor, updated_at=now))
    return current.version + 1
