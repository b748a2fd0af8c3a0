"""What the report archive says about a report, true at the moment it is read: whether its
e-mail was accepted by the mail server (from the notification that carries it), and whether it
is a draft that client viewers do not see. Light: no rendering imports (the web UI uses it)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import notify
from collector.schema import notifications, reports

#: Why a queued report mail has not gone yet when the notification says nothing more.
WAITING = "waiting to be sent (no mail server accepted it yet)"


def mail_state(conn: Connection, r: Any) -> tuple[str, str | None, float | None]:
    """(state, reason, accepted at) of a ``reports`` row's e-mail, from its notification:
    ``emailed`` only once the mail server accepted it; ``pending`` (with the last error of a
    retry, if any) while it waits; ``failed`` with the reason when it was given up."""
    if r.emailed_at is None and r.notification_id is None:
        return "not_emailed", None, None
    query = sa.select(notifications.c.state, notifications.c.last_error, notifications.c.sent_at)
    if r.notification_id is not None:
        query = query.where(notifications.c.id == r.notification_id)
    else:  # queued before 0015: found by its dedupe key
        query = query.where(notifications.c.dedupe_key == f"report:{r.client_id}:{r.period}")
    found = conn.execute(query).first()
    if found is None:
        return "failed", "its notification is gone (purged or never queued)", None
    if found.state == notify.DONE:
        return "emailed", None, found.sent_at
    if found.state == notify.DEAD:
        return "failed", found.last_error or "given up", None
    return "pending", found.last_error or WAITING, None


def is_draft(r: Any, now: float) -> bool:
    """A report of a period that had not ended when it was generated, not published, and whose
    period is still running at ``now``."""
    return r.period_end is not None and r.published_at is None and now < r.period_end


def visible_to_clients(now: float) -> Any:
    """The SQL filter of ``reports`` rows a client viewer may see (drafts are not)."""
    return sa.or_(
        reports.c.period_end.is_(None),
        reports.c.published_at.is_not(None),
        reports.c.period_end <= now,
    )
