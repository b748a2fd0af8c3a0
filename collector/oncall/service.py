"""On-call in a running collector: the configuration, overrides in the store, the escalation
climb (an incident listener starts and stops it; the ``oncall-escalate`` job pages the steps
that are due), the single-use page links and the Telegram buttons.

The pure decisions are elsewhere (:mod:`collector.oncall.schedule` who is on call,
:mod:`collector.oncall.escalation` which step is due); this module reads the facts, writes
the pages (``oncall_pages``, an outbox row per contact, a ``paged`` event on the incident)
and moves the climb on with a conditional UPDATE, all in one transaction: a step that is
paged is recorded as paged, on whichever replica and after whichever restart.
"""

from __future__ import annotations

import hmac
import logging
import math
from collections.abc import Sequence
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from agent.yamlsource import ConfigError
from collector import timeutil
from collector.connectors.base import ConnectorError, secret
from collector.connectors.paging import PREFIX, Page, PagingConnector, build_channels
from collector.errors import Forbidden, InvalidArgument, NotFound
from collector.incidents.outbox import enqueue_page
from collector.oncall import escalation, schedule, texts
from collector.oncall.links import ACTIONS, InvalidLink, PageLinks, links_from_settings
from collector.oncall.model import OncallConfig, load
from collector.schema import oncall_escalations, oncall_overrides, oncall_pages
from collector.sla.calendar import BusinessCalendar
from collector.store import inserted_id

if TYPE_CHECKING:
    from collector.incidents.service import IncidentChanged, IncidentService
    from collector.settings import Settings
    from collector.store import Store

log = logging.getLogger(__name__)

RUNNING, ACKNOWLEDGED, RESOLVED = "running", "acknowledged", "resolved"
ONCALL_ACTOR = "upkeep-oncall"


class _Lost(Exception):
    """Another replica moved the climb first: roll this turn back."""


class Oncall:
    """See the module docstring. ``config`` defaults to the files of ``settings.oncall_paths``."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        incidents: IncidentService,
        config: OncallConfig | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.incidents = incidents
        self.config = (
            config
            if config is not None
            else (load(settings.oncall_paths) if settings.oncall_paths else OncallConfig())
        )
        self.channels: dict[str, PagingConnector] = build_channels(self.config.channels)
        self._missing: set[str] = set()

    def reload(self) -> bool:
        """Read ``settings.oncall_paths`` again (SIGHUP, like the contract files). A file with
        an error changes nothing: the rotations in use stay, and every problem is logged with
        its file:line:column. Returns whether the new files were taken."""
        if not self.settings.oncall_paths:
            return False
        try:
            config = load(self.settings.oncall_paths)
            channels = build_channels(config.channels)
        except ConfigError as exc:  # every problem of every file, with its position
            for problem in exc.problems:
                log.error("on-call files not reloaded (the previous ones stay): %s", problem)
            return False
        # Channels first: a sweep that reads the new config finds the channels it names.
        self.channels, self.config = channels, config
        log.info(
            "on-call files reloaded: %d people, %d rotations",
            len(config.people),
            len(config.rotations),
        )
        return True

    @cached_property
    def links(self) -> PageLinks:
        return links_from_settings(self.settings)

    # ------------------------------------------------------------------ schedules

    def _calendar(self, conn: Connection, client: str) -> BusinessCalendar | None:
        return contract_calendar(conn, client, self._missing)

    def rotation(self, conn: Connection, name: str) -> schedule.Rotation:
        return rotation_of(conn, self.config, name, self._missing)

    def overrides(self, conn: Connection, rotation: str | None = None) -> list[schedule.Override]:
        return overrides_of(conn, self.config, rotation)

    def _person_view(self, person: str | None) -> dict[str, Any] | None:
        if person is None:
            return None
        found = self.config.people.get(person)
        return {"id": person, "name": (found.name if found else "") or person}

    def who(self, at: float | None = None) -> list[dict[str, Any]]:
        """Per rotation: who is on call at ``at`` (default now) and who is next, from when."""
        at = timeutil.now() if at is None else at
        out = []
        with self.store.read() as conn:
            for name, config in self.config.rotations.items():
                rotation = self.rotation(conn, name)
                overrides = self.overrides(conn, name)
                now = schedule.who_at(rotation, overrides, at)
                change = schedule.next_change(rotation, overrides, at)
                out.append(
                    {
                        "rotation": name,
                        "timezone": config.timezone,
                        "at": timeutil.to_datetime(at),
                        "person": self._person_view(now.person),
                        "layer": now.layer,
                        "override": None if now.override is None else _override_view(now.override),
                        "next": None
                        if change is None
                        else {
                            "at": timeutil.to_datetime(change[0]),
                            "person": self._person_view(change[1].person),
                            "layer": change[1].layer,
                        },
                    }
                )
        return out

    def shifts(self, rotation: str, start: float, end: float) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rot = self.rotation(conn, rotation)
            found = schedule.shifts(rot, self.overrides(conn, rotation), start, end)
        return [
            {
                "from": timeutil.to_datetime(a),
                "to": timeutil.to_datetime(b),
                "person": self._person_view(who.person),
                "layer": who.layer,
                "override": None if who.override is None else _override_view(who.override),
            }
            for a, b, who in found
        ]

    def nights(self, days: Sequence[date]) -> dict[str, dict[str, int]]:
        """Per rotation, per person: nights carried on ``days`` (management view)."""
        out: dict[str, dict[str, int]] = {}
        with self.store.read() as conn:
            for name, config in self.config.rotations.items():
                out[name] = schedule.nights(
                    self.rotation(conn, name), self.overrides(conn, name), days, config.timezone
                )
        return out

    # ------------------------------------------------------------------ overrides (API, CLI, UI)

    def add_override(
        self,
        *,
        rotation: str,
        person: str,
        start: float,
        end: float,
        actor: str,
        replaces: str | None = None,
        reason: str = "",
    ) -> dict[str, Any]:
        if rotation not in self.config.rotations:
            raise InvalidArgument(f"rotation: no rotation named {rotation!r}")
        for field, who in (("person", person), ("replaces", replaces)):
            if who is not None and who not in self.config.people:
                raise InvalidArgument(f"{field}: no person named {who!r}")
        if not (math.isfinite(start) and math.isfinite(end)) or end <= start:
            raise InvalidArgument("end: must be after start")
        if end - start > 366 * 86400:
            raise InvalidArgument("end: an override lasts at most a year")
        now = timeutil.now()
        with self.store.write() as conn:
            result = conn.execute(
                oncall_overrides.insert().values(
                    rotation=rotation,
                    person=person,
                    replaces=replaces,
                    starts_at=start,
                    ends_at=end,
                    reason=reason[:500],
                    created_by=actor[:200],
                    created_at=now,
                )
            )
            number = inserted_id(result)
        log.info(
            "on-call override %s: %s in %s (%s) by %s", number, person, rotation, reason, actor
        )
        return self.get_override(int(number))

    def get_override(self, number: int) -> dict[str, Any]:
        with self.store.read() as conn:
            row = conn.execute(
                sa.select(oncall_overrides).where(oncall_overrides.c.id == number)
            ).first()
        if row is None:
            raise NotFound(f"no override {number}")
        return _override_row(row)

    def list_overrides(self, *, include_past: bool = False) -> list[dict[str, Any]]:
        now = timeutil.now()
        with self.store.read() as conn:
            query = (
                sa.select(oncall_overrides)
                .where(oncall_overrides.c.deleted_at.is_(None))
                .order_by(oncall_overrides.c.starts_at)
            )
            if not include_past:
                query = query.where(oncall_overrides.c.ends_at > now)
            stored = [_override_row(r) for r in conn.execute(query)]
        files = [
            {**_override_view(o), "source": "file"}
            for o in self.config.overrides
            if include_past or o.end > now
        ]
        return [*files, *stored]

    def delete_override(self, number: int, actor: str) -> None:
        with self.store.write() as conn:
            done = conn.execute(
                oncall_overrides.update()
                .where(oncall_overrides.c.id == number, oncall_overrides.c.deleted_at.is_(None))
                .values(deleted_at=timeutil.now(), deleted_by=actor[:200])
            ).rowcount
        if not done:
            raise NotFound(f"no override {number}")

    # ------------------------------------------------------------------ the climb: listener

    def on_incident(self, conn: Connection, changed: IncidentChanged) -> None:
        """Start a climb when an incident with a policy opens (or reopens, or rises to a
        priority with one); stop it when the incident is acknowledged, waits or is resolved."""
        if changed.event in ("paged", "escalation_stopped"):
            return
        row = self.incidents.row(conn, changed.incident_id)
        if row is None:
            return
        climb = conn.execute(
            sa.select(oncall_escalations).where(oncall_escalations.c.incident_id == row.id)
        ).first()
        if row.state == "open":
            if self.config.empty:
                return
            policy = self.config.policy(row.client, row.priority)
            restart = changed.event == "reopened" and climb is not None
            if policy is None or (climb is not None and not restart):
                if climb is not None and policy is not None and climb.priority != row.priority:
                    conn.execute(
                        oncall_escalations.update()
                        .where(oncall_escalations.c.incident_id == row.id)
                        .values(
                            policy=policy.name,
                            priority=row.priority,
                            next_at=changed.ts,
                            updated_at=changed.ts,
                        )
                    )
                return
            values = {
                "client": row.client,
                "policy": policy.name,
                "priority": row.priority,
                "started_at": changed.ts,
                "next_step": 0,
                "next_at": changed.ts,
                "sla_pulled": False,
                "state": RUNNING,
                "stopped_at": None,
                "stopped_by": None,
                "stop_recorded": False,
                "updated_at": changed.ts,
            }
            if climb is None:
                conn.execute(oncall_escalations.insert().values(incident_id=row.id, **values))
            else:
                conn.execute(
                    oncall_escalations.update()
                    .where(oncall_escalations.c.incident_id == row.id)
                    .values(**values)
                )
            return
        if climb is not None and climb.state == RUNNING:
            state = RESOLVED if row.state in ("resolved", "closed") else ACKNOWLEDGED
            conn.execute(
                oncall_escalations.update()
                .where(
                    oncall_escalations.c.incident_id == row.id,
                    oncall_escalations.c.state == RUNNING,
                )
                .values(
                    state=state,
                    stopped_at=changed.ts,
                    stopped_by=changed.actor[:200],
                    next_at=None,
                    updated_at=changed.ts,
                )
            )

    # ------------------------------------------------------------------ the climb: the job

    def sweep(self, now: float | None = None) -> int:
        """Page every step that is due (the ``oncall-escalate`` job); returns the pages written."""
        if self.config.empty:
            return 0
        now = timeutil.now() if now is None else now
        with self.store.read() as conn:
            due_ids = [
                r.incident_id
                for r in conn.execute(
                    sa.select(oncall_escalations.c.incident_id).where(
                        sa.or_(
                            sa.and_(
                                oncall_escalations.c.state == RUNNING,
                                oncall_escalations.c.next_at <= now,
                            ),
                            sa.and_(
                                oncall_escalations.c.state != RUNNING,
                                ~oncall_escalations.c.stop_recorded,
                            ),
                        )
                    )
                )
            ]
        pages = 0
        for incident_id in due_ids:
            try:
                with self.store.write() as conn:
                    pages += self._turn(conn, incident_id, now)
            except _Lost:
                log.info("on-call: incident %s was escalated elsewhere", incident_id)
        return pages

    def _turn(self, conn: Connection, incident_id: int, now: float) -> int:
        query = sa.select(oncall_escalations).where(oncall_escalations.c.incident_id == incident_id)
        if not self.store.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        climb = conn.execute(query).first()
        if climb is None:
            return 0
        if climb.state != RUNNING:
            if not climb.stop_recorded:
                self.incidents.record(
                    conn,
                    incident_id,
                    "escalation_stopped",
                    {"state": climb.state, "by": climb.stopped_by, "steps_paged": climb.next_step},
                    now=now,
                    actor=ONCALL_ACTOR,
                )
                conn.execute(
                    oncall_escalations.update()
                    .where(oncall_escalations.c.incident_id == incident_id)
                    .values(stop_recorded=True, updated_at=now)
                )
            return 0
        if climb.next_at is None or climb.next_at > now:
            return 0
        row = self.incidents.row(conn, incident_id)
        if row is None or row.state != "open":
            # Acknowledged or resolved by a writer whose listener did not stop the climb (it
            # would have): stop it here, the event follows on the next turn.
            conn.execute(
                oncall_escalations.update()
                .where(
                    oncall_escalations.c.incident_id == incident_id,
                    oncall_escalations.c.state == RUNNING,
                )
                .values(
                    state=RESOLVED
                    if row is None or row.state in ("resolved", "closed")
                    else ACKNOWLEDGED,
                    stopped_at=now,
                    next_at=None,
                    updated_at=now,
                )
            )
            return 0
        policy = self.config.policy(climb.client, climb.priority)
        if policy is None:
            conn.execute(
                oncall_escalations.update()
                .where(oncall_escalations.c.incident_id == incident_id)
                .values(next_at=None, updated_at=now)
            )
            return 0
        calendar = self._calendar(conn, climb.client) if policy.business_hours else None
        warn_at, response_due = self._sla_times(conn, row, now)
        decided = escalation.due(
            policy,
            climb.started_at,
            climb.next_step,
            now,
            sla_warn_at=warn_at,
            sla_pulled=climb.sla_pulled,
            add_business=calendar.add_business_seconds if calendar is not None else None,
        )
        written = 0
        for index, reason in zip(decided.steps, decided.reasons, strict=True):
            written += self._page_step(conn, row, policy, index, reason, now, response_due)
        moved = conn.execute(
            oncall_escalations.update()
            .where(
                oncall_escalations.c.incident_id == incident_id,
                oncall_escalations.c.next_step == climb.next_step,
                oncall_escalations.c.state == RUNNING,
            )
            .values(
                next_step=decided.next_step,
                next_at=decided.next_at,
                sla_pulled=decided.sla_pulled,
                updated_at=now,
            )
        ).rowcount
        if moved != 1:
            raise _Lost
        return written

    def _sla_times(
        self, conn: Connection, row: Any, now: float
    ) -> tuple[float | None, float | None]:
        """(warn_at, due_at) of the incident's running response target, if it has one."""
        from collector.contracts.store import get_contract
        from collector.sla.service import status_of

        status = status_of(conn, row, get_contract(conn, row.client_id), now)
        response = None if status is None else status.response
        if response is None or response.state != "running":
            return None, None
        return response.warn_due_at, response.due_at

    def _page_step(
        self,
        conn: Connection,
        row: Any,
        policy: escalation.Policy,
        index: int,
        reason: str,
        now: float,
        response_due: float | None,
    ) -> int:
        step = policy.steps[index]
        written = 0
        for target in step.targets:
            if target.kind == "rotation":
                person = schedule.who_at(
                    self.rotation(conn, target.name), self.overrides(conn, target.name), now
                ).person
            else:
                person = target.name
            if person is None or person not in self.config.people:
                self.incidents.record(
                    conn,
                    row.id,
                    "paged",
                    {
                        "step": index + 1,
                        "target": str(target),
                        "person": None,
                        "reason": reason,
                        "channels": [],
                        "note": f"nobody is on call in {target}",
                    },
                    now=now,
                    actor=ONCALL_ACTOR,
                )
                continue
            config = self.config.people[person]
            channels = []
            for contact in config.contacts:
                number = inserted_id(
                    conn.execute(
                        oncall_pages.insert().values(
                            incident_id=row.id,
                            step=index,
                            person=person,
                            channel=contact.channel,
                            address=contact.to,
                            reason=reason,
                            created_at=now,
                        )
                    )
                )
                page = self._page(
                    int(number), row, person, config, contact.to, index, now, response_due
                )
                enqueue_page(conn, row.id, PREFIX + contact.channel, page.as_json(), now)
                channels.append(contact.channel)
                written += 1
            self.incidents.record(
                conn,
                row.id,
                "paged",
                {
                    "step": index + 1,
                    "target": str(target),
                    "person": person,
                    "reason": reason,
                    "channels": channels,
                },
                now=now,
                actor=ONCALL_ACTOR,
            )
        return written

    def _page(
        self,
        number: int,
        row: Any,
        person: str,
        config: Any,
        to: str,
        step: int,
        now: float,
        response_due: float | None,
    ) -> Page:
        ack = self.links.url(number, "ack", now)
        res = self.links.url(number, "res", now)
        subject, text, ack_label, res_label = texts.render_page(
            config.language,
            config.timezone,
            key=row.key,
            client=row.client,
            title=row.title,
            priority=row.priority,
            asset=row.asset,
            opened_at=row.opened_at,
            step=step,
            response_due=response_due,
            ack_url=ack,
            resolve_url=res,
        )
        return Page(
            number=number,
            incident=row.key,
            client=row.client,
            priority=row.priority,
            title=row.title,
            person=person,
            to=to,
            step=step,
            subject=subject,
            text=text,
            ack_url=ack,
            resolve_url=res,
            language=config.language,
            ack_label=ack_label,
            resolve_label=res_label,
        )

    # ------------------------------------------------------------------ answers from the phone

    def page_info(self, token: str) -> dict[str, Any]:
        """What a link's page shows before the person confirms (no change)."""
        number, action = self.links.verify(token, timeutil.now())
        with self.store.read() as conn:
            page = conn.execute(sa.select(oncall_pages).where(oncall_pages.c.id == number)).first()
            if page is None:
                raise InvalidLink("this link is not valid")
            row = self.incidents.row(conn, page.incident_id)
        if row is None:
            raise InvalidLink("this link is not valid")
        person = self.config.people.get(page.person)
        return {
            "action": ACTIONS[action],
            "key": row.key,
            "title": row.title,
            "priority": row.priority,
            "state": row.state,
            "person": page.person,
            "language": person.language if person else "en",
            "used": not _usable(page.used_for, action),
        }

    def use_link(self, token: str) -> dict[str, Any]:
        """Act on a page link (the confirming POST): acknowledge or resolve as the paged person."""
        number, action = self.links.verify(token, timeutil.now())
        return self._answer(number, action, via="link")

    def _answer(
        self,
        number: int,
        action: str,
        *,
        via: str,
        chat: str | None = None,
        channel: str | None = None,
    ) -> dict[str, Any]:
        now = timeutil.now()
        with self.store.write() as conn:
            page = conn.execute(sa.select(oncall_pages).where(oncall_pages.c.id == number)).first()
            if page is None:
                raise InvalidLink("this link is not valid")
            if channel is not None and (page.channel != channel or page.address != chat):
                raise Forbidden("this button belongs to another chat")
            allowed = [None] if action == "ack" else [None, "acknowledge"]
            won = conn.execute(
                oncall_pages.update()
                .where(
                    oncall_pages.c.id == number,
                    sa.or_(
                        *(
                            oncall_pages.c.used_for.is_(None)
                            if a is None
                            else oncall_pages.c.used_for == a
                            for a in allowed
                        )
                    ),
                )
                .values(used_at=now, used_for=ACTIONS[action])
            ).rowcount
            row = self.incidents.row(conn, page.incident_id)
        if not won or row is None:
            raise InvalidLink("this link was used already")
        verb = ACTIONS[action]
        try:
            if action == "res":
                self.incidents.act(
                    row.key, "resolve", page.person, note=f"resolved from the on-call page ({via})"
                )
            else:
                self.incidents.act(row.key, "acknowledge", page.person)
            done = True
        except InvalidArgument as exc:
            log.info("on-call %s of %s by %s: %s", verb, row.key, page.person, exc.detail)
            done = False
        return {"key": row.key, "action": verb, "done": done, "person": page.person}

    def telegram_update(
        self, channel: str, secret_header: str | None, update: dict[str, Any]
    ) -> dict[str, Any]:
        """A Telegram webhook update: a press of a page's button (see collector.connectors.telegram)."""
        connector = self.channels.get(PREFIX + channel)
        if connector is None or not connector.two_way:
            raise NotFound(f"no telegram channel {channel!r}")
        expected = secret(getattr(connector.config, "webhook_secret", None))
        if not expected or not hmac.compare_digest(expected, secret_header or ""):
            raise Forbidden("the webhook's secret token does not match")
        query = update.get("callback_query") if isinstance(update, dict) else None
        if not isinstance(query, dict):
            return {"handled": False}
        data = str(query.get("data") or "")
        action, _, number = data.partition(":")
        chat = str(((query.get("message") or {}).get("chat") or {}).get("id", ""))
        language = "en"
        try:
            if action not in ACTIONS or not number.isdigit():
                raise InvalidLink("unknown button")
            with self.store.read() as conn:
                page = conn.execute(
                    sa.select(oncall_pages.c.person).where(oncall_pages.c.id == int(number))
                ).first()
            if page is not None and page.person in self.config.people:
                language = self.config.people[page.person].language
            result = self._answer(int(number), action, via="telegram", chat=chat, channel=channel)
            text = texts.answer_text(language, result["action"], result["done"])
        except (InvalidLink, Forbidden) as exc:
            result = {"done": False, "error": exc.detail}
            text = texts.answer_text(language, "used", False)
        try:
            connector.answer_callback(str(query.get("id", "")), text)  # type: ignore[attr-defined]
        except ConnectorError as exc:
            log.warning("telegram %s: answerCallbackQuery failed: %s", channel, exc.message)
        return {"handled": True, **result}


def contract_calendar(
    conn: Connection, client: str, missing: set[str] | None = None
) -> BusinessCalendar | None:
    """The coverage calendar of ``client``'s contract (None: no such client or no contract)."""
    from collector import admin
    from collector.contracts.store import get_contract

    try:
        found = admin.get_client(conn, client)
    except NotFound:
        if missing is None or client not in missing:
            if missing is not None:
                missing.add(client)
            log.warning("on-call: no client %r (holidays_from / business hours)", client)
        return None
    contract = get_contract(conn, found.id)
    return None if contract is None else BusinessCalendar(contract.calendar)


def rotation_of(
    conn: Connection, config: OncallConfig, name: str, missing: set[str] | None = None
) -> schedule.Rotation:
    """Rotation ``name`` with its hand-overs moved off the holidays of ``holidays_from``."""
    if name not in config.rotations:
        raise NotFound(f"no rotation named {name!r}")
    client = config.rotations[name].holidays_from
    calendar = None if client is None else contract_calendar(conn, client, missing)
    return config.rotation(name, None if calendar is None else calendar.is_closed)


def overrides_of(
    conn: Connection, config: OncallConfig, rotation: str | None = None
) -> list[schedule.Override]:
    """The files' overrides, then the stored ones (in the order they were made)."""
    query = (
        sa.select(oncall_overrides)
        .where(oncall_overrides.c.deleted_at.is_(None))
        .order_by(oncall_overrides.c.id)
    )
    if rotation is not None:
        query = query.where(oncall_overrides.c.rotation == rotation)
    stored = [
        schedule.Override(
            r.rotation,
            r.person,
            r.starts_at,
            r.ends_at,
            r.replaces,
            r.reason,
            r.created_by,
            str(r.id),
        )
        for r in conn.execute(query)
    ]
    files = [o for o in config.overrides if rotation is None or o.rotation == rotation]
    return [*files, *stored]


def _usable(used_for: str | None, action: str) -> bool:
    return used_for is None or (action == "res" and used_for == "acknowledge")


def _override_view(o: schedule.Override) -> dict[str, Any]:
    return {
        "id": o.id,
        "rotation": o.rotation,
        "person": o.person,
        "replaces": o.replaces,
        "start": timeutil.to_datetime(o.start),
        "end": timeutil.to_datetime(o.end),
        "reason": o.reason,
        "created_by": o.created_by,
    }


def _override_row(r: Any) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "rotation": r.rotation,
        "person": r.person,
        "replaces": r.replaces,
        "start": timeutil.to_datetime(r.starts_at),
        "end": timeutil.to_datetime(r.ends_at),
        "reason": r.reason,
        "created_by": r.created_by,
        "created_at": timeutil.to_datetime(r.created_at),
        "source": "api",
    }
