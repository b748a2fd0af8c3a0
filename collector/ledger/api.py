"""HTTP endpoints of the points ledger, service requests and notifications (admin token), and the client's
approve/reject link pages (no token: the signed link is the authority).

- ``GET  /api/v1/clients/{client}/ledger?period=YYYY-MM`` — the statement;
- ``POST /api/v1/clients/{client}/ledger/topups`` and ``…/adjustments`` — ``{points, by, reason}``;
- ``POST /api/v1/requests``, ``GET /api/v1/requests``, ``GET /api/v1/requests/{key}``,
  ``POST /api/v1/requests/{key}/approve|reject|start|complete|time-entries``;
- ``GET  /api/v1/notifications?state=failed&client=acme`` — client notifications and their delivery;
- ``GET /approve?token=…`` / ``GET /reject?token=…`` — a confirmation page;
  ``POST`` to the same address decides (``via="email"``).
"""

from __future__ import annotations

import html
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from collector.api_auth import Admin, responses
from collector.contracts.model import Points, format_points
from collector.errors import UpkeepError
from collector.ledger.runtime import Ledger
from collector.runtime import RuntimeDep

_TEXT = r"^[^\x00]*$"
ClientParam = Annotated[str, PathParam(max_length=100, pattern=_TEXT)]
KeyParam = Annotated[str, PathParam(max_length=140, pattern=r"^[A-Za-z0-9_.-]+$")]
RequestState = Literal[
    "new", "awaiting_approval", "approved", "rejected", "in_progress", "done", "cancelled"
]


class Statement(BaseModel):
    """A period's points statement; every amount in centipoints (hundredths of a point)."""

    client: str
    period: str
    start: float | None
    end: float | None
    opening_balance: int
    allotment: int
    rollover_in: int
    rollover_out: int
    charged: int
    topped_up: int
    adjusted: int
    expired: int
    closing_balance: int
    overdraft: bool
    overdraft_centipoints: int
    at_zero: str | None
    charges: list[dict[str, Any]]
    topups: list[dict[str, Any]]
    adjustments: list[dict[str, Any]]
    entries: list[dict[str, Any]]


class EntryIn(BaseModel):
    """A top-up or an adjustment: how many points, who, why."""

    points: Points
    by: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    reason: str = Field(min_length=1, max_length=2000, pattern=_TEXT)


class EntryCreated(BaseModel):
    id: int
    closing_balance: int


class RequestIn(BaseModel):
    """A service request. Non-standard ones need ``estimate_minutes`` and the client's approval."""

    client: str = Field(max_length=100, pattern=_TEXT)
    title: str = Field(min_length=1, max_length=500, pattern=_TEXT)
    description: str = Field(default="", max_length=20000, pattern=_TEXT)
    requested_by: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    standard: bool = False
    work_type: str | None = Field(default=None, max_length=40, pattern=_TEXT)
    estimate_minutes: int | None = Field(default=None, gt=0, le=1_000_000)
    by: str | None = Field(default=None, max_length=200, pattern=_TEXT)


class RequestSummary(BaseModel):
    key: str
    client: str
    title: str
    state: str
    standard: bool
    work_type: str | None
    requested_by: str
    estimate_minutes: int | None
    estimate_centipoints: int | None
    approved_centipoints: int | None
    created_at: datetime
    updated_at: datetime


class RequestDetail(RequestSummary):
    description: str
    decided_by: str | None
    decided_via: str | None
    decided_at: datetime | None
    decision_note: str | None
    started_at: datetime | None
    completed_at: datetime | None
    charged_centipoints: int
    events: list[dict[str, Any]]
    time_entries: list[dict[str, Any]]


class NotificationOut(BaseModel):
    """A client notification and its delivery state (``failed`` ones say why)."""

    id: int
    client_id: int | None
    kind: str
    recipients: list[str]
    subject: str
    state: str
    attempts: int
    last_error: str | None
    created_at: float
    next_attempt_at: float
    sent_at: float | None


class DecisionIn(BaseModel):
    """The client's decision as recorded by the API (``via``: api, phone, portal)."""

    by: str = Field(min_length=1, max_length=200, pattern=_TEXT)
    via: Literal["api", "phone", "portal"] = "api"
    note: str | None = Field(default=None, max_length=2000, pattern=_TEXT)


class ApproveIn(DecisionIn):
    #: Approve more than the estimate (points); default: the estimate.
    cap: Points | None = None


class ByIn(BaseModel):
    by: str = Field(min_length=1, max_length=200, pattern=_TEXT)


class RequestTimeIn(ByIn):
    minutes: int = Field(gt=0, le=100000)
    work_type: str | None = Field(default=None, max_length=40, pattern=_TEXT)
    note: str = Field(default="", max_length=20000, pattern=_TEXT)


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<meta name='viewport' content='width=device-width'></head>"
        f"<body style='font-family:sans-serif;max-width:40em;margin:2em auto'><h1>{html.escape(title)}</h1>"
        f"{body}</body></html>",
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def get_ledger(runtime: RuntimeDep) -> Ledger:
    """FastAPI dependency: the app's points ledger and service requests (``Incidents.ledger``)."""
    return runtime.incidents.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]

#: The ledger, service requests and notifications (admin token), and the client's links.
router = APIRouter(tags=["ledger"], responses=responses(400, 401, 403))


@router.get("/api/v1/clients/{client}/ledger", response_model=Statement)
def show(
    client: ClientParam,
    principal: Admin,
    ledger: LedgerDep,
    period: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")] = None,
) -> Statement:
    """The client's points statement for ``period`` (default: the current one)."""
    return Statement(**ledger.statement(client, period))


@router.post("/api/v1/clients/{client}/ledger/topups", response_model=EntryCreated, status_code=201)
def topup(client: ClientParam, body: EntryIn, principal: Admin, ledger: LedgerDep) -> EntryCreated:
    entry = ledger.topup(client, body.points, by=body.by, reason=body.reason)
    return EntryCreated(id=entry, closing_balance=ledger.statement(client)["closing_balance"])


@router.post(
    "/api/v1/clients/{client}/ledger/adjustments", response_model=EntryCreated, status_code=201
)
def adjust(client: ClientParam, body: EntryIn, principal: Admin, ledger: LedgerDep) -> EntryCreated:
    entry = ledger.adjust(client, body.points, by=body.by, reason=body.reason)
    return EntryCreated(id=entry, closing_balance=ledger.statement(client)["closing_balance"])


@router.post("/api/v1/requests", response_model=RequestDetail, status_code=201, tags=["requests"])
def create(body: RequestIn, principal: Admin, ledger: LedgerDep) -> RequestDetail:
    """A service request: ``REQ-<client>-<n>``; non-standard ones await the client's approval."""
    return RequestDetail(
        **ledger.create_request(
            client=body.client,
            title=body.title,
            description=body.description,
            requested_by=body.requested_by,
            standard=body.standard,
            work_type=body.work_type,
            estimate_minutes=body.estimate_minutes,
            actor=body.by or f"admin-token-{principal.token_id}",
        )
    )


@router.get("/api/v1/requests", response_model=list[RequestSummary], tags=["requests"])
def list_requests(
    principal: Admin,
    ledger: LedgerDep,
    client: Annotated[str | None, Query(max_length=100, pattern=_TEXT)] = None,
    state: RequestState | None = None,
) -> list[RequestSummary]:
    return [RequestSummary(**r) for r in ledger.list_requests(client=client, state=state)]


@router.get("/api/v1/requests/{key}", response_model=RequestDetail, tags=["requests"])
def get(key: KeyParam, principal: Admin, ledger: LedgerDep) -> RequestDetail:
    return RequestDetail(**ledger.get_request(key))


@router.post("/api/v1/requests/{key}/approve", response_model=RequestDetail, tags=["requests"])
def approve(key: KeyParam, body: ApproveIn, principal: Admin, ledger: LedgerDep) -> RequestDetail:
    return RequestDetail(
        **ledger.approve(key, by=body.by, via=body.via, cap=body.cap, note=body.note)
    )


@router.post("/api/v1/requests/{key}/reject", response_model=RequestDetail, tags=["requests"])
def reject(key: KeyParam, body: DecisionIn, principal: Admin, ledger: LedgerDep) -> RequestDetail:
    return RequestDetail(**ledger.reject(key, by=body.by, via=body.via, note=body.note))


@router.post("/api/v1/requests/{key}/start", response_model=RequestDetail, tags=["requests"])
def start(key: KeyParam, body: ByIn, principal: Admin, ledger: LedgerDep) -> RequestDetail:
    return RequestDetail(**ledger.start_request(key, by=body.by))


@router.post("/api/v1/requests/{key}/time-entries", response_model=RequestDetail, tags=["requests"])
def log_time(
    key: KeyParam, body: RequestTimeIn, principal: Admin, ledger: LedgerDep
) -> RequestDetail:
    """A time entry (refused while the request awaits approval)."""
    return RequestDetail(
        **ledger.log_time(
            key, by=body.by, minutes=body.minutes, work_type=body.work_type, note=body.note
        )
    )


@router.post("/api/v1/requests/{key}/complete", response_model=RequestDetail, tags=["requests"])
def complete(key: KeyParam, body: ByIn, principal: Admin, ledger: LedgerDep) -> RequestDetail:
    """Done: charges the actual time, capped at the approved amount."""
    return RequestDetail(**ledger.complete(key, by=body.by))


@router.get("/api/v1/notifications", response_model=list[NotificationOut], tags=["notifications"])
def notifications(
    principal: Admin,
    ledger: LedgerDep,
    state: Literal["pending", "in_flight", "done", "dead"] | None = None,
    client: Annotated[str | None, Query(max_length=100, pattern=_TEXT)] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 200,
) -> list[NotificationOut]:
    """Client notifications (low balance, approval requests, …), newest first."""
    return [
        NotificationOut(**n) for n in ledger.notifications(state=state, client=client, limit=limit)
    ]


# ------------------------------------------------------------------ the client's links


def _link_endpoints(
    action: str,
) -> tuple[Callable[..., HTMLResponse], Callable[..., Awaitable[HTMLResponse]]]:
    verb = "Approve" if action == "approve" else "Reject"

    def confirm(token: Annotated[str, Query(max_length=2000)], ledger: LedgerDep) -> HTMLResponse:
        try:
            request = ledger.check_link(token, action)
        except UpkeepError as exc:
            return _page("Link not valid", f"<p>{html.escape(exc.detail)}</p>", 400)
        if request["state"] != "awaiting_approval":
            return _page(
                f"{request['key']}: {request['state']}",
                f"<p>This request is already {html.escape(request['state'])}.</p>",
            )
        amount = format_points(request["estimate_centipoints"] or 0)
        return _page(
            f"{verb} {request['key']}?",
            f"<p><b>{html.escape(request['title'])}</b></p><p>{html.escape(request['description'])}</p>"
            f"<p>Estimate: {amount} points.</p>"
            f"<form method='post'><input type='hidden' name='token' value='{html.escape(token)}'>"
            f"<button type='submit'>{verb}</button></form>",
        )

    async def decide(request: Request, ledger: LedgerDep) -> HTMLResponse:
        # A plain urlencoded form (no multipart parser needed for one field).
        body = await request.body()
        token = (
            parse_qs(body[:8192].decode("latin-1")).get("token")
            or [request.query_params.get("token", "")]
        )[0]
        try:
            decided = await run_in_threadpool(ledger.decide_by_link, token, action)
        except UpkeepError as exc:
            return _page("Not done", f"<p>{html.escape(exc.detail)}</p>", 400)
        return _page(
            f"{decided['key']}: {decided['state']}",
            f"<p>Thank you. {html.escape(decided['title'])} is {html.escape(decided['state'])}.</p>",
        )

    confirm.__name__, decide.__name__ = f"{action}_link_page", f"{action}_link_decide"
    return confirm, decide


for action in ("approve", "reject"):
    page, post = _link_endpoints(action)
    router.add_api_route(
        f"/{action}",
        page,
        methods=["GET"],
        response_class=HTMLResponse,
        tags=["requests"],
        summary=f"Page of an e-mailed {action} link",
    )
    router.add_api_route(
        f"/{action}",
        post,
        methods=["POST"],
        response_class=HTMLResponse,
        tags=["requests"],
        summary=f"Confirm an e-mailed {action} link",
    )
