"""HTTP endpoints for the ticket outbox (admin token): its rows and dead letters, and retries.

``GET /api/v1/outbox?state=dead`` (or ``failed=true``: dead letters and rows failing now),
``POST /api/v1/outbox/{id}/retry`` (one dead letter; 404 when there is no such row; a row that
is not dead is left alone and the answer's ``retried`` is empty), ``POST /api/v1/outbox/retry`` (every dead letter). A retried row becomes
pending at once; the workers send it first and the rows behind it follow in order.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel

from collector import timeutil
from collector.api_auth import ERROR_RESPONSES, Admin, responses
from collector.errors import NotFound
from collector.incidents.outbox import list_rows, retry
from collector.runtime import RuntimeDep
from collector.schema import outbox

log = logging.getLogger(__name__)


class OutboxRow(BaseModel):
    """One delivery of an incident change to one connector (times: Unix seconds, UTC)."""

    id: int
    incident: str
    connector: str
    action: str
    version: int
    state: Literal["pending", "in_flight", "done", "dead"]
    attempts: int
    last_error: str | None
    created_at: float
    #: When the current run of failures began (null: not failing).
    first_failed_at: float | None
    next_attempt_at: float | None
    delivered_at: float | None
    #: The earlier row (same incident and connector) this one waits behind.
    waiting_for: int | None


class Retried(BaseModel):
    """The dead letters queued again."""

    retried: list[int]


#: ``/api/v1/outbox*`` (admin token).
router = APIRouter(tags=["outbox"], responses=responses(401, 403))


@router.get("/api/v1/outbox", response_model=list[OutboxRow])
def list_outbox(
    principal: Admin,
    runtime: RuntimeDep,
    state: Literal["pending", "in_flight", "done", "dead"] | None = None,
    failed: Annotated[bool, Query(description="Only dead letters and rows failing now.")] = False,
    connector: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 200,
) -> list[dict[str, Any]]:
    """Outbox rows, newest first."""
    with runtime.store.read() as conn:
        return list_rows(conn, state=state, failed=failed, connector=connector, limit=limit)


@router.post(
    "/api/v1/outbox/{row_id}/retry",
    response_model=Retried,
    responses={404: {**ERROR_RESPONSES[403], "description": "No such outbox row"}},
)
def retry_one(
    row_id: Annotated[int, PathParam(ge=1, le=2**62)], principal: Admin, runtime: RuntimeDep
) -> Retried:
    """Send one dead letter again (a row that is not dead: ``retried`` is empty)."""
    with runtime.store.write() as conn:
        revived = retry(conn, [row_id], timeutil.now())
        known = conn.execute(sa.select(outbox.c.id).where(outbox.c.id == row_id)).first()
    if known is None:
        raise NotFound(f"no outbox row {row_id}")
    log.info("outbox row %s queued again by %s", row_id, _who(principal))
    return Retried(retried=revived)


@router.post("/api/v1/outbox/retry", response_model=Retried)
def retry_all(principal: Admin, runtime: RuntimeDep) -> Retried:
    """Send every dead letter again."""
    with runtime.store.write() as conn:
        revived = retry(conn, None, timeutil.now())
    log.info("%d dead outbox row(s) queued again by %s", len(revived), _who(principal))
    return Retried(retried=revived)


def _who(principal: Any) -> str:
    token = getattr(principal, "token_id", None)
    return f"admin token {token}" if token is not None else "an admin"
