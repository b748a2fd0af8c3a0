"""HTTP endpoints and background tasks of the rule engine.

``GET /api/v1/rules/status``, ``POST /api/v1/rules/reload`` (422 when the change is
refused), ``GET /api/v1/alerts`` (current alerts) and ``GET /api/v1/alerts/transitions``
(the append-only log, paged by id). All need an admin token. :func:`run_rules`
loads the rules and reloads them on SIGHUP (the sweep and the file watch are periodic jobs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from collector import timeutil
from collector.api_auth import Admin, responses
from collector.rules.service import RuleService, RulesStatus
from collector.runtime import RuntimeDep
from collector.schema import alert_transitions, assets, clients, rule_alerts

log = logging.getLogger(__name__)


class RulesStatusOut(BaseModel):
    """Whether the running rules are the ones on disk, and why not."""

    last_reload_success: bool
    paths: list[str]
    files: list[str]
    rules: int
    loaded_at: datetime | None
    last_attempt_at: datetime | None
    errors: list[str]
    warnings: list[str]


class AlertOut(BaseModel):
    """An alert that is pending or firing."""

    fingerprint: str
    rule: str
    status: str
    severity: str | None
    client: str
    asset: str
    labels: dict[str, str]
    summary: str
    value: float | None
    pending_since: datetime | None
    firing_since: datetime | None
    flapping: bool
    updated_at: datetime


class TransitionOut(BaseModel):
    """One alert transition (the engine's output)."""

    id: int
    fingerprint: str
    rule: str
    event: str
    status: str
    previous_status: str
    severity: str | None
    previous_severity: str | None
    ts: datetime
    value: float | None
    client_id: int
    asset_id: int
    labels: dict[str, str]
    priority: str
    kind: str
    summary: str
    description: str
    runbook: str | None
    flapping: bool
    reason: str
    recorded_at: datetime


def _dt(value: float | None) -> datetime | None:
    return timeutil.to_datetime(value) if value is not None else None


def status_out(state: RulesStatus) -> RulesStatusOut:
    return RulesStatusOut(
        last_reload_success=state.ok,
        paths=state.paths,
        files=state.files,
        rules=state.rules,
        loaded_at=_dt(state.loaded_at),
        last_attempt_at=_dt(state.last_attempt_at),
        errors=state.errors,
        warnings=state.warnings,
    )


def get_rule_service(runtime: RuntimeDep) -> RuleService:
    """FastAPI dependency: the app's rule engine (``Runtime.rules``)."""
    return runtime.rules


Rules = Annotated[RuleService, Depends(get_rule_service)]

#: ``/api/v1/rules/*`` and ``/api/v1/alerts*`` (admin token).
router = APIRouter(tags=["rules"], responses=responses(401, 403))


@router.get("/api/v1/rules/status", response_model=RulesStatusOut)
def get_rules_status(principal: Admin, service: Rules) -> RulesStatusOut:
    return status_out(service.status())


@router.post(
    "/api/v1/rules/reload",
    response_model=RulesStatusOut,
    responses={422: {"model": RulesStatusOut, "description": "The change was refused"}},
)
def post_rules_reload(principal: Admin, service: Rules) -> Any:
    """Load the rule files again. A change with any error is refused whole (422)."""
    state = status_out(service.reload())
    if not state.last_reload_success:
        return JSONResponse(state.model_dump(mode="json"), status_code=422)
    return state


@router.get("/api/v1/alerts", response_model=list[AlertOut])
def get_alerts(
    principal: Admin,
    service: Rules,
    status: Annotated[Literal["firing", "pending", "all"], Query()] = "all",
    client: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
) -> list[AlertOut]:
    query = (
        sa.select(
            rule_alerts, clients.c.name.label("client_name"), assets.c.name.label("asset_name")
        )
        .join(clients, clients.c.id == rule_alerts.c.client_id)
        .join(assets, assets.c.id == rule_alerts.c.asset_id)
        .where(rule_alerts.c.status.in_(["firing", "pending"] if status == "all" else [status]))
        .order_by(rule_alerts.c.status, clients.c.name, assets.c.name, rule_alerts.c.rule_id)
    )
    if client is not None:
        query = query.where(clients.c.name == client)
    with service.store.read() as conn:
        rows = conn.execute(query).all()
    out = []
    for r in rows:
        state = r.state or {}
        out.append(
            AlertOut(
                fingerprint=r.fingerprint,
                rule=r.rule_id,
                status=r.status,
                severity=r.severity,
                client=r.client_name,
                asset=r.asset_name,
                labels=r.labels,
                summary=r.summary,
                value=state.get("last_value"),
                pending_since=_dt(state.get("pending_since")),
                firing_since=_dt(state.get("firing_since")),
                flapping=bool(state.get("flapping")),
                updated_at=timeutil.to_datetime(r.updated_at),
            )
        )
    return out


@router.get("/api/v1/alerts/transitions", response_model=list[TransitionOut])
def get_transitions(
    principal: Admin,
    service: Rules,
    after: Annotated[int, Query(ge=0, le=2**62, description="only ids above this")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[TransitionOut]:
    query = (
        sa.select(alert_transitions)
        .where(alert_transitions.c.id > after)
        .order_by(alert_transitions.c.id)
        .limit(limit)
    )
    with service.store.read() as conn:
        rows = conn.execute(query).all()
    return [
        TransitionOut(
            id=r.id,
            fingerprint=r.fingerprint,
            rule=r.rule_id,
            event=r.event,
            status=r.status,
            previous_status=r.previous_status,
            severity=r.severity,
            previous_severity=r.previous_severity,
            ts=timeutil.to_datetime(r.ts),
            value=r.value,
            client_id=r.client_id,
            asset_id=r.asset_id,
            labels=r.labels,
            priority=r.priority,
            kind=r.kind,
            summary=r.summary,
            description=r.description,
            runbook=r.runbook,
            flapping=r.flapping,
            reason=r.reason,
            recorded_at=timeutil.to_datetime(r.recorded_at),
        )
        for r in rows
    ]


@contextlib.asynccontextmanager
async def run_rules(
    service: RuleService, on_hup: Sequence[Callable[[], object]] = ()
) -> AsyncIterator[None]:
    """Start the rules (in a thread) and reload them on SIGHUP until the app stops, calling
    ``on_hup`` too (other reloadable files, e.g. the maintenance file). The sweep and the file
    watch are periodic jobs (:mod:`collector.background`)."""
    await run_in_threadpool(service.start)
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[None]] = []

    async def reload_now() -> None:
        try:
            await run_in_threadpool(service.reload)
        except Exception:
            log.exception("rule reload failed")
        for reload in on_hup:
            try:
                await run_in_threadpool(reload)
            except Exception:
                log.exception("reload on SIGHUP failed")

    hup = False
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError, AttributeError):
        loop.add_signal_handler(
            signal.SIGHUP, lambda: tasks.append(asyncio.create_task(reload_now()))
        )
        hup = True
    try:
        yield
    finally:
        if hup:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(signal.SIGHUP)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        try:
            await run_in_threadpool(service.stop)  # a cluster replica gives its shards back
        except Exception:
            log.exception("leaving the cluster failed")
