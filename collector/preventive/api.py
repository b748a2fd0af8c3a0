"""HTTP endpoints for preventive work (admin token).

``POST /api/v1/clients/{client}/preventive`` records a maintenance task done (201, the item
with its evidence); ``GET /api/v1/clients/{client}/preventive?period=YYYY-MM`` lists the items
of a contract period (default: the current one); ``GET /api/v1/clients/{client}/preventive/tasks``
says, per contract task, when it was last done, when it is due next and whether it is overdue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from collector import admin, timeutil
from collector.api_auth import Admin, responses
from collector.contracts.model import Contract
from collector.contracts.store import get_contract
from collector.errors import InvalidArgument, NotFound
from collector.preventive import record
from collector.runtime import RuntimeDep

_TEXT = r"^[^\x00]*$"
ClientParam = Annotated[str, PathParam(min_length=1, max_length=100, pattern=r"^[^\x00/]+$")]


class Evidence(BaseModel):
    """What shows the work made a difference; ``before``/``after`` in ``unit`` when one number."""

    model_config = {"extra": "allow"}

    text: str
    before: float | None = None
    after: float | None = None
    unit: str = ""


class PreventiveItem(BaseModel):
    """One preventive item: an incident caught before anyone noticed, or a task done."""

    id: int
    kind: str
    task_id: str | None
    incident_key: str | None
    title: str
    asset: str | None
    done_at: datetime
    minutes: int
    actor: str
    note: str
    evidence: Evidence


class TaskDone(BaseModel):
    """A maintenance task of the contract, done."""

    task_id: str = Field(min_length=1, max_length=100, pattern=_TEXT)
    minutes: int = Field(ge=0, le=100000)
    note: str = Field(default="", max_length=20000, pattern=_TEXT)
    by: str | None = Field(default=None, max_length=100, pattern=_TEXT)
    #: When it was done (default: now).
    done_at: datetime | None = None


class TaskStatus(BaseModel):
    task_id: str
    title: str
    every: str
    expected_minutes: int | None
    last_done_at: datetime | None
    next_due_at: datetime | None
    overdue: bool
    done: int


def item_out(item: dict[str, Any]) -> PreventiveItem:
    return PreventiveItem(**{**item, "done_at": timeutil.to_datetime(item["done_at"])})


def period_range(contract: Contract | None, period: str | None, now: float) -> tuple[float, float]:
    """UTC epoch bounds of ``period`` (default: the one containing ``now``) on the contract's
    calendar; without a contract, calendar months in UTC."""
    if contract is None:
        contract = Contract.model_validate({"client": "-", "plan": {"name": "-"}})
    try:
        label = period or contract.period_of(datetime.fromtimestamp(now, UTC))
        start, end = contract.period_bounds(label)
    except ValueError as exc:
        raise InvalidArgument(f"period: {exc}") from None
    return start.timestamp(), end.timestamp()


#: ``/api/v1/clients/{client}/preventive*`` (admin token).
router = APIRouter(tags=["preventive"], responses=responses(400, 401, 403))


@router.post("/api/v1/clients/{client}/preventive", response_model=PreventiveItem, status_code=201)
def post_task(
    client: ClientParam, body: TaskDone, principal: Admin, runtime: RuntimeDep
) -> PreventiveItem:
    """Record a maintenance task of the client's contract as done (evidence captured now)."""
    now = timeutil.now()
    with runtime.store.write() as conn:
        found = admin.get_client(conn, client)
        contract = get_contract(conn, found.id)
        if contract is None:
            raise NotFound(
                f"client {found.name!r} has no contract (maintenance tasks come from it)"
            )
        item = record.record_task(
            conn,
            found.id,
            contract,
            body.task_id,
            minutes=body.minutes,
            note=body.note,
            actor=body.by or f"admin-token-{principal.token_id}",
            now=now,
            done_at=body.done_at.timestamp() if body.done_at else None,
        )
    return item_out(item)


@router.get("/api/v1/clients/{client}/preventive", response_model=list[PreventiveItem])
def get_items(
    client: ClientParam,
    principal: Admin,
    runtime: RuntimeDep,
    period: Annotated[
        str | None,
        Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM; default: the current period"),
    ] = None,
) -> list[PreventiveItem]:
    with runtime.store.read() as conn:
        found = admin.get_client(conn, client)
        start, end = period_range(get_contract(conn, found.id), period, timeutil.now())
        return [item_out(i) for i in record.items(conn, found.id, start, end)]


@router.get("/api/v1/clients/{client}/preventive/tasks", response_model=list[TaskStatus])
def get_tasks(client: ClientParam, principal: Admin, runtime: RuntimeDep) -> list[TaskStatus]:
    with runtime.store.read() as conn:
        found = admin.get_client(conn, client)
        contract = get_contract(conn, found.id)
        rows = record.task_status(conn, found.id, contract, timeutil.now()) if contract else []
    return [
        TaskStatus(
            **{
                **r,
                "last_done_at": _dt(r["last_done_at"]),
                "next_due_at": _dt(r["next_due_at"]),
            }
        )
        for r in rows
    ]


def _dt(value: float | None) -> datetime | None:
    return timeutil.to_datetime(value) if value is not None else None
