"""The ledger as the collector, the API and the CLI use it: by client name and request key,
each call one transaction on the store; plus the incident listener (the period task is the ``ledger-periods`` job)."""

from __future__ import annotations

import logging
from functools import cached_property
from typing import Any

from sqlalchemy.engine import Connection

from collector import admin, timeutil
from collector.ledger import entries, read, requests, service
from collector.ledger.links import ApprovalLinks, links_from_settings
from collector.store import Store

log = logging.getLogger(__name__)


class Ledger:
    """Points ledger and service requests over one store (``settings`` for the approval links)."""

    def __init__(self, store: Store, settings: Any, *, links: ApprovalLinks | None = None) -> None:
        self.store = store
        self.settings = settings
        self._links = links

    @cached_property
    def links(self) -> ApprovalLinks:
        # Made on first use: a collector that never sends an approval needs no secret file.
        return self._links or links_from_settings(self.settings)

    # ------------------------------------------------------------------ lifecycle

    def on_incident_changed(self, conn: Connection, changed: Any) -> None:
        """Incident listener: (re)settle the incident's charge when it is resolved, closed or
        its charge is overridden (inside the incident's transaction)."""
        if changed.event in service.SETTLING_EVENTS:
            service.settle_incident(
                conn, changed.incident_id, changed.ts, changed.actor, links=_LazyLinks(self)
            )

    # ------------------------------------------------------------------ ledger

    def _client_id(self, conn: Connection, client: str) -> int:
        return admin.get_client(conn, client).id

    def statement(self, client: str, period: str | None = None) -> dict[str, Any]:
        with self.store.write() as conn:
            result = read.statement(conn, self._client_id(conn, client), period, now=timeutil.now())
        if result is None:
            from collector.errors import NotFound

            raise NotFound(f"client {client!r} has no points ledger (no points in its contract)")
        return result.as_json()

    def topup(self, client: str, centipoints: int, *, by: str, reason: str) -> int:
        with self.store.write() as conn:
            return entries.topup(
                conn,
                self._client_id(conn, client),
                centipoints,
                actor=by,
                reason=reason,
                now=timeutil.now(),
            )

    def adjust(self, client: str, centipoints: int, *, by: str, reason: str) -> int:
        with self.store.write() as conn:
            return entries.adjust(
                conn,
                self._client_id(conn, client),
                centipoints,
                actor=by,
                reason=reason,
                now=timeutil.now(),
            )

    def notifications(
        self, *, state: str | None = None, client: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        from collector import notify

        with self.store.read() as conn:
            client_id = self._client_id(conn, client) if client is not None else None
            return notify.list_notifications(conn, state=state, client_id=client_id, limit=limit)

    # ------------------------------------------------------------------ requests

    def create_request(
        self,
        *,
        client: str,
        title: str,
        requested_by: str,
        standard: bool,
        actor: str,
        description: str = "",
        work_type: str | None = None,
        estimate_minutes: int | None = None,
    ) -> dict[str, Any]:
        links = None if standard else self.links
        with self.store.write() as conn:
            key = requests.create(
                conn,
                client_id=self._client_id(conn, client),
                title=title,
                description=description,
                requested_by=requested_by,
                standard=standard,
                work_type=work_type,
                estimate_minutes=estimate_minutes,
                now=timeutil.now(),
                actor=actor,
                links=links,
            )
            return requests.get(conn, key)

    def get_request(self, key: str) -> dict[str, Any]:
        with self.store.read() as conn:
            return requests.get(conn, key)

    def list_requests(
        self, *, client: str | None = None, state: str | None = None
    ) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            client_id = self._client_id(conn, client) if client is not None else None
            return requests.list_requests(conn, client_id=client_id, state=state)

    def approve(
        self, key: str, *, by: str, via: str, cap: int | None = None, note: str | None = None
    ) -> dict[str, Any]:
        with self.store.write() as conn:
            return requests.approve(
                conn, key, actor=by, via=via, now=timeutil.now(), cap=cap, note=note
            )

    def reject(self, key: str, *, by: str, via: str, note: str | None = None) -> dict[str, Any]:
        with self.store.write() as conn:
            return requests.reject(conn, key, actor=by, via=via, now=timeutil.now(), note=note)

    def decide_by_link(self, token: str, action: str, *, by: str | None = None) -> dict[str, Any]:
        """An approve/reject link was confirmed (``via="email"``); raises InvalidLink."""
        now = timeutil.now()
        key = self.links.verify(token, action, now)
        with self.store.write() as conn:
            row = requests.get(conn, key)
            who = by or f"{row['client']} (e-mail link)"
            if action == "approve":
                return requests.approve(conn, key, actor=who, via="email", now=now)
            return requests.reject(conn, key, actor=who, via="email", now=now)

    def check_link(self, token: str, action: str) -> dict[str, Any]:
        """The request a link is for (verifies it; no decision)."""
        key = self.links.verify(token, action, timeutil.now())
        return self.get_request(key)

    def start_request(self, key: str, *, by: str) -> dict[str, Any]:
        with self.store.write() as conn:
            return requests.start(conn, key, actor=by, now=timeutil.now())

    def log_time(
        self, key: str, *, by: str, minutes: int, work_type: str | None = None, note: str = ""
    ) -> dict[str, Any]:
        with self.store.write() as conn:
            requests.log_time(
                conn,
                key,
                actor=by,
                minutes=minutes,
                work_type=work_type,
                note=note,
                now=timeutil.now(),
            )
            return requests.get(conn, key)

    def complete(self, key: str, *, by: str) -> dict[str, Any]:
        with self.store.write() as conn:
            return requests.complete(conn, key, actor=by, now=timeutil.now())


class _LazyLinks:
    """The ledger's links, loaded (secret file made) only when a mail needs one."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def url(self, key: str, action: str, now: float) -> str:
        return self._ledger.links.url(key, action, now)
