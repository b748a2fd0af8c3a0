"""The task channel's HTTP side: agent endpoints (agent token) and the admin API.

Agents: ``GET /api/v1/agent/tasks/key`` (the public key to pin), ``POST
/api/v1/agent/tasks/poll`` (signed tasks for one of the token's client's assets), ``POST
/api/v1/agent/tasks/{id}/result``. An agent token only ever sees and answers its own
client's tasks (another client's task is "not found").

Admins: ``GET /api/v1/actions``, ``POST /api/v1/tasks``, ``GET /api/v1/tasks[/{id}]``,
``GET /api/v1/tasks/{id}/audit``, ``POST /api/v1/incidents/{key}/fix`` ("Run fix").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from collector import admin, timeutil
from collector.errors import InvalidArgument, NotFound
from collector.remediation import tasks as task_domain
from collector.remediation.keys import SigningKeyMissing
from collector.remediation.service import Remediation
from collector.schema import assets

TaskId = Annotated[str, PathParam(pattern=r"^[0-9a-f-]{36}$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PublicKey(BaseModel):
    public_key: str
    algorithm: Literal["ed25519"] = "ed25519"


class PollRequest(_Strict):
    asset: str = Field(min_length=1, max_length=253)


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


def remediation_router(
    remediation: Remediation,
    require_admin: Callable[..., Any],
    require_agent: Callable[..., Any],
    responses: dict[int | str, dict[str, Any]],
) -> APIRouter:
    router = APIRouter(tags=["remediation"], responses=responses)
    store = remediation.store
    as_admin = Depends(require_admin)
    as_agent = Depends(require_agent)

    def _signer_key() -> str:
        if remediation.signer is None:
            raise NotFound("this collector has no task_signing_key: it sends no tasks")
        return remediation.signer.public_key()

    @router.get("/api/v1/agent/tasks/key", response_model=PublicKey)
    def task_key(principal: admin.Principal = as_agent) -> PublicKey:
        """The public key agents pin to verify task signatures."""
        return PublicKey(public_key=_signer_key())

    @router.post("/api/v1/agent/tasks/poll", response_model=PollAnswer)
    def poll(body: PollRequest, principal: admin.Principal = as_agent) -> PollAnswer:
        """Signed tasks for ``asset`` (of the token's client), delivered until answered."""
        now = timeutil.now()
        with store.write() as conn:
            found = task_domain.poll(
                conn,
                int(principal.client_id or 0),
                body.asset,
                f"agent-token:{principal.token_id}",
                now,
            )
        return PollAnswer(tasks=[SignedTask(**t) for t in found])

    @router.post("/api/v1/agent/tasks/{task_id}/result", response_model=TaskOut)
    def result(task_id: TaskId, body: TaskResult, principal: admin.Principal = as_agent) -> TaskOut:
        """The agent's result; a second one for the same task changes nothing."""
        return TaskOut(
            **remediation.record_result(
                int(principal.client_id or 0),
                task_id,
                body.model_dump(),
                f"agent-token:{principal.token_id}",
            )
        )

    @router.get("/api/v1/actions", response_model=list[ActionOut])
    def list_actions(principal: admin.Principal = as_admin) -> list[ActionOut]:
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
            for a in sorted(remediation.library.actions.values(), key=lambda a: a.name)
        ]

    @router.post("/api/v1/tasks", response_model=TaskOut, status_code=201)
    def create_task(body: NewTask, principal: admin.Principal = as_admin) -> TaskOut:
        """Queue an action on an asset (no incident): a technician's own fix."""
        try:
            action = remediation.library.get(body.action)
        except KeyError as exc:
            raise InvalidArgument(str(exc.args[0])) from None
        now = timeutil.now()
        with store.write() as conn:
            client = admin.get_client(conn, body.client)
            asset_id = conn.execute(
                sa.select(assets.c.id).where(
                    assets.c.client_id == client.id, assets.c.name == body.asset
                )
            ).scalar()
            if asset_id is None:
                raise NotFound(f"client {body.client} has no asset {body.asset!r}")
            try:
                row = task_domain.create(
                    conn,
                    remediation.signer,
                    action,
                    client_id=client.id,
                    asset_id=asset_id,
                    params=body.params,
                    policy="technician",
                    actor=f"admin-token:{principal.token_id}",
                    now=now,
                    deadline=remediation.settings.task_deadline,
                )
            except SigningKeyMissing as exc:
                raise InvalidArgument(str(exc)) from None
            return TaskOut(**task_domain.summary(row))

    @router.get("/api/v1/tasks", response_model=list[TaskOut])
    def list_tasks(
        principal: admin.Principal = as_admin, client: str | None = None
    ) -> list[TaskOut]:
        with store.read() as conn:
            client_id = admin.get_client(conn, client).id if client else None
            return [TaskOut(**t) for t in task_domain.list_tasks(conn, client_id=client_id)]

    @router.get("/api/v1/tasks/{task_id}", response_model=TaskOut)
    def get_task(task_id: TaskId, principal: admin.Principal = as_admin) -> TaskOut:
        with store.read() as conn:
            return TaskOut(**task_domain.get(conn, task_id))

    @router.get("/api/v1/tasks/{task_id}/audit", response_model=list[AuditLine])
    def task_audit(task_id: TaskId, principal: admin.Principal = as_admin) -> list[AuditLine]:
        with store.read() as conn:
            task_domain.get(conn, task_id)
            return [AuditLine(**line) for line in task_domain.audit_log(conn, task_id)]

    @router.post("/api/v1/incidents/{key}/fix", response_model=TaskOut, status_code=201)
    def run_fix(
        key: Annotated[str, PathParam(max_length=140)],
        body: RunFix,
        principal: admin.Principal = as_admin,
    ) -> TaskOut:
        """ "Run fix": the incident rule's action by its policy (client: after approval)."""
        try:
            task = remediation.run_fix(
                key, f"admin-token:{principal.token_id}", action=body.action, params=body.params
            )
        except SigningKeyMissing as exc:
            raise InvalidArgument(str(exc)) from None
        return TaskOut(**task)

    return router
