"""Client-facing notifications: a second transactional outbox (``notifications``).

Low-balance notices, approval requests, SLA notices to the client's contacts and monthly
reports are queued with :func:`queue` inside the transaction that decided them, and sent by
the notification workers after commit (bounded retries, failures visible), so a mail server
that is down never loses a notice and never blocks the decision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.schema import notifications

PENDING, IN_FLIGHT, DONE, FAILED = "pending", "in_flight", "done", "failed"


def queue(conn: Connection, *, kind: str, recipients: Sequence[str], subject: str, body_text: str,
          now: float, client_id: int | None = None, body_html: str | None = None,
          attachments: Sequence[Mapping[str, Any]] = (), data: Mapping[str, Any] | None = None,
          dedupe_key: str | None = None) -> int | None:
    """Queue one notification; returns its id, or None when ``dedupe_key`` was queued before.

    ``attachments``: ``{"name", "content_type", "path"}`` of files that exist when it is sent.
    """
    if dedupe_key is not None and conn.execute(
            sa.select(notifications.c.id).where(notifications.c.dedupe_key == dedupe_key)).first():
        return None
    return conn.execute(notifications.insert().values(
        client_id=client_id, kind=kind, dedupe_key=dedupe_key, recipients=list(recipients), subject=subject,
        body_text=body_text, body_html=body_html, attachments=[dict(a) for a in attachments],
        data=dict(data or {}), state=PENDING, attempts=0, next_attempt_at=now, created_at=now,
    )).inserted_primary_key[0]
