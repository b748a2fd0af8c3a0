"""Report API: list the archive, generate (and archive) a report, download an archived one."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Query
from fastapi import Path as PathParam
from fastapi.responses import Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from collector import timeutil
from collector.api_auth import Admin, responses
from collector.reports.archive import (
    ArchivedReport,
    archive,
    content_of,
    get_report,
    list_reports,
    publish,
)
from collector.reports.render import CONTENT_TYPES
from collector.runtime import RuntimeDep
from collector.schema import reports


class ReportRequest(BaseModel):
    """Generate one report now and archive it."""

    client: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00]*$")]
    # Years 1970..2999: a month whose start and end are representable instants (year 1 or
    # 9999 overflowed to a 500); the 422 names ``period``.
    period: Annotated[
        str,
        Field(
            pattern=r"^(19[7-9]\d|2\d{3})-(0[1-9]|1[0-2])$",
            description="YYYY-MM, year 1970 to 2999",
        ),
    ]
    format: Literal["html", "pdf", "json", "csv"] = "pdf"
    language: Literal["en", "ru"] | None = None
    email: bool = Field(
        default=False, description="also queue it to the contract's report contacts"
    )


class ReportOut(BaseModel):
    """An archived report."""

    id: int
    client: str
    period: str
    format: str
    language: str
    sha256: str
    bytes: int
    generated_by: str
    generated_at: datetime
    #: When the mail server accepted the report mail (None: not e-mailed, or not yet).
    emailed_at: datetime | None
    email_state: Literal["not_emailed", "pending", "emailed", "failed"]
    #: Why it is not e-mailed yet (pending: waiting, or the last retry's error) or failed.
    email_error: str | None
    #: Of an unfinished period and not published: client viewers do not see it.
    draft: bool
    published_at: datetime | None


def _out(report: ArchivedReport) -> ReportOut:
    return ReportOut(
        id=report.id,
        client=report.client,
        period=report.period,
        format=report.format,
        language=report.language,
        sha256=report.sha256,
        bytes=report.bytes,
        generated_by=report.generated_by,
        generated_at=timeutil.to_datetime(report.generated_at),
        emailed_at=timeutil.to_datetime(report.emailed_at),
        email_state=report.email_state,
        email_error=report.email_error,
        draft=report.draft,
        published_at=timeutil.to_datetime(report.published_at),
    )


#: ``/api/v1/reports*`` (admin token).
router = APIRouter(prefix="/api/v1/reports", tags=["reports"], responses=responses(400, 401, 403))


@router.get("", response_model=list[ReportOut])
def get_reports(
    principal: Admin,
    runtime: RuntimeDep,
    client: Annotated[str | None, Query(max_length=100, pattern=r"^[^\x00]*$")] = None,
) -> list[ReportOut]:
    """Archived reports, newest first (optionally of one client)."""
    with runtime.store.read() as conn:
        return [_out(r) for r in list_reports(conn, client)]


@router.post("", response_model=ReportOut, status_code=201)
async def post_report(body: ReportRequest, principal: Admin, runtime: RuntimeDep) -> ReportOut:
    """Generate the report now, archive it (a new version each time) and return its record."""
    actor = f"token:{getattr(principal, 'token_id', '?')}"
    result = await run_in_threadpool(
        lambda: archive(
            runtime.store,
            runtime.settings.data_dir,
            body.client,
            body.period,
            body.format,
            body.language,
            actor=actor,
            email=body.email,
            max_bytes=runtime.settings.artefact_max_bytes,
        )
    )
    return _out(result)


@router.post("/{report_id}/publish", response_model=ReportOut)
def publish_report(
    report_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)], principal: Admin, runtime: RuntimeDep
) -> ReportOut:
    """Release a draft (a report of a period not over yet) to the client's viewers."""
    actor = f"token:{getattr(principal, 'token_id', '?')}"
    return _out(publish(runtime.store, report_id, actor=actor))


@router.get(
    "/{report_id}/download",
    response_class=Response,
    responses={200: {"content": {t.split(";")[0]: {} for t in CONTENT_TYPES.values()}}},
)
def download(
    report_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)], principal: Admin, runtime: RuntimeDep
) -> Response:
    """The archived file, as generated (its SHA-256 is in the listing); any replica serves it."""
    with runtime.store.read() as conn:
        report = get_report(conn, report_id)
        row = conn.execute(sa.select(reports).where(reports.c.id == report_id)).one()
        content = content_of(conn, runtime.settings.data_dir, row)
    return Response(
        content,
        media_type=CONTENT_TYPES[report.format],
        headers={
            "Content-Disposition": (
                f'attachment; filename="{report.client}-{report.period}.{report.format}"'
            )
        },
    )
