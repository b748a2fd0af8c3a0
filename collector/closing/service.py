"""Closing communication in the store (``incident_closings``); see :mod:`collector.closing`.

One row per resolution of an incident the client sees:

    due ──(closing job: composed, queued)──► awaiting ──confirm──► confirmed
     │                                        │ ──reopen───► reopened
     │                                        └─(no answer by expires_at)─► auto_closed
     ├─ announce / digest ──(queued)──► announced ──reopen──► reopened
     └─ the incident reopened before it was sent or answered ──► superseded

The incident listener (:meth:`ClosingService.on_incident`) only writes ``due`` rows; the
message is composed by the ``closing`` job ``closing_delay`` after the resolution, so the ledger's
charge is committed and a technician's closing note in the ticket system has been read back.
An answer (link, portal, or the automatic close) moves its row out of ``awaiting`` with a
conditional UPDATE and writes the incident change in the same transaction: a link works once.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import notify
from collector.closing import model, pages
from collector.closing.links import InvalidLink, closing_links
from collector.contracts.model import Contract
from collector.contracts.store import get_contract
from collector.errors import Forbidden, InvalidArgument, NotFound
from collector.incidents.resolution import Resolution, resolution_of, state_of
from collector.incidents.service import IncidentService
from collector.notices import Voice, render
from collector.notices import closing_words as words
from collector.notices.model import ClosingNotice, FixAnnouncedNotice, FixDigestNotice, FixItem
from collector.schema import clients, incident_closings
from collector.store import Store

log = logging.getLogger(__name__)

NOTIFY_KIND = "closing"
DIGEST_KIND = "closing_digest"
Action = Literal["confirm", "reopen"]


class LinkUsed(InvalidArgument):
    """A closing link whose row was answered already (or closed without an answer)."""

    code = "link_used"


@dataclass(frozen=True, slots=True)
class Answered:
    """What an answer did: the incident, its row's new state, the language to thank in."""

    key: str
    title: str
    state: str
    language: str


def _contract(conn: Connection, client_id: int) -> Contract | None:
    return get_contract(conn, client_id)


def _language(contract: Contract | None) -> str:
    return contract.language if contract is not None else "en"


def _zone(contract: Contract | None) -> str:
    return contract.calendar.timezone if contract is not None else "UTC"


def _voice(contract: Contract | None) -> Voice:
    return Voice.of(contract) if contract is not None else Voice()


def _end_of_local_day(ts: float, zone_name: str) -> float:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone_name)
    local = datetime.fromtimestamp(ts, UTC).astimezone(tz)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tz)
    return midnight.timestamp()


class ClosingService:
    """Closing messages, announcements, digests and answers over one store."""

    def __init__(self, store: Store, settings: Any, incidents: IncidentService) -> None:
        self.store = store
        self.settings = settings
        self.incidents = incidents

    # ------------------------------------------------------------------ the listener

    def on_incident(self, conn: Connection, changed: Any) -> None:
        """Incident listener: a resolution the client should hear of gets a ``due`` row; a
        reopen supersedes what was not sent or answered yet."""
        if changed.event == "reopened":
            conn.execute(
                incident_closings.update()
                .where(
                    incident_closings.c.incident_id == changed.incident_id,
                    incident_closings.c.state.in_(model.OPEN_STATES),
                )
                .values(state="superseded")
            )
            return
        if changed.event not in ("resolved", "closed"):
            return
        facts = resolution_of(conn, changed.incident_id)
        if facts is None or facts.resolved_at is None:
            return
        if changed.event == "closed" and facts.resolved_at != changed.ts:
            return  # closed after its resolution (which had its own row), not resolved by it
        seen = conn.execute(
            sa.select(incident_closings.c.id).where(
                incident_closings.c.incident_id == facts.incident_id,
                incident_closings.c.resolved_at == facts.resolved_at,
            )
        ).first()
        if seen is not None:
            return
        contract = _contract(conn, facts.client_id)
        if contract is None:
            return  # no contract, no contacts to tell
        from collector.preventive.record import reported_meanwhile

        preventive = facts.origin == "proactive" and not reported_meanwhile(
            conn,
            SimpleNamespace(
                id=facts.incident_id,
                client_id=facts.client_id,
                opened_at=facts.opened_at,
                resolved_at=facts.resolved_at,
                asset=facts.asset,
            ),
        )
        kind = model.notice_for(
            visible=facts.visible,
            preventive=preventive,
            announce_proactive=contract.closing.announce_proactive,
        )
        if kind is None:
            return
        delay = float(self.settings.closing_delay)
        due = (
            _end_of_local_day(facts.resolved_at, _zone(contract)) + delay
            if kind == "digest"
            else changed.ts + delay
        )
        conn.execute(
            incident_closings.insert().values(
                incident_id=facts.incident_id,
                client_id=facts.client_id,
                token_id=secrets.token_urlsafe(18),
                kind=kind,
                state="due",
                resolved_at=facts.resolved_at,
                due_at=due,
                created_at=changed.ts,
            )
        )

    # ------------------------------------------------------------------ the job

    def run_once(self, now: float | None = None) -> dict[str, int]:
        """One turn of the ``closing`` job: queue due messages and digests, close unanswered."""
        now = time.time() if now is None else now
        return {
            "sent": self.send_due(now),
            "digests": self.send_digests(now),
            "auto_closed": self.auto_close(now),
        }

    def send_due(self, now: float) -> int:
        with self.store.read() as conn:
            ids = [
                r
                for (r,) in conn.execute(
                    sa.select(incident_closings.c.id)
                    .where(
                        incident_closings.c.state == "due",
                        incident_closings.c.kind.in_(("closing", "announce")),
                        incident_closings.c.due_at <= now,
                    )
                    .order_by(incident_closings.c.id)
                    .limit(200)
                ).all()
            ]
        sent = 0
        for row_id in ids:
            try:
                with self.store.write() as conn:
                    sent += self._send_one(conn, row_id, now)
            except Exception:  # one broken message never stops the others
                log.exception("closing message %s could not be composed", row_id)
        return sent

    def _send_one(self, conn: Connection, row_id: int, now: float) -> int:
        row = conn.execute(
            sa.select(incident_closings).where(
                incident_closings.c.id == row_id, incident_closings.c.state == "due"
            )
        ).first()
        if row is None:
            return 0  # another replica was quicker, or it was superseded
        facts = resolution_of(conn, row.incident_id)
        contract = _contract(conn, row.client_id)
        if facts is None or contract is None or facts.state not in ("resolved", "closed"):
            conn.execute(
                incident_closings.update()
                .where(incident_closings.c.id == row_id)
                .values(state="superseded")
            )
            return 0
        expires = now + contract.closing.auto_close_after
        notice = self.notice(conn, facts, contract, row.kind, row.token_id, now, expires)
        mail = render(notice, Voice.of(contract))
        recipients = contract.contacts_for("closing")
        notification_id = None
        if recipients:
            notification_id = notify.queue(
                conn,
                kind=NOTIFY_KIND,
                recipients=recipients,
                subject=mail.subject,
                body_text=mail.text,
                body_html=mail.html,
                now=now,
                client_id=row.client_id,
                data={"incident": facts.key, "closing_id": row.id, "kind": row.kind},
                dedupe_key=f"closing:{row.id}",
            )
        state = "awaiting" if row.kind == "closing" else "announced"
        done = conn.execute(
            incident_closings.update()
            .where(incident_closings.c.id == row_id, incident_closings.c.state == "due")
            .values(state=state, sent_at=now, expires_at=expires, notification_id=notification_id)
        ).rowcount
        if done != 1:
            return 0
        self.incidents.record(
            conn,
            row.incident_id,
            "closing_sent" if row.kind == "closing" else "fix_announced",
            {
                "to": ", ".join(recipients)
                or "nobody (no contact receives closing notices; the portal can answer)",
                "language": contract.language,
                "closes_without_answer_at": (
                    Voice("en", _zone(contract), "en").human.datetime(expires)
                    if row.kind == "closing"
                    else None
                ),
            },
            now,
        )
        return 1

    def notice(
        self,
        conn: Connection,
        facts: Resolution,
        contract: Contract,
        kind: str,
        token_id: str,
        now: float,
        expires: float,
    ) -> ClosingNotice | FixAnnouncedNotice:
        """The closing message (``kind`` closing) or the announcement of one proactive fix."""
        from collector.ledger.service import incident_points

        links = closing_links(self.settings, max(1.0, expires - now))
        points = incident_points(conn, facts.incident_id, now)
        common: dict[str, Any] = {
            "client": facts.client,
            "incident": facts.key,
            "title": facts.title_in(contract.language, Voice.of(contract).human),
            "asset": facts.asset,
            "opened_at": facts.opened_at,
            "resolved_at": facts.resolved_at or now,
            "note": _client_note(facts),
            "cleared": facts.automatic_note,
            "minutes": facts.minutes,
            "points_enabled": points is not None,
            "charged_centipoints": points[0] if points else 0,
            "balance_centipoints": points[1] if points else None,
            "reopen_url": links.url(token_id, "reopen", now),
        }
        if kind == "announce":
            return FixAnnouncedNotice(**common)
        return ClosingNotice(
            **common,
            reported=facts.origin == "user_reported",
            confirm_url=links.url(token_id, "confirm", now),
            closes_at=expires,
        )

    def send_digests(self, now: float) -> int:
        with self.store.read() as conn:
            rows = conn.execute(
                sa.select(incident_closings)
                .where(
                    incident_closings.c.state == "due",
                    incident_closings.c.kind == "digest",
                    incident_closings.c.due_at <= now,
                )
                .order_by(incident_closings.c.client_id, incident_closings.c.resolved_at)
            ).all()
        by_client: dict[int, list[Any]] = {}
        for r in rows:
            by_client.setdefault(r.client_id, []).append(r)
        sent = 0
        for client_id, items in by_client.items():
            try:
                with self.store.write() as conn:
                    sent += self._send_digest(conn, client_id, [r.id for r in items], now)
            except Exception:
                log.exception("closing digest of client %s could not be composed", client_id)
        return sent

    def _send_digest(self, conn: Connection, client_id: int, ids: list[int], now: float) -> int:
        from collector.ledger.service import balance, points_policy

        contract = _contract(conn, client_id)
        rows = conn.execute(
            sa.select(incident_closings)
            .where(incident_closings.c.id.in_(ids), incident_closings.c.state == "due")
            .order_by(incident_closings.c.resolved_at)
        ).all()
        if contract is None or not rows:
            return 0
        human = Voice.of(contract).human
        by_day: dict[str, list[Any]] = {}
        for r in rows:
            by_day.setdefault(human.local(r.resolved_at).date().isoformat(), []).append(r)
        recipients = contract.contacts_for("closing")
        from collector.ledger.service import incident_points

        points_on = points_policy(conn, client_id) is not None
        count = 0
        for day, day_rows in by_day.items():
            items = []
            for r in day_rows:
                facts = resolution_of(conn, r.incident_id)
                if facts is None:
                    continue
                cost = incident_points(conn, r.incident_id, now)
                items.append(
                    FixItem(
                        incident=facts.key,
                        title=facts.title_in(contract.language, human),
                        asset=facts.asset,
                        resolved_at=facts.resolved_at or r.resolved_at,
                        note=_client_note(facts),
                        cleared=facts.automatic_note,
                        charged_centipoints=cost[0] if cost else 0,
                    )
                )
            mail = render(
                FixDigestNotice(
                    client=contract.client,
                    day=day_rows[0].resolved_at,
                    items=tuple(items),
                    points_enabled=points_on,
                    balance_centipoints=balance(conn, client_id) if points_on else None,
                ),
                Voice.of(contract),
            )
            notification_id = None
            if recipients and items:
                notification_id = notify.queue(
                    conn,
                    kind=DIGEST_KIND,
                    recipients=recipients,
                    subject=mail.subject,
                    body_text=mail.text,
                    body_html=mail.html,
                    now=now,
                    client_id=client_id,
                    data={"incidents": [i.incident for i in items], "day": day},
                    dedupe_key=f"closing-digest:{client_id}:{day_rows[0].id}",
                )
            conn.execute(
                incident_closings.update()
                .where(
                    incident_closings.c.id.in_([r.id for r in day_rows]),
                    incident_closings.c.state == "due",
                )
                .values(
                    state="announced",
                    sent_at=now,
                    expires_at=now + contract.closing.auto_close_after,
                    notification_id=notification_id,
                )
            )
            count += 1
        return count

    def auto_close(self, now: float) -> int:
        with self.store.read() as conn:
            ids = [
                r
                for (r,) in conn.execute(
                    sa.select(incident_closings.c.id).where(
                        incident_closings.c.state == "awaiting",
                        incident_closings.c.expires_at <= now,
                    )
                ).all()
            ]
        closed = 0
        for row_id in ids:
            with self.store.write() as conn:
                row = self._take(conn, row_id, "auto_closed", now, by="upkeep", via="auto")
                if row is None:
                    continue
                self.incidents.client_answer(
                    conn, row.incident_id, "auto_closed", "upkeep", now, via="auto"
                )
                closed += 1
        return closed

    # ------------------------------------------------------------------ answers

    def _take(
        self,
        conn: Connection,
        row_id: int,
        state: str,
        now: float,
        *,
        by: str,
        via: str,
        rating: int | None = None,
        comment: str | None = None,
        allowed: tuple[str, ...] = ("awaiting",),
    ) -> Any | None:
        """Move row ``row_id`` out of an open state (conditional: the first answer wins)."""
        done = conn.execute(
            incident_closings.update()
            .where(incident_closings.c.id == row_id, incident_closings.c.state.in_(allowed))
            .values(
                state=state,
                answered_at=now,
                answered_by=by[:200],
                answered_via=via,
                rating=rating,
                comment=comment,
            )
        ).rowcount
        if done != 1:
            return None
        return conn.execute(
            sa.select(incident_closings).where(incident_closings.c.id == row_id)
        ).one()

    @staticmethod
    def _answerable(kind: str, action: str) -> tuple[str, ...]:
        """The row states in which ``action`` may answer a row of ``kind``."""
        if kind == "closing":
            return ("awaiting",)
        return ("announced",) if action == "reopen" else ()

    def _link_row(self, conn: Connection, token: str, action: str, now: float) -> Any:
        links = closing_links(self.settings, 1.0)
        token_id = links.verify(token, action, now)
        row = conn.execute(
            sa.select(incident_closings).where(incident_closings.c.token_id == token_id)
        ).first()
        if row is None:
            raise InvalidLink("this link is not valid (it was changed or is incomplete)")
        return row

    def language_of_token(self, token: str) -> str:
        """The contract language of a token signed here, expired or not (for refusal pages)."""
        try:
            with self.store.read() as conn:
                for action in ("confirm", "reopen"):
                    try:
                        row = self._link_row(conn, token, action, 0.0)
                    except InvalidLink:
                        continue
                    return _language(_contract(conn, row.client_id))
        except Exception:  # any doubt: English
            log.debug("no language for a refused closing link", exc_info=True)
        return "en"

    def check_link(self, token: str, action: str, now: float | None = None) -> dict[str, Any]:
        """What a link's page shows (nothing changes on GET: mail scanners follow links)."""
        now = time.time() if now is None else now
        with self.store.read() as conn:
            row = self._link_row(conn, token, action, now)
            return self._page_facts(conn, row, action)

    def _page_facts(self, conn: Connection, row: Any, action: str) -> dict[str, Any]:
        contract = _contract(conn, row.client_id)
        facts = resolution_of(conn, row.incident_id)
        assert facts is not None
        human = _voice(contract).human
        return {
            "key": facts.key,
            "title": facts.title_in(_language(contract), human),
            "language": _language(contract),
            "zone": _zone(contract),
            "resolved": human.datetime(facts.resolved_at),
            "note": _client_note(facts),
            "cleared": facts.automatic_note,
            "open": row.state in self._answerable(row.kind, action),
            "state": row.state,
            "answered": human.datetime(row.answered_at) if row.answered_at else None,
            "action": action,
            "kind": row.kind,
        }

    def answer_by_link(
        self,
        token: str,
        action: Action,
        *,
        rating: int | None = None,
        comment: str | None = None,
        now: float | None = None,
    ) -> Answered:
        now = time.time() if now is None else now
        rating = _rating(rating)
        with self.store.write() as conn:
            row = self._link_row(conn, token, action, now)
            return self._answer(conn, row, action, rating, comment, now, by="client", via="link")

    def answer_in_portal(
        self,
        scope: Any,
        user: Any,
        key: str,
        action: Action,
        *,
        rating: int | None = None,
        comment: str | None = None,
        now: float | None = None,
    ) -> Answered:
        """A client viewer's answer in the portal: the newest open row of incident ``key``,
        looked up through the viewer's scope (another client's incident does not exist)."""
        if user.role != "client_viewer":
            raise Forbidden("only the client's own users confirm or reopen their incidents here")
        now = time.time() if now is None else now
        rating = _rating(rating)
        with self.store.write() as conn:
            row = self.portal_row(conn, scope, key)
            if row is None:
                raise InvalidArgument(f"{key} has no closing message waiting for an answer")
            return self._answer(
                conn, row, action, rating, comment, now, by=user.username, via="portal"
            )

    def portal_row(self, conn: Connection, scope: Any, key: str) -> Any | None:
        """The newest closing row of incident ``key`` in ``scope`` (NotFound outside it)."""
        from collector.schema import incidents

        incident = conn.execute(
            sa.select(incidents.c.id, incidents.c.client_id).where(incidents.c.key == key)
        ).first()
        if incident is None:
            raise NotFound(f"no incident {key!r}")
        scope.check(incident.client_id, f"incident {key!r}")
        return conn.execute(
            sa.select(incident_closings)
            .where(
                incident_closings.c.incident_id == incident.id,
                incident_closings.c.client_id == incident.client_id,
                incident_closings.c.state != "due",
            )
            .order_by(incident_closings.c.id.desc())
            .limit(1)
        ).first()

    def _answer(
        self,
        conn: Connection,
        row: Any,
        action: str,
        rating: int | None,
        comment: str | None,
        now: float,
        *,
        by: str,
        via: str,
    ) -> Answered:
        allowed = self._answerable(row.kind, action)
        comment = (comment or "").strip()[:4000] or None
        state: Literal["confirmed", "reopened"] = "confirmed" if action == "confirm" else "reopened"
        contract = _contract(conn, row.client_id)
        language = _language(contract)
        if (
            not allowed
            or self._take(
                conn,
                row.id,
                state,
                now,
                by=by,
                via=via,
                rating=rating,
                comment=comment,
                allowed=allowed,
            )
            is None
        ):
            current = conn.execute(
                sa.select(incident_closings).where(incident_closings.c.id == row.id)
            ).one()
            human = _voice(contract).human
            raise LinkUsed(
                pages.gettext(language, words.USED)
                + " "
                + (
                    pages.gettext(
                        language, words.ANSWERED_ON, when=human.datetime(current.answered_at)
                    )
                    if current.answered_at
                    else pages.gettext(language, words.NOTHING_LEFT)
                )
            )
        self.incidents.client_answer(
            conn, row.incident_id, state, by, now, via=via, rating=rating, comment=comment
        )
        found = state_of(conn, row.incident_id)
        facts = resolution_of(conn, row.incident_id)
        title = facts.title_in(language, _voice(contract).human) if facts else found.key
        return Answered(found.key, title, state, language)

    # ------------------------------------------------------------------ reads

    def list(self, *, client: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Closing rows newest first, with the answers and ratings (staff API)."""
        from collector.schema import incidents

        query = (
            sa.select(
                incident_closings,
                incidents.c.key.label("incident"),
                clients.c.name.label("client"),
            )
            .join(incidents, incidents.c.id == incident_closings.c.incident_id)
            .join(clients, clients.c.id == incident_closings.c.client_id)
            .order_by(incident_closings.c.id.desc())
            .limit(limit)
        )
        if client is not None:
            query = query.where(clients.c.name == client)
        with self.store.read() as conn:
            return [
                {
                    "id": r.id,
                    "incident": r.incident,
                    "client": r.client,
                    "kind": r.kind,
                    "state": r.state,
                    "resolved_at": r.resolved_at,
                    "sent_at": r.sent_at,
                    "expires_at": r.expires_at,
                    "answered_at": r.answered_at,
                    "answered_by": r.answered_by,
                    "answered_via": r.answered_via,
                    "rating": r.rating,
                    "comment": r.comment,
                }
                for r in conn.execute(query).all()
            ]


def _client_note(facts: Resolution) -> str | None:
    """The resolution note as the client reads it: a person's words; not Upkeep's own note of
    an alert clearing (raw values and UTC times; the message says it in words instead)."""
    if facts.automatic_note:
        return None
    return (facts.note or "").strip() or None


def _rating(value: int | None) -> int | None:
    try:
        return model.valid_rating(value)
    except ValueError as exc:
        raise InvalidArgument(f"rating: {exc}") from None
