"""HTTP endpoints for contracts (admin token).

``GET /api/v1/contracts`` (every stored contract, with where it comes from),
``GET|PUT|DELETE /api/v1/contracts/{client}`` (PUT takes the contract as JSON; 422 names the
field; 409 when the contract is managed by a contract file) and
``POST /api/v1/contracts/reload`` (load the contract files again; 422 when a file was refused —
the body says which and why, and that client's stored contract stays as it was).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Response
from fastapi import Path as PathParam
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from collector import admin, timeutil
from collector.api_auth import Admin, responses
from collector.contracts import service
from collector.contracts.files import ContractFiles
from collector.contracts.model import Contract
from collector.contracts.store import contract_row, list_contracts
from collector.runtime import RuntimeDep

ClientParam = Annotated[str, PathParam(min_length=1, max_length=100, pattern=r"^[^\x00/]+$")]


class ContractSummary(BaseModel):
    """A stored contract as listed: whose, where from, which version."""

    client: str
    plan: str
    source: str
    managed_by_file: str | None
    version: int
    updated_by: str
    updated_at: datetime


class ContractOut(ContractSummary):
    """A stored contract with its full definition (the shape PUT takes)."""

    contract: dict[str, Any]


class ReloadOut(BaseModel):
    """The result of loading the contract files."""

    ok: bool
    paths: list[str]
    loaded: list[dict[str, Any]]
    errors: list[str]
    at: datetime | None


#: The PUT body as documented: the contract's fields (docs/contracts.md says each one's
#: form), ``plan`` required, nothing else; ``client`` may be left out (the URL's).
_BODY: dict[str, Any] = {
    "type": "object",
    "properties": {name: {} for name in Contract.model_fields},
    "required": [
        name
        for name, field in Contract.model_fields.items()
        if field.is_required() and name != "client"
    ],
    "additionalProperties": False,
}


def _out(row: Any, client: str, managed: set[str], full: bool) -> Any:
    summary = {
        "client": client,
        "plan": (row.definition.get("plan") or {}).get("name", ""),
        "source": row.source,
        "managed_by_file": row.source if row.source in managed else None,
        "version": row.version,
        "updated_by": row.updated_by,
        "updated_at": timeutil.to_datetime(row.updated_at),
    }
    return ContractOut(**summary, contract=row.definition) if full else ContractSummary(**summary)


def get_contract_files(runtime: RuntimeDep) -> ContractFiles:
    """FastAPI dependency: the app's contract files (``Runtime.contract_files``)."""
    return runtime.contract_files


Files = Annotated[ContractFiles, Depends(get_contract_files)]

#: ``/api/v1/contracts*`` (admin token).
router = APIRouter(tags=["contracts"], responses=responses(401, 403))


@router.get("/api/v1/contracts", response_model=list[ContractSummary])
def get_contracts(principal: Admin, files: Files) -> list[ContractSummary]:
    managed = files.managed()
    with files.store.read() as conn:
        return [_out(r, r.client, managed, False) for r in list_contracts(conn)]


@router.post(
    "/api/v1/contracts/reload",
    response_model=ReloadOut,
    responses={422: {"model": ReloadOut, "description": "A contract file was refused"}},
)
async def post_reload(principal: Admin, files: Files) -> Any:
    """Load the contract files again. A file with a problem is refused alone (422 lists it);
    its client keeps the contract stored before."""
    result = ReloadOut(**(await run_in_threadpool(files.reload)).as_json())
    if not result.ok:
        return JSONResponse(result.model_dump(mode="json"), status_code=422)
    return result


@router.get("/api/v1/contracts/{client}", response_model=ContractOut)
def get_contract(client: ClientParam, principal: Admin, files: Files) -> ContractOut:
    with files.store.read() as conn:
        found = admin.get_client(conn, client)
        row = contract_row(conn, found.id)
    if row is None:
        from collector.errors import NotFound

        raise NotFound(f"client {client!r} has no contract")
    return _out(row, found.name, files.managed(), True)


@router.put(
    "/api/v1/contracts/{client}",
    response_model=ContractOut,
    openapi_extra={"requestBody": {"content": {"application/json": {"schema": _BODY}}}},
)
def put_contract(
    client: ClientParam, body: Annotated[dict[str, Any], Body()], principal: Admin, files: Files
) -> ContractOut:
    """Store the client's contract (the YAML file's content as JSON). 422 names the field;
    409 when the contract is managed by a contract file."""
    if "\\u0000" in json.dumps(body):
        raise service.InvalidContract("strings must not contain NUL characters")
    contract = service.validate_body(body, client, files.actions)
    managed = files.managed()
    with files.store.write() as conn:
        service.apply(
            conn,
            contract,
            source=service.API_SOURCE,
            actor=f"admin-token-{principal.token_id}",
            now=timeutil.now(),
            managed=managed,
        )
        found = admin.get_client(conn, client)
        row = contract_row(conn, found.id)
    return _out(row, found.name, managed, True)


@router.delete("/api/v1/contracts/{client}", status_code=204, response_class=Response)
def delete_contract(client: ClientParam, principal: Admin, files: Files) -> Response:
    with files.store.write() as conn:
        service.remove(conn, client, files.managed())
    return Response(status_code=204)
