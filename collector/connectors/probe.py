"""Connector test: create and close one clearly marked test ticket.

The onboarding page's "Test" button (``collector.web.onboarding``) calls :func:`probe` with a
configured connector (or one typed into the form): it opens a ticket titled
``[Upkeep connection test]`` through the connector's normal idempotent flow, then resolves
it, within the connector's deadline. The answer names each step and, on failure, the
connector's exact error (secrets are never part of a connector error message).
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from collector.connectors.base import (
    Action,
    Connector,
    ConnectorError,
    IncidentState,
    Origin,
    Priority,
    TicketSubject,
)

TEST_TITLE = "[Upkeep connection test] please ignore: closed automatically"
TEST_DESCRIPTION = (
    "Upkeep created this ticket to check that it can open and close tickets here. "
    "It was closed right away; nothing needs to be done."
)


@dataclass
class ProbeResult:
    """What happened: each step (what, ok, detail, seconds) and the ticket it made."""

    connector: str
    ok: bool = False
    steps: list[dict[str, object]] = field(default_factory=list)
    ticket_url: str | None = None
    ticket_id: str | None = None
    error: str = ""


def probe(connector: Connector, *, client: str) -> ProbeResult:
    """Open and resolve a test ticket for ``client`` through ``connector``."""
    result = ProbeResult(connector.name)
    now = datetime.now(UTC).replace(microsecond=0)
    subject = TicketSubject(
        key=f"UPK-TEST-{secrets.token_hex(4)}",
        client=client,
        title=TEST_TITLE,
        description=TEST_DESCRIPTION,
        priority=Priority.TECHNICAL,
        state=IncidentState.OPEN,
        origin=Origin.EXTERNAL,
        opened_at=now,
        labels={"upkeep_test": "true"},
    )
    ref = None
    for action, snapshot in (
        (Action.OPEN, subject),
        (
            Action.RESOLVE,
            dataclasses.replace(
                subject,
                state=IncidentState.RESOLVED,
                resolved_at=now,
                resolution_note="Connection test finished.",
                version=2,
            ),
        ),
    ):
        started = time.monotonic()
        try:
            answer = connector.attempt(action, snapshot, ref)
        except ConnectorError as exc:
            result.error = exc.message
            result.steps.append(
                {
                    "what": str(action),
                    "ok": False,
                    "detail": exc.message,
                    "seconds": round(time.monotonic() - started, 2),
                }
            )
            return result
        except OSError as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            result.steps.append(
                {
                    "what": str(action),
                    "ok": False,
                    "detail": result.error,
                    "seconds": round(time.monotonic() - started, 2),
                }
            )
            return result
        if action is Action.OPEN:
            ref = answer
            if ref is not None:
                result.ticket_url, result.ticket_id = ref.url, ref.external_id
        detail = (
            f"ticket {ref.external_id} created"
            if action is Action.OPEN and ref
            else "ticket closed"
        )
        result.steps.append(
            {
                "what": str(action),
                "ok": True,
                "detail": detail,
                "seconds": round(time.monotonic() - started, 2),
            }
        )
    result.ok = True
    return result
