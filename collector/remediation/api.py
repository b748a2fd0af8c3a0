"""The task channel's HTTP side: agent endpoints (agent token) and the admin API.

Agents: ``GET /api/v1/agent/tasks/key`` (the public key to pin), ``POST
/api/v1/agent/tasks/poll`` (signed tasks for one of the token's client's assets; with
``wait`` a long-poll, :mod:`collector.remediation.waiters`), ``POST
/api/v1/agent/tasks/{id}/result``. An agent token only ever sees and answers its own
client's tasks (another client's task is "not found").

Admins: ``GET /api/v1/actions``, ``POST /api/v1/tasks``, ``GET /api/v1/tasks[/{id}]``,
``GET /api/v1/tasks/{id}/audit``, ``POST /api/v1/incidents/{key}/fix`` ("Run fix").
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from collector import admin
from collector.api_auth import Admin, Agent, responses
from collector.errors import NotFound
from collector.remediation import tasks as task_domain
from collector.remediation.service import Remediation
from collector.runtime import RuntimeDep

TaskId = Annotated[str, PathParam(pattern=r"^[0-9a-f-]{36}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublicKey(BaseModel):
    public_key: str
    algorithm: Literal["ed25519"] = "ed25519"


class PollRequest(_Strict):
    asset: str = Field(min_length=1, max_length=253)
    #: Seconds to hold the answer open until a task comes (a long-poll); cut to the
    #: collector's ``task_poll_max_wait``. 0: answer at once.
    wait: float = Field(default=0.0, ge=0, le=3600, strict=True)  # a number, not true/"5"


class SignedTask(BaseModel):
    id: str
    payload: str
    signature: str


class PollAnswer(BaseModel):
    tasks: list[SignedTask]


class Measured(_Strict):
    before: float | None = None
    after: float | None = None
    labels: dict[str, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=20
    )


class TaskResult(_Strict):
    status: Literal["succeeded", "failed", "refused", "expired"]
    exit_code: int | None = Field(default=None, ge=-1000, le=100000)
    output: str = Field(default="", max_length=65536)
    duration: float = Field(default=0.0, ge=0, le=7 * 86400)
    started_at: float | None = None
    measured: dict[str, Measured] = Field(default_factory=dict, max_length=10)
    facts: dict[str, int | float | str] = Field(default_factory=dict, max_length=20)


class TaskOut(BaseModel):
    id: str
    asset: str
    action: str
    kind: str
    params: dict[str, Any]
    policy: str
    state: str
    created_by: str
    created_at: float
    expires_at: float
    delivered_at: float | None
    finished_at: float | None
    exit_code: int | None
    output: str | None
    duration: float | None
    incident_id: int | None
    request_key: str | None
    evidence: str | None


class NewTask(_Strict):
    client: str = Field(min_length=1, max_length=100)
    asset: str = Field(min_length=1, max_length=253)
    action: str = Field(min_length=1, max_length=100)
    params: dict[str, Any] = Field(default_factory=dict, max_length=20)


class RunFix(_Strict):
    action: str | None = Field(default=None, max_length=100)
    params: dict[str, Any] | None = Field(default=None, max_length=20)


class ActionOut(BaseModel):
    name: str
    kind: str
    description: str
    os: list[str]
    params: dict[str, Any]
    expects: dict[str, Any] | None
    timeout: float
    estimate_minutes: int


class AuditLine(BaseModel):
    id: int
    ts: float
    actor: str
    event: str
    task_id: str | None
    client_id: int | None
    asset: str | None
    action: str | None
    detail: dict[str, Any]


router = APIRouter(tags=["remediation"], responses=responses(400, 401, 403))


def _remediation(runtime: Any) -> Remediation:
    remediation: Remediation = runtime.remediation
    return remediation


def _agent(principal: admin.Principal) -> str:
    return f"agent-token:{principal.token_id}"


def _admin(principal: admin.Principal) -> str:
    return f"admin-token:{principal.token_id}"


@router.get("/api/v1/agent/tasks/key", response_model=PublicKey)
def task_key(principal: Agent, runtime: RuntimeDep) -> PublicKey:
    """The public key agents pin to verify task signatures."""
    signer = _remediation(runtime).signer
    if signer is None:
        raise NotFound("this collector has no task_signing_key: it sends no tasks")
    return PublicKey(public_key=signer.public_key())


@router.post("/api/v1/agent/tasks/poll", response_model=PollAnswer)
async def poll(
    body: PollRequest, request: Request, principal: Agent, runtime: RuntimeDep
) -> PollAnswer:
    """Signed tasks for ``asset`` (of the token's client), delivered until answered.

    With ``wait``, an empty answer is held until a task is queued for the asset (answered
    the moment it is), the wait is over, or the agent goes away; no database connection
    or thread is held meanwhile (collector.remediation.waiters)."""
    remediation = _remediation(runtime)
    client_id, agent = int(principal.client_id or 0), _agent(principal)
    wait = min(body.wait, remediation.settings.task_poll_max_wait)
    deadline = time.monotonic() + wait
    waiters = remediation.waiters
    # Parked before the first look, so that a task committed meanwhile wakes it.
    parking = waiters.parked_for((client_id, body.asset)) if wait > 0 else nullcontext()
    async with parking as waiter:
        found = await run_in_threadpool(remediation.poll, client_id, body.asset, agent)
        # waiter None: no wait asked, or this process holds as many polls as it may.
        while waiter is not None and not found and not waiters.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            woken = await waiter.wait(remaining)
            # An agent that went away: its held poll lingers until its wait ends (that is
            # all it costs; a task it was woken for is delivered again on the next poll).
            if await request.is_disconnected():
                break
            if woken and not waiters.closed:
                found = await run_in_threadpool(remediation.poll, client_id, body.asset, agent)
    return PollAnswer(tasks=[SignedTask(**t) for t in found])


@router.post("/api/v1/agent/tasks/{task_id}/result", response_model=TaskOut)
def result(task_id: TaskId, body: TaskResult, principal: Agent, runtime: RuntimeDep) -> TaskOut:
    """The agent's result; a second one for the same task changes nothing."""
    return TaskOut(
        **_remediation(runtime).record_result(
            int(principal.client_id or 0), task_id, body.model_dump(), _agent(principal)
        )
    )


@router.get("/api/v1/actions", response_model=list[ActionOut])
def list_actions(principal: Admin, runtime: RuntimeDep) -> list[ActionOut]:
    library = _remediation(runtime).library
    return [
        ActionOut(
            name=a.name,
            kind=a.kind,
            description=a.description,
            os=list(a.os),
            params={k: v.model_dump() for k, v in a.params.items()},
            expects=a.expects.model_dump() if a.expects else None,
            timeout=a.timeout,
            estimate_minutes=a.estimate_minutes,
        )
        for a in sorted(library.actions.values(), key=lambda a: a.name)
    ]


@router.post("/api/v1/tasks", response_model=TaskOut, status_code=201)
def create_task(body: NewTask, principal: Admin, runtime: RuntimeDep) -> TaskOut:
    """Queue an action on an asset (no incident): a technician's own fix."""
    task = _remediation(runtime).create_task(
        body.client, body.asset, body.action, body.params, _admin(principal)
    )
    return TaskOut(**task)


@router.get("/api/v1/tasks", response_model=list[TaskOut])
def list_tasks(principal: Admin, runtime: RuntimeDep, client: str | None = None) -> list[TaskOut]:
    with runtime.store.read() as conn:
        client_id = admin.get_client(conn, client).id if client else None
        return [TaskOut(**t) for t in task_domain.list_tasks(conn, client_id=client_id)]


@router.get("/api/v1/tasks/{task_id}", response_model=TaskOut)
def get_task(task_id: TaskId, principal: Admin, runtime: RuntimeDep) -> TaskOut:
    with runtime.store.read() as conn:
        return TaskOut(**task_domain.get(conn, task_id))


@router.get("/api/v1/tasks/{task_id}/audit", response_model=list[AuditLine])
def task_audit(task_id: TaskId, principal: Admin, runtime: RuntimeDep) -> list[AuditLine]:
    with runtime.store.read() as conn:
        task_domain.get(conn, task_id)
        return [AuditLine(**line) for line in task_domain.audit_log(conn, task_id)]


@router.post("/api/v1/incidents/{key}/fix", response_model=TaskOut, status_code=201)
def run_fix(
    key: Annotated[str, PathParam(max_length=140)],
    body: RunFix,
    principal: Admin,
    runtime: RuntimeDep,
) -> TaskOut:
    """ "Run fix": the incident rule's action by its policy (client: after approval)."""
    task = _remediation(runtime).run_fix(
        key, _admin(principal), action=body.action, params=body.params
    )
    return TaskOut(**task)
