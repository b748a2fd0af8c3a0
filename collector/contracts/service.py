"""Editing contracts through the API and the CLI, and who manages each one.

A contract loaded from a file in ``contracts_paths`` is *managed by that file*: the API and
``upkeep contract apply`` refuse to replace or delete it (409, naming the file), so the next
reload cannot silently overwrite an edit made elsewhere. Take a contract over by removing its
file from ``contracts_paths`` (the stored contract stays until replaced or deleted). Contracts
put through the API (source ``api``) or applied from a file outside ``contracts_paths`` may be
replaced freely; a file later added to ``contracts_paths`` for the same client wins at the next
reload (logged).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from pydantic import ValidationError
from sqlalchemy.engine import Connection

from collector import admin
from collector.contracts.model import Contract
from collector.contracts.store import contract_row, delete_contract, put_contract
from collector.errors import AlreadyExists, InvalidBatch, NotFound, problem_fields

API_SOURCE = "api"


class ManagedByFile(AlreadyExists):
    """The contract comes from a file the collector loads; edit the file instead (409)."""

    code = "managed_by_file"


class InvalidContract(InvalidBatch):
    """A contract body that does not validate; ``fields`` name each problem (422)."""

    code = "invalid_contract"


def validate_body(
    data: Any, client: str | None = None, actions: Collection[str] | None = None
) -> Contract:
    """A contract from a JSON body; ``client`` (the URL's) fills or must equal ``client:``."""
    if isinstance(data, dict) and client is not None:
        given = data.get("client")
        if given is None:
            data = {**data, "client": client}
        elif given != client:
            raise InvalidContract(
                f"client: the body names {given!r} but the URL names {client!r}",
                fields=[
                    {
                        "loc": "client",
                        "msg": f"must be {client!r} (the URL's client)",
                        "type": "value_error",
                    }
                ],
            )
    try:
        context = {"actions": set(actions)} if actions is not None else None
        return Contract.model_validate(data, context=context)
    except ValidationError as exc:
        detail, fields = problem_fields(exc.errors(include_url=False, include_input=False))
        raise InvalidContract(detail, fields=fields) from None


def _refuse_if_managed(row: Any, client: str, managed: Collection[str], source: str) -> None:
    if row is not None and row.source in managed and row.source != source:
        raise ManagedByFile(
            f"the contract of {client!r} is managed by the file {row.source}; edit that file "
            f"(or remove it from contracts_paths) and reload"
        )


def apply(
    conn: Connection,
    contract: Contract,
    *,
    source: str,
    actor: str,
    now: float,
    managed: Collection[str],
) -> int:
    """Store ``contract`` (NotFound: unknown client; ManagedByFile); returns its version."""
    client = admin.get_client(conn, contract.client)
    _refuse_if_managed(contract_row(conn, client.id), client.name, managed, source)
    return put_contract(conn, client.id, contract, source=source, actor=actor, now=now)


def remove(conn: Connection, client_name: str, managed: Collection[str]) -> None:
    """Delete the client's contract (NotFound when it has none; ManagedByFile)."""
    client = admin.get_client(conn, client_name)
    row = contract_row(conn, client.id)
    if row is None:
        raise NotFound(f"client {client.name!r} has no contract")
    _refuse_if_managed(row, client.name, managed, API_SOURCE)
    delete_contract(conn, client.id)
