"""Helpers of the closing tests (importable): a client with a contract in a chosen language and
zone, an incident service with every contract listener, and a way to read links out of mails."""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from collector import admin
from collector.contracts.model import Contract
from collector.contracts.store import put_contract
from collector.incidents.runtime import attach_contract_listeners
from collector.incidents.service import IncidentService
from collector.schema import incident_closings, incident_events, incidents, notifications
from collector.store import Store

POINTS = {
    "allotment": 20,
    "rates": {"default": 1.2},  # points per hour
    "rounding": "15m",
    "billable_causes": ["client_error"],
}


def contract(
    client: str,
    *,
    language: str = "en",
    timezone: str = "Europe/Berlin",
    announce: str = "each",
    auto_close: str = "3d",
    email: str | None = None,
) -> Contract:
    return Contract.model_validate(
        {
            "client": client,
            "plan": {"name": "Standard"},
            "language": language,
            "calendar": {"timezone": timezone},
            "points": POINTS,
            "contacts": [
                {
                    "name": "Office manager",
                    "email": email or f"office@{client}.example",
                    "receives": ["closing"],
                },
                {"name": "Boss", "email": f"boss@{client}.example", "receives": ["reports"]},
            ],
            "closing": {"auto_close_after": auto_close, "announce_proactive": announce},
        }
    )


def give(store: Store, client: str, **kwargs: Any) -> int:
    admin.create_client(store, client)
    with store.write() as conn:
        client_id = admin.get_client(conn, client).id
        put_contract(
            conn, client_id, contract(client, **kwargs), source="test", actor="test", now=0.0
        )
    return client_id


def wired(store: Store, settings: Any) -> SimpleNamespace:
    """An IncidentService with every contract listener, and the closing service over it."""
    from collector.closing.service import ClosingService

    service = IncidentService(store)
    attach_contract_listeners(service, settings)
    return SimpleNamespace(incidents=service, closing=ClosingService(store, settings, service))


def links_in(body: str) -> dict[str, str]:
    """``{"confirm": token, "reopen": token}`` from the URLs in a closing mail."""
    found = {}
    for url in re.findall(r"https?://\S+", body):
        parts = urlsplit(url)
        action = parts.path.rsplit("/", 1)[-1]
        found[action] = parse_qs(parts.query)["token"][0]
    return found


def queued(store: Store, kind: str = "closing") -> list[Any]:
    with store.read() as conn:
        return conn.execute(
            sa.select(notifications)
            .where(notifications.c.kind == kind)
            .order_by(notifications.c.id)
        ).all()


def closing_rows(store: Store) -> list[Any]:
    with store.read() as conn:
        return conn.execute(sa.select(incident_closings).order_by(incident_closings.c.id)).all()


def incident(store: Store, key: str) -> Any:
    with store.read() as conn:
        return conn.execute(sa.select(incidents).where(incidents.c.key == key)).one()


def events(store: Store, key: str) -> list[Any]:
    with store.read() as conn:
        row = conn.execute(sa.select(incidents.c.id).where(incidents.c.key == key)).one()
        return conn.execute(
            sa.select(incident_events)
            .where(incident_events.c.incident_id == row.id)
            .order_by(incident_events.c.id)
        ).all()
