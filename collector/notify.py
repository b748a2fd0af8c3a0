"""Client-facing notifications: a second transactional outbox (``notifications``).

Low-balance notices, approval requests, SLA notices to the client's contacts and monthly
reports are queued with :func:`queue` inside the transaction that decided them, and sent by
the notification workers after commit, so a mail server that is down never loses a notice and
never blocks the decision: a transient failure is retried (capped exponential backoff) until the
notice has been failing for ``notify_max_age``, then it is dead-lettered (state ``dead``, kept,
listed, counted by ``upkeep_notifications{state="dead"}``) like a permanent failure; :func:`retry`
sends dead notices again. Notices are independent messages (no thread, no order to keep).
"""

from __future__ import annotations

import logging
import mimetypes
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection

from agent.durations import format_duration
from collector.delivery import CommitWakers, WorkerWakeup, idle_wait, revive_dead
from collector.schema import notifications
from collector.store import inserted_id

PENDING, IN_FLIGHT, DONE, DEAD = "pending", "in_flight", "done", "dead"


def queue(
    conn: Connection,
    *,
    kind: str,
    recipients: Sequence[str],
    subject: str,
    body_text: str,
    now: float,
    client_id: int | None = None,
    body_html: str | None = None,
    attachments: Sequence[Mapping[str, Any]] = (),
    data: Mapping[str, Any] | None = None,
    dedupe_key: str | None = None,
) -> int | None:
    """Queue one notification; returns its id, or None when ``dedupe_key`` was queued before.

    ``attachments``: ``{"name", "content_type", "artefact_id"}`` of files stored in the database
    (:mod:`collector.artefacts`), or ``{"name", "content_type", "path"}`` of files that exist
    when it is sent.
    """
    if (
        dedupe_key is not None
        and conn.execute(
            sa.select(notifications.c.id).where(notifications.c.dedupe_key == dedupe_key)
        ).first()
    ):
        return None
    result = conn.execute(
        notifications.insert().values(
            client_id=client_id,
            kind=kind,
            dedupe_key=dedupe_key,
            recipients=list(recipients),
            subject=subject,
            body_text=body_text,
            body_html=body_html,
            attachments=[dict(a) for a in attachments],
            data=dict(data or {}),
            state=PENDING,
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
    )
    new_id = inserted_id(result)
    _wakers.after_commit(conn)
    return new_id


# --------------------------------------------------------------------------- delivery
#
# Workers claim due rows with a conditional UPDATE and check the row count (like
# collector.incidents.outbox). The claim increments ``attempts``; a worker finishes only
# the row it holds at that attempt number, so a row re-claimed after its lease expired is
# finished by its new holder alone.

log = logging.getLogger(__name__)

#: Sends one message; raises ConnectorError (permanent or not).
Mailer = Callable[[EmailMessage], None]

_wakers = CommitWakers("upkeep_notify_wake")


def smtp_mailer(settings: Any) -> Mailer | None:
    """The SMTP sender of ``settings.notify_email`` (the e-mail connector's send code), or None."""
    config = settings.notify_email
    if config is None:
        return None
    from collector.connectors.email import EmailConfig, EmailConnector

    try:
        email_config = EmailConfig(
            host=config.host,
            port=config.port,
            security=config.security,
            username=config.username,
            password_file=str(config.password_file) if config.password_file else None,
            ca_file=str(config.ca_file) if config.ca_file else None,
            from_address=config.from_address,
            timeout=config.timeout,
        )
    except ValidationError as exc:  # e.g. an unreadable password file: the collector still runs
        log.error(
            "notify_email unusable, client notifications stay pending: %s",
            "; ".join(e["msg"] for e in exc.errors(include_input=False, include_url=False)),
        )
        return None
    return EmailConnector("notify", email_config).send


def message_of(
    row: Any, from_address: str, read_artefact: Callable[[int], bytes] | None = None
) -> EmailMessage:
    """The mail for a notification row. Attachments are read now: ``artefact_id`` from the
    database (``read_artefact``; any replica can send it), ``path`` from a file."""
    from collector.connectors import ConnectorError

    msg = EmailMessage()
    msg["Subject"] = row.subject
    msg["From"] = from_address
    msg["To"] = ", ".join(row.recipients)
    msg["Date"] = format_datetime(datetime.now(UTC))
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "upkeep.invalid"
    msg["Message-ID"] = (
        f"<upkeep-notification-{row.id}@{domain}>"  # a retry is recognisably the same mail
    )
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Upkeep-Notification"] = row.kind
    msg.set_content(row.body_text)
    if row.body_html:
        msg.add_alternative(row.body_html, subtype="html")
    for attachment in row.attachments or []:
        if attachment.get("artefact_id") is not None and read_artefact is not None:
            name = attachment.get("name") or f"attachment-{attachment['artefact_id']}"
            try:
                content = read_artefact(int(attachment["artefact_id"]))
            except Exception as exc:  # gone or damaged: say so, and do not retry forever
                raise ConnectorError(
                    f"attachment {name}: cannot read stored file {attachment['artefact_id']}: {exc}",
                    permanent=True,
                ) from None
            ctype = (
                attachment.get("content_type")
                or mimetypes.guess_type(name)[0]
                or "application/octet-stream"
            )
            maintype, _, subtype = ctype.partition("/")
            msg.add_attachment(
                content, maintype=maintype, subtype=subtype or "octet-stream", filename=name
            )
            continue
        path = Path(attachment["path"])
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ConnectorError(
                f"attachment {attachment.get('name') or path.name}: cannot read {path}: "
                f"{exc.strerror or exc}",
                permanent=True,
            ) from None
        ctype = (
            attachment.get("content_type")
            or mimetypes.guess_type(path.name)[0]
            or "application/octet-stream"
        )
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(
            content,
            maintype=maintype,
            subtype=subtype or "octet-stream",
            filename=attachment.get("name") or path.name,
        )
    return msg


def _due(now: float) -> Any:
    return sa.or_(
        sa.and_(notifications.c.state == PENDING, notifications.c.next_attempt_at <= now),
        sa.and_(notifications.c.state == IN_FLIGHT, notifications.c.claimed_until < now),
    )


def claim(store: Any, now: float, lease: float) -> Any | None:
    """Claim the oldest due notification (conditional UPDATE; the row count says who won)."""
    query = sa.select(notifications.c.id).where(_due(now)).order_by(notifications.c.id).limit(8)
    with store.write() as conn:
        if not store.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        for (row_id,) in conn.execute(query).all():
            won = conn.execute(
                notifications.update()
                .where(notifications.c.id == row_id, _due(now))
                .values(
                    state=IN_FLIGHT,
                    claimed_until=now + lease,
                    attempts=notifications.c.attempts + 1,
                )
            ).rowcount
            if won == 1:
                return conn.execute(
                    sa.select(notifications).where(notifications.c.id == row_id)
                ).one()
    return None


class NotifyWorkers:
    """Threads that send queued notifications. :meth:`start` / :meth:`stop`; :meth:`run_once`
    delivers one (tests, and the CLI). Without ``notify_email`` nothing is sent: rows stay
    pending, visible, until it is configured."""

    def __init__(
        self,
        store: Any,
        settings: Any,
        mailer: Mailer | None = None,
        from_address: str | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.mailer = mailer if mailer is not None else smtp_mailer(settings)
        configured = (
            settings.notify_email.from_address if settings.notify_email is not None else None
        )
        self.from_address = from_address or configured or "upkeep@localhost"
        self._stop = threading.Event()
        self._wakeup = WorkerWakeup()
        self._threads: list[threading.Thread] = []
        self._id = f"{socket.gethostname()}:{os.getpid()}"

    def start(self) -> None:
        if self._threads or self.mailer is None:
            return
        self._stop.clear()
        _wakers.add(self.wake)
        for n in range(self.settings.notify_workers):
            thread = threading.Thread(target=self._loop, name=f"notify-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        _wakers.remove(self.wake)
        self.wake()
        for thread in self._threads:
            thread.join(timeout)
        self._threads = []

    def wake(self) -> None:
        self._wakeup.wake()

    def _read_artefact(self, artefact_id: int) -> bytes:
        from collector.artefacts import read

        return read(self.store, artefact_id)

    def _loop(self) -> None:
        self._wakeup.run(
            self._stop,
            self.run_once,
            lambda: idle_wait(self.store, notifications),
            "notification worker",
        )

    def run_once(self) -> bool:
        """Claim and send one due notification; False when nothing is due (or no mailer)."""
        if self.mailer is None:
            return False
        row = claim(self.store, time.time(), self.settings.notify_claim_timeout)
        if row is None:
            return False
        self.deliver(row)
        return True

    def deliver(self, row: Any) -> None:
        from collector.connectors import ConnectorError
        from collector.delivery import backoff

        assert self.mailer is not None
        try:
            if not row.recipients:
                raise ConnectorError("no recipients", permanent=True)
            self.mailer(message_of(row, self.from_address, self._read_artefact))
        except ConnectorError as exc:
            message, permanent = exc.message, exc.permanent
        except Exception as exc:  # unexpected: retry, bounded
            log.exception("notification %s (%s) failed unexpectedly", row.id, row.kind)
            message, permanent = f"{type(exc).__name__}: {exc}", False
        else:
            self._finish(row, DONE, None, sent_at=time.time(), first_failed_at=None)
            return
        now = time.time()
        failing_since = row.first_failed_at if row.first_failed_at is not None else now
        if permanent or now - failing_since >= self.settings.notify_max_age:
            why = (
                "permanent error"
                if permanent
                else f"failing for {format_duration(now - failing_since)}, {row.attempts} attempts"
            )
            log.error(
                "notification %s (%s) to %s failed (%s): %s",
                row.id,
                row.kind,
                ", ".join(row.recipients),
                why,
                message,
            )
            self._finish(row, DEAD, f"{why}: {message}", first_failed_at=failing_since)
            return
        delay = backoff(
            row.attempts, self.settings.notify_retry_base, self.settings.notify_retry_max
        )
        log.warning(
            "notification %s (%s) failed (attempt %d, retry in %.1fs): %s",
            row.id,
            row.kind,
            row.attempts,
            delay,
            message,
        )
        self._finish(
            row,
            PENDING,
            message,
            next_attempt_at=time.time() + delay,
            first_failed_at=failing_since,
        )

    def _finish(self, row: Any, state: str, error: str | None, **values: Any) -> bool:
        with self.store.write() as conn:
            return (
                conn.execute(
                    notifications.update()
                    .where(
                        notifications.c.id == row.id,
                        notifications.c.state == IN_FLIGHT,
                        notifications.c.attempts == row.attempts,
                    )
                    .values(
                        state=state,
                        claimed_until=None,
                        last_error=None if error is None else error[:2000],
                        **values,
                    )
                ).rowcount
                == 1
            )


def retry(conn: Connection, ids: list[int] | None, now: float) -> list[int]:
    """Send dead notices again (``ids``, or all when None): pending, due now, fresh attempts and
    age. Returns the ids revived (a notice that is not dead is left alone)."""
    revived = revive_dead(conn, notifications, ids, now, DEAD, PENDING)
    if revived:
        _wakers.after_commit(conn)
    return revived


def backlog(conn: Connection) -> dict[str, int]:
    """Notifications by state (pending, in_flight, dead, done)."""
    return {
        state: int(count)
        for state, count in conn.execute(
            sa.select(notifications.c.state, sa.func.count()).group_by(notifications.c.state)
        ).all()
    }


def list_notifications(
    conn: Connection, *, state: str | None = None, client_id: int | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    """Notifications newest first (what was sent, what waits, what failed and why)."""
    query = sa.select(notifications).order_by(notifications.c.id.desc()).limit(limit)
    if state is not None:
        query = query.where(notifications.c.state == state)
    if client_id is not None:
        query = query.where(notifications.c.client_id == client_id)
    return [
        {
            "id": r.id,
            "client_id": r.client_id,
            "kind": r.kind,
            "recipients": list(r.recipients),
            "subject": r.subject,
            "state": r.state,
            "attempts": r.attempts,
            "last_error": r.last_error,
            "created_at": r.created_at,
            "next_attempt_at": r.next_attempt_at,
            "sent_at": r.sent_at,
        }
        for r in conn.execute(query).all()
    ]


class NotificationBacklog:
    """``upkeep_notifications{state}``: client notifications not yet sent, and failed, at scrape time."""

    def __init__(self, store: Any, settings: Any, **_: Any) -> None:
        self.store = store

    def collect(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        family = GaugeMetricFamily(
            "upkeep_notifications",
            "Client notifications by state (not sent yet, or failed).",
            labels=["state"],
        )
        with self.store.read() as conn:
            counts = backlog(conn)
        for state in (PENDING, IN_FLIGHT, DEAD):
            family.add_metric([state], counts.get(state, 0))
        yield family
