"""The report archive: files under ``<data_dir>/reports/<client>/``, one row each in ``reports``
(SHA-256 of the content, size), and the e-mail to the client's report contacts.

Archived files are never overwritten: each generation is a new file and row, named with its
UTC time. ``replace=False`` (the scheduler) makes a generation a no-op when the client
already has a report of that period in that format, checked again inside the write
transaction (on PostgreSQL under an advisory lock), so two collectors never archive or
e-mail the same period twice.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import admin, notify
from collector.contracts.store import get_contract
from collector.errors import NotFound
from collector.reports.i18n import Formatter
from collector.reports.model import build
from collector.reports.render import CONTENT_TYPES, render
from collector.schema import reports
from collector.store import Store, inserted_id

NOTIFY_KIND = "report"


@dataclass(frozen=True, slots=True)
class ArchivedReport:
    """A row of ``reports`` (``created``: this call generated it)."""

    id: int
    client: str
    period: str
    format: str
    language: str
    path: str
    sha256: str
    bytes: int
    generated_by: str
    generated_at: float
    emailed_at: float | None
    created: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "created"}


def reports_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "reports"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "client"


def _row(r: Any, client: str, created: bool = False) -> ArchivedReport:
    return ArchivedReport(
        id=r.id,
        client=client,
        period=r.period,
        format=r.format,
        language=r.language,
        path=r.path,
        sha256=r.sha256,
        bytes=int(r.bytes),
        generated_by=r.generated_by,
        generated_at=r.generated_at,
        emailed_at=r.emailed_at,
        created=created,
    )


def find(conn: Connection, client_id: int, period: str, fmt: str) -> Any | None:
    return conn.execute(
        sa.select(reports)
        .where(
            reports.c.client_id == client_id, reports.c.period == period, reports.c.format == fmt
        )
        .order_by(reports.c.id.desc())
        .limit(1)
    ).first()


def list_reports(conn: Connection, client: str | None = None) -> list[ArchivedReport]:
    from collector.schema import clients

    query = (
        sa.select(reports, clients.c.name.label("client_name"))
        .join(clients, clients.c.id == reports.c.client_id)
        .order_by(reports.c.id.desc())
    )
    if client is not None:
        query = query.where(reports.c.client_id == admin.get_client(conn, client).id)
    return [_row(r, r.client_name) for r in conn.execute(query)]


def get_report(conn: Connection, report_id: int) -> ArchivedReport:
    from collector.schema import clients

    r = conn.execute(
        sa.select(reports, clients.c.name.label("client_name"))
        .join(clients, clients.c.id == reports.c.client_id)
        .where(reports.c.id == report_id)
    ).first()
    if r is None:
        raise NotFound(f"no report with id {report_id}")
    return _row(r, r.client_name)


def _lock(conn: Connection, client_id: int, period: str) -> None:
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"upkeep-report:{client_id}:{period}".encode())
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _write_file(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    # Reports name clients, assets and costs: readable by the collector's user only.
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(content)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def email_text(model: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of the report e-mail, in the report's language."""
    f = Formatter(model["language"], model["period"]["timezone"])
    s = model["sections"]["summary"]
    subject = f.gettext(
        "Monthly report for %(client)s, %(period)s",
        client=model["client"],
        period=model["period"]["label"],
    )
    lines = [
        f.gettext(
            "Please find attached the monthly report for %(client)s, %(start)s – %(end)s.",
            client=model["client"],
            start=f.date(model["period"]["start"]),
            end=f.date(model["period"]["end"] - 1),
        ),
        "",
        f.gettext("Assets monitored: %(n)s", n=f.number(s["assets"])),
        f.gettext("Availability: %(pct)s", pct=f.percent(s["availability"])),
        f.gettext(
            "Problems caught before anyone noticed: %(p)s of %(n)s",
            p=f.number(s["proactive"]),
            n=f.number(s["incidents"]),
        ),
        f.gettext("Preventive work: %(hours)s hours", hours=f.number(s["preventive_hours"], 2)),
        f.gettext("SLA met")
        if s["sla_met"]
        else f.gettext("SLA targets missed: %(n)s", n=s["sla_breaches"]),
    ]
    if s["points_enabled"]:
        lines.append(f.gettext("Points left: %(points)s", points=f.points(s["points_left"])))
    return subject, "\n".join(lines) + "\n"


def archive(
    store: Store,
    data_dir: str | Path,
    client: str,
    period: str,
    fmt: str = "pdf",
    language: str | None = None,
    *,
    actor: str = "upkeep",
    now: float | None = None,
    email: bool = False,
    replace: bool = True,
) -> ArchivedReport:
    """Generate the report, write it under ``<data_dir>/reports``, record it; with ``email``,
    queue it to the contract's ``reports`` contacts (once per client and period)."""
    now = time.time() if now is None else now
    with store.read() as conn:
        client_row = admin.get_client(conn, client)
        if not replace:
            existing = find(conn, client_row.id, period, fmt)
            if existing is not None:
                return _row(existing, client_row.name)
        model = build(conn, client, period, now=now, language=language)
    content = render(model, fmt)
    digest = hashlib.sha256(content).hexdigest()
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
    name = f"{_safe(client_row.name)}-{period}-{model['language']}-{stamp}.{fmt}"
    path = reports_dir(data_dir) / _safe(client_row.name) / name
    with store.write() as conn:
        _lock(conn, client_row.id, period)
        if not replace:
            existing = find(conn, client_row.id, period, fmt)
            if existing is not None:
                return _row(existing, client_row.name)
        if path.exists():  # two generations in the same second: keep both
            path = path.with_name(f"{path.stem}-{digest[:8]}{path.suffix}")
        _write_file(path, content)
        result = conn.execute(
            reports.insert().values(
                client_id=client_row.id,
                period=period,
                format=fmt,
                language=model["language"],
                path=str(path),
                sha256=digest,
                bytes=len(content),
                generated_by=actor,
                generated_at=now,
            )
        )
        report_id = inserted_id(result)
        if email:
            contract = get_contract(conn, client_row.id)
            recipients = contract.contacts_for("reports") if contract is not None else []
            if recipients:
                subject, body = email_text(model)
                notify.queue(
                    conn,
                    kind=NOTIFY_KIND,
                    recipients=recipients,
                    subject=subject,
                    body_text=body,
                    now=now,
                    client_id=client_row.id,
                    attachments=[
                        {
                            "name": f"{_safe(client_row.name)}-{period}.{fmt}",
                            "content_type": CONTENT_TYPES[fmt].split(";")[0],
                            "path": str(path),
                        }
                    ],
                    data={"report_id": report_id, "period": period, "sha256": digest},
                    dedupe_key=f"report:{client_row.id}:{period}",
                )
                conn.execute(
                    reports.update().where(reports.c.id == report_id).values(emailed_at=now)
                )
        row = conn.execute(sa.select(reports).where(reports.c.id == report_id)).one()
    return _row(row, client_row.name, created=True)
