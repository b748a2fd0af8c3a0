"""What an incident listener hears: :class:`IncidentChanged`, after every incident event,
inside the same transaction. A listener reads it (and the incident) and writes its own
tables only; the incident itself is written once, complete, by
:class:`collector.incidents.service.IncidentService`.

Its own module so that the writers of events outside the service (the ticket time mirror)
and the listeners can name it without importing the service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection


@dataclass(frozen=True, slots=True)
class IncidentChanged:
    """What a listener hears after every incident event (inside the same transaction)."""

    incident_id: int
    key: str
    client_id: int
    event: str  # opened, acknowledged, resolved, priority_changed, waiting, …
    data: dict[str, Any]
    actor: str
    ts: float


#: A listener: (conn, change) → None. SLA clocks, the ledger and the preventive-work record.
IncidentListener = Callable[[Connection, IncidentChanged], None]
