"""The report archive: one row each in ``reports`` (SHA-256 of the content, size), the file in
the database (:mod:`collector.artefacts`, so every replica serves and mails it), and the e-mail
to the client's report contacts.

Archived files are never overwritten: each generation is a new artefact and row, named with
its UTC time. A generation takes the lock of its client and period (on PostgreSQL an advisory
lock keyed on the schema, the client and the period) *before* it renders, so two replicas
never render the same report at once; ``replace=False`` (the scheduler) then makes it a no-op
when the client already has a report of that period in that format, so no period is archived
or e-mailed twice.

Reports archived before migration 0010 are files under ``<data_dir>/reports/<client>/``
(``reports.path``, no ``artefact_id``); :func:`content_of` still serves them from there.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import admin, artefacts, notify
from collector.contracts.store import get_contract
from collector.errors import InvalidArgument, NotFound
from collector.jobs import lease_key_sql
from collector.notices import Voice, default_locale
from collector.notices import render as render_notice
from collector.notices.model import ReportMailNotice
from collector.reports.model import build
from collector.reports.period import resolve
from collector.reports.render import CONTENT_TYPES, render
from collector.reports.states import is_draft, mail_state
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
    emailed_at: float | None  # when the mail server accepted it (None: not, or not yet)
    #: not_emailed | pending | emailed | failed (:func:`mail_state`), and why when not e-mailed
    email_state: str = "not_emailed"
    email_error: str | None = None
    #: A report of a period not over yet that staff have not published: client viewers do
    #: not see it (:func:`visible_to_clients`).
    draft: bool = False
    published_at: float | None = None
    created: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "created"}


def reports_dir(data_dir: str | Path) -> Path:
    return Path(data_dir) / "reports"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "client"


def _row(
    r: Any,
    client: str,
    created: bool = False,
    conn: Connection | None = None,
    now: float | None = None,
) -> ArchivedReport:
    state, error, accepted = (
        mail_state(conn, r) if conn is not None else ("not_emailed", None, None)
    )
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
        emailed_at=accepted,
        email_state=state,
        email_error=error,
        draft=is_draft(r, time.time() if now is None else now),
        published_at=r.published_at,
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


def list_reports(
    conn: Connection, client: str | None = None, now: float | None = None
) -> list[ArchivedReport]:
    from collector.schema import clients

    query = (
        sa.select(reports, clients.c.name.label("client_name"))
        .join(clients, clients.c.id == reports.c.client_id)
        .order_by(reports.c.id.desc())
    )
    if client is not None:
        query = query.where(reports.c.client_id == admin.get_client(conn, client).id)
    return [_row(r, r.client_name, conn=conn, now=now) for r in conn.execute(query)]


def get_report(conn: Connection, report_id: int, now: float | None = None) -> ArchivedReport:
    from collector.schema import clients

    r = conn.execute(
        sa.select(reports, clients.c.name.label("client_name"))
        .join(clients, clients.c.id == reports.c.client_id)
        .where(reports.c.id == report_id)
    ).first()
    if r is None:
        raise NotFound(f"no report with id {report_id}")
    return _row(r, r.client_name, conn=conn, now=now)


def publish(
    store: Store, report_id: int, *, actor: str, now: float | None = None
) -> ArchivedReport:
    """Release a draft to the client's viewers before its period ends (staff). Publishing a
    report that is not a draft changes nothing. It is not e-mailed: the report of the finished
    period is (by the schedule)."""
    now = time.time() if now is None else now
    with store.write() as conn:
        found = get_report(conn, report_id)
        conn.execute(
            reports.update()
            .where(reports.c.id == report_id, reports.c.published_at.is_(None))
            .values(published_at=now, published_by=actor[:100])
        )
        del found
        return get_report(conn, report_id, now)


@contextlib.contextmanager
def _generation_lock(store: Store, client_id: int, period: str) -> Iterator[None]:
    """Held while one report of ``client_id`` and ``period`` is rendered and archived.

    PostgreSQL: a transaction-level advisory lock on a connection of its own, so it is given
    back whatever happens (commit, error, a dead process). SQLite has one process: nothing."""
    if store.is_sqlite:
        yield
        return
    with store.engine.connect() as conn, conn.begin():
        conn.execute(
            sa.text(f"SELECT pg_advisory_xact_lock({lease_key_sql()})"),
            {"name": f"report:{client_id}:{period}"},
        )
        yield


def _archive_root(data_dir: str | Path) -> Path:
    return reports_dir(data_dir).resolve()


def legacy_file(data_dir: str | Path, stored_path: str) -> Path:
    """The file of a report archived before 0010; NotFound if missing or outside the archive."""
    root = _archive_root(data_dir)
    stored = Path(stored_path)
    # Absolute, relative to the archive, or relative to where a relative data_dir was resolved.
    candidates = [stored] if stored.is_absolute() else [root / stored, stored]
    for candidate in candidates:
        path = candidate.resolve()
        if path.is_relative_to(root) and path.is_file():
            return path
    raise NotFound("the report's file is not in the archive")


def content_of(conn: Connection, data_dir: str | Path, row: Any) -> bytes:
    """The archived content of a ``reports`` row: its artefact, else its (older) file."""
    if row.artefact_id is not None:
        content = artefacts.get(conn, row.artefact_id).content
        assert content is not None
        return content
    return legacy_file(data_dir, row.path).read_bytes()


def email_notice(model: dict[str, Any]) -> ReportMailNotice:
    """The report e-mail as a typed notice (words: :mod:`collector.notices`)."""
    s = model["sections"]["summary"]
    return ReportMailNotice(
        client=model["client"],
        period=model["period"]["label"],
        period_start=model["period"]["start"],
        period_end=model["period"]["end"],
        assets=s["assets"],
        availability=s["availability"],
        proactive=s["proactive"],
        incidents=s["incidents"],
        preventive_hours=s["preventive_hours"],
        sla_met=s["sla_met"],
        sla_breaches=s["sla_breaches"],
        points_enabled=s["points_enabled"],
        points_left=s["points_left"],
    )


def email_voice(model: dict[str, Any]) -> Voice:
    tz = model["period"]["timezone"]
    language = model["language"]
    return Voice(language, tz, model.get("locale") or default_locale(language, None, tz))


def email_text(model: dict[str, Any]) -> tuple[str, str]:
    """Subject and plain-text body of the report e-mail, in the report's language."""
    mail = render_notice(email_notice(model), email_voice(model))
    return mail.subject, mail.text


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
    max_bytes: int = artefacts.DEFAULT_MAX_BYTES,
) -> ArchivedReport:
    """Generate the report and archive it in the database; with ``email``, queue it to the
    contract's ``reports`` contacts (once per client and period). ``data_dir`` is where
    reports archived before 0010 are (it is no longer written)."""
    now = time.time() if now is None else now
    with store.read() as conn:
        client_row = admin.get_client(conn, client)
    with _generation_lock(store, client_row.id, period):
        if not replace:
            with store.read() as conn:
                existing = find(conn, client_row.id, period, fmt)
            if existing is not None:
                return _row(existing, client_row.name, conn=conn, now=now)
        with store.read() as conn:
            model = build(conn, client, period, now=now, language=language)
            period_end = resolve(period, get_contract(conn, client_row.id)).end
        if email and now < period_end:
            raise InvalidArgument(
                f"the report of {period} is a draft until the period ends "
                f"({datetime.fromtimestamp(period_end, UTC):%Y-%m-%d %H:%M} UTC) and is not "
                "e-mailed; generate it without e-mail, or after the period ended"
            )
        content = render(model, fmt)
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        name = f"{_safe(client_row.name)}-{period}-{model['language']}-{stamp}.{fmt}"
        content_type = CONTENT_TYPES[fmt].split(";")[0]
        with store.write() as conn:
            if not replace:  # SQLite: a CLI run in another process may have been quicker
                existing = find(conn, client_row.id, period, fmt)
                if existing is not None:
                    return _row(existing, client_row.name, conn=conn, now=now)
            stored = artefacts.put(
                conn,
                kind="report",
                name=name,
                content_type=content_type,
                content=content,
                now=now,
                max_bytes=max_bytes,
            )
            report_id = inserted_id(
                conn.execute(
                    reports.insert().values(
                        client_id=client_row.id,
                        period=period,
                        format=fmt,
                        language=model["language"],
                        path=name,
                        artefact_id=stored.id,
                        sha256=stored.sha256,
                        bytes=stored.size,
                        generated_by=actor,
                        generated_at=now,
                        period_end=period_end,
                    )
                )
            )
            if email:
                contract = get_contract(conn, client_row.id)
                recipients = contract.contacts_for("reports") if contract is not None else []
                if recipients:
                    mail = render_notice(email_notice(model), email_voice(model))
                    notification_id = notify.queue(
                        conn,
                        kind=NOTIFY_KIND,
                        recipients=recipients,
                        subject=mail.subject,
                        body_text=mail.text,
                        body_html=mail.html,
                        now=now,
                        client_id=client_row.id,
                        attachments=[
                            {
                                "name": f"{_safe(client_row.name)}-{period}.{fmt}",
                                "content_type": content_type,
                                "artefact_id": stored.id,
                            }
                        ],
                        data={"report_id": report_id, "period": period, "sha256": stored.sha256},
                        dedupe_key=f"report:{client_row.id}:{period}",
                    )
                    if notification_id is not None:  # None: this period was queued before
                        conn.execute(
                            reports.update()
                            .where(reports.c.id == report_id)
                            .values(emailed_at=now, notification_id=notification_id)
                        )
            row = conn.execute(sa.select(reports).where(reports.c.id == report_id)).one()
            return _row(row, client_row.name, created=True, conn=conn, now=now)
