"""HTTP endpoints for SLA figures (admin token).

``GET /api/v1/sla/compliance?client=acme&period=2026-10`` — compliance per priority for one
contract period; ``GET /api/v1/sla/incidents/{key}`` — one incident's clocks (as in the
incident detail's ``sla``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from pydantic import BaseModel

from collector.api_auth import Admin, responses
from collector.runtime import RuntimeDep
from collector.sla.queries import compliance_for_period, incident_sla

_TEXT = r"^[^\x00]*$"


class TargetCompliance(BaseModel):
    met: int
    breached: int
    pending: int
    percent: float | None


class PriorityCompliance(BaseModel):
    incidents: int
    response: TargetCompliance
    resolution: TargetCompliance


class ComplianceOut(BaseModel):
    """SLA compliance of one client in one contract period (detected incidents, by priority)."""

    client: str
    period: str
    start: datetime
    end: datetime
    timezone: str
    priorities: dict[str, PriorityCompliance]
    total: PriorityCompliance


#: ``/api/v1/sla/*`` (admin token).
router = APIRouter(tags=["sla"], responses=responses(400, 401, 403))


@router.get("/api/v1/sla/compliance", response_model=ComplianceOut)
def compliance(
    client: Annotated[str, Query(max_length=100, pattern=_TEXT)],
    period: Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")],
    principal: Admin,
    runtime: RuntimeDep,
) -> ComplianceOut:
    """Compliance per priority (404: unknown client or no contract; 400: bad period)."""
    return ComplianceOut(**compliance_for_period(runtime.store, client, period))


@router.get("/api/v1/sla/incidents/{key}")
def incident(
    key: Annotated[str, PathParam(max_length=140, pattern=r"^[A-Za-z0-9_.-]+$")],
    principal: Admin,
    runtime: RuntimeDep,
) -> dict[str, Any] | None:
    """The incident's SLA clocks now (null when no target applies; 404: unknown incident)."""
    return incident_sla(runtime.store, key)
