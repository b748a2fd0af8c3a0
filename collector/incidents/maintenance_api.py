"""HTTP endpoints for maintenance windows (admin token).

``GET /api/v1/maintenance`` lists the windows of the maintenance file and those defined
here, each with its open occurrence and the next one; ``POST /api/v1/maintenance`` adds a
window (same shape as a ``windows:`` item of the file; 404 unknown client, 409 name taken);
``DELETE /api/v1/maintenance/{id}`` removes one added here (file windows change in the file).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from fastapi import Path as PathParam
from pydantic import BaseModel

from collector import timeutil
from collector.api_auth import Admin, responses
from collector.incidents import noise
from collector.incidents.maintenance import MaintenanceWindow
from collector.runtime import RuntimeDep

PATH = "/api/v1/maintenance"


class Occurrence(BaseModel):
    start: datetime
    end: datetime


class WindowOut(BaseModel):
    """A maintenance window: its definition, where it comes from, when it is (next) open."""

    id: int | None
    source: str
    window: MaintenanceWindow
    open_now: bool
    current: Occurrence | None
    next: Occurrence | None


def _occurrence(span: tuple[float, float] | None) -> Occurrence | None:
    if span is None:
        return None
    return Occurrence(start=timeutil.to_datetime(span[0]), end=timeutil.to_datetime(span[1]))


def window_out(listed: noise.ListedWindow) -> WindowOut:
    return WindowOut(
        id=listed.id,
        source=listed.source,
        window=listed.window,
        open_now=listed.current is not None,
        current=_occurrence(listed.current),
        next=_occurrence(listed.next),
    )


#: ``/api/v1/maintenance*`` (admin token).
router = APIRouter(tags=["maintenance"], responses=responses(401, 403))


@router.get(PATH, response_model=list[WindowOut])
def list_windows(
    principal: Admin,
    runtime: RuntimeDep,
    client: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
) -> list[WindowOut]:
    with runtime.store.read() as conn:
        return [window_out(w) for w in noise.list_windows(conn, timeutil.now(), client)]


@router.post(PATH, response_model=WindowOut, status_code=201)
def add_window(window: MaintenanceWindow, principal: Admin, runtime: RuntimeDep) -> WindowOut:
    """Add a window; alerts it covers open no incident while it is open."""
    now = timeutil.now()
    with runtime.store.write() as conn:
        window_id = noise.add_window(conn, window, now)
        return next(
            window_out(w) for w in noise.list_windows(conn, now, window.client) if w.id == window_id
        )


@router.delete(f"{PATH}/{{window_id}}", status_code=204, response_class=Response)
def delete_window(
    window_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)], principal: Admin, runtime: RuntimeDep
) -> Response:
    with runtime.store.write() as conn:
        noise.delete_window(conn, window_id)
    return Response(status_code=204)
