"""The interface every ticket-system connector implements, and the data it works on.

The outbox worker calls one method, :meth:`Connector.deliver`, with an action, an immutable
snapshot of the incident (:class:`TicketSubject`) and the ticket reference it stored the last
time (or ``None``). The connector makes the ticket system agree and returns the reference to
store. Delivery is idempotent, so the worker may retry anything it is unsure about:

- before creating a ticket, a connector looks the incident key up in the ticket system
  (a retry after a lost response finds the ticket it created);
- ``resolve`` never creates a ticket (the answer is ``None``: nothing to resolve there);
- comments and time entries carry a stable id and are mirrored once;
- a field update reads the ticket first and writes only what differs.

Failures raise :class:`ConnectorError` saying whether a retry can help (``permanent``).
Ticket systems that let a technician close a ticket also answer :meth:`Connector.poll_closed`.
"""

from __future__ import annotations

import abc
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from agent.durations import Duration


class Action(StrEnum):
    """What happened to the incident; what the connector is asked to mirror."""

    OPEN = "open"
    UPDATE = "update"  # repeat: last value, count, description
    ESCALATE = "escalate"  # priority or severity raised; ``subject.comment`` says what
    COMMENT = "comment"  # mirror ``subject.comment`` once
    TIME_ENTRY = "time_entry"  # mirror ``subject.time_entry`` once
    RESOLVE = "resolve"
    REOPEN = "reopen"


class Priority(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    TECHNICAL = "technical"


class IncidentState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Origin(StrEnum):
    PROACTIVE = "proactive"
    USER_REPORTED = "user_reported"
    EXTERNAL = "external"


def _require_utc(name: str, value: datetime | None) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() != UTC.utcoffset(None)):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime")


@dataclass(frozen=True)
class Comment:
    """A technician's (or Upkeep's) note on the incident. ``id`` is stable: mirrored once."""

    id: str
    body: str
    author: str | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class TimeEntry:
    """Time spent on the incident. ``id`` is stable: mirrored once."""

    id: str
    minutes: int
    note: str = ""
    work_type: str | None = None
    author: str | None = None
    spent_on: date | None = None

    def __post_init__(self) -> None:
        if self.minutes <= 0:
            raise ValueError("a time entry needs a positive number of minutes")


@dataclass(frozen=True)
class RemoteTimeEntry:
    """Time a technician logged in the ticket system on an incident's ticket (read back by
    :meth:`Connector.read_time_entries`). ``external_id`` is the ticket system's id of the
    entry; ``upkeep_id`` is set when Upkeep itself wrote it (its :func:`marker`), and such an
    entry is never mirrored back."""

    external_id: str
    minutes: int
    note: str = ""
    author: str | None = None
    spent_on: date | None = None
    work_type: str | None = None
    upkeep_id: str | None = None


@dataclass(frozen=True)
class TicketSubject:
    """An immutable snapshot of an incident, as the connectors see it.

    ``key`` (e.g. ``UPK-acme-1234``) is stable for the incident's life and is stored in every
    ticket so a retry can find it. ``version`` increases with every incident event; together
    with the action it identifies one delivery (the webhook's idempotency key). ``comment`` /
    ``time_entry`` are set for the COMMENT / TIME_ENTRY actions. ``contacts`` are the client's
    e-mail addresses (used by the e-mail connector when configured to write to them).
    """

    key: str
    client: str
    title: str
    priority: Priority
    state: IncidentState
    origin: Origin
    opened_at: datetime
    site: str | None = None
    asset: str | None = None
    rule: str | None = None
    description: str = ""
    resolved_at: datetime | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    resolution_note: str | None = None
    comment: Comment | None = None
    time_entry: TimeEntry | None = None
    version: int = 1
    url: str | None = None
    contacts: tuple[str, ...] = ()
    #: The alert's severity (``warning``/``critical``); None for incidents people reported.
    severity: str | None = None

    def __post_init__(self) -> None:
        if not self.key or any(ch.isspace() for ch in self.key):
            raise ValueError(f"incident key must be non-empty without spaces: {self.key!r}")
        _require_utc("opened_at", self.opened_at)
        _require_utc("resolved_at", self.resolved_at)
        object.__setattr__(self, "priority", Priority(self.priority))
        object.__setattr__(self, "state", IncidentState(self.state))
        object.__setattr__(self, "origin", Origin(self.origin))
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "contacts", tuple(self.contacts))

    @property
    def is_closed(self) -> bool:
        return self.state in (IncidentState.RESOLVED, IncidentState.CLOSED)

    def as_json(self) -> dict[str, Any]:
        """The snapshot as plain JSON values (webhook body, templates)."""

        def iso(value: datetime | date | None) -> str | None:
            return value.isoformat() if value is not None else None

        comment = self.comment
        entry = self.time_entry
        return {
            "key": self.key,
            "client": self.client,
            "site": self.site,
            "asset": self.asset,
            "rule": self.rule,
            "title": self.title,
            "description": self.description,
            "priority": str(self.priority),
            "severity": self.severity,
            "state": str(self.state),
            "origin": str(self.origin),
            "opened_at": iso(self.opened_at),
            "resolved_at": iso(self.resolved_at),
            "labels": dict(self.labels),
            "resolution_note": self.resolution_note,
            "version": self.version,
            "url": self.url,
            "comment": None
            if comment is None
            else {
                "id": comment.id,
                "body": comment.body,
                "author": comment.author,
                "created_at": iso(comment.created_at),
            },
            "time_entry": None
            if entry is None
            else {
                "id": entry.id,
                "minutes": entry.minutes,
                "note": entry.note,
                "work_type": entry.work_type,
                "author": entry.author,
                "spent_on": iso(entry.spent_on),
            },
        }


@dataclass(frozen=True)
class TicketRef:
    """Where an incident lives in one ticket system: the connector's name, the ticket's id there."""

    system: str
    external_id: str
    url: str | None = None


class ConnectorError(Exception):
    """A delivery failed. ``permanent``: retrying the same delivery cannot help (bad config,
    auth, validation); otherwise (timeouts, 5xx, connection refused) the outbox retries.

    The message never contains a secret.
    """

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent

    def __repr__(self) -> str:
        return f"ConnectorError({self.message!r}, permanent={self.permanent})"


def marker(item_id: str) -> str:
    """The tag written into a mirrored comment or time entry, searched for before writing it."""
    return f"[upkeep:{item_id}]"


_MARKER = re.compile(r"\[upkeep:([^\]\s]+)\]")


def marked_id(text: str | None) -> str | None:
    """The item id of the :func:`marker` in ``text``, if Upkeep wrote it."""
    found = _MARKER.search(text or "")
    return found.group(1) if found else None


#: Longest resolution note read back from a ticket (the rest is cut).
NOTE_MAX = 4000


def technician_note(notes: Sequence[str]) -> str | None:
    """The newest of ``notes`` (oldest first) that a person wrote: not one Upkeep mirrored
    (marker) and not Upkeep's own resolve/reopen/priority texts. None when there is none."""
    for text in reversed(notes):
        text = (text or "").strip()
        if not text or marked_id(text) is not None:
            continue
        if text.startswith(("Resolved by Upkeep", "Upkeep:")):
            continue
        return text[:NOTE_MAX]
    return None


# --------------------------------------------------------------------------- configuration


def _read_secret(data: dict[str, Any], name: str) -> None:
    """Fill ``data[name]`` from ``<name>_file`` or ``<name>_env`` (the secret never in errors)."""
    sources = [s for s in (name, f"{name}_file", f"{name}_env") if data.get(s) is not None]
    if len(sources) > 1:
        raise ValueError(f"give only one of {', '.join(sources)}")
    if f"{name}_file" in sources:
        path = Path(data[f"{name}_file"]).expanduser()
        try:
            data[name] = path.read_text().strip()
        except OSError as exc:
            raise ValueError(f"{name}_file: cannot read {path}: {exc.strerror}") from None
    elif f"{name}_env" in sources:
        env = str(data[f"{name}_env"])
        if env not in os.environ:
            raise ValueError(f"{name}_env: environment variable {env} is not set")
        data[name] = os.environ[env].strip()


class ConnectorConfig(BaseModel):
    """Options every connector has. Subclasses add their own and list ``SECRETS``: for each
    secret ``x`` the config accepts ``x`` (inline), ``x_file`` (a file's content) or ``x_env``
    (an environment variable); the value is a :class:`~pydantic.SecretStr`."""

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    SECRETS: ClassVar[tuple[str, ...]] = ()
    #: Secrets that must be given (the others are optional).
    REQUIRED_SECRETS: ClassVar[tuple[str, ...]] = ()

    type: str
    #: Seconds (or ``10s``) for connecting and for each read.
    timeout: Duration = Field(default=10.0, gt=0)
    #: The whole of one delivery attempt (every connect, send and answer it needs): when it
    #: passes, the attempt is cut and retried later (a transient failure). Keep it below the
    #: collector's ``outbox_claim_timeout``.
    deadline: Duration = Field(default=30.0, gt=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        for name in cls.SECRETS:
            _read_secret(data, name)
            if name in cls.REQUIRED_SECRETS and not data.get(name):
                raise ValueError(f"{name} is required (or {name}_file / {name}_env)")
        return data


def secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def routed(client: str, by_client: Mapping[str, Any], default: Any) -> Any:
    """The client's own destination (project, queue, group, recipients), else the default."""
    return by_client.get(client, default)


# --------------------------------------------------------------------------- the interface


class Connector(abc.ABC):
    """One configured ticket system (or notification channel). See the module docstring.

    Subclasses set ``config_model`` and implement :meth:`deliver`; those that can see tickets
    closed on their side implement :meth:`poll_closed` and set ``supports_poll``.
    """

    config_model: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    supports_poll: ClassVar[bool] = False
    #: The connector can read time entries logged on a ticket (:meth:`read_time_entries`).
    supports_time_entries: ClassVar[bool] = False
    #: The connector can read the technician's closing note (:meth:`read_resolution_note`).
    supports_resolution_note: ClassVar[bool] = False

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        self.name = name
        self.config = config

    @abc.abstractmethod
    def deliver(
        self, action: Action, subject: TicketSubject, ref: TicketRef | None
    ) -> TicketRef | None:
        """Mirror ``action`` on ``subject`` into the ticket system; return the ticket's reference.

        ``ref`` is the reference stored locally (None when there is none yet). ``None`` is
        returned only when there is nothing to act on (a resolve of an unknown ticket).
        Raises :class:`ConnectorError`.
        """

    def attempt(
        self, action: Action, subject: TicketSubject, ref: TicketRef | None
    ) -> TicketRef | None:
        """:meth:`deliver` within the connector's ``deadline`` (what the outbox calls).

        Whatever fails once the deadline has passed is reported as the deadline, transient.
        """
        from collector.connectors.deadline import deadline

        with deadline(self.config.deadline) as limit:
            try:
                return self.deliver(action, subject, ref)
            except ConnectorError as exc:
                if not limit.expired:
                    raise
                message = exc.message
            except OSError as exc:
                if not limit.expired:
                    raise
                message = f"{type(exc).__name__}: {exc}"
        raise ConnectorError(
            f"{self.name}: {action} {subject.key} cut at its {limit.seconds:g} s deadline "
            f"({message})",
            permanent=False,
        )

    def poll_closed(self, refs: Sequence[TicketRef]) -> list[TicketRef]:
        """Those of ``refs`` whose ticket was closed (or resolved) in the ticket system."""
        raise NotImplementedError(f"{type(self).__name__} cannot report closed tickets")

    def read_time_entries(self, ref: TicketRef) -> list[RemoteTimeEntry]:
        """Every time entry logged on the ticket ``ref`` (those Upkeep wrote carry ``upkeep_id``)."""
        raise NotImplementedError(f"{type(self).__name__} cannot read time entries")

    def read_resolution_note(self, ref: TicketRef) -> str | None:
        """The technician's newest note on the closed ticket ``ref`` (:func:`technician_note`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot read notes")

    def close(self) -> None:
        """Release connections. The connector is not used afterwards."""
        return None

    def __enter__(self) -> Connector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TicketConnector(Connector):
    """A connector to a ticket system with lookups: the idempotent flow is implemented here.

    ``deliver`` finds the ticket (local ref, else by key), creates it only when the incident is
    still open and the action is not a resolve, then applies the action. Subclasses implement
    the primitives below; each one is itself idempotent (reads before it writes).
    """

    supports_poll = True

    def deliver(
        self, action: Action, subject: TicketSubject, ref: TicketRef | None
    ) -> TicketRef | None:
        action = Action(action)
        ticket = self.fetch(ref) if ref is not None else None
        if ticket is None:
            ticket = self.find(subject)
        if ticket is None:
            if action is Action.RESOLVE or subject.is_closed:
                return None
            return self._after_create(action, subject, self.create(subject))
        ref = self.ref_of(ticket)
        if action in (Action.OPEN, Action.UPDATE, Action.ESCALATE):
            self.update(ticket, subject, action)
            if action is Action.ESCALATE and subject.comment is not None:
                # What rose (severity, priority): mirrored once, like any comment, so an
                # escalation without a priority change still shows in the ticket.
                self._comment(ticket, subject)
        elif action is Action.COMMENT:
            self._comment(ticket, subject)
        elif action is Action.TIME_ENTRY:
            self._time_entry(ticket, subject)
        elif action is Action.RESOLVE:
            self.resolve(ticket, subject)
        elif action is Action.REOPEN:
            self.reopen(ticket, subject)
        return ref

    def _after_create(self, action: Action, subject: TicketSubject, ticket: Any) -> TicketRef:
        if action is Action.COMMENT:
            self._comment(ticket, subject)
        elif action is Action.TIME_ENTRY:
            self._time_entry(ticket, subject)
        return self.ref_of(ticket)

    def _comment(self, ticket: Any, subject: TicketSubject) -> None:
        if subject.comment is None:
            raise ConnectorError(f"{subject.key}: comment action without a comment", permanent=True)
        self.add_comment(ticket, subject, subject.comment)

    def _time_entry(self, ticket: Any, subject: TicketSubject) -> None:
        if subject.time_entry is None:
            raise ConnectorError(
                f"{subject.key}: time_entry action without a time entry", permanent=True
            )
        self.add_time_entry(ticket, subject, subject.time_entry)

    # Primitives. ``ticket`` is whatever the subclass's fetch/find/create return.

    @abc.abstractmethod
    def fetch(self, ref: TicketRef) -> Any | None:
        """The ticket ``ref`` points to, or None if it no longer exists."""

    @abc.abstractmethod
    def find(self, subject: TicketSubject) -> Any | None:
        """The ticket carrying ``subject.key``, or None."""

    @abc.abstractmethod
    def create(self, subject: TicketSubject) -> Any:
        """A new ticket for ``subject`` (carrying its key)."""

    @abc.abstractmethod
    def ref_of(self, ticket: Any) -> TicketRef: ...

    @abc.abstractmethod
    def update(self, ticket: Any, subject: TicketSubject, action: Action) -> None:
        """Make title, description and priority agree (writes only what differs)."""

    @abc.abstractmethod
    def add_comment(self, ticket: Any, subject: TicketSubject, comment: Comment) -> None:
        """Add ``comment`` unless a comment with its :func:`marker` is there."""

    @abc.abstractmethod
    def add_time_entry(self, ticket: Any, subject: TicketSubject, entry: TimeEntry) -> None:
        """Add ``entry`` unless a time entry (or note) with its :func:`marker` is there."""

    @abc.abstractmethod
    def resolve(self, ticket: Any, subject: TicketSubject) -> None:
        """Close the ticket with the resolution note (nothing if it is closed already)."""

    @abc.abstractmethod
    def reopen(self, ticket: Any, subject: TicketSubject) -> None:
        """Reopen the ticket (nothing if it is open)."""


def resolution_text(subject: TicketSubject) -> str:
    when = subject.resolved_at.strftime("%Y-%m-%d %H:%M UTC") if subject.resolved_at else None
    head = f"Resolved by Upkeep{f' at {when}' if when else ''}."
    return f"{head}\n\n{subject.resolution_note}" if subject.resolution_note else head


def description_text(subject: TicketSubject) -> str:
    """The ticket body every ticket system gets: the description and where it happened."""
    lines = [subject.description.strip()] if subject.description.strip() else []
    facts = [
        ("Client", subject.client),
        ("Site", subject.site),
        ("Asset", subject.asset),
        ("Rule", subject.rule),
        ("Origin", str(subject.origin)),
        ("Opened", subject.opened_at.strftime("%Y-%m-%d %H:%M UTC")),
        ("Upkeep key", subject.key),
        ("Link", subject.url),
    ]
    if lines:
        lines.append("")
    lines += [f"{name}: {value}" for name, value in facts if value]
    for name, value in sorted(subject.labels.items()):
        lines.append(f"  {name}={value}")
    return "\n".join(lines)
