"""HTTP endpoints for incidents (admin token): report, list, show, and technician actions.

``POST /api/v1/incidents`` (a person reports a problem: origin ``user_reported``),
``GET /api/v1/incidents`` (filters), ``GET /api/v1/incidents/{key}`` (with events, tickets,
outbox status and SLA clocks), ``POST /api/v1/incidents/{key}/{action}`` for acknowledge,
assign, comment, time-entries, cause, resolve, close, reopen, wait, resume and priority. Domain errors map to HTTP in ``collector.api``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from collector.api_auth import Admin, responses
from collector.contracts.model import Points
from collector.errors import InvalidArgument
from collector.incidents.service import IncidentService
from collector.runtime import RuntimeDep

State = Literal[
    "open", "acknowledged", "waiting_for_client", "waiting_for_third_party", "resolved", "closed"
]
PriorityName = Literal["critical", "major", "minor", "technical"]
Cause = Literal[
    "wear", "hardware", "software", "client_error", "third_party", "provider", "unknown"
]
_TEXT = r"^[^\x00]*$"
KeyParam = Annotated[str, PathParam(max_length=140, pattern=r"^[A-Za-z0-9_.-]+$")]


class IncidentSummary(BaseModel):
    """An incident as ``GET /api/v1/incidents`` lists it."""

    key: str
    client: str
    asset: str | None
    rule: str | None
    title: str
    state: str
    priority: str
    origin: str
    opened_at: datetime
    resolved_at: datetime | None
    updated_at: datetime


class IncidentDetail(IncidentSummary):
    """One incident with its events, tickets, outbox rows, comments and time entries."""

    fingerprint: str | None
    site: str | None
    severity: str | None
    kind: str
    description: str
    labels: dict[str, str]
    first_value: float | None
    last_value: float | None
    count: int
    flapping: bool
    assignee: str | None
    cause: str | None
    resolution_note: str | None
    version: int
    acknowledged_at: datetime | None
    closed_at: datetime | None
    events: list[dict[str, Any]]
    tickets: list[dict[str, Any]]
    outbox: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    time_entries: list[dict[str, Any]]
    #: SLA clocks (docs/sla.md): due times, elapsed, breached, pauses; null when no target applies.
    sla: dict[str, Any] | None = None


class Actor(BaseModel):
    #: Who does it (a technician's name); default: the admin token.
    by: str | None = Field(default=None, max_length=100, pattern=_TEXT)


class ReportIn(Actor):
    """A problem a person reported (the client called)."""

    client: str = Field(max_length=100, pattern=_TEXT)
    title: str = Field(min_length=1, max_length=500, pattern=_TEXT)
    description: str = Field(default="", max_length=20000, pattern=_TEXT)
    priority: PriorityName = "minor"
    asset: str | None = Field(default=None, max_length=253, pattern=_TEXT)
    site: str | None = Field(default=None, max_length=100, pattern=_TEXT)


class NoteIn(Actor):
    note: str | None = Field(default=None, max_length=20000, pattern=_TEXT)


class AssignIn(Actor):
    assignee: str | None = Field(max_length=100, pattern=_TEXT)


class CommentIn(Actor):
    body: str = Field(min_length=1, max_length=20000, pattern=_TEXT)


class TimeEntryIn(Actor):
    minutes: int = Field(gt=0, le=100000)
    work_type: str | None = Field(default=None, max_length=40, pattern=_TEXT)
    note: str = Field(default="", max_length=20000, pattern=_TEXT)


class CauseIn(Actor):
    cause: Cause


class WaitIn(NoteIn):
    """What the incident waits for; its SLA clocks pause until it resumes."""

    reason: Literal["waiting_for_client", "waiting_for_third_party"]


class PriorityIn(NoteIn):
    priority: PriorityName


class ChargeIn(Actor):
    """A technician's override of the incident's points charge (an event; needs a reason).
    ``points`` given: charge exactly that; else ``mode`` free or charged (time × rate)."""

    mode: Literal["free", "charged"] | None = None
    points: Points | None = None
    reason: str = Field(min_length=1, max_length=2000, pattern=_TEXT)


class ActionDone(BaseModel):
    key: str
    event: str


def get_incident_service(runtime: RuntimeDep) -> IncidentService:
    """FastAPI dependency: the app's incident service (``Runtime.incident_service``)."""
    return runtime.incident_service


Service = Annotated[IncidentService, Depends(get_incident_service)]

#: ``/api/v1/incidents*`` (admin token).
router = APIRouter(tags=["incidents"], responses=responses(400, 401, 403))


def who(body: Actor, principal: Any) -> str:
    return body.by or f"admin-token-{principal.token_id}"


@router.post("/api/v1/incidents", response_model=IncidentDetail, status_code=201)
def report(body: ReportIn, principal: Admin, service: Service) -> IncidentDetail:
    """Open a ``user_reported`` incident (404 for an unknown client)."""
    key = service.report(
        client=body.client,
        title=body.title,
        actor=who(body, principal),
        description=body.description,
        priority=body.priority,
        asset=body.asset,
        site=body.site,
    )
    return IncidentDetail(**service.get(key))


@router.get("/api/v1/incidents", response_model=list[IncidentSummary])
def list_incidents(
    principal: Admin,
    service: Service,
    client: Annotated[str | None, Query(max_length=100, pattern=_TEXT)] = None,
    state: State | None = None,
    priority: PriorityName | None = None,
    origin: Literal["proactive", "external", "user_reported"] | None = None,
    since: Annotated[datetime | None, Query(description="changed at or after")] = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[IncidentSummary]:
    rows = service.list(
        client=client,
        state=state,
        priority=priority,
        origin=origin,
        since=since.timestamp() if since is not None else None,
        limit=limit,
    )
    return [IncidentSummary(**r) for r in rows]


@router.get("/api/v1/incidents/{key}", response_model=IncidentDetail)
def show(key: KeyParam, principal: Admin, service: Service) -> IncidentDetail:
    return IncidentDetail(**service.get(key))


def act(
    service: IncidentService, key: str, action: str, actor: Actor, principal: Any, **args: Any
) -> ActionDone:
    return ActionDone(key=key, event=service.act(key, action, who(actor, principal), **args))


@router.post("/api/v1/incidents/{key}/acknowledge", response_model=ActionDone)
def acknowledge(
    key: KeyParam, principal: Admin, service: Service, body: Actor | None = None
) -> ActionDone:
    return act(service, key, "acknowledge", body or Actor(), principal)


@router.post("/api/v1/incidents/{key}/assign", response_model=ActionDone)
def assign(key: KeyParam, body: AssignIn, principal: Admin, service: Service) -> ActionDone:
    return act(service, key, "assign", body, principal, assignee=body.assignee)


@router.post("/api/v1/incidents/{key}/comments", response_model=ActionDone)
def comment(key: KeyParam, body: CommentIn, principal: Admin, service: Service) -> ActionDone:
    return act(service, key, "comment", body, principal, body=body.body)


@router.post("/api/v1/incidents/{key}/time-entries", response_model=ActionDone)
def log_time(key: KeyParam, body: TimeEntryIn, principal: Admin, service: Service) -> ActionDone:
    return act(
        service,
        key,
        "time_entry",
        body,
        principal,
        minutes=body.minutes,
        work_type=body.work_type,
        note=body.note,
    )


@router.post("/api/v1/incidents/{key}/cause", response_model=ActionDone)
def cause(key: KeyParam, body: CauseIn, principal: Admin, service: Service) -> ActionDone:
    return act(service, key, "cause", body, principal, cause=body.cause)


@router.post("/api/v1/incidents/{key}/wait", response_model=ActionDone)
def wait(key: KeyParam, body: WaitIn, principal: Admin, service: Service) -> ActionDone:
    """Wait for the client or a third party: the SLA clocks pause (acknowledges an open incident)."""
    return act(service, key, "wait", body, principal, reason=body.reason, note=body.note)


@router.post("/api/v1/incidents/{key}/resume", response_model=ActionDone)
def resume(
    key: KeyParam, principal: Admin, service: Service, body: NoteIn | None = None
) -> ActionDone:
    """End the wait: back to acknowledged, the SLA clocks run on."""
    body = body or NoteIn()
    return act(service, key, "resume", body, principal, note=body.note)


@router.post("/api/v1/incidents/{key}/priority", response_model=ActionDone)
def change_priority(
    key: KeyParam, body: PriorityIn, principal: Admin, service: Service
) -> ActionDone:
    """Change the priority by hand; SLA targets are recomputed from detection, pauses kept."""
    return act(service, key, "priority", body, principal, priority=body.priority, note=body.note)


@router.post("/api/v1/incidents/{key}/charge", response_model=ActionDone)
def charge(key: KeyParam, body: ChargeIn, principal: Admin, service: Service) -> ActionDone:
    """Override the points charge: free, charged, or ``points`` (applied when resolved)."""
    if (body.mode is None) == (body.points is None):
        raise InvalidArgument("give mode (free or charged) or points, not both")
    mode = "amount" if body.points is not None else body.mode
    return act(
        service,
        key,
        "charge",
        body,
        principal,
        mode=mode,
        centipoints=body.points,
        reason=body.reason,
    )


def _note_action(action: str) -> Callable[..., ActionDone]:
    """The endpoint of an action whose only argument is an optional note."""

    def endpoint(
        key: KeyParam, principal: Admin, service: Service, body: NoteIn | None = None
    ) -> ActionDone:
        body = body or NoteIn()
        return act(service, key, action, body, principal, note=body.note)

    endpoint.__name__ = action
    endpoint.__doc__ = f"{action.capitalize()} the incident (optional note)."
    return endpoint


for _action in ("resolve", "close", "reopen"):
    router.add_api_route(
        f"/api/v1/incidents/{{key}}/{_action}",
        _note_action(_action),
        methods=["POST"],
        response_model=ActionDone,
    )
